"""`tfcompress prune`: prune a trained model while fine-tuning it, then export."""

import os

from absl import flags

from tfcompress.cli import common
from tfcompress.jobs import prune

_MODEL = flags.DEFINE_string(
    "model", None, "Trained model: a .keras file or a `tfcompress train` output folder.",
    required=True)
_SPARSITY = flags.DEFINE_float(
    "sparsity", 0.9, "Target fraction of zero weights (overall, with --sensitivity).",
    lower_bound=0.0, upper_bound=0.999)
_SCHEDULE = flags.DEFINE_enum("schedule", "polynomial", ["polynomial", "constant"],
                              "Gradual (Zhu & Gupta) or one-step pruning.")
_PRUNING_END_EPOCH = flags.DEFINE_integer(
    "pruning_end_epoch", None, "Epoch by which the target is reached (default: two "
    "thirds of --epochs); later epochs fine-tune.", lower_bound=1)
_FREQUENCY = flags.DEFINE_integer(
    "frequency", None, "Steps between mask updates (default: the largest divisor of "
    "the ramp's steps up to 100, so the last update reaches the target).",
    lower_bound=1)
_M_BY_N = flags.DEFINE_string("m_by_n", None,
                              "N:M structured sparsity, e.g. 2:4 (overrides --sparsity).")
_SENSITIVITY = flags.DEFINE_bool(
    "sensitivity", False, "Per-layer targets from a one-shot sensitivity analysis.")
_TEACHER = flags.DEFINE_string(
    "teacher", None, "Fine-tune by distilling from this model (e.g. the unpruned one).")
_TEMPERATURE, _ALPHA = common.define_soft_target_flags()
_EPOCHS = common.define_epochs()
_UNSAFE_LOAD, _CUSTOM_OBJECTS = common.define_loading_flags()


def main(argv):
    model_name = os.path.basename(os.path.normpath(_MODEL.value or "model"))
    default_dir = os.path.join(
        "saved_models", f"pruned_{common.safe_name(model_name)}_{_SPARSITY.value:g}")
    job = prune.PruneJob(
        model=_MODEL.value, sparsity=_SPARSITY.value, schedule=_SCHEDULE.value,
        pruning_end_epoch=_PRUNING_END_EPOCH.value, frequency=_FREQUENCY.value,
        m_by_n=_M_BY_N.value, sensitivity=_SENSITIVITY.value, teacher=_TEACHER.value,
        temperature=_TEMPERATURE.value, alpha=_ALPHA.value)
    training = common.training(default_dir, epochs=_EPOCHS.value,
                               unsafe_load=_UNSAFE_LOAD.value)
    common.run_job(job, training, argv, custom_objects=_CUSTOM_OBJECTS.value)
