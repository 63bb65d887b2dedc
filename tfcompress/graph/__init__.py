"""One graph of a functional model, read from its config (tf_keras or Keras 3).

The Keras 3 bridge and structured pruning both walk a model layer by layer
and rebuild it from configs plus weights; `Graph` is the one walker they share.
"""

from tfcompress.graph.flatten import flatten
from tfcompress.graph.flatten import has_nested_models
from tfcompress.graph.functional import Call
from tfcompress.graph.functional import Graph
from tfcompress.graph.functional import LayerNode
from tfcompress.graph.functional import TensorRef
from tfcompress.graph.rebuild import rebuild

__all__ = ["Call", "Graph", "LayerNode", "TensorRef", "flatten", "has_nested_models",
           "rebuild"]
