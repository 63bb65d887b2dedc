"""Structured pruning: smaller models, not sparser ones.

`shrink` removes whole units, filters and channels (residual branches and
concatenations kept consistent by `dependency`) and rebuilds a narrower
model with the surviving weights; `dependency.build` shows the groups.
"""

from tfcompress.shrink.dependency import UnfollowableLayersError
from tfcompress.shrink.dependency import build as dependency_graph
from tfcompress.shrink.scores import CRITERIA
from tfcompress.shrink.structured import ShrinkResult
from tfcompress.shrink.structured import shrink

__all__ = ["CRITERIA", "ShrinkResult", "UnfollowableLayersError", "dependency_graph",
           "shrink"]
