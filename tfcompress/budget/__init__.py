"""Compression to a budget: what a search for the best model within it measures.

`latency_table.LatencyTable`: a model's LiteRT latency and file bytes
predicted from its layers' measured ones (NetAdapt's lookup table).
`targets.Targets`: the user's budget (latency, size, accuracy drop), checked,
and compared with what a model measured.
`floor`: the smallest model of an input and output, measured; a target
below it is refused (`check_reachable`).
`search`: the plan (widths, file format and, for size, per-layer zeros)
predicted to meet the targets (NetAdapt's narrowing path on the tables and
sensitivities).
`Int4Bytes`: an int4 file's bytes, from the int8 table; `layer_bytes`: a
layer's file bytes fitted on those of layers like it (an untimed table's).
`sparse_bytes`: the file bytes TFLite's sparse encoding gives a pruned
kernel; `sparse_plan`: per-layer sparsities that save a number of bytes.
`sensitivity`: each channel group's accuracy drop when narrowed alone
(`measure_groups` -> `GroupSensitivity`, whose `loss_of` the search takes),
and each file format's cost (`format_costs`).
"""

from tfcompress.budget import layer_bytes
from tfcompress.budget import search
from tfcompress.budget import sensitivity
from tfcompress.budget import sparse_bytes
from tfcompress.budget import sparse_plan
from tfcompress.budget.floor import check_reachable
from tfcompress.budget.floor import measure_floor
from tfcompress.budget.floor import minimal_model
from tfcompress.budget.int4_bytes import Int4Bytes
from tfcompress.budget.latency_table import LatencyTable
from tfcompress.budget.sensitivity import GroupSensitivity
from tfcompress.budget.sensitivity import format_costs
from tfcompress.budget.sensitivity import measure_groups
from tfcompress.budget.targets import Targets

__all__ = ["GroupSensitivity", "Int4Bytes", "LatencyTable", "Targets", "check_reachable", "format_costs",
           "layer_bytes", "measure_floor", "measure_groups", "minimal_model", "search", "sensitivity",
           "sparse_bytes", "sparse_plan"]
