"""One training phase of a job: `fit` in exact, resumable epochs, guarded and logged."""

import dataclasses
import math
import os
import time

from tfcompress import data
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.jobs import checkpoints


@dataclasses.dataclass
class Trainee:
    """What a job gives the runner to train.

    Attributes:
      model: a compiled model (a classifier, a Distiller, a pruned model...).
      examples: unbatched, deterministic training examples; None: the run's
        training split.
      num_examples: examples in one pass of `examples` (None: the split's).
      callbacks: the job's own Keras callbacks (pruning steps, say).
      keep_best: restore the epoch with the best validation accuracy.
      epochs: None: the run's epochs.
    """

    model: keras.Model
    examples: object = None
    num_examples: int = None
    callbacks: tuple = ()
    keep_best: bool = True
    epochs: int = None


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or inf.

    Keras' TerminateOnNaN stops quietly after the batch; this raises with
    where it happened and how to go on from the last good checkpoint.
    """

    def __init__(self, where, state, *, first_step=0):
        super().__init__()
        self.where = where
        self.state = state
        self.first_step = first_step
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self.first_step = 0

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        saved = self.state.last_saved
        kept = (f"The last good checkpoint (epoch {saved[0] + 1}, step {saved[1]}) is "
                "kept" if saved else "No checkpoint was saved yet; the run folder is kept")
        raise checkpoints.NonFiniteLossError(
            f"{self.where}: the loss became {float(loss)} at epoch {self._epoch + 1}, "
            f"step {self.first_step + batch + 1}; training stopped. {kept}: "
            f"{checkpoints.HOW_TO_GO_ON}.")


class LogLearningRate(keras.callbacks.Callback):
    """Adds the learning rate to the epoch logs (TensorBoard logs only schedules)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            rate = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.backend.get_value(rate))


def _keep_constant_rate(optimizer, settings):
    """After a restore: a constant rate is the resumed run's, not the checkpoint's.

    (A schedule is not in the checkpoint: the resumed run's own applies.)
    """
    if settings.lr_schedule == "constant":
        optimizer.learning_rate = settings.learning_rate


def train(run, trainee, phase):
    """Fits `trainee` for its epochs, resuming from the phase's checkpoint.

    Epoch e's batches come from `data.epoch_batches` seeded by (seed, e),
    augmented as `settings.augment` says, so a run resumed from step s of
    epoch e trains on exactly the batches an uninterrupted run would: first
    the rest of epoch e, then the others.

    Args:
      run: the `runner.Run`.
      trainee: the `Trainee` the job built.
      phase: the phase's name; its checkpoints are kept apart.

    Returns:
      Seconds spent training, over every run of this phase.
    """
    settings = run.training
    model = trainee.model
    epochs = trainee.epochs or settings.epochs
    examples = trainee.examples if trainee.examples is not None else run.train_examples()
    num_examples = trainee.num_examples or run.num_train_examples
    steps = data.steps_per_epoch(num_examples, settings.batch_size)
    folder = run.checkpoint_dir(phase)
    state = checkpoints.TrainingState(model, folder)
    if state.restore():
        if bool(state.finished.numpy()):
            run.log(f"{phase}: finished in an earlier run; weights restored.")
            return float(state.seconds.numpy())
        _keep_constant_rate(model.optimizer, settings)
        run.log(f"{phase}: resuming at epoch {state.last_saved[0] + 1}, step "
                f"{state.last_saved[1]} of {steps}.")
    epoch, step = state.last_saved or (0, 0)
    earlier, started = float(state.seconds.numpy()), time.time()

    def clock():
        return round(earlier + time.time() - started, 2)

    validation = run.validation()
    best = None
    if trainee.keep_best and validation is not None:
        best = training.KeepBestWeights(os.path.join(folder, "best"))
        if state.last_saved is None:
            best.clear()  # an older, replaced run's best is not ours

    def fit(first_epoch, end_epoch, skip, steps_this_epoch):
        where = f"{run.job.name} job, {phase}"
        # First, so that every callback's epoch logs hold the rate.
        callbacks = [LogLearningRate(), *trainee.callbacks,
                     StopOnNonFiniteLoss(where, state, first_step=skip)]
        if best:
            callbacks.append(best)
        # TFMOT's PruningSummaries is a TensorBoard callback already.
        if settings.log_dir and not any(isinstance(c, keras.callbacks.TensorBoard)
                                        for c in trainee.callbacks):
            callbacks.append(keras.callbacks.TensorBoard(run.phase_log_dir(phase)))
        # Last: a checkpoint holds what the other callbacks did that epoch.
        callbacks.append(checkpoints.SaveTrainingState(
            state, where, clock=clock, every_steps=settings.checkpoint_every,
            first_step=skip))
        batches = data.epoch_batches(
            examples, num_examples=num_examples, batch_size=settings.batch_size,
            seed=settings.seed, start_epoch=first_epoch, end_epoch=end_epoch,
            skip_batches=skip, augment=settings.augment)
        model.fit(batches, epochs=end_epoch, initial_epoch=first_epoch,
                  steps_per_epoch=steps_this_epoch, validation_data=validation,
                  callbacks=callbacks,
                  verbose=run.progress_verbose)

    if step:  # the rest of a partly trained epoch, as an epoch of its own
        fit(epoch, epoch + 1, step, steps - step)
        epoch += 1
    if epoch < epochs:
        fit(epoch, epochs, 0, steps)
    if best:
        best.restore(model)
    state.save(epochs, 0, clock(), finished=True)
    return clock()
