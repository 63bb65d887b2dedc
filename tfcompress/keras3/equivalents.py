"""tf_keras equivalents of Keras 3 pieces that tf_keras lacks.

Keras 3 has activations tf_keras does not (relu6, hard_silu, leaky_relu) or
computes differently (Keras 3's hard_sigmoid is relu6(x + 3) / 6, tf_keras's
is clip(0.2 x + 0.5, 0, 1)), and functional models in which a raw op on a
tensor (`x + 3.0` in MobileNetV3) is a node of its own. Written here, with
Keras 3's formulas, because no library maps them; registered so a converted
model saves and loads as a .keras file. This module imports tf_keras only.
"""

import tensorflow as tf

from tfcompress._keras import keras

_PACKAGE = "tfcompress"


@keras.utils.register_keras_serializable(package=_PACKAGE)
def relu6(x):
    """min(max(x, 0), 6), as Keras 3's `relu6`."""
    return tf.nn.relu6(x)


@keras.utils.register_keras_serializable(package=_PACKAGE)
def hard_sigmoid(x):
    """relu6(x + 3) / 6, as Keras 3's `hard_sigmoid` (not tf_keras's)."""
    return tf.nn.relu6(x + 3.0) / 6.0


@keras.utils.register_keras_serializable(package=_PACKAGE)
def hard_silu(x):
    """x * relu6(x + 3) / 6, as Keras 3's `hard_silu` (alias `hard_swish`)."""
    return x * (tf.nn.relu6(x + 3.0) / 6.0)


@keras.utils.register_keras_serializable(package=_PACKAGE)
def leaky_relu(x):
    """max(x, 0.2 x), as Keras 3's `leaky_relu` activation (slope 0.2)."""
    return tf.nn.leaky_relu(x, alpha=0.2)


# Keras 3 activation name -> the tf_keras activation computing the same.
TO_TF_KERAS = {
    "relu6": relu6, "hard_sigmoid": hard_sigmoid, "hard_silu": hard_silu,
    "hard_swish": hard_silu, "leaky_relu": leaky_relu, "silu": "swish",
}
# The same functions by the names tf_keras saves them under, back to Keras 3.
TO_KERAS3 = {f"{_PACKAGE}>{fn.__name__}": fn.__name__
             for fn in (relu6, hard_sigmoid, hard_silu, leaky_relu)}

SCALAR_OPS = {"add": tf.add, "subtract": tf.subtract, "multiply": tf.multiply,
              "divide": tf.divide}


@keras.utils.register_keras_serializable(package=_PACKAGE)
class ScalarOp(keras.layers.Layer):
    """`x (op) value`, or `value (op) x` if `reverse`: a Keras 3 op node with a constant.

    Keras 3 keeps `x + 3.0` in a functional model as an op node of its own;
    tf_keras would make it a TFOpLambda, which saves a Python function name
    and which TFMOT cannot quantize. A layer with a config of its own keeps
    the graph explicit.
    """

    def __init__(self, op, value, reverse=False, **kwargs):
        super().__init__(**kwargs)
        if op not in SCALAR_OPS:
            raise ValueError(f"`op` must be one of {sorted(SCALAR_OPS)}, got {op!r}.")
        self.op, self.value, self.reverse = op, float(value), bool(reverse)

    def call(self, inputs):
        value = tf.cast(self.value, inputs.dtype)
        fn = SCALAR_OPS[self.op]
        return fn(value, inputs) if self.reverse else fn(inputs, value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "op": self.op, "value": self.value,
                "reverse": self.reverse}
