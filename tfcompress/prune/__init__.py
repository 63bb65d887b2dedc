"""Pruning: TFMOT magnitude pruning made hard to misuse, and sparsity reports."""

from tfcompress._tfmot_wrappers import has_pruning_wrappers
from tfcompress._tfmot_wrappers import is_pruning_wrapper
from tfcompress.prune import reach
from tfcompress.prune import sensitivity
from tfcompress.prune.iterative import Round
from tfcompress.prune.iterative import prune_iteratively
from tfcompress.prune.magnitude import MISSING_CALLBACK_ERROR
from tfcompress.prune.magnitude import PruneResult
from tfcompress.prune.magnitude import callbacks
from tfcompress.prune.magnitude import check_fit_callbacks
from tfcompress.prune.magnitude import prune
from tfcompress.prune.magnitude import strip
from tfcompress.prune.reach import ScheduleWarning
from tfcompress.prune.report import MISS_TOLERANCE
from tfcompress.prune.report import format_misses
from tfcompress.prune.report import format_report
from tfcompress.prune.report import is_m_by_n_sparse
from tfcompress.prune.report import sparsity_report
from tfcompress.prune.report import target_misses
from tfcompress.prune.schedules import epochs_to_steps
from tfcompress.prune.schedules import make_schedule

__all__ = ["MISSING_CALLBACK_ERROR", "MISS_TOLERANCE", "PruneResult", "Round", "ScheduleWarning",
           "callbacks", "check_fit_callbacks", "epochs_to_steps", "format_misses", "format_report",
           "has_pruning_wrappers", "is_m_by_n_sparse", "is_pruning_wrapper", "make_schedule",
           "prune", "prune_iteratively", "reach", "sensitivity", "sparsity_report", "strip",
           "target_misses"]
