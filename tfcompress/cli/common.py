"""Flags shared by the training commands, and running a job from flags.

Imported only by the command being run (see cli/main.py), so each command
process defines these flags once.
"""

from absl import app
from absl import flags

DATASET = flags.DEFINE_string("dataset", "mnist", "TFDS dataset name.")
DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR, then TFDS's).")
EPOCHS = flags.DEFINE_integer("epochs", 10, "Training epochs.", lower_bound=1)
BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Batch size.", lower_bound=1)
OPTIMIZER = flags.DEFINE_enum("optimizer", "adam", ["adam", "sgd"], "Optimizer.")
LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Learning rate.",
                                   lower_bound=0.0)
LR_SCHEDULE = flags.DEFINE_enum(
    "lr_schedule", "constant", ["constant", "cosine"],
    "Learning rate kept constant, or decayed to 0 along a cosine over the run.")
TRAIN_SPLIT = flags.DEFINE_string("train_split", "train[5000:]", "Training split.")
VAL_SPLIT = flags.DEFINE_string(
    "val_split", "train[:5000]",
    "Validation split; the best epoch on it is kept. Empty: keep the last.")
TEST_SPLIT = flags.DEFINE_string("test_split", "test", "Test split.")
SEED = flags.DEFINE_integer("seed", 0, "Random seed (weights and shuffling).")
OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Output folder (default: under saved_models/).")
OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a non-empty --output_dir.")
VERBOSE = flags.DEFINE_enum("verbose", "2", ["0", "1", "2"],
                            "Keras verbosity: 0 quiet, 1 progress bar, 2 epoch lines.")


def training_inputs(default_output_dir):
    """The shared flags as keyword arguments of a job's `check_inputs`."""
    return dict(
        dataset=DATASET.value, data_dir=DATA_DIR.value, epochs=EPOCHS.value,
        batch_size=BATCH_SIZE.value, optimizer=OPTIMIZER.value,
        learning_rate=LEARNING_RATE.value, lr_schedule=LR_SCHEDULE.value,
        train_split=TRAIN_SPLIT.value,
        val_split=VAL_SPLIT.value, test_split=TEST_SPLIT.value,
        output_dir=OUTPUT_DIR.value or default_output_dir, overwrite=OVERWRITE.value,
    )


def safe_name(text):
    """`text` with anything but letters, digits, _ and - replaced by _."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in text)


def run_job(job, argv, job_inputs, run_options=None):
    """Checks a job's inputs (bad ones: a usage error), then runs it.

    Args:
      job: module with `check_inputs(**job_inputs)` and `run(...)`.
      argv: what absl left of the command line (must be just the program).
      job_inputs: keyword arguments of both `check_inputs` and `run`.
      run_options: more keyword arguments for `run` only.
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        job.check_inputs(**job_inputs)
    except (ValueError, OSError) as e:  # bad input: one line, no traceback
        raise app.UsageError(str(e)) from None
    job.run(seed=SEED.value, verbose=int(VERBOSE.value), **job_inputs,
            **(run_options or {}))
