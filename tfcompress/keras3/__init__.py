"""The Keras 3 bridge: Keras 3 models into tfcompress and back out.

`to_tf_keras` turns a Keras 3 model (or .keras file) into an equal tf_keras
model, which TFMOT can prune and quantize; `to_keras3` turns the result back.
Keras 3 is imported only when a Keras 3 model is met, so tf_keras-only users
never pay for it.
"""

import dataclasses
import functools
import importlib
import inspect

_BRIDGE = "tfcompress.keras3.bridge"
_EXPORTS = ("Conversion", "ConversionError", "SUPPORTED", "UnsupportedLayersError",
            "convert", "copy_weights", "load", "register", "register_reverse", "to_keras3",
            "to_tf_keras")

__all__ = sorted((*_EXPORTS, "accepts_keras3", "as_tf_keras", "came_from_keras3",
                  "in_keras_of", "is_keras3_model", "mark_from_keras3"))

# Set on a tf_keras model made from a Keras 3 one (a training copy with
# TFMOT wrappers): what finishes it hands the user Keras 3 again.
_FROM_KERAS3 = "_tfcompress_from_keras3"


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfcompress.keras3' has no attribute {name!r}")
    return getattr(importlib.import_module(_BRIDGE), name)


def is_keras3_model(obj):
    """Whether `obj` is a Keras 3 model (checked without importing Keras 3)."""
    return any(cls.__module__.split(".")[0] == "keras" and cls.__name__ == "Model"
               for cls in type(obj).__mro__)


def mark_from_keras3(model):
    """Marks tf_keras `model` as made from the user's Keras 3 model; returns it."""
    setattr(model, _FROM_KERAS3, True)
    return model


def came_from_keras3(model):
    """Whether `model` is Keras 3, or a tf_keras model made from one."""
    return is_keras3_model(model) or bool(getattr(model, _FROM_KERAS3, False))


def in_keras_of(result, given):
    """`result` in the Keras `given` came in (Keras 3 in, Keras 3 out).

    A finished tf_keras model (no TFMOT wrappers) is converted to Keras 3
    (checked equal); a model still to be trained with TFMOT stays tf_keras,
    marked, so the function that finishes it converts it. `result` may also
    be a dataclass with a `model` field (`PruneResult`, `ShrinkResult`) or a
    tuple whose models are handed back so.
    """
    if not came_from_keras3(given):
        return result
    if dataclasses.is_dataclass(result) and hasattr(result, "model"):
        return dataclasses.replace(result, model=in_keras_of(result.model, given))
    if isinstance(result, tuple):
        return tuple(in_keras_of(part, given) for part in result)
    from tfcompress import _tfmot_wrappers  # pylint: disable=import-outside-toplevel
    from tfcompress._keras import keras  # pylint: disable=import-outside-toplevel
    if not isinstance(result, keras.Model):
        return result
    if (_tfmot_wrappers.has_pruning_wrappers(result) or _tfmot_wrappers.is_clustered(result)
            or _tfmot_wrappers.is_quantization_aware(result)):
        return mark_from_keras3(result)
    return importlib.import_module(_BRIDGE).to_keras3(result)


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


def accepts_keras3(*arg_names, write_back=False, returns_model=False):
    """Decorates a function of tf_keras models so it takes Keras 3 models too.

    Each argument named in `arg_names` that holds a Keras 3 model is converted
    to tf_keras (checked equal) before the call. With `write_back`, for
    functions that train their model in place, the trained weights are then
    copied back into the caller's Keras 3 model. With `returns_model`, the
    model the function returns comes back in the Keras of the first of
    `arg_names` (`in_keras_of`).
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
            given = originals.get(arg_names[0], bound.arguments.get(arg_names[0]))
            result = fn(*bound.args, **bound.kwargs)
            if returns_model and given is not None:
                result = in_keras_of(result, given)
            if write_back:
                for name, original in originals.items():
                    importlib.import_module(_BRIDGE).copy_weights(bound.arguments[name], original)
            return result
        return wrapper
    return decorate
