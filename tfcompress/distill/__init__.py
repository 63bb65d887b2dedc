"""Knowledge distillation: a Keras Distiller, its loss terms (and the class for
your own), a teacher cache and a student initialized from its teacher."""

from tfcompress.distill.callbacks import StudentCheckpoint
from tfcompress.distill.distiller import Distiller
from tfcompress.distill.inherit import init_from_teacher
from tfcompress.distill.teacher_cache import teacher_output_examples
from tfcompress.distill.teacher_cache import with_teacher_outputs
from tfcompress.distill.terms import DistillationTerm
from tfcompress.distill.terms import FeatureHint
from tfcompress.distill.terms import HardLabels
from tfcompress.distill.terms import LogitMSE
from tfcompress.distill.terms import SoftTargets

__all__ = ["DistillationTerm", "Distiller", "FeatureHint", "HardLabels", "LogitMSE",
           "SoftTargets", "StudentCheckpoint", "init_from_teacher",
           "teacher_output_examples", "with_teacher_outputs"]
