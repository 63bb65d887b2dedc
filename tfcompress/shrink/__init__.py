"""Structured pruning: smaller models, not sparser ones.

`shrink` removes whole units, filters and channels (residual branches and
concatenations kept consistent by `dependency`) and rebuilds a narrower
model with the surviving weights; `dependency.build` shows the groups;
`penalties` train channels toward zero first; `crop` removes the blank
borders an MLP reads. What each layer class does to channels is its
`ChannelRule` (`rules`); `register(LayerClass, rule)` adds your own layer,
e.g. one with a kernel (inputs, units) then per-unit weights (bias, scale):

    shrink.register(ScaledLinear, shrink.ChannelRule("produce", kernels=((0, -1),),
                                                     width="units"))
"""

from tfcompress.shrink import crop
from tfcompress.shrink import growback
from tfcompress.shrink import latency
from tfcompress.shrink import penalties
from tfcompress.shrink import rounding
from tfcompress.shrink import rules
from tfcompress.shrink.dependency import UnfollowableLayersError
from tfcompress.shrink.dependency import build as dependency_graph
from tfcompress.shrink.penalties import PENALTIES
from tfcompress.shrink.rules import ChannelRule
from tfcompress.shrink.rules import register
from tfcompress.shrink.scores import CRITERIA
from tfcompress.shrink.structured import SEARCHES
from tfcompress.shrink.structured import Narrowing
from tfcompress.shrink.structured import ShrinkResult
from tfcompress.shrink.structured import check_fraction
from tfcompress.shrink.structured import check_search
from tfcompress.shrink.structured import describe_search
from tfcompress.shrink.structured import narrowing
from tfcompress.shrink.structured import shrink

__all__ = ["CRITERIA", "PENALTIES", "SEARCHES", "ChannelRule", "Narrowing", "ShrinkResult",
           "UnfollowableLayersError", "check_fraction", "check_search", "crop",
           "dependency_graph", "describe_search", "growback", "latency", "narrowing",
           "penalties", "register", "rounding", "rules", "shrink"]
