"""Flags shared by the training commands, and running a job from flags.

Imported only by the command being run (see cli/main.py), so each command
process defines these flags once: at import, one per `settings.Training`
option; the `define_*` functions add those only some commands take (so each
--help lists only what it uses), and a job's own options (`define_job_flags`).
"""

import os
import sys

from absl import app
from absl import flags

from tfcompress.cli import custom_objects as custom_objects_lib
from tfcompress.cli import option_flags
from tfcompress.jobs import checkpoints
from tfcompress.jobs import options
from tfcompress.jobs import runner
from tfcompress.jobs import settings

# Every training command's: all but those of the define_* functions below;
# --output_dir's default is the command's own folder.
_SHARED = {f.name: {} for f, _ in options.declared(settings.Training)
           if f.name not in ("epochs", "unsafe_load")} | {"output_dir": {"default": None}}
DATASET = option_flags.define_option_flags(settings.Training, only=_SHARED)["dataset"]


def define_epochs(default=10, flag_values=flags.FLAGS):
    """--epochs, for the commands that train one model (pipeline stages have theirs)."""
    return option_flags.define_option_flags(settings.Training, flag_values, only={
        "epochs": {"default": default}})["epochs"]


def define_loading_flags(flag_values=flags.FLAGS):
    """--unsafe_load and --custom_objects, for the commands that load model files."""
    unsafe_load = option_flags.define_option_flags(
        settings.Training, flag_values, only={"unsafe_load": {}})["unsafe_load"]
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
    option_flags.define_option_flags(job_class, flag_values)
    if epochs is not None:
        define_epochs(epochs, flag_values)
    if loads_models:
        define_loading_flags(flag_values)


job_from_flags = option_flags.job_from_flags


def training(default_output_dir, **overrides):
    """The shared flags as a `settings.Training`; `overrides` replace flag values.

    Pass the values of the `define_*` flags the command took (`epochs`,
    `unsafe_load`) as overrides; left out, they keep `settings.Training`'s.
    """
    values = option_flags.option_values(settings.Training, names=_SHARED)
    values["output_dir"] = values["output_dir"] or default_output_dir
    # --log_dir: TensorBoard logs. absl defines the flag (for its log files, which
    # it writes only when asked to): tfcompress reuses it rather than clash.
    values["log_dir"] = flags.FLAGS.log_dir or None
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
    """Checks a job's inputs (bad ones: a usage error), then runs it; returns its summary.

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
        return runner.execute(prepared)
    except checkpoints.NonFiniteLossError as e:  # the message says how to go on
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)
