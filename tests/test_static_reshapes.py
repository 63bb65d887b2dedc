"""A Keras Reshape's shape as a constant in .tflite files (`export.static_reshapes`).

What users rely on: every exported file with a tf_keras `Reshape` layer
runs without the three ops that computed its batch size, answers exactly
as before at any batch size, and is smaller; other files are untouched.
"""

import numpy as np
import tensorflow as tf

from tfcompress._keras import keras
from tfcompress.evaluate.tflite_ops import op_names
from tfcompress.export import converter
from tfcompress.export import static_reshapes
from tfcompress.runtime import TFLiteRunner

_BATCH_SIZE_OPS = {"SHAPE", "STRIDED_SLICE", "PACK"}


def _model(reshape=True):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12,))
    x = keras.layers.Dense(6, activation="relu")(inputs)
    if reshape:
        x = keras.layers.Reshape((3, 2, 1))(x)
        x = keras.layers.Conv2D(4, 2, padding="same")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


class FoldBatchReshapesTest(tf.test.TestCase):

    def test_exported_file_has_no_batch_size_ops_and_answers_the_same(self):
        model = _model()
        original = converter.make_converter(model).convert()
        self.assertLessEqual(_BATCH_SIZE_OPS, set(op_names(original)))
        exported = converter.convert(model)  # folds
        self.assertFalse(_BATCH_SIZE_OPS & set(op_names(exported)), op_names(exported))
        self.assertEqual(op_names(exported),
                         [op for op in op_names(original) if op not in _BATCH_SIZE_OPS])
        self.assertLess(len(exported), len(original) - 200)
        x = np.random.default_rng(1).standard_normal((5, 12)).astype(np.float32)
        self.assertAllClose(model(x).numpy(), TFLiteRunner(exported)(x), atol=1e-5)
        for xnnpack in (True, False):
            before, after = TFLiteRunner(original, xnnpack=xnnpack), TFLiteRunner(
                exported, xnnpack=xnnpack)
            self.assertAllEqual(after(x), before(x))  # a batch of 5
            self.assertAllEqual(after.run_each(x), before.run_each(x))  # one per invoke

    def test_other_files_unchanged(self):
        original = converter.make_converter(_model(reshape=False)).convert()
        self.assertEqual(static_reshapes.fold_batch_reshapes(original), original)


if __name__ == "__main__":
    tf.test.main()
