"""The one place tfcompress imports Keras: TFMOT needs Keras 2 (tf_keras).

In TF 2.21 `tf.keras` and `import keras` are Keras 3, which TFMOT rejects, so
every other module does `from tfcompress._keras import keras`.
"""

import tf_keras as keras


def require_keras2_model(model, arg_name="model"):
    """Raises a clear error unless `model` is a tf_keras (Keras 2) model.

    Args:
      model: the object a caller passed as a model.
      arg_name: the caller's argument name, quoted in the error.

    Raises:
      TypeError: `model` is a Keras 3 model or not a Keras model at all.
    """
    if isinstance(model, keras.Model):
        return
    module = type(model).__module__
    if module.split(".")[0] == "keras":
        raise TypeError(
            f"`{arg_name}` is a Keras 3 model ({module}.{type(model).__name__}), and "
            "this function works on a tf_keras model in place. Convert it first with "
            "`tfcompress.keras3.to_tf_keras(model)` (and back with `to_keras3`), or "
            "use train_classifier, which takes Keras 3 models and writes the trained "
            "weights back.")
    raise TypeError(
        f"`{arg_name}` must be a tf_keras Model, got {type(model).__name__} "
        f"({module}): pass a model built with tf_keras, or load a .keras file "
        "first with tfcompress.load_keras_model(path).")
