"""Float32 constants stored as float16 (`export.half_constants`).

What users rely on: the file is smaller, LiteRT (with and without XNNPACK)
runs it to float16 rounding of the original, and an int8 audio file keeps
its answers.
"""

import numpy as np
import tensorflow as tf

from tfcompress.evaluate.tflite_ops import op_names
from tfcompress.export import half_constants
from tfcompress.runtime import TFLiteRunner


def _float_file():
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((96, 10)).astype(np.float32)
    bias = rng.standard_normal(10).astype(np.float32)  # below MIN_ELEMENTS: stays
    function = tf.function(lambda x: tf.matmul(x, matrix) + bias,
                           input_signature=[tf.TensorSpec([None, 96], tf.float32)])
    return tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()]).convert()


class HalfConstantsTest(tf.test.TestCase):

    def test_smaller_and_runs_to_float16_rounding(self):
        original = _float_file()
        halved = half_constants.halve_float_constants(original)
        # A matrix of 960 floats: 2 bytes saved on each value, less a
        # DEQUANTIZE op and a tensor.
        self.assertLess(len(halved), len(original) - 2 * 960 + 200)
        self.assertEqual(op_names(halved), ["DEQUANTIZE", "FULLY_CONNECTED"])
        x = np.random.default_rng(1).standard_normal((4, 96)).astype(np.float32)
        expected = TFLiteRunner(original)(x)
        for xnnpack in (True, False):
            actual = TFLiteRunner(halved, xnnpack=xnnpack)(x)
            self.assertAllClose(actual, expected, rtol=0, atol=2e-3 * np.abs(expected).max())
            self.assertNotAllClose(actual, expected, rtol=0, atol=1e-7)  # it did round

    def test_small_constants_stay(self):
        original = _float_file()
        self.assertEqual(half_constants.halve_float_constants(original, min_elements=10 ** 4),
                         original)


if __name__ == "__main__":
    tf.test.main()
