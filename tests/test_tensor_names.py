"""Names a .tflite file keeps (`export.tensor_names`).

What users rely on: a file without the names nothing reads is smaller and
answers the same, and the names tools do read stay: inputs, outputs and
weights, as `evaluate.weight_stats` reports them.
"""

import numpy as np
import tensorflow as tf

from tfcompress.evaluate import weight_stats
from tfcompress.export import tensor_names
from tfcompress.runtime import TFLiteRunner
from tfcompress.runtime import load_interpreter


def _file():
    """A float file with a weight matrix, a bias, a shape constant and activations."""
    rng = np.random.default_rng(0)
    matrix = tf.constant(rng.standard_normal((12, 6)).astype(np.float32), name="weight")
    bias = tf.constant(rng.standard_normal(6).astype(np.float32), name="bias")

    def model(x):
        hidden = tf.nn.relu(tf.matmul(x, matrix) + bias)
        return tf.reshape(hidden, [-1, 3, 2])

    function = tf.function(model, input_signature=[tf.TensorSpec([None, 12], tf.float32)])
    return tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()]).convert()


def _names(flatbuffer):
    return {detail["name"] for detail in load_interpreter(flatbuffer).get_tensor_details()}


class DropUnreadNamesTest(tf.test.TestCase):

    def test_keeps_inputs_outputs_and_weights(self):
        original = _file()
        compact = tensor_names.drop_unread_names(original)
        self.assertLess(len(compact), len(original))
        # The converter's names: input x, output Identity, weight MatMul, the
        # bias (fused into the ReLU) Relu;add, the reshape's shape
        # arith.constant, an activation MatMul;Relu;add.
        self.assertEqual(_names(original), {"x", "Identity", "MatMul", "Relu;add",
                                            "arith.constant", "MatMul;Relu;add"})
        self.assertEqual(_names(compact), {"x", "Identity", "MatMul", ""})
        self.assertEqual(list(weight_stats(compact)), ["MatMul"])

    def test_answers_the_same(self):
        original = _file()
        x = np.random.default_rng(1).standard_normal((4, 12)).astype(np.float32)
        self.assertAllEqual(TFLiteRunner(tensor_names.drop_unread_names(original))(x),
                            TFLiteRunner(original)(x))

    def test_activation_rule_keeps_every_constant_name(self):
        self.assertEqual(_names(tensor_names.drop_activation_names(_file())),
                         {"x", "Identity", "MatMul", "Relu;add", "arith.constant", ""})


if __name__ == "__main__":
    tf.test.main()
