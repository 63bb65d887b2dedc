"""`tfcompress shrink`: remove whole units, filters and channels, recover, export."""

import os

from absl import flags

from tfcompress import shrink
from tfcompress.cli import common
from tfcompress.jobs import shrink as shrink_job

_MODEL = flags.DEFINE_string(
    "model", None, "Trained model: a .keras file (Keras 3 or tf_keras) or a job's "
    "output folder.", required=True)
_FRACTION = flags.DEFINE_float(
    "fraction", None, "Target: remove this fraction of every group's channels.")
_TARGET_PARAMS = flags.DEFINE_float(
    "target_params", None, "Target: keep at most this fraction of the parameters.")
_TARGET_MACS = flags.DEFINE_float(
    "target_macs", None, "Target: keep at most this fraction of the MACs.")
_TARGET_LATENCY_MS = flags.DEFINE_float(
    "target_latency_ms", None, "Target: the exported file's batch-1 LiteRT latency on "
    "this machine, in ms (measured while searching).")
_LATENCY_FORMAT = flags.DEFINE_enum(
    "latency_format", "float", list(shrink_job.LATENCY_FORMATS),
    "The file --target_latency_ms times: float, or int8 (as `tfcompress quantize` "
    "would export it).")
_CRITERION = flags.DEFINE_enum(
    "criterion", "l2", list(shrink.CRITERIA),
    "Which channels go first: l1 / l2 norm of the group's weights, bn (batch-norm "
    "scales), taylor (activation x gradient on training batches).")
_ROUNDS = flags.DEFINE_integer(
    "rounds", 1, "Shrink-and-recover rounds; --epochs are split over them.",
    lower_bound=1)
_ROUND_TO = flags.DEFINE_integer(
    "round_to", 1, "Widths become multiples of this (4 or 8 suit SIMD kernels).",
    lower_bound=1)
_MIN_WIDTH = flags.DEFINE_integer("min_width", 1, "Smallest width of any layer.",
                                  lower_bound=1)
_PINNED = flags.DEFINE_list("pinned", [], "Layers whose width must stay.")
_ON_UNKNOWN = flags.DEFINE_enum(
    "on_unknown", "error", ["error", "pin"],
    "Layers the dependency graph does not know: refuse them, or keep their channels "
    "(with a warning).")
_TEACHER = flags.DEFINE_string(
    "teacher", None, "Recover by distilling from this model (default: the unshrunk one).")
_DISTILL = flags.DEFINE_bool(
    "distill", True, "Recover by distillation; --nodistill trains on the labels alone.")
_TEMPERATURE, _ALPHA = common.define_soft_target_flags()
_EPOCHS = common.define_epochs()
_UNSAFE_LOAD, _CUSTOM_OBJECTS = common.define_loading_flags()
_CROP_INPUTS = flags.DEFINE_float(
    "crop_inputs", None, "Also crop the border rows and columns of an image a Flatten "
    "hands to Dense layers (an MLP's), as long as they carry at most this share of "
    "what the first Dense reads (mean |x| times weight norm), e.g. 0.01.",
    lower_bound=0.0, upper_bound=1.0)
_PENALTY = flags.DEFINE_enum(
    "penalty", None, list(shrink.PENALTIES),
    "Train with a sparsity-inducing penalty before shrinking: group_lasso (l2 norm of "
    "each channel's weights) or bn_l1 (batch-norm scales; use with --criterion=bn).")
_PENALTY_WEIGHT = flags.DEFINE_float("penalty_weight", 1e-4, "Weight of --penalty.",
                                     lower_bound=0.0)
_PENALTY_EPOCHS = flags.DEFINE_integer("penalty_epochs", 1, "Epochs with --penalty.",
                                       lower_bound=1)


def main(argv):
    model_name = os.path.basename(os.path.normpath(_MODEL.value or "model"))
    default_dir = os.path.join("saved_models", f"shrunk_{common.safe_name(model_name)}")
    job = shrink_job.ShrinkJob(
        model=_MODEL.value, fraction=_FRACTION.value, target_params=_TARGET_PARAMS.value,
        target_macs=_TARGET_MACS.value, target_latency_ms=_TARGET_LATENCY_MS.value,
        latency_format=_LATENCY_FORMAT.value, criterion=_CRITERION.value,
        rounds=_ROUNDS.value, round_to=_ROUND_TO.value, min_width=_MIN_WIDTH.value,
        pinned=tuple(_PINNED.value), on_unknown=_ON_UNKNOWN.value, teacher=_TEACHER.value,
        distill=_DISTILL.value, temperature=_TEMPERATURE.value, alpha=_ALPHA.value,
        penalty=_PENALTY.value, penalty_weight=_PENALTY_WEIGHT.value,
        penalty_epochs=_PENALTY_EPOCHS.value, crop_inputs=_CROP_INPUTS.value)
    training = common.training(default_dir, epochs=_EPOCHS.value,
                               unsafe_load=_UNSAFE_LOAD.value)
    common.run_job(job, training, argv, custom_objects=_CUSTOM_OBJECTS.value)
