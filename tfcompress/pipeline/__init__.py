"""`tfcompress pipeline`: teacher -> distill -> prune -> quantize -> export ->
evaluate in one run, each stage a job writing its own folder, and a report."""

from tfcompress.pipeline.report import build_report
from tfcompress.pipeline.report import format_comparison
from tfcompress.pipeline.report import write_report
from tfcompress.pipeline.run import check_inputs
from tfcompress.pipeline.run import run
from tfcompress.pipeline.stages import STAGES
from tfcompress.pipeline.stages import Options
from tfcompress.pipeline.stages import plan

__all__ = ["STAGES", "Options", "build_report", "check_inputs", "format_comparison",
           "plan", "run", "write_report"]
