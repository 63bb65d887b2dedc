"""`tfcompress train`: train a zoo model on a TFDS dataset and export it."""

import os

from absl import app
from absl import flags

from tfcompress.jobs import train

_MODEL = flags.DEFINE_string(
    "model", "lenet_300_100",
    "Model spec: NAME[:ARGS], e.g. lenet_300_100, lenet5, mlp:800,800, "
    "mlp:1200,1200,dropout=0.5, small_cnn:16,32.")
_DATASET = flags.DEFINE_string("dataset", "mnist", "TFDS dataset name.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR, then TFDS's).")
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Training epochs.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Batch size.", lower_bound=1)
_OPTIMIZER = flags.DEFINE_enum("optimizer", "adam", ["adam", "sgd"], "Optimizer.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Learning rate.",
                                    lower_bound=0.0)
_TRAIN_SPLIT = flags.DEFINE_string("train_split", "train[5000:]", "Training split.")
_VAL_SPLIT = flags.DEFINE_string(
    "val_split", "train[:5000]",
    "Validation split; the best epoch on it is kept. Empty: keep the last.")
_TEST_SPLIT = flags.DEFINE_string("test_split", "test", "Test split.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed (weights and shuffling).")
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Output folder (default: saved_models/<model>_<dataset>).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a non-empty --output_dir.")
_VERBOSE = flags.DEFINE_enum("verbose", "2", ["0", "1", "2"],
                             "Keras verbosity: 0 quiet, 1 progress bar, 2 epoch lines.")


def default_output_dir(model_spec, dataset):
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in model_spec)
    return os.path.join("saved_models", f"{safe}_{dataset}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    output_dir = _OUTPUT_DIR.value or default_output_dir(_MODEL.value, _DATASET.value)
    inputs = dict(
        model_spec=_MODEL.value, dataset=_DATASET.value, data_dir=_DATA_DIR.value,
        epochs=_EPOCHS.value, batch_size=_BATCH_SIZE.value,
        optimizer=_OPTIMIZER.value, learning_rate=_LEARNING_RATE.value,
        train_split=_TRAIN_SPLIT.value, val_split=_VAL_SPLIT.value,
        test_split=_TEST_SPLIT.value, output_dir=output_dir,
        overwrite=_OVERWRITE.value,
    )
    try:
        train.check_inputs(**inputs)
    except (ValueError, OSError) as e:  # bad input: one line, no traceback
        raise app.UsageError(str(e)) from None
    train.run(seed=_SEED.value, verbose=int(_VERBOSE.value), **inputs)
