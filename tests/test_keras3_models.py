"""A Keras 3 model handed to any public function gets one clear error."""

import keras as keras3  # Keras 3, on purpose: this is the input we refuse.
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import tfcompress

_DATA = tf.data.Dataset.from_tensor_slices(
    (np.zeros((4, 6), np.float32), np.zeros(4, np.int32))).batch(2)

_CALLS = {
    "train_classifier": lambda m: tfcompress.train_classifier(m, _DATA, epochs=1),
    "compile_classifier": tfcompress.compile_classifier,
    "evaluate_classifier": lambda m: tfcompress.evaluate_classifier(m, _DATA),
    "count_params": tfcompress.count_params,
    "export_tflite": lambda m: tfcompress.export_tflite(m, "unused.tflite"),
    "export_saved_model": lambda m: tfcompress.export_saved_model(m, "unused"),
    "save_keras_model": lambda m: tfcompress.save_keras_model(m, "unused.keras"),
}


class Keras3ModelTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(*_CALLS.items())
    def test_keras3_model_is_refused_with_what_to_do(self, call):
        model = keras3.Sequential([keras3.Input((6,)), keras3.layers.Dense(3)])
        with self.assertRaisesRegex(
            TypeError,
            r"`model` is a Keras 3 model \(keras\.src\.models\.sequential\.Sequential\);"
            r" tfcompress works with Keras 2 models .* `import tf_keras as keras`"):
            call(model)

    def test_non_model_is_refused(self):
        with self.assertRaisesRegex(TypeError, "`model` must be a tf_keras Model, got str"):
            tfcompress.count_params("model.keras")
