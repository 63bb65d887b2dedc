"""Whether a .tflite file keeps state between invokes.

A tensor the file marks variable (a fused LSTM's state, say) keeps what the
last invoke wrote for the next one, so the same input can give other
outputs later. LiteRT's interpreter does not say which tensors those are;
the flatbuffer does.
"""

from ai_edge_litert import schema_py_generated as schema


def variable_tensors(tflite_model):
    """Names of the variable tensors in every subgraph of a .tflite file.

    Args:
      tflite_model: path of a .tflite file, or its bytes.
    """
    if not isinstance(tflite_model, (bytes, bytearray)):
        with open(tflite_model, "rb") as f:
            tflite_model = f.read()
    model = schema.Model.GetRootAsModel(tflite_model, 0)
    names = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            if tensor.IsVariable():
                names.append((tensor.Name() or b"").decode() or f"tensor {t}")
    return names
