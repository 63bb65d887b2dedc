"""TFLite export, invoked in LiteRT and checked before the file lands."""

import os

import tensorflow as tf

from tfcompress import _atomic
from tfcompress.export import validation
from tfcompress.export.litert import TFLiteRunner


def convert(model):
    """Converts a tf_keras model to float TFLite flatbuffer bytes."""
    validation.single_input_spec(model)
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def export_tflite(model, path, *, check_inputs=None, atol=validation.FLOAT_ATOL):
    """Writes `model` as a float .tflite file that LiteRT has run.

    The converted model is invoked in LiteRT on `check_inputs` and compared
    with the Keras model before the file is renamed into place; a model that
    fails to run or to agree is never left at `path`.

    Args:
      model: single-input, single-output tf_keras model.
      path: output file, usually ending in .tflite; replaced if it exists.
      check_inputs: numpy batch to check on; seeded noise when None.
      atol: largest allowed max abs difference of logits.

    Returns:
      `ExportResult`.

    Raises:
      ExportValidationError: LiteRT failed to run it or it disagrees.
    """
    batch = validation.check_batch(model, check_inputs)
    expected = model(batch, training=False).numpy()
    flatbuffer = convert(model)
    with _atomic.atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(flatbuffer)
        try:
            actual = TFLiteRunner(tmp)(batch)
        except (RuntimeError, ValueError) as e:
            raise validation.ExportValidationError(
                f"LiteRT could not run the converted model for {os.fspath(path)!r}: {e}"
            ) from e
        diff = validation.compare_outputs(expected, actual, atol, "The TFLite model")
    return validation.ExportResult(str(path), diff, len(batch))
