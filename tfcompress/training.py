"""Training classifiers (teachers, baselines) with the callbacks they need."""

import json
import numbers
import os
import shutil
import sys
import tempfile

import tensorflow as tf

from tfcompress import _atomic
from tfcompress._checks import check_positive_int
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.data import inputs
from tfcompress.keras3 import accepts_keras3

OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "cosine")


def make_deterministic(seed):
    """Same seed, same model: seeds Python, NumPy and TF, and pins TF's ops.

    Op determinism makes TF pick deterministic kernels (and refuse ops that
    have none). Keras layers then draw dropout masks from `tf.random.Generator`
    variables instead of stateful ops, so their state can be checkpointed and
    a resumed run draws the masks an uninterrupted run would have. Both are
    process-wide settings; call this before building the models.

    Args:
      seed: int >= 0.
    """
    keras.backend.experimental.enable_tf_random_generator()
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


def progress_verbosity(verbose):
    """Keras verbosity for this process's standard output.

    A progress bar (1) redraws thousands of times per epoch; into a log file
    or CI output (not a terminal) that is noise, so it becomes one line per
    epoch (2) there.
    """
    if verbose == 1 and not sys.stdout.isatty():
        return 2
    return verbose


def make_optimizer(name="adam", learning_rate=1e-3):
    """Adam, or SGD with Nesterov momentum 0.9.

    `learning_rate` is a positive float or a Keras LearningRateSchedule
    (e.g. keras.optimizers.schedules.CosineDecay).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}, got {name!r}.")
    if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        if not isinstance(learning_rate, numbers.Real):
            raise ValueError(f"`learning_rate` must be a number, got {learning_rate!r}: "
                             "pass a float such as 1e-3.")
        if isinstance(learning_rate, bool) or not learning_rate > 0:
            raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)


def learning_rate_schedule(learning_rate, lr_schedule="constant", *, total_steps=None):
    """`learning_rate` as it is ("constant") or decayed to 0 along a cosine.

    Cosine decay over the whole run (Loshchilov & Hutter 2017, without
    restarts) gave clearly better MNIST teachers and students here than a
    constant rate (BENCHMARKS.md).

    Args:
      learning_rate: positive float, the starting rate.
      lr_schedule: one of LR_SCHEDULES.
      total_steps: optimizer steps of the whole run; needed for "cosine".
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"`lr_schedule` must be one of {LR_SCHEDULES}, got "
                         f"{lr_schedule!r}.")
    if lr_schedule == "constant":
        return learning_rate
    check_positive_int("total_steps", total_steps)
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps)


def compile_classifier(model, *, optimizer="adam", learning_rate=1e-3):
    """Compiles a logits model with sparse cross-entropy and accuracy."""
    require_keras2_model(model)
    model.compile(optimizer=make_optimizer(optimizer, learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


class KeepBestWeights(keras.callbacks.Callback):
    """Checkpoints the weights of the epoch with the best `monitor` value (higher wins).

    Unlike ModelCheckpoint(save_best_only=True), the best value so far is
    stored beside the weights, so a resumed run keeps comparing against it
    instead of starting over. In TF's checkpoint format, which restores
    distributed variables too (an .h5 file does not).
    """

    def __init__(self, directory, monitor="val_accuracy"):
        super().__init__()
        self.directory = directory
        self.record_path = os.path.join(directory, "best.json")
        self.monitor = monitor
        self._manager = None

    def set_model(self, model):
        super().set_model(model)
        self._manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                                   self.directory, max_to_keep=1)

    def best(self):
        """The best value saved so far, or None."""
        try:
            with open(self.record_path, encoding="utf-8") as f:
                return json.load(f)["best"]
        except (OSError, ValueError, KeyError):
            return None

    def clear(self):
        """Forgets an earlier run's best (call before a fresh, unresumed run)."""
        shutil.rmtree(self.directory, ignore_errors=True)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(
                f"Keeping the best epoch needs {self.monitor!r} in the epoch logs, "
                f"which has {sorted(logs or {})}; compile the model with "
                "metrics=['accuracy'] (or keras.metrics.SparseCategoricalAccuracy("
                "name='accuracy')).")
        best = self.best()
        if best is None or value > best:
            self._manager.save()
            _atomic.write_json(self.record_path, {"best": float(value), "epoch": epoch})

    def restore(self, model):
        """Loads the best weights into `model`, if any were saved."""
        latest = tf.train.latest_checkpoint(self.directory)
        if latest and self.best() is not None:
            tf.train.Checkpoint(model=model).restore(latest).expect_partial()


@accepts_keras3("model", write_back=True)
def train_classifier(model, train_data, *, epochs, optimizer="adam",
                     learning_rate=1e-3, **fit_kwargs):
    """Compiles a logits classifier (cross-entropy, accuracy) and `fit`s it.

    Args:
      model: tf_keras model that outputs logits; any earlier compile is
        replaced.
      train_data: `tf.data.Dataset` of (x, y) batches, or an (x, y) tuple of
        NumPy arrays (shuffled each epoch, in batches of `batch_size`).
      epochs: positive int.
      optimizer: "adam" or "sgd".
      learning_rate: positive float.
      **fit_kwargs: `validation_data`, `batch_size`, `checkpoint_dir`,
        `early_stopping_patience`, `callbacks`, `verbose`; see `fit`.

    Returns:
      The Keras `History`.
    """
    require_keras2_model(model)
    check_positive_int("epochs", epochs)
    compile_classifier(model, optimizer=optimizer, learning_rate=learning_rate)
    return fit(model, train_data, epochs=epochs, **fit_kwargs)


def fit(model, train_data, *, epochs, validation_data=None,
        batch_size=inputs.DEFAULT_BATCH_SIZE, checkpoint_dir=None,
        early_stopping_patience=None, callbacks=(), keep_best=True, verbose=2):
    """Fits a compiled model and keeps the weights of its best epoch.

    With `validation_data`, the weights of the epoch with the best validation
    accuracy are checkpointed and restored at the end. With `checkpoint_dir`,
    the run also backs itself up every epoch, so calling again with the same
    arguments after a kill resumes where it stopped (Keras BackupAndRestore).
    Works for plain classifiers and for a compiled `Distiller` alike.

    Args:
      model: a compiled tf_keras model whose metrics include "accuracy".
      train_data: `tf.data.Dataset` of (x, y) batches, or an (x, y) tuple of
        NumPy arrays (then shuffled each epoch, by TF's global seed).
      epochs: positive int.
      validation_data: optional dataset of (x, y) batches, or (x, y) arrays.
      batch_size: the batches NumPy arrays are cut into (datasets come
        batched).
      checkpoint_dir: folder for best weights and the resume backup; a
        temporary folder when None (no resume).
      early_stopping_patience: stop after this many epochs without a better
        validation accuracy; None trains all epochs.
      callbacks: more Keras callbacks.
      keep_best: restore the best validation epoch at the end; turn it off
        when early epochs are not comparable (e.g. before pruning reaches
        its target, a denser model scores better).
      verbose: Keras verbosity (0 silent, 1 progress bar, 2 a line per epoch).

    Returns:
      The Keras `History`.
    """
    require_keras2_model(model)
    check_positive_int("epochs", epochs)
    if early_stopping_patience is not None and validation_data is None:
        raise ValueError("`early_stopping_patience` needs `validation_data`.")
    train_data = inputs.as_batches(train_data, arg_name="train_data",
                                   batch_size=batch_size, shuffle=True)
    if validation_data is not None:
        validation_data = inputs.as_batches(validation_data, arg_name="validation_data",
                                            batch_size=batch_size)

    with tempfile.TemporaryDirectory() as scratch:
        state_dir = checkpoint_dir or scratch
        os.makedirs(state_dir, exist_ok=True)
        best_keeper = KeepBestWeights(os.path.join(state_dir, "best"))
        backup_dir = os.path.join(state_dir, "backup")
        if not os.path.isdir(backup_dir):
            best_keeper.clear()  # a fresh run: an older run's best is not ours
        all_callbacks = list(callbacks)
        keep_best = keep_best and validation_data is not None
        if keep_best:
            # Before BackupAndRestore: a kill between the two then re-runs the
            # epoch rather than skipping a best epoch it never recorded.
            all_callbacks.append(best_keeper)
        if checkpoint_dir:
            all_callbacks.append(keras.callbacks.BackupAndRestore(backup_dir))
        if early_stopping_patience is not None:
            all_callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=early_stopping_patience))
        history = model.fit(train_data, epochs=epochs, validation_data=validation_data,
                            callbacks=all_callbacks, verbose=progress_verbosity(verbose))
        if keep_best:
            best_keeper.restore(model)
    return history
