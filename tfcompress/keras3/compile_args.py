"""Keras 3 optimizers, losses and metrics for a tf_keras `compile`.

A Keras 3 user compiles what tfcompress hands them to train (a pruned
model, a Distiller) with `keras.optimizers.Adam(1e-3)` and
`keras.losses.SparseCategoricalCrossentropy(from_logits=True)`; tf_keras'
`compile` refuses those objects. Each is rebuilt as the tf_keras class of
the same name from its config, keeping the arguments tf_keras' class takes.
Written here: neither Keras translates the other's objects.
"""

import functools
import inspect
import numbers

from tfcompress._keras import keras as tf_keras

_KINDS = {"optimizer": tf_keras.optimizers, "loss": tf_keras.losses,
          "metric": tf_keras.metrics}


def _is_keras3(obj):
    return type(obj).__module__.split(".")[0] == "keras"


def _translated(obj, kind):
    """The tf_keras object of `obj`'s class and config (`kind`: optimizer, ...)."""
    if not _is_keras3(obj):
        return obj
    name = type(obj).__name__
    target = getattr(_KINDS[kind], name, None)
    if not inspect.isclass(target):
        raise ValueError(
            f"The {kind} {name} is a Keras 3 object and tf_keras has no {name}, so "
            f"this model, which trains in tf_keras (TFMOT's), cannot use it. Pass the "
            f"{kind} by name (e.g. \"adam\"), or a tf_keras one "
            "(`tfcompress._keras.keras`).")
    config = obj.get_config()
    accepted = inspect.signature(target.__init__).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    if kind == "optimizer" and not isinstance(config.get("learning_rate"), numbers.Real):
        raise ValueError(
            f"The Keras 3 optimizer {name} has a learning-rate schedule, which tf_keras "
            "cannot rebuild. Pass a number as its learning_rate, or a tf_keras "
            "optimizer with a tf_keras schedule.")
    kept = {key: value for key, value in config.items()
            if value is not None and (key in accepted or (takes_any and key == "name"))}
    return target(**kept)


def translate(optimizer=None, loss=None, metrics=None):
    """`compile`'s optimizer, loss and metrics, Keras 3 objects made tf_keras."""
    if loss is not None and not isinstance(loss, (str, dict, list, tuple)):
        loss = _translated(loss, "loss")
    if metrics is not None:
        metrics = [m if isinstance(m, str) else _translated(m, "metric") for m in metrics]
    return _translated(optimizer, "optimizer"), loss, metrics


def accept_keras3_compile(model):
    """Makes `model.compile` take Keras 3 optimizers, losses and metrics too."""
    original_compile = model.compile

    @functools.wraps(original_compile)
    def compile(optimizer="rmsprop", loss=None, metrics=None, **kwargs):  # pylint: disable=redefined-builtin
        optimizer, loss, metrics = translate(optimizer, loss, metrics)
        return original_compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    model.compile = compile
    return model
