"""Keras 3 callbacks inside the tf_keras `fit`s tfcompress owns.

A Distiller and a pruned model train in tf_keras (TFMOT needs it), but a
Keras 3 user hands them `keras.callbacks.EarlyStopping` and friends, which
tf_keras' CallbackList cannot call (it asks each callback
`_implements_train_batch_hooks`, a tf_keras method). `adapt` wraps each
Keras 3 callback in a tf_keras one that forwards every hook. The callback
sees a `ModelView` as its model: the training model for everything it reads
and sets (`stop_training`, `optimizer`, `get_weights`...), except that
`save` writes the finished model in the user's Keras, so a
`keras.callbacks.ModelCheckpoint` file loads with `keras.saving.load_model`.
Written here: neither Keras ships a bridge between the two callback APIs.
"""

import os

import numpy as np

from tfcompress import _atomic
from tfcompress._keras import keras as tf_keras

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
          "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")


def is_keras3_callback(callback):
    """Whether `callback` is a Keras 3 callback (checked without importing Keras 3)."""
    return any(cls.__module__.split(".")[0] == "keras" and cls.__name__ == "Callback"
               for cls in type(callback).__mro__)


class ModelView:
    """The training model as a Keras 3 callback sees it.

    Reads and writes of attributes go to `model`; `save` writes `finished()`
    (the model as the user will get it: stripped, in their Keras) instead of
    the training model with its wrappers.
    """

    def __init__(self, model, finished):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_finished", finished)

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __setattr__(self, name, value):
        setattr(self._model, name, value)

    def save(self, filepath, overwrite=True, **_):
        if not overwrite and os.path.exists(filepath):
            return
        with _atomic.atomic_output(os.fspath(filepath)) as tmp:
            self._finished().save(tmp)

    @property
    def layers(self):
        # Keras 3's TensorBoard names weight histograms by `variable.path`,
        # which tf_keras variables lack.
        return [_LayerView(layer) for layer in self._model.layers]


class _LayerView:
    """A tf_keras layer whose weights carry Keras 3's `path`."""

    def __init__(self, layer):
        self._layer = layer

    def __getattr__(self, name):
        return getattr(self._layer, name)

    @property
    def weights(self):
        return [_WeightView(variable) for variable in self._layer.weights]


class _WeightView:
    """A tf_keras variable's value, named by `path` as a Keras 3 variable is."""

    def __init__(self, variable):
        self.path = variable.name.split(":")[0]
        self._variable = variable

    def __getattr__(self, name):
        return getattr(self._variable, name)

    def __array__(self, dtype=None, copy=None):  # pylint: disable=redefined-builtin
        del copy
        return np.asarray(self._variable.numpy(), dtype)


def _forward(hook):
    def call(self, *args, **kwargs):
        return getattr(self.callback, hook)(*args, **kwargs)
    call.__name__ = hook
    return call


def _overrides(callback, *hooks):
    return any(not getattr(getattr(callback, hook), "_is_default", False)
               for hook in hooks)


# Metrics whose larger values are better (tf_keras' own "auto" rule, widened).
_HIGHER_IS_BETTER = ("acc", "accuracy", "auc", "precision", "recall", "f1")


def _resolve_auto_mode(callback):
    """Picks "min" or "max" for a monitoring callback left at mode="auto".

    Keras 3 decides "auto" from its own metric objects' `_direction`, which a
    tf_keras model's metrics lack (EarlyStopping(monitor="val_accuracy")
    would refuse to run); tf_keras decides from the name, as here.
    """
    if getattr(callback, "mode", None) != "auto" or not hasattr(callback, "monitor"):
        return
    name = callback.monitor.removeprefix("val_")
    callback.mode = "max" if name.endswith(_HIGHER_IS_BETTER) else "min"


class Keras3Callback(tf_keras.callbacks.Callback):
    """A Keras 3 callback run by tf_keras' `fit`, its model a `ModelView`."""

    def __init__(self, callback, finished):
        super().__init__()
        self.callback = callback
        self._finished = finished
        _resolve_auto_mode(callback)

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(ModelView(model, self._finished))

    # Batch hooks cost a Python call per step: only when the callback has any.
    def _implements_train_batch_hooks(self):
        return _overrides(self.callback, "on_batch_begin", "on_batch_end",
                          "on_train_batch_begin", "on_train_batch_end")

    def _implements_test_batch_hooks(self):
        return _overrides(self.callback, "on_test_batch_begin", "on_test_batch_end")

    def _implements_predict_batch_hooks(self):
        return _overrides(self.callback, "on_predict_batch_begin",
                          "on_predict_batch_end")


for _hook in _HOOKS:
    setattr(Keras3Callback, _hook, _forward(_hook))


def adapt(callbacks, finished):
    """`callbacks` with each Keras 3 callback wrapped for a tf_keras `fit`.

    Args:
      callbacks: a list (or None) of tf_keras and Keras 3 callbacks.
      finished: () -> the model a Keras 3 `ModelCheckpoint` should save.
    """
    if callbacks is None:
        return None
    return [Keras3Callback(c, finished) if is_keras3_callback(c) else c
            for c in callbacks]


# `fit`'s parameters before `callbacks`: x, y, batch_size, epochs, verbose.
_CALLBACKS_POSITION = 5


def fit_callbacks(args, kwargs):
    """The `callbacks` a `fit(*args, **kwargs)` call passes (None if none)."""
    return kwargs.get("callbacks", args[_CALLBACKS_POSITION]
                      if len(args) > _CALLBACKS_POSITION else None)


def with_fit_callbacks(args, kwargs, callbacks):
    """`fit`'s (args, kwargs) with `callbacks` in place of the ones it passes."""
    if len(args) > _CALLBACKS_POSITION:
        return (*args[:_CALLBACKS_POSITION], callbacks,
                *args[_CALLBACKS_POSITION + 1:]), kwargs
    return args, {**kwargs, "callbacks": callbacks}


def adapt_fit_arguments(args, kwargs, finished):
    """`fit`'s (args, kwargs) with its Keras 3 callbacks adapted (`adapt`)."""
    callbacks = fit_callbacks(args, kwargs)
    if callbacks is None:
        return args, kwargs
    return with_fit_callbacks(args, kwargs, adapt(callbacks, finished))
