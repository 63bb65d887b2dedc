"""TFLite export, invoked in LiteRT and checked before the file lands."""

import os

import numpy as np

from tfcompress import _atomic
from tfcompress.export import converter as converter_lib
from tfcompress.export import recurrent
from tfcompress.export import validation
from tfcompress.quantize import calibration
from tfcompress.runtime import TFLiteRunner
from tfcompress.keras3 import accepts_keras3

# Quantized exports must give the Keras model's top-1 class on at least this
# fraction of the check batch (int8 on MNIST agrees on about 99.5% or more).
DEFAULT_MIN_AGREEMENT = 0.95


def convert(model, **options):
    """Converts a tf_keras model to TFLite flatbuffer bytes.

    `options` are those of `tfcompress.export.converter.make_converter`
    (quantization, representative_data, num_samples, int8_io, sparse).
    """
    return converter_lib.convert(model, **options)


_INT4_ADVICE = ("int4 weights (no calibration, no QAT) lose more than int8: use "
                "quantization 'int8', or lower `min_agreement` if the file's own test "
                "accuracy is enough.")


def _describe(quantization, sparse, int8_io):
    parts = [{"none": "float"}.get(quantization, quantization)]
    if int8_io:
        parts.append("int8 input/output")
    if sparse:
        parts.append("sparse encoding")
    return " + ".join(parts)


def _run_checked(tmp, path, batch, xnnpack, what, sparse):
    """Runs the written file as a device does (`validation.run_as_device`);
    if LiteRT fails, says what would work."""
    try:
        runner = TFLiteRunner(tmp, xnnpack=xnnpack)
        first_pass = runner.run_each(batch)
    except (RuntimeError, ValueError) as e:
        failure = e
    else:
        return validation.run_as_device(runner, batch, f"The {what} TFLite file",
                                        first_pass=first_pass)
    if xnnpack:
        try:
            TFLiteRunner(tmp, xnnpack=False)(batch)
        except (RuntimeError, ValueError):
            pass
        else:
            raise validation.ExportValidationError(
                f"LiteRT's XNNPACK delegate cannot run the {what} export for "
                f"{os.fspath(path)!r} ({failure}). It runs on LiteRT's built-in "
                "kernels: pass xnnpack=False to accept a file that needs them"
                + (", or sparse=False to keep XNNPACK" if sparse else "")
                + ". Nothing was written.") from failure
    raise validation.ExportValidationError(
        f"LiteRT could not run the {what} export for {os.fspath(path)!r}: {failure}. "
        "Nothing was written." + (" Try sparse=False." if sparse else "")) from failure


@accepts_keras3("model")
def export_tflite(model, path, *, quantization="none", representative_data=None,
                  num_samples=calibration.DEFAULT_SAMPLES, int8_io=False, sparse=False,
                  xnnpack=True, check_inputs=None, atol=validation.FLOAT_ATOL,
                  min_agreement=DEFAULT_MIN_AGREEMENT):
    """Writes `model` as a .tflite file that LiteRT has run and checked.

    The converted file is run in LiteRT as a device runs it before it is
    renamed into place: one check example per invoke, with no reset, then
    again in a shuffled order, which must give the same outputs (a file
    that keeps state between invokes fails). A float export must match the
    Keras logits within `atol`; a quantized one must give the Keras model's
    top-1 class on at least `min_agreement` of the examples, and on at least
    half (or `min_agreement`, if lower) of those of each class Keras gives to
    3 or more (so a file that answers one class for everything fails on
    imbalanced data too). A file that fails is never left at `path`.

    A model with a recurrent layer (LSTM, GRU, SimpleRNN, Bidirectional) is
    written for a fixed batch of one example per invoke, stateless: as
    WHILE loops, or unrolled over its steps for "int8" (see
    `tfcompress.export.recurrent`). Masks (`mask_zero=True`, Masking) and
    `stateful=True` layers are refused.

    Args:
      model: single-input, single-output tf_keras model (QAT models too).
      path: output file, usually ending in .tflite; replaced if it exists.
      quantization: "none" (float32), "dynamic" (int8 weights), "float16",
        "int8" (weights and activations; calibrated on
        `representative_data` unless the model is quantization-aware) or
        "int4" (int4 Dense weights, int8 others, float activations; written
        by ai-edge-quantizer, `export.int4_weights`).
      representative_data: calibration inputs for "int8": a NumPy array, an
        (x, y) tuple of arrays or a `tf.data.Dataset` of (x, y) batches, e.g.
        the training split.
      num_samples: calibration examples taken from it.
      int8_io: int8 input and output tensors ("int8" only); the check
        quantizes inputs and dequantizes outputs with the file's scales.
      sparse: TFLite's sparse weight encoding (smaller for pruned models;
        XNNPACK cannot run it with int8 weights).
      xnnpack: check with LiteRT's default XNNPACK delegate, as devices run
        it; False checks the built-in kernels only.
      check_inputs: real examples to check on: an array, an (x, y) tuple or
        a `tf.data.Dataset` of (x, y) batches. With labels, up to 16 of
        every class are taken (128 at most). When None, the check takes
        them from `representative_data`, else makes up seeded noise (or
        random token ids), which a model may answer with one class only.
      atol: largest allowed max abs difference of float logits.
      min_agreement: smallest allowed top-1 agreement of quantized exports.

    Returns:
      `ExportResult` (max abs diff, top-1 agreement overall and in the
      class where it is lowest, on the check examples).

    Raises:
      ValueError: options that do not fit together or the model; a mask or
        a stateful recurrent layer (the message names the layer).
      ExportValidationError: LiteRT failed to run it or it disagrees; the
        message says which option broke and what works instead.
    """
    if not 0 <= min_agreement <= 1:
        raise ValueError(f"`min_agreement` must be in [0, 1], got {min_agreement!r}.")
    recurrent.check_exportable(model)  # before a stateful model runs
    batch = validation.check_batch(model, check_inputs, representative_data)
    expected = validation.keras_outputs(model, batch)
    flatbuffer = convert(model, quantization=quantization,
                         representative_data=representative_data,
                         num_samples=num_samples, int8_io=int8_io, sparse=sparse)
    what = _describe(quantization, sparse, int8_io)
    with _atomic.atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(flatbuffer)
        actual = _run_checked(tmp, path, batch, xnnpack, what, sparse)
        if quantization == "none":
            diff = validation.compare_outputs(expected, actual, atol, "The TFLite model")
            agreement = validation.top1_agreement(expected, actual)
            worst = validation.worst_class_agreement(expected, actual)
        else:
            agreement, worst = validation.check_agreement(
                expected, actual, min_agreement, f"The {what} TFLite model",
                **({"advice": _INT4_ADVICE} if quantization == "int4" else {}))
            diff = float(np.max(np.abs(expected - actual.astype(np.float32))))
    return validation.ExportResult(str(path), diff, len(batch), agreement, worst)
