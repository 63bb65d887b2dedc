"""Knowledge distillation: a Keras Distiller, its losses and a teacher cache."""

from tfcompress.distill.callbacks import StudentCheckpoint
from tfcompress.distill.distiller import Distiller
from tfcompress.distill.teacher_cache import with_teacher_outputs
from tfcompress.distill.terms import FeatureHint
from tfcompress.distill.terms import LogitMSE

__all__ = ["Distiller", "FeatureHint", "LogitMSE", "StudentCheckpoint",
           "with_teacher_outputs"]
