"""One graph of a functional model, read from its config (tf_keras or Keras 3).

The Keras 3 bridge and structured pruning both walk a model layer by layer
and rebuild it from configs plus weights; `Graph` is the one graph reader they
share, and `walk`/`layers` the one way to reach every layer of a model.
"""

from tfcompress.graph.flatten import flatten
from tfcompress.graph.flatten import has_nested_models
from tfcompress.graph.functional import Call
from tfcompress.graph.functional import Graph
from tfcompress.graph.functional import LayerNode
from tfcompress.graph.functional import TensorRef
from tfcompress.graph.layers import is_nested_model
from tfcompress.graph.layers import layers
from tfcompress.graph.layers import walk
from tfcompress.graph.rebuild import rebuild

__all__ = ["Call", "Graph", "LayerNode", "TensorRef", "flatten", "has_nested_models",
           "is_nested_model", "layers", "rebuild", "walk"]
