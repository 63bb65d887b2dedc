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


def load_keras_model(path, compile=False):  # pylint: disable=redefined-builtin
    """Loads a tf_keras model saved by `save_keras_model` (or Keras 2).

    Raises:
      FileNotFoundError: nothing at `path`.
      ValueError: the file is not a Keras 2 model (a Keras 3 file, or
        corrupt), with what to do about it.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model at {path!r}.")
    try:
        return keras.models.load_model(path, compile=compile)
    except (TypeError, ValueError, OSError, KeyError) as e:
        raise ValueError(
            f"Cannot load {path!r} as a tf_keras (Keras 2) model: {e}. A file saved "
            "by Keras 3 (`import keras`, or tf.keras in TF 2.21) cannot be read by "
            "tf_keras: rebuild the model with `import tf_keras as keras` and load "
            "its weights, or save it again from tf_keras."
        ) from None
