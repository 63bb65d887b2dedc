"""Tiny synthetic models and data shared by the tests."""

import numpy as np

from tfcompress._keras import keras


def tiny_mlp(input_shape=(6,), num_classes=3, seed=0):
    """A 2-layer functional MLP with deterministic weights."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(8, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def tiny_cnn(seed=0):
    """Conv + pool + dense on 8x8x1 images."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def random_batch(shape, n=16, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *shape)).astype(np.float32)
