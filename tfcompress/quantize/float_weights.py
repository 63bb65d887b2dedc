"""The float weights a quantization-aware model has trained, in a plain model.

TFMOT has no `strip` for QAT: its wrappers stay until TFLite conversion.
A caller that wants the fine-tuned model as a plain Keras model (for
instance to hand it back as Keras 3) gets a copy of the original model with
each layer's float weights taken from the wrapper around it.
"""

import tensorflow as tf

from tfcompress import _tfmot_wrappers
from tfcompress._keras import keras


def float_model(aware, like, keep_zeros=False):
    """A copy of `like` holding the float weights of its QAT version `aware`.

    Args:
      aware: the quantization-aware model (`quantize_aware(like)`), trained.
      like: the model `aware` was made from.
      keep_zeros: zero the kernel weights that are zero in `like`. PQAT keeps
        a pruned model's zeros by masking its kernels inside the fake-quant
        op, so the variables under the mask drift while the exported file
        keeps the zeros; this gives the float model the file's zeros.

    Raises:
      ValueError: `aware` is not quantization-aware, or lacks a layer of `like`.
    """
    if not _tfmot_wrappers.is_quantization_aware(aware):
        raise ValueError(f"`aware` must be a quantization-aware model, got {aware.name!r}.")
    trained = {}  # "layer/kernel" -> the variable the wrapper trained
    for layer in aware.layers:
        inner = _tfmot_wrappers.unwrap_quantization(layer)
        # A wrapper holds its layer's kernel itself (to fake-quantize it), so
        # the variables are found by name, not by the inner layer's weights.
        for variable in layer.weights:
            if variable.name.startswith(f"{inner.name}/"):
                trained[_key(variable)] = variable
    copy = keras.models.clone_model(like)
    for variable, original in zip(copy.weights, like.weights):
        if _key(variable) not in trained:
            raise ValueError(f"`aware` has no weight {_key(variable)!r} of `like`: pass "
                             "the model it was made from.")
        value = trained[_key(variable)]
        if keep_zeros and "kernel" in _key(variable):
            value = tf.where(tf.equal(original, 0.0), tf.zeros_like(value), value)
        variable.assign(value)
    return copy


def _key(variable):
    return variable.name.split(":")[0]
