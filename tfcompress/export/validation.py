"""Checks that an exported artifact answers like the Keras model it came from."""

import dataclasses

import numpy as np

from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.data import inputs as inputs_lib

# Float exports must match Keras logits this closely (issue #2).
FLOAT_ATOL = 1e-4


class ExportValidationError(RuntimeError):
    """An exported artifact failed to run or disagreed with the Keras model."""


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how well it agreed with Keras on a batch."""

    path: str
    max_abs_diff: float
    num_checked: int
    # Fraction of the batch where the artifact's top-1 class is Keras'.
    top1_agreement: float = 1.0


def single_input_spec(model):
    """(shape without batch, dtype) of a single-input, single-output model."""
    require_keras2_model(model)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"Export supports models with one input and one output; {model.name!r} "
            f"has {len(model.inputs)} inputs and {len(model.outputs)} outputs."
        )
    return tuple(model.inputs[0].shape[1:]), model.inputs[0].dtype


def _made_up_batch(model, shape, dtype, num_examples, seed):
    """Seeded noise in [0, 1), or for token ids, ids the model's embedding reads."""
    rng = np.random.default_rng(seed)
    if dtype.is_floating:
        return rng.uniform(size=(num_examples, *shape)).astype(dtype.as_numpy_dtype)
    embeddings = [layer for layer in model.submodules
                  if isinstance(layer, keras.layers.Embedding)]
    if not embeddings:
        raise ValueError(
            f"{model.name!r} takes {dtype.name} inputs that no Embedding layer reads, "
            "so no check batch can be made up (noise cast to integers is all zeros): "
            "pass `check_inputs`, e.g. real test examples.")
    vocabulary = min(layer.input_dim for layer in embeddings)
    return rng.integers(0, vocabulary, size=(num_examples, *shape)).astype(
        dtype.as_numpy_dtype)


def check_batch(model, inputs=None, num_examples=8, seed=0):
    """The batch an export is checked on: `inputs`, or made up.

    `inputs` is an array, an (x, y) tuple of arrays or a `tf.data.Dataset`
    (its first batch). Real data is the better check; made-up inputs (noise
    in [0, 1), or random token ids below the embedding's vocabulary size) at
    least exercise every op.
    """
    shape, dtype = single_input_spec(model)
    if inputs is None:
        if None in shape:
            raise ValueError(
                f"{model.name!r} takes inputs of shape {[None, *shape]} with unknown "
                "dimensions, so no check batch can be made up: pass `check_inputs`.")
        return _made_up_batch(model, shape, dtype, num_examples, seed)
    inputs = inputs_lib.first_inputs(inputs, arg_name="check_inputs")
    if inputs.ndim != len(shape) + 1 or any(
            want is not None and got != want for got, want in zip(inputs.shape[1:], shape)):
        raise ValueError(
            f"`check_inputs` must have shape [batch, {', '.join(map(str, shape))}], "
            f"got {list(inputs.shape)}."
        )
    if len(inputs) == 0:
        raise ValueError("`check_inputs` is empty: the export must be run on at least "
                         "one example.")
    if np.issubdtype(inputs.dtype, np.floating) and not np.isfinite(inputs).all():
        raise ValueError(
            f"`check_inputs` holds {np.size(inputs) - np.isfinite(inputs).sum()} NaN or "
            f"inf values (of {np.size(inputs)}): no output can be compared on them. Pass "
            "finite inputs, e.g. real test images.")
    return inputs.astype(dtype.as_numpy_dtype)


def compare_outputs(expected, actual, atol, what):
    """Max abs difference of two logit arrays; raises if over `atol`."""
    expected = np.asarray(expected, dtype=np.float32)
    actual = np.asarray(actual, dtype=np.float32)
    if expected.shape != actual.shape:
        raise ExportValidationError(
            f"{what} returned shape {actual.shape}, Keras returned {expected.shape}."
        )
    diff = float(np.max(np.abs(expected - actual))) if expected.size else 0.0
    if not diff <= atol:
        raise ExportValidationError(
            f"{what} disagrees with the Keras model: max abs diff on logits "
            f"{diff:.3g} > {atol:g}. Nothing was written."
        )
    return diff


def top1_agreement(expected, actual):
    """Fraction of rows whose argmax is the same in both output arrays."""
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        raise ExportValidationError(
            f"The exported model returned shape {actual.shape}, Keras returned "
            f"{expected.shape}.")
    return float(np.mean(np.argmax(expected, -1) == np.argmax(actual, -1)))


def check_agreement(expected, actual, min_agreement, what):
    """Top-1 agreement of two output arrays; raises if under `min_agreement`."""
    agreement = top1_agreement(expected, actual)
    if agreement < min_agreement:
        raise ExportValidationError(
            f"{what} disagrees with the Keras model: same top-1 class on "
            f"{agreement:.1%} of {len(expected)} check examples, under the "
            f"{min_agreement:.1%} asked. Nothing was written. Calibrate on more or "
            "more representative data, or fine-tune with quantization-aware "
            "training.")
    return agreement
