"""Compression to a budget: what a search for the best model within it measures.

`latency_table.LatencyTable`: a model's LiteRT latency and file bytes
predicted from its layers' measured ones (NetAdapt's lookup table).
`targets.Targets`: the user's budget (latency, size, accuracy drop), checked,
and compared with what a model measured.
`floor`: the smallest model of an input and output, measured; a target
below it is refused (`check_reachable`).
`search`: the plan (widths and file format) predicted to meet the targets
(NetAdapt's narrowing path on the tables and sensitivities).
`sensitivity`: each channel group's accuracy drop when narrowed alone
(`measure_groups` -> `GroupSensitivity`, whose `loss_of` the search takes),
and each file format's cost (`format_costs`).
"""

from tfcompress.budget import search
from tfcompress.budget import sensitivity
from tfcompress.budget.floor import check_reachable
from tfcompress.budget.floor import measure_floor
from tfcompress.budget.floor import minimal_model
from tfcompress.budget.latency_table import LatencyTable
from tfcompress.budget.sensitivity import GroupSensitivity
from tfcompress.budget.sensitivity import format_costs
from tfcompress.budget.sensitivity import measure_groups
from tfcompress.budget.targets import Targets

__all__ = ["GroupSensitivity", "LatencyTable", "Targets", "check_reachable", "format_costs",
           "measure_floor", "measure_groups", "minimal_model", "search", "sensitivity"]
