"""The Keras 3 bridge: Keras 3 models into tfcompress and back out.

`to_tf_keras` turns a Keras 3 model (or .keras file) into an equal tf_keras
model, which TFMOT can prune and quantize; `to_keras3` turns the result back.
Keras 3 is imported only when a Keras 3 model is met, so tf_keras-only users
never pay for it.
"""

import importlib

_BRIDGE = "tfcompress.keras3.bridge"
_EXPORTS = ("Conversion", "ConversionError", "SUPPORTED", "UnsupportedLayersError",
            "convert", "load", "register", "register_reverse", "to_keras3", "to_tf_keras")

__all__ = sorted((*_EXPORTS, "as_tf_keras", "is_keras3_model"))


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfcompress.keras3' has no attribute {name!r}")
    return getattr(importlib.import_module(_BRIDGE), name)


def is_keras3_model(obj):
    """Whether `obj` is a Keras 3 model (checked without importing Keras 3)."""
    return any(cls.__module__.split(".")[0] == "keras" and cls.__name__ == "Model"
               for cls in type(obj).__mro__)


def as_tf_keras(model, arg_name="model"):
    """`model` if it is a tf_keras model; a Keras 3 model converted to one.

    Raises:
      TypeError: `model` is not a Keras model.
      tfcompress.keras3.ConversionError: the Keras 3 model cannot be converted.
    """
    from tfcompress._keras import keras  # pylint: disable=import-outside-toplevel
    if isinstance(model, keras.Model):
        return model
    if is_keras3_model(model):
        return importlib.import_module(_BRIDGE).convert(model, arg_name=arg_name).model
    raise TypeError(
        f"`{arg_name}` must be a Keras model (tf_keras or Keras 3), got "
        f"{type(model).__name__} ({type(model).__module__}): pass a model, or load a "
        ".keras file first with tfcompress.load_keras_model(path).")
