"""`tfcompress pipeline`: from a model spec (or a trained model) to a checked
TFLite file and a report, stage by stage. Flags can come from a file:
`tfcompress pipeline --flagfile=examples/mnist_pipeline.flags`."""

import os
import sys

from absl import app
from absl import flags

from tfcompress import pipeline
from tfcompress.cli import common
from tfcompress.cli import custom_objects
from tfcompress.jobs import checkpoints

common.define_job_flags(pipeline.Options, epochs=None)
# Not a pipeline flag: the other training commands take --epochs, so users
# try it here. Defined under another module's name, so the pipeline's --help
# leaves it out, and refused in main() with the flags to use instead.
_EPOCHS = flags.DEFINE_string(
    "epochs", None, "Not taken: the pipeline sets epochs per stage.",
    module_name="flags tfcompress pipeline refuses")

# Cosine decay gave clearly better MNIST models here (BENCHMARKS.md).
flags.FLAGS.set_default("lr_schedule", "cosine")
# Progress bars for every training and measuring loop.
flags.FLAGS.set_default("verbose", "1")


def _verbose():
    """Keras verbosity; absl's --verbosity below 0 (quieter than warnings) is 0."""
    if flags.FLAGS["verbosity"].present and flags.FLAGS.verbosity < 0:
        return 0
    return int(flags.FLAGS.verbose)


def main(argv):
    common.check_no_arguments(argv)
    if _EPOCHS.present:
        per_stage = ", ".join(f"--{stage}_epochs" for stage in pipeline.stages.MODEL_STAGES)
        raise app.UsageError(f"The pipeline sets epochs per stage ({per_stage}); "
                             "--epochs does not apply.")
    output_dir = flags.FLAGS.output_dir or os.path.join(
        "saved_models", f"pipeline_{common.safe_name(flags.FLAGS.model)}_"
                        f"{common.safe_name(common.DATASET.value)}")
    custom_objects.import_modules(flags.FLAGS.custom_objects)
    options = common.job_from_flags(pipeline.Options, training=common.training(
        output_dir, verbose=_verbose(), unsafe_load=flags.FLAGS.unsafe_load))
    try:
        checked = pipeline.check_inputs(
            options, log=(lambda *_: None) if options.training.verbose == 0 else print)
    except (ValueError, TypeError, OSError) as e:  # bad input: one line, no traceback
        raise app.UsageError(str(e)) from None
    try:
        pipeline.run(options, checked=checked)
    except checkpoints.NonFiniteLossError as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)
