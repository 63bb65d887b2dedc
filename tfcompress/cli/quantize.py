"""`tfcompress quantize`: quantize or cluster a trained model, export TFLite."""

from absl import flags

from tfcompress.cli import common
from tfcompress.jobs import quantize

# Fine-tuning a trained model wants fewer epochs and a lower rate than training.
common.define_job_flags(quantize.QuantizeJob, epochs=2)
flags.FLAGS.set_default("learning_rate", 1e-4)


def main(argv):
    common.run_job_from_flags(quantize.QuantizeJob, argv,
                              lambda job: f"{job.mode}_{common.model_name(job.model)}")
