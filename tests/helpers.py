"""Tiny synthetic models and data shared by the tests."""

import contextlib
import io
import os
import subprocess
import sys
from unittest import mock

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from absl.testing import flagsaver

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


def run_cli_in_process(*args):
    """Runs `tfcompress ARGS` in this process, as `run_cli` would in a new one.

    For usage errors, which need no process of their own (TensorFlow's
    import costs seconds): the command's module is imported anew and defines
    its flags in absl's FLAGS, which are global, so `_own_cli_flags` puts
    them back as they were afterwards. `quiet.start` is left out: it quiets
    a new process (tests/test_cli.py's QuietStartTest runs one). --help
    prints absl's "USAGE: tfcompress COMMAND [flags]", as the console script's.

    Returns:
      A `subprocess.CompletedProcess` with returncode, stdout and stderr.
    """
    from tfcompress import quiet  # pylint: disable=import-outside-toplevel
    from tfcompress.cli import main  # pylint: disable=import-outside-toplevel

    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["tfcompress", *args]
    with _own_cli_flags(), mock.patch.object(quiet, "start"), \
            mock.patch.object(sys, "argv", list(sys.argv)), \
            mock.patch("absl.command_name.make_process_name_useful"), \
            mock.patch.object(sys.modules["__main__"], "__doc__", None), \
            contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main.run(argv)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return subprocess.CompletedProcess(argv, code, stdout.getvalue(), stderr.getvalue())


@contextlib.contextmanager
def _own_cli_flags():
    """Inside, tfcompress.cli's command modules import anew, as in a new process.

    Their flags are taken out of absl's FLAGS first (an earlier test may have
    imported them); afterwards the flags defined inside are deleted, every
    other flag's value restored, and the modules and flags from before put back.
    """
    keep = ("tfcompress.cli.main",)
    modules = {name: module for name, module in sys.modules.items()
               if name.startswith("tfcompress.cli.") and name not in keep}
    defined = {flag.name: (name, flag)
               for name, flag_list in flags.FLAGS.flags_by_module_dict().items()
               if name in modules for flag in flag_list}
    package = sys.modules["tfcompress.cli"]
    for name in modules:  # `from tfcompress.cli import x` reads the package's x first
        del sys.modules[name]
        if hasattr(package, name.rsplit(".", 1)[1]):
            delattr(package, name.rsplit(".", 1)[1])
    for flag_name in defined:
        delattr(flags.FLAGS, flag_name)
    app.define_help_flags()  # once per process, by the first `app.run`: not inside
    saved = flagsaver.save_flag_values()
    try:
        yield
    finally:
        flagsaver.restore_flag_values(saved)  # deletes the flags defined inside
        for name in [n for n in sys.modules if n.startswith("tfcompress.cli.")]:
            if name not in keep:
                del sys.modules[name]
                if hasattr(package, name.rsplit(".", 1)[1]):
                    delattr(package, name.rsplit(".", 1)[1])
        for name, module in modules.items():
            sys.modules[name] = module
            setattr(package, name.rsplit(".", 1)[1], module)
        for name, flag in defined.values():
            flags.DEFINE_flag(flag, flags.FLAGS, module_name=name)


class CliTestCase(tf.test.TestCase):

    def assertUsageError(self, result, message):
        """A usage error: non-zero exit, `message` on stderr, no traceback."""
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(message, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
