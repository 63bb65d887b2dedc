"""`tfcompress distill`: distill a student from a trained teacher and export it."""

import os

from absl import flags

from tfcompress.cli import common
from tfcompress.jobs import distill

_TEACHER = flags.DEFINE_string(
    "teacher", None, "Trained teacher: a .keras file or a `tfcompress train` "
    "output folder.", required=True)
_STUDENT = flags.DEFINE_string(
    "student", "mlp:800,800", "Student model spec, e.g. mlp:800,800, lenet_300_100.")
_TEMPERATURE, _ALPHA = common.define_soft_target_flags()
_EPOCHS = common.define_epochs()
_UNSAFE_LOAD, _CUSTOM_OBJECTS = common.define_loading_flags()
_TEACHER_CACHE = flags.DEFINE_bool(
    "teacher_cache", True, "Run the teacher once and reuse its logits every epoch.")
_STUDENT_INIT = flags.DEFINE_enum(
    "student_init", "random", distill.STUDENT_INITS, "How the student starts: random "
    "weights, or `teacher`: the teacher's most useful units, refit to the teacher's "
    "outputs (an MLP student as deep as an MLP teacher, no wider), or the teacher shrunk "
    "to the student's widths (the teacher's zoo model with fewer filters).")


def main(argv):
    default_dir = os.path.join(
        "saved_models",
        f"distill_{common.safe_name(_STUDENT.value)}_{common.DATASET.value}")
    job = distill.DistillJob(
        teacher=_TEACHER.value, student_spec=_STUDENT.value,
        temperature=_TEMPERATURE.value, alpha=_ALPHA.value,
        teacher_cache=_TEACHER_CACHE.value, student_init=_STUDENT_INIT.value)
    training = common.training(default_dir, epochs=_EPOCHS.value,
                               unsafe_load=_UNSAFE_LOAD.value)
    common.run_job(job, training, argv, custom_objects=_CUSTOM_OBJECTS.value)
