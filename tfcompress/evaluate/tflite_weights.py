"""What the weights inside a .tflite file look like: zeros and shared values.

Checks compression on the artifact that ships, not on the Keras model it
came from: after QAT, the only weights that matter are the file's int8 ones.
"""

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from tfcompress.runtime import load_interpreter


def _not_weights(tflite_model):
    """Indices of the main graph's tensors that hold no weights.

    Read from the flatbuffer (LiteRT's interpreter does not say): variables
    (a fused LSTM's state) and op intermediates; tensors the interpreter
    adds past the file's own (scratch buffers) are not in the file at all.
    """
    if not isinstance(tflite_model, (bytes, bytearray)):
        with open(tflite_model, "rb") as f:
            tflite_model = f.read()
    graph = schema.Model.GetRootAsModel(tflite_model, 0).Subgraphs(0)
    skipped = {i for i in range(graph.TensorsLength()) if graph.Tensors(i).IsVariable()}
    for j in range(graph.OperatorsLength()):
        op = graph.Operators(j)
        if op.IntermediatesLength():
            skipped.update(int(i) for i in op.IntermediatesAsNumpy())
    return skipped, graph.TensorsLength()


def _zeros(values, quantization):
    """How many of `values` stand for 0.0: the zero point, if quantized."""
    zero_points = quantization["zero_points"]
    if zero_points.size == 0:
        return int(np.sum(values == 0))
    shape = [1] * values.ndim
    if zero_points.size > 1:  # per channel, along the quantized dimension
        shape[quantization["quantized_dimension"]] = zero_points.size
    return int(np.sum(values == zero_points.reshape(shape)))


def weight_stats(tflite_model):
    """Per weight matrix or filter (a constant of 2+ dimensions) in the file.

    Args:
      tflite_model: path of a .tflite file, or its bytes.

    Returns:
      {tensor name: {"size", "zeros", "distinct_values", "dtype"}}, "zeros"
      counting the values that stand for 0.0 (a quantized tensor's zero
      point). Tensors in TFLite's sparse encoding cannot be read back and
      are left out.
    """
    not_weights, in_file = _not_weights(tflite_model)
    interpreter = load_interpreter(tflite_model, xnnpack=False)
    interpreter.allocate_tensors()
    # LiteRT has no public "is constant" flag: a constant is a tensor that no
    # op produces and that is not a model input.
    produced = {i for op in interpreter._get_ops_details() for i in op["outputs"]}  # noqa: SLF001
    produced |= {d["index"] for d in interpreter.get_input_details()}
    stats = {}
    for detail in interpreter.get_tensor_details():
        index = detail["index"]
        if (index in produced or index in not_weights or index >= in_file
                or len(detail["shape"]) < 2):
            continue
        try:
            values = interpreter.get_tensor(detail["index"])
        except ValueError:
            continue
        stats[detail["name"]] = {
            "size": int(values.size), "zeros": _zeros(values, detail["quantization_parameters"]),
            "distinct_values": int(np.unique(values).size),
            "dtype": np.dtype(values.dtype).name}
    return stats
