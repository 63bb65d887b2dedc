"""Tiny synthetic models and data shared by the tests."""

import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

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


class KillAfterEpoch(keras.callbacks.Callback):
    """Raises at the end of epoch `epoch`, like a kill after that epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError(f"killed after epoch {epoch}")


def random_batch(shape, n=16, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *shape)).astype(np.float32)


def labelled_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] * 3).astype(np.int32)  # 3 classes learnable from x
    return x, y


def small_teacher(seed=1, softmax=False, batch_norm=False, dropout=False):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    if dropout:
        x = keras.layers.Dropout(0.5)(x)
    logits = keras.layers.Dense(3, name="logits")(x)
    outputs = keras.layers.Softmax()(logits) if softmax else logits
    return keras.Model(inputs, outputs)


def small_student(seed=2):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def compile_distiller(distiller, learning_rate=0.1):
    distiller.compile(keras.optimizers.SGD(learning_rate), metrics=["accuracy"])
    return distiller


def run_cli(*args, timeout=600):
    """Runs `tfcompress ARGS` in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "tfcompress.cli.main", *args],
        capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


class CliTestCase(tf.test.TestCase):

    def assertUsageError(self, result, message):
        """A usage error: non-zero exit, `message` on stderr, no traceback."""
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(message, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
