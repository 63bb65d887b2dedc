"""A prune-with-distillation job in its own process, for the kill-and-resume test.

    python tests/resume_child.py OUTPUT_DIR MODEL TEACHER [--resume]
        [--slow_from_step=N --marker=PATH]

With --slow_from_step, the run writes PATH once it has trained N steps and
then slows down, so the test can SIGKILL it in the middle of an epoch.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import job_helpers  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfcompress._keras import keras  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfcompress.jobs import prune  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfcompress.jobs import runner  # pylint: disable=g-import-not-at-top,wrong-import-position


class SlowDownAfter(keras.callbacks.Callback):
    """Writes `marker` after `step` steps, then sleeps after every batch."""

    def __init__(self, step, marker):
        super().__init__()
        self.step, self.marker = step, marker

    def on_train_batch_end(self, batch, logs=None):
        done = int(self.model.optimizer.iterations)
        if done == self.step:
            with open(self.marker, "w", encoding="utf-8") as f:
                f.write(str(done))
        if done >= self.step:
            time.sleep(0.5)


class KillablePruneJob(prune.PruneJob):

    slow_from_step = None
    marker = None

    def build(self, run, phase):
        trainee = super().build(run, phase)
        if self.slow_from_step:
            trainee.callbacks = (*trainee.callbacks,
                                 SlowDownAfter(self.slow_from_step, self.marker))
        return trainee


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("model")
    parser.add_argument("teacher")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--slow_from_step", type=int)
    parser.add_argument("--marker")
    args = parser.parse_args()
    job = KillablePruneJob(model=args.model, teacher=args.teacher, sparsity=0.75,
                           frequency=2)
    job.slow_from_step, job.marker = args.slow_from_step, args.marker
    runner.run(job, job_helpers.mnist_training(
        args.output_dir, epochs=3, checkpoint_every=3, resume=args.resume))


if __name__ == "__main__":
    main()
