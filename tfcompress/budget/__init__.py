"""Compression to a budget: what a search for the best model within it measures.

`latency_table.LatencyTable`: a model's LiteRT latency predicted from its
layers' measured latencies (NetAdapt's lookup table).
"""

from tfcompress.budget.latency_table import LatencyTable

__all__ = ["LatencyTable"]
