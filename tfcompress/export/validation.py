"""Checks that an exported artifact answers like the Keras model it came from."""

import dataclasses

import numpy as np

from tfcompress import graph
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.data import inputs as inputs_lib
from tfcompress.models import spectrogram

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
    # Fraction of the examples where the artifact's top-1 class is Keras'.
    top1_agreement: float = 1.0
    # The same within the class where it is lowest (`worst_class_agreement`).
    worst_class_agreement: float = 1.0


def single_input_spec(model):
    """(shape without batch, dtype) of a single-input, single-output model."""
    require_keras2_model(model)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"Export supports models with one input and one output; {model.name!r} "
            f"has {len(model.inputs)} inputs and {len(model.outputs)} outputs.")
    return tuple(model.inputs[0].shape[1:]), model.inputs[0].dtype


def _made_up_batch(model, shape, dtype, num_examples, seed):
    """Seeded noise in [0, 1), or for token ids, ids the model's embedding reads."""
    rng = np.random.default_rng(seed)
    if dtype.is_floating:
        return rng.uniform(size=(num_examples, *shape)).astype(dtype.as_numpy_dtype)
    embeddings = [layer for layer in graph.layers(model)
                  if isinstance(layer, keras.layers.Embedding)]
    if not embeddings:
        raise ValueError(
            f"{model.name!r} takes {dtype.name} inputs that no Embedding layer reads, "
            "so no check batch can be made up (noise cast to integers is all zeros): "
            "pass `check_inputs`, e.g. real test examples.")
    vocabulary = min(layer.input_dim for layer in embeddings)
    return rng.integers(0, vocabulary, size=(num_examples, *shape)).astype(
        dtype.as_numpy_dtype)


# Real examples a file is checked on: up to this many of each class, this
# many in all (both passes of a 1 ms model take a quarter of a second).
CHECK_PER_CLASS = 16
MAX_CHECK_EXAMPLES = 128
# Made-up examples when no data is given.
MADE_UP_EXAMPLES = 16
# A quantized file must give each class Keras gives to at least
# MIN_CLASS_EXAMPLES check examples on at least this share of them.
MIN_CLASS_AGREEMENT = 0.5
MIN_CLASS_EXAMPLES = 3


def _checked_inputs(inputs, shape, dtype, arg_name):
    if inputs.ndim != len(shape) + 1 or any(
            want is not None and got != want for got, want in zip(inputs.shape[1:], shape)):
        raise ValueError(
            f"`{arg_name}` must have shape [batch, {', '.join(map(str, shape))}], "
            f"got {list(inputs.shape)}.")
    if len(inputs) == 0:
        raise ValueError(f"`{arg_name}` is empty: the export must be run on at least "
                         "one example.")
    if np.issubdtype(inputs.dtype, np.floating) and not np.isfinite(inputs).all():
        raise ValueError(
            f"`{arg_name}` holds {np.size(inputs) - np.isfinite(inputs).sum()} NaN or "
            f"inf values (of {np.size(inputs)}): no output can be compared on them. Pass "
            "finite inputs, e.g. real test images.")
    return inputs.astype(dtype.as_numpy_dtype)


def check_batch(model, inputs=None, representative_data=None, *, seed=0,
                arg_name="check_inputs"):
    """The examples an export is checked on: real ones where given, else made up.

    Real examples come from `inputs`, else from `representative_data`
    (each an array, an (x, y) tuple of arrays or a `tf.data.Dataset`): up
    to CHECK_PER_CLASS of every labelled class, so rare classes are
    checked too. Made-up inputs (noise in [0, 1), or random token ids below
    the embedding's vocabulary size) at least exercise every op, but a
    model may answer one class for all of them: pass real data.
    """
    shape, dtype = single_input_spec(model)
    if inputs is None and representative_data is not None:
        inputs, arg_name = representative_data, "representative_data"
    if inputs is None:
        if None in shape:
            raise ValueError(
                f"{model.name!r} takes inputs of shape {[None, *shape]} with unknown "
                "dimensions, so no check batch can be made up: pass `check_inputs`.")
        return _made_up_batch(model, shape, dtype, MADE_UP_EXAMPLES, seed)
    x, _ = inputs_lib.examples_of_every_class(
        inputs, CHECK_PER_CLASS, MAX_CHECK_EXAMPLES, arg_name=arg_name)
    if len(x) == 0 and arg_name == "representative_data":
        raise ValueError("`representative_data` holds no examples: full-integer "
                         "quantization needs some (e.g. the training split).")
    return _checked_inputs(x, shape, dtype, arg_name)


def keras_outputs(model, inputs, chunk=64):
    """`model`'s inference outputs on `inputs`, in chunks (no `predict`
    function traced per call).

    One example per call for a model whose output for an example depends on
    the rest of its batch (Keras 3's MelSpectrogram with `top_db`): what a
    device running one example per invoke computes.
    """
    if spectrogram.batch_dependent_layers(model):
        chunk = 1
    return np.concatenate([model(inputs[start:start + chunk], training=False).numpy()
                           for start in range(0, len(inputs), chunk)])


def run_as_device(runner, inputs, what, seed=0, first_pass=None):
    """`inputs` run one per invoke, twice, in two orders, with no reset between.

    A device invokes a file on each input it gets and never resets it, so a
    file must answer an input the same whatever ran before it. The second
    pass runs the examples in a seeded shuffled order; its outputs must be
    the first pass's.

    Args:
      first_pass: the outputs of `runner.run_each(inputs)` if the caller ran
        it already (to tell LiteRT's failures from this check's).

    Returns:
      The first pass's outputs, in the examples' order.

    Raises:
      ExportValidationError: the two passes differ: the file keeps state.
    """
    first = runner.run_each(inputs) if first_pass is None else first_pass
    order = np.random.default_rng(seed).permutation(len(inputs))
    if len(order) > 1 and (order == np.arange(len(order))).all():
        order = order[::-1]
    second = runner.run_each(inputs, order)
    first32, second32 = first.astype(np.float32), second.astype(np.float32)
    diffs = np.abs(first32 - second32).reshape(len(first32), -1).max(axis=1)
    tolerance = 1e-6 * max(1.0, float(np.max(np.abs(first32), initial=0.0)))
    if diffs.max(initial=0.0) > tolerance:
        worst = int(np.argmax(diffs))
        raise ExportValidationError(
            f"{what} keeps state between invokes: run one example per invoke, "
            f"{len(inputs)} examples in two orders, example {worst} gave outputs "
            f"{diffs[worst]:.3g} apart ({int(np.sum(diffs > tolerance))} examples "
            "differ). A device that runs one input per invoke, without "
            "`reset_all_variables()`, would get answers the Keras model never gives. "
            "Nothing was written.")
    return first


def compare_outputs(expected, actual, atol, what):
    """Max abs difference of two logit arrays; raises if over `atol`."""
    expected, actual = _same_shape(np.asarray(expected, dtype=np.float32),
                                   np.asarray(actual, dtype=np.float32), what)
    diff = float(np.max(np.abs(expected - actual))) if expected.size else 0.0
    if not diff <= atol:
        raise ExportValidationError(
            f"{what} disagrees with the Keras model: max abs diff on logits "
            f"{diff:.3g} > {atol:g}. Nothing was written.")
    return diff


def _same_shape(expected, actual, what="The exported model"):
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        raise ExportValidationError(
            f"{what} returned shape {actual.shape}, Keras returned {expected.shape}.")
    return expected, actual


def top1_agreement(expected, actual):
    """Fraction of rows whose argmax is the same in both output arrays."""
    expected, actual = _same_shape(expected, actual)
    return float(np.mean(np.argmax(expected, -1) == np.argmax(actual, -1)))


def class_agreement(expected, actual):
    """{class: (rows where `actual` agrees, rows)}, grouped by `expected`'s top-1."""
    expected, actual = _same_shape(expected, actual)
    keras_class, file_class = np.argmax(expected, -1), np.argmax(actual, -1)
    return {int(c): (int(np.sum(file_class[keras_class == c] == c)),
                     int(np.sum(keras_class == c)))
            for c in np.unique(keras_class)}


def worst_class_agreement(expected, actual, min_examples=MIN_CLASS_EXAMPLES):
    """The lowest agreement within one class Keras gives to `min_examples` or more.

    A file that answers one class for everything scores 0 here however
    imbalanced the examples, where plain top-1 agreement would give it the
    majority's share. 1.0 when no class has that many examples.
    """
    rates = [agree / count for agree, count in class_agreement(expected, actual).values()
             if count >= min_examples]
    return min(rates, default=1.0)


_ADVICE = ("Calibrate on more or more representative data, or fine-tune with "
           "quantization-aware training.")


def check_agreement(expected, actual, min_agreement, what,
                    min_class_agreement=MIN_CLASS_AGREEMENT, advice=_ADVICE):
    """Top-1 agreement of two output arrays, overall and per class.

    Raises if it is under `min_agreement` overall, or under
    `min_class_agreement` (never more than `min_agreement`) within any class
    Keras gives to at least MIN_CLASS_EXAMPLES examples (a file that
    answers one class for all).

    Args:
      advice: what to do instead, said after "Nothing was written."

    Returns:
      (overall agreement, worst class's agreement).
    """
    min_class_agreement = min(min_class_agreement, min_agreement)
    agreement = top1_agreement(expected, actual)
    worst = worst_class_agreement(expected, actual)
    per_class = ", ".join(f"class {c}: {agree}/{count}" for c, (agree, count)
                          in class_agreement(expected, actual).items())
    advice = f"Nothing was written. {advice}"
    if agreement < min_agreement:
        raise ExportValidationError(
            f"{what} disagrees with the Keras model: same top-1 class on "
            f"{agreement:.1%} of {len(expected)} check examples, under the "
            f"{min_agreement:.1%} asked (per class Keras gives: {per_class}). {advice}")
    if worst < min_class_agreement:
        raise ExportValidationError(
            f"{what} disagrees with the Keras model on a whole class: same top-1 class "
            f"on {agreement:.1%} of {len(expected)} check examples, but within one "
            f"class only {worst:.1%}, under the {min_class_agreement:.0%} asked of "
            f"each (per class Keras gives: {per_class}). A file that answers one "
            f"class for everything looks accurate on imbalanced data. {advice}")
    return agreement, worst
