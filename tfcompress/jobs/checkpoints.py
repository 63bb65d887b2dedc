"""The state of a training run, checkpointed so a resumed run continues exactly.

Keras' BackupAndRestore keeps weights, optimizer and epoch, but not the
dropout generators nor the position inside an epoch. This checkpoint holds
the model (pruning masks and step included), the optimizer, every layer's
`tf.random.Generator` state and the (epoch, step) reached; with the
per-epoch data order of `data.epoch_batches` that is all a run's future
depends on. `tf.train.CheckpointManager` writes each checkpoint under a new
name and then atomically rewrites the index naming the latest, so a kill
mid-save leaves the previous checkpoint in force.
"""

import numpy as np
import tensorflow as tf

from tfcompress import graph
from tfcompress._keras import keras


HOW_TO_GO_ON = ("rerun with --resume and a lower --learning_rate (resume=True, "
                "learning_rate=...) to continue from it")


class NonFiniteLossError(RuntimeError):
    """The loss or the weights became NaN or inf; the last good checkpoint is kept."""


def random_generators(model):
    """The `tf.random.Generator` of every layer of `model`, nested ones too."""
    generators, seen = [], set()
    for layer in [model, *graph.layers(model)]:
        rng = getattr(layer, "_random_generator", None)
        generator = getattr(rng, "_generator", None)
        if generator is not None and id(generator) not in seen:
            seen.add(id(generator))
            generators.append(generator)
    return generators


class TrainingState:
    """A compiled model's full training state, saved and restored in `directory`.

    Under a multi-worker strategy every worker saves (saving reads
    distributed variables), each into its own directory.
    """

    def __init__(self, model, directory, max_to_keep=2):
        self.model = model
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.finished = tf.Variable(False, trainable=False)
        self._checkpoint = tf.train.Checkpoint(
            model=model, optimizer=model.optimizer, rng=random_generators(model),
            epoch=self.epoch, step=self.step, seconds=self.seconds,
            finished=self.finished)
        self._manager = tf.train.CheckpointManager(self._checkpoint, directory,
                                                   max_to_keep=max_to_keep)
        self.last_saved = None

    def restore(self):
        """Loads the latest checkpoint, if any; returns whether there was one."""
        latest = self._manager.latest_checkpoint
        if not latest:
            return False
        # Slot variables exist only once the optimizer is built: build it so
        # the restore fills them instead of deferring.
        self.model.optimizer.build(self.model.trainable_variables)
        self._checkpoint.restore(latest).assert_existing_objects_matched()
        self.last_saved = (int(self.epoch.numpy()), int(self.step.numpy()))
        return True

    def save(self, epoch, step, seconds, finished=False):
        """Checkpoints the state after `step` batches of `epoch`.

        Returns:
          The names of weights that are NaN or inf; then nothing is saved, so
          the last checkpoint stays the last good one.
        """
        bad = [v.name for v in self.model.trainable_variables
               if not np.isfinite(v.numpy()).all()]
        if bad:
            return bad
        self.epoch.assign(epoch)
        self.step.assign(step)
        self.seconds.assign(seconds)
        self.finished.assign(finished)
        self._manager.save()
        self.last_saved = (epoch, step)
        return []


class SaveTrainingState(keras.callbacks.Callback):
    """Checkpoints `state` at each epoch's end and every `every_steps` steps.

    Goes after the callbacks whose epoch-end work must be in the checkpoint
    (keeping the best weights, say). Weights that became NaN or inf stop
    training instead of being saved.
    """

    def __init__(self, state, where, *, clock, every_steps=None, first_step=0):
        super().__init__()
        self.state = state
        self.where = where  # the job and phase, for messages
        self.clock = clock  # () -> seconds trained so far, resumed runs included
        self.every_steps = every_steps
        self.first_step = first_step  # batches of the first epoch done before
        self._epoch = 0

    def _save(self, epoch, step):
        bad = self.state.save(epoch, step, self.clock())
        if bad:
            saved = self.state.last_saved
            kept = (f"the last good checkpoint (epoch {saved[0] + 1}, step {saved[1]}) "
                    "is kept" if saved else "no checkpoint was saved yet")
            raise NonFiniteLossError(
                f"{self.where}: weights became NaN or inf ({', '.join(bad[:3])}) by "
                f"epoch {epoch + 1}, step {step}; training stopped and {kept}: "
                f"{HOW_TO_GO_ON}.")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self.first_step = 0
        self._save(epoch + 1, 0)

    def on_train_batch_end(self, batch, logs=None):
        # The last batch of an epoch is saved at the epoch's end, after
        # validation and the epoch's callbacks.
        if not self.every_steps or batch + 1 >= self.params["steps"]:
            return
        if int(self.model.optimizer.iterations) % self.every_steps == 0:
            self._save(self._epoch, self.first_step + batch + 1)
