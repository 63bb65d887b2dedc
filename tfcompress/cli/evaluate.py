"""`tfcompress evaluate`: accuracy, size and latency of a .tflite file.

For a 2-class model also precision, recall and F1 of the positive class.
"""

from absl import app
from absl import flags

from tfcompress.jobs import evaluate_tflite
from tfcompress.jobs import runner
from tfcompress.jobs import settings

_TFLITE = flags.DEFINE_string("tflite", None, "The .tflite file.", required=True)
_DATASET = flags.DEFINE_string(
    "dataset", "mnist", "TFDS dataset name, npz:PATH, dir:PATH or tsv:PATH (see the "
    "README, \"Your own data\").")
_SPLIT = flags.DEFINE_string("split", "test", "Split to measure accuracy on.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR, then TFDS's).")
_NORMALIZE = flags.DEFINE_enum(
    "normalize", "unit", ["unit", "standard", "none"],
    "The training run's input normalization: unit (pixels / 255), standard (minus "
    "--train_split's mean, over its std) or none (values as stored).")
_TRAIN_SPLIT = flags.DEFINE_string(
    "train_split", "train[5000:]",
    "The training run's --train_split, whose mean and std --normalize=standard uses.")
_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "32"], "Latency batch sizes.")
_NUM_THREADS = flags.DEFINE_integer("num_threads", 2, "LiteRT threads.", lower_bound=1)
_REPEATS = flags.DEFINE_integer("repeats", 100, "Timed invokes per latency figure.",
                                lower_bound=1)
_XNNPACK = flags.DEFINE_bool(
    "xnnpack", True, "Also run with LiteRT's default XNNPACK delegate (the "
    "accuracy uses it); --noxnnpack for files only the built-in kernels run.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        batch_sizes = [int(b) for b in _BATCH_SIZES.value]
    except ValueError:
        raise app.UsageError(f"--batch_sizes must be integers, got "
                             f"{_BATCH_SIZES.value}.") from None
    try:
        prepared = runner.prepare(evaluate_tflite.EvaluateJob(
            tflite=_TFLITE.value, split=_SPLIT.value, batch_sizes=batch_sizes,
            num_threads=_NUM_THREADS.value, xnnpack=_XNNPACK.value,
            repeats=_REPEATS.value), settings.Training(
                None, dataset=_DATASET.value, data_dir=_DATA_DIR.value,
                normalize=_NORMALIZE.value, train_split=_TRAIN_SPLIT.value))
    except (ValueError, TypeError, OSError) as e:  # bad input: one line, no traceback
        raise app.UsageError(str(e)) from None
    runner.execute(prepared)
