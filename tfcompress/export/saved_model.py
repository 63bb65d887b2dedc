"""SavedModel export with a serving signature, reloaded and checked."""

import tensorflow as tf

from tfcompress import _atomic
from tfcompress.export import validation
from tfcompress.keras3 import accepts_keras3

SIGNATURE_KEY = "serving_default"
OUTPUT_KEY = "logits"


def _serving_module(model):
    shape, dtype = validation.single_input_spec(model)
    spec = tf.TensorSpec([None, *shape], dtype, name="inputs")

    # A plain tf.Module keeps the SavedModel free of Keras metadata: any TF
    # runtime (TF Serving, tf.saved_model.load) can serve it.
    module = tf.Module()
    module.model = model

    @tf.function(input_signature=[spec])
    def serve(inputs):
        return {OUTPUT_KEY: model(inputs, training=False)}

    module.serve = serve
    return module


@accepts_keras3("model")
def export_saved_model(model, path, *, check_inputs=None, atol=validation.FLOAT_ATOL):
    """Writes `model` as a SavedModel folder, proven to serve before it lands.

    The SavedModel has one signature, "serving_default", taking `inputs`
    [batch, ...] and returning {"logits": [batch, classes]}. It is written
    under a temporary name, reloaded, run on `check_inputs`, compared with
    the Keras model, and only then renamed to `path`.

    Args:
      model: single-input, single-output tf_keras model.
      path: output folder; replaced if it exists.
      check_inputs: examples to check on: an array, an (x, y) tuple or a
        `tf.data.Dataset` (up to 16 of every labelled class, as
        `export_tflite` takes them); seeded noise when None.
      atol: largest allowed max abs difference of logits.

    Returns:
      `ExportResult`.

    Raises:
      ExportValidationError: the reloaded model disagrees; nothing written.
    """
    batch = validation.check_batch(model, check_inputs)
    expected = model(batch, training=False).numpy()
    module = _serving_module(model)
    with _atomic.atomic_output(path) as tmp:
        tf.saved_model.save(module, tmp, signatures={SIGNATURE_KEY: module.serve})
        serve = tf.saved_model.load(tmp).signatures[SIGNATURE_KEY]
        actual = serve(inputs=tf.constant(batch))[OUTPUT_KEY].numpy()
        diff = validation.compare_outputs(expected, actual, atol, "The SavedModel")
    return validation.ExportResult(str(path), diff, len(batch))
