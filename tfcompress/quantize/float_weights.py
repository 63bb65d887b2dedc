"""The float weights a quantization-aware model has trained, in a plain model.

TFMOT has no `strip` for QAT: its wrappers stay until TFLite conversion.
A caller that wants the fine-tuned model as a plain Keras model (for
instance to hand it back as Keras 3) gets a copy of the original model with
each layer's float weights taken from the wrapper around it.
"""

from tfcompress import _tfmot_wrappers
from tfcompress._keras import keras


def float_model(aware, like):
    """A copy of `like` holding the float weights of its QAT version `aware`.

    Args:
      aware: the quantization-aware model (`quantize_aware(like)`), trained.
      like: the model `aware` was made from.

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
    for variable in copy.weights:
        if _key(variable) not in trained:
            raise ValueError(f"`aware` has no weight {_key(variable)!r} of `like`: pass "
                             "the model it was made from.")
        variable.assign(trained[_key(variable)])
    return copy


def _key(variable):
    return variable.name.split(":")[0]
