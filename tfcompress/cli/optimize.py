"""`tfcompress optimize`: give a budget, get the best model that meets it.

Exits 1 with a one-line message when the best attempt misses a target (its
files are written all the same).
"""

import os
import sys

from absl import flags

from tfcompress.cli import common
from tfcompress.jobs import optimize

common.define_job_flags(optimize.OptimizeJob, epochs=10)


def main(argv):
    job = common.job_from_flags(optimize.OptimizeJob)
    training = common.training(
        os.path.join("saved_models", f"optimized_{common.model_name(job.model)}"),
        epochs=flags.FLAGS.epochs, unsafe_load=flags.FLAGS.unsafe_load)
    summary = common.run_job(job, training, argv, custom_objects=flags.FLAGS.custom_objects)
    if summary is not None and not summary["optimize"]["met"]:
        print(f"tfcompress optimize: best attempt written to {training.output_dir}, but it "
              f"{summary['optimize']['miss']}.", file=sys.stderr)
        sys.exit(1)
