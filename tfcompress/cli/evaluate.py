"""`tfcompress evaluate`: accuracy, size and latency of a .tflite file.

For a 2-class model also precision, recall and F1 of the positive class.
"""

from absl import app
from absl import flags

from tfcompress.cli import option_flags
from tfcompress.jobs import evaluate_tflite
from tfcompress.jobs import runner
from tfcompress.jobs import settings

option_flags.define_option_flags(evaluate_tflite.EvaluateJob)
# The training run's settings that its data is read with, told as evaluate's.
_TRAINING = {
    "dataset": {"help": "TFDS dataset name, npz:PATH, dir:PATH or tsv:PATH (see the "
                        "README, \"Your own data\")."},
    "data_dir": {},
    "audio_length": {"help": "Folders of .wav clips (dir:): samples per clip, padded "
                             "with zeros or cropped (keeping the start). Default: the "
                             "file's input length. Same as dir:PATH?audio_length=N."},
    "hold_out": {},
    "normalize": {"help": "The training run's input normalization: unit (pixels / "
                          "255), standard (minus --train_split's mean, over its std) or "
                          "none (values as stored)."},
    "train_split": {"default": "train[5000:]", "help": "The training run's "
                    "--train_split, whose mean and std --normalize=standard uses."}}
option_flags.define_option_flags(settings.Training, only=_TRAINING)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        batch_sizes = tuple(int(b) for b in flags.FLAGS.batch_sizes)
    except ValueError:
        raise app.UsageError(f"--batch_sizes must be integers, got "
                             f"{flags.FLAGS.batch_sizes}.") from None
    try:
        prepared = runner.prepare(
            option_flags.job_from_flags(evaluate_tflite.EvaluateJob,
                                        batch_sizes=batch_sizes),
            settings.Training(None, **option_flags.option_values(settings.Training,
                                                                 names=_TRAINING)))
    except (ValueError, TypeError, OSError) as e:  # bad input: one line, no traceback
        raise app.UsageError(str(e)) from None
    runner.execute(prepared)
