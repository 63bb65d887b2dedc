"""Flags shared by the training commands, and running a job from flags.

Imported only by the command being run (see cli/main.py), so each command
process defines these flags once. Every training command takes the flags
defined here at import; the `define_*` functions add those only some take,
so each command's --help lists only what it uses. A job's own flags are
made from its options (`jobs/options.py`) by `define_job_flags`.
"""

import dataclasses
import os
import sys

from absl import app
from absl import flags

from tfcompress.cli import custom_objects as custom_objects_lib
from tfcompress.jobs import checkpoints
from tfcompress.jobs import options
from tfcompress.jobs import runner
from tfcompress.jobs import settings

DATASET = flags.DEFINE_string(
    "dataset", "mnist", "TFDS dataset name, or your own data: npz:PATH (arrays x_train, "
    "y_train, x_test, y_test[, x_val, y_val]), dir:PATH (PATH/train/<class>/<image>, "
    "PATH/test/<class>/<image>) or tsv:PATH (text: one label<TAB>text per line); see "
    "the README, \"Your own data\".")
NORMALIZE = flags.DEFINE_enum(
    "normalize", "unit", list(settings.NORMALIZATIONS),
    "Input normalization: unit (pixels / 255), standard (minus the training split's "
    "per-channel mean, over its std) or none (values as stored, for models with their "
    "own Rescaling layer).")
DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR, then TFDS's).")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Global batch size.", lower_bound=1)
OPTIMIZER = flags.DEFINE_enum("optimizer", "adam", ["adam", "sgd"], "Optimizer.")
LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Learning rate.",
                                   lower_bound=0.0)
LR_SCHEDULE = flags.DEFINE_enum(
    "lr_schedule", "constant", ["constant", "cosine"],
    "Learning rate kept constant, or decayed to 0 along a cosine over the run.")
TRAIN_SPLIT = flags.DEFINE_string(
    "train_split", None, "Training split (default: the dataset's: train[5000:] for "
    "TFDS and npz: datasets, train for tsv:).")
VAL_SPLIT = flags.DEFINE_string(
    "val_split", None,
    "Validation split; the best epoch on it is kept. Empty: keep the last. Default: "
    "the dataset's (train[:5000] for TFDS and npz:, val for tsv:).")
TEST_SPLIT = flags.DEFINE_string("test_split", None,
                                 "Test split (default: the dataset's: test).")
SEED = flags.DEFINE_integer(
    "seed", 0, "Random seed: Python, NumPy and TF, with op determinism; the same seed "
    "gives the same model.", lower_bound=0)
STRATEGY = flags.DEFINE_enum(
    "strategy", "default", list(settings.STRATEGIES),
    "tf.distribute strategy: default (one device), mirrored (this machine's devices), "
    "multi_worker (the cluster in $TF_CONFIG; run the command on every worker).")
CHECKPOINT_EVERY = flags.DEFINE_integer(
    "checkpoint_every", None, "Also checkpoint every N training steps (default: at "
    "each epoch's end only).", lower_bound=1)
RESUME = flags.DEFINE_bool(
    "resume", False, "Continue the unfinished run a kill left in <output_dir>.partial "
    "from its last checkpoint, exactly (same flags; --learning_rate may change).")


def log_dir():
    """--log_dir: TensorBoard logs. absl defines the flag (for its log files, which
    it writes only when asked to): tfcompress reuses it rather than clash."""
    return flags.FLAGS.log_dir or None

OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Output folder (default: under saved_models/).")
OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace a non-empty --output_dir (or an unfinished run).")
VERBOSE = flags.DEFINE_enum(
    "verbose", "2", ["0", "1", "2"],
    "Keras verbosity: 0 quiet, 1 progress bar (one line per epoch when the output "
    "is not a terminal), 2 epoch lines.")


def define_option_flag(name, field, option, flag_values=flags.FLAGS):
    """Defines the flag `name` of a job option (`jobs.options`): its type,
    default, choices, bounds and help; an option without a default is required."""
    required = field.default is dataclasses.MISSING
    default = None if required else field.default
    args = {"flag_values": flag_values, **({"required": True} if required else {})}
    if option.choices is not None:
        return flags.DEFINE_enum(name, default, list(option.choices), option.help, **args)
    kind = options.kind(field)
    if kind is tuple:
        return flags.DEFINE_list(name, list(default or ()), option.help, **args)
    if kind is bool:
        return flags.DEFINE_bool(name, default, option.help, **args)
    define = {str: flags.DEFINE_string, int: flags.DEFINE_integer,
              float: flags.DEFINE_float}[kind]
    bounds = {k: v for k, v in (("lower_bound", option.lower_bound),
                                ("upper_bound", option.upper_bound)) if v is not None}
    return define(name, default, option.help, **bounds, **args)


def define_epochs(default=10, flag_values=flags.FLAGS):
    """--epochs, for the commands that train one model (pipeline stages have theirs)."""
    return flags.DEFINE_integer("epochs", default, "Training epochs.", lower_bound=1,
                                flag_values=flag_values)


def define_loading_flags(flag_values=flags.FLAGS):
    """--unsafe_load and --custom_objects, for the commands that load model files."""
    unsafe_load = flags.DEFINE_bool(
        "unsafe_load", False, "Load model files that run Python code when loaded "
        "(Lambda layers). Only for files you trust.", flag_values=flag_values)
    custom_objects = flags.DEFINE_list(
        "custom_objects", [], "Python modules to import before loading models, e.g. "
        "my_layers (./my_layers.py) or my_pkg.layers: the custom Keras classes they "
        "register (keras.saving.register_keras_serializable) then load, and their "
        "tfcompress.keras3.register calls convert them. Looked up in the current "
        "folder, then on PYTHONPATH.", flag_values=flag_values)
    return unsafe_load, custom_objects


def define_job_flags(job_class, epochs=10, loads_models=True, flag_values=flags.FLAGS):
    """A flag for each option of `job_class` (named as its `flag`, else its field),
    --epochs (unless None) and, for jobs that load model files, the loading flags."""
    for field, option in options.declared(job_class):
        define_option_flag(option.flag or field.name, field, option, flag_values)
    if epochs is not None:
        define_epochs(epochs, flag_values)
    if loads_models:
        define_loading_flags(flag_values)


def job_from_flags(job_class, flag_values=flags.FLAGS, **values):
    """A `job_class` of the flags `define_job_flags` defined; `values` add to them."""
    for field, option in options.declared(job_class):
        value = flag_values[option.flag or field.name].value
        values[field.name] = tuple(value) if options.kind(field) is tuple else value
    return job_class(**values)


def training(default_output_dir, **overrides):
    """The shared flags as a `settings.Training`; `overrides` replace flag values.

    Pass the values of the `define_*` flags the command took (`epochs`,
    `unsafe_load`) as overrides; left out, they keep `settings.Training`'s.
    """
    values = dict(
        output_dir=OUTPUT_DIR.value or default_output_dir, dataset=DATASET.value,
        data_dir=DATA_DIR.value, train_split=TRAIN_SPLIT.value, val_split=VAL_SPLIT.value,
        test_split=TEST_SPLIT.value, normalize=NORMALIZE.value,
        batch_size=BATCH_SIZE.value,
        optimizer=OPTIMIZER.value, learning_rate=LEARNING_RATE.value,
        lr_schedule=LR_SCHEDULE.value, seed=SEED.value, strategy=STRATEGY.value,
        checkpoint_every=CHECKPOINT_EVERY.value, resume=RESUME.value,
        overwrite=OVERWRITE.value, log_dir=log_dir(), verbose=int(VERBOSE.value))
    return settings.Training(**{**values, **overrides})


def safe_name(text):
    """`text` with anything but letters, digits, _ and - replaced by _."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in text)


def model_name(path):
    """The safe name of a model's file or folder, for an output folder's name."""
    return safe_name(os.path.basename(os.path.normpath(path or "model")))


def check_no_arguments(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")


def run_job_from_flags(job_class, argv, output_name):
    """Runs the `job_class` of the flags `define_job_flags` defined.

    `output_name(job)`: its default output folder under saved_models/.
    """
    job = job_from_flags(job_class)
    loads = "unsafe_load" in flags.FLAGS
    training_settings = training(
        os.path.join("saved_models", output_name(job)), epochs=flags.FLAGS.epochs,
        **({"unsafe_load": flags.FLAGS.unsafe_load} if loads else {}))
    run_job(job, training_settings, argv,
            custom_objects=flags.FLAGS.custom_objects if loads else ())


def run_job(job, training_settings, argv, custom_objects=()):
    """Checks a job's inputs (bad ones: a usage error), then runs it.

    Args:
      job: a `runner.Job`.
      training_settings: its `settings.Training`.
      argv: what absl left of the command line (must be just the program).
      custom_objects: --custom_objects, modules to import before loading models.
    """
    check_no_arguments(argv)
    custom_objects_lib.import_modules(custom_objects)
    try:
        prepared = runner.prepare(job, training_settings)
    except (ValueError, TypeError, OSError) as e:  # bad input: one line, no traceback
        raise app.UsageError(str(e)) from None
    try:
        runner.execute(prepared)
    except checkpoints.NonFiniteLossError as e:  # the message says how to go on
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)
