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
from tfcompress.jobs import quantize as quantize_job

_DEFAULTS = pipeline.Options(training=None)

_STAGES = flags.DEFINE_list(
    "stages", list(pipeline.STAGES),
    f"Stages to run, in this order: {','.join(pipeline.STAGES)}. Left-out stages "
    "are read from --output_dir if an earlier run wrote them.")
_MODEL = flags.DEFINE_string("model", _DEFAULTS.model,
                             "Spec of the model to deploy (baseline and distill).")
_TEACHER_MODEL = flags.DEFINE_string("teacher_model", _DEFAULTS.teacher_model,
                                     "Spec of the teacher the teacher stage trains.")
_TEACHER = flags.DEFINE_string("teacher", None,
                               "A trained teacher (instead of the teacher stage).")
_INPUT_MODEL = flags.DEFINE_string(
    "input_model", None, "A trained model to compress (instead of baseline/distill).")
_BASELINE_EPOCHS = flags.DEFINE_integer("baseline_epochs", _DEFAULTS.baseline_epochs,
                                        "Baseline epochs.", lower_bound=1)
_TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", _DEFAULTS.teacher_epochs,
                                       "Teacher epochs.", lower_bound=1)
_DISTILL_EPOCHS = flags.DEFINE_integer("distill_epochs", _DEFAULTS.distill_epochs,
                                       "Distillation epochs.", lower_bound=1)
_TEMPERATURE, _ALPHA = common.define_soft_target_flags()
_SHRINK_TARGET = flags.DEFINE_string(
    "shrink_target", _DEFAULTS.shrink_target,
    "Shrink stage target: macs:F or params:F (keep that fraction), fraction:F (remove "
    "that fraction of every layer's channels) or latency_ms:MS (measured float file).")
_SHRINK_EPOCHS = flags.DEFINE_integer("shrink_epochs", _DEFAULTS.shrink_epochs,
                                      "Shrink stage recovery epochs.", lower_bound=1)
_SHRINK_ROUNDS = flags.DEFINE_integer("shrink_rounds", _DEFAULTS.shrink_rounds,
                                      "Shrink-and-recover rounds.", lower_bound=1)
_SHRINK_CRITERION = flags.DEFINE_enum(
    "shrink_criterion", _DEFAULTS.shrink_criterion, ["l1", "l2", "bn", "taylor"],
    "Which channels the shrink stage removes first (see tfcompress shrink --help).")
_SHRINK_ROUND_TO = flags.DEFINE_integer(
    "shrink_round_to", _DEFAULTS.shrink_round_to,
    "Shrunk widths become multiples of this.", lower_bound=1)
_SHRINK_CROP_INPUTS = flags.DEFINE_float(
    "shrink_crop_inputs", _DEFAULTS.shrink_crop_inputs,
    "Shrink stage: also crop image borders an MLP reads, up to this share of its first "
    "layer's input (see tfcompress shrink --crop_inputs).", lower_bound=0.0,
    upper_bound=1.0)
_PRUNE_EPOCHS = flags.DEFINE_integer("prune_epochs", _DEFAULTS.prune_epochs,
                                     "Pruning + fine-tuning epochs.", lower_bound=1)
_SPARSITY = flags.DEFINE_float("sparsity", _DEFAULTS.sparsity, "Pruning target.",
                               lower_bound=0.0, upper_bound=0.999)
_SENSITIVITY = flags.DEFINE_bool("sensitivity", False,
                                 "Per-layer pruning targets from a sensitivity analysis.")
_PRUNE_WITH_TEACHER = flags.DEFINE_bool(
    "prune_with_teacher", True, "Fine-tune the pruned model by distilling from the "
    "teacher, when there is one.")
_QUANTIZATION = flags.DEFINE_enum("quantization", _DEFAULTS.quantization,
                                  list(quantize_job.MODES), "Quantize stage mode.")
_QUANTIZE_EPOCHS = flags.DEFINE_integer(
    "quantize_epochs", _DEFAULTS.quantize_epochs,
    "Fine-tuning epochs of qat, pqat, cluster and cqat.", lower_bound=1)
_CLUSTERS = flags.DEFINE_integer("clusters", _DEFAULTS.clusters,
                                 "Shared values per kernel (cluster, cqat).", lower_bound=2)
_LATENCY_THREADS = flags.DEFINE_integer(
    "latency_threads", _DEFAULTS.latency_threads,
    "LiteRT threads of the evaluate stage's batch-1 timings. 1 is LiteRT's own "
    "default, and faster for models of a few microseconds (BENCHMARKS.md).",
    lower_bound=1)
_UNSAFE_LOAD, _CUSTOM_OBJECTS = common.define_loading_flags()
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
    return int(common.VERBOSE.value)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if _EPOCHS.present:
        raise app.UsageError("The pipeline sets epochs per stage (--baseline_epochs, "
                             "--teacher_epochs, --distill_epochs, --shrink_epochs, "
                             "--prune_epochs, "
                             "--quantize_epochs); --epochs does not apply.")
    output_dir = common.OUTPUT_DIR.value or os.path.join(
        "saved_models", f"pipeline_{common.safe_name(_MODEL.value)}_"
                        f"{common.safe_name(common.DATASET.value)}")
    custom_objects.import_modules(_CUSTOM_OBJECTS.value)
    options = pipeline.Options(
        training=common.training(output_dir, verbose=_verbose(),
                                 unsafe_load=_UNSAFE_LOAD.value),
        stages=tuple(_STAGES.value), model=_MODEL.value,
        teacher_model=_TEACHER_MODEL.value, teacher=_TEACHER.value,
        input_model=_INPUT_MODEL.value,
        baseline_epochs=_BASELINE_EPOCHS.value, teacher_epochs=_TEACHER_EPOCHS.value,
        distill_epochs=_DISTILL_EPOCHS.value, temperature=_TEMPERATURE.value,
        alpha=_ALPHA.value, shrink_target=_SHRINK_TARGET.value,
        shrink_epochs=_SHRINK_EPOCHS.value, shrink_rounds=_SHRINK_ROUNDS.value,
        shrink_criterion=_SHRINK_CRITERION.value, shrink_round_to=_SHRINK_ROUND_TO.value,
        shrink_crop_inputs=_SHRINK_CROP_INPUTS.value,
        prune_epochs=_PRUNE_EPOCHS.value, sparsity=_SPARSITY.value,
        sensitivity=_SENSITIVITY.value, prune_with_teacher=_PRUNE_WITH_TEACHER.value,
        quantization=_QUANTIZATION.value, quantize_epochs=_QUANTIZE_EPOCHS.value,
        clusters=_CLUSTERS.value, latency_threads=_LATENCY_THREADS.value)
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
