"""Saving and loading tf_keras models in the native .keras format."""

import os

from tfcompress import _atomic
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model


def save_keras_model(model, path):
    """Saves `model` atomically as a .keras file (architecture + weights)."""
    require_keras2_model(model)
    if not os.fspath(path).endswith(".keras"):
        raise ValueError(f"`path` must end in .keras, got {os.fspath(path)!r}.")
    with _atomic.atomic_output(path) as tmp:
        model.save(tmp)
    return os.fspath(path)


def load_keras_model(path, compile=False):
    """Loads a tf_keras model saved by `save_keras_model` (or Keras 2)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model at {path!r}.")
    return keras.models.load_model(path, compile=compile)
