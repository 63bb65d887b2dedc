"""The Keras 3 bridge: Keras 3 models into tfcompress and back out.

`to_tf_keras` turns a Keras 3 model (or .keras file) into an equal tf_keras
model, which TFMOT can prune and quantize; `to_keras3` turns the result back.
Keras 3 is imported only when a Keras 3 model is met, so tf_keras-only users
never pay for it.
"""

import functools
import importlib
import inspect

_BRIDGE = "tfcompress.keras3.bridge"
_EXPORTS = ("Conversion", "ConversionError", "SUPPORTED", "UnsupportedLayersError",
            "convert", "copy_weights", "load", "register", "register_reverse", "to_keras3",
            "to_tf_keras")

__all__ = sorted((*_EXPORTS, "accepts_keras3", "as_tf_keras", "is_keras3_model"))


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


def accepts_keras3(*arg_names, write_back=False):
    """Decorates a function of tf_keras models so it takes Keras 3 models too.

    Each argument named in `arg_names` that holds a Keras 3 model is converted
    to tf_keras (checked equal) before the call. With `write_back`, for
    functions that train their model in place, the trained weights are then
    copied back into the caller's Keras 3 model.
    """
    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            originals = {}
            for name in arg_names:
                value = bound.arguments.get(name)
                if value is not None and is_keras3_model(value):
                    originals[name] = value
                    bound.arguments[name] = as_tf_keras(value, name)
            result = fn(*bound.args, **bound.kwargs)
            if write_back:
                for name, original in originals.items():
                    importlib.import_module(_BRIDGE).copy_weights(bound.arguments[name], original)
            return result
        return wrapper
    return decorate
