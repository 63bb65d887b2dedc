"""What the weights inside a .tflite file look like: zeros and shared values.

Checks compression on the artifact that ships, not on the Keras model it
came from: after QAT, the only weights that matter are the file's int8 ones.
"""

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from tfcompress.runtime import load_interpreter


# The stored value types of sparse-encoded weights (schema TensorType).
_SPARSE_DTYPES = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16,
                  schema.TensorType.INT8: np.int8}


def _read(tflite_model):
    if isinstance(tflite_model, (bytes, bytearray)):
        return bytes(tflite_model)
    with open(tflite_model, "rb") as f:
        return f.read()


def _not_weights(flatbuffer):
    """Indices of the main graph's tensors that hold no weights to read.

    Read from the flatbuffer (LiteRT's interpreter does not say): variables
    (a fused LSTM's state), op intermediates and sparse-encoded constants
    (LiteRT hands back only their stored values: `_sparse_weights`); tensors
    the interpreter adds past the file's own (scratch buffers) are not in
    the file at all.
    """
    graph = schema.Model.GetRootAsModel(flatbuffer, 0).Subgraphs(0)
    skipped = {i for i in range(graph.TensorsLength())
               if graph.Tensors(i).IsVariable() or graph.Tensors(i).Sparsity() is not None}
    for j in range(graph.OperatorsLength()):
        op = graph.Operators(j)
        if op.IntermediatesLength():
            skipped.update(int(i) for i in op.IntermediatesAsNumpy())
    return skipped, graph.TensorsLength()


def _sparse_weights(flatbuffer):
    """Stats of the sparse-encoded weights, read from the file's buffers.

    The encoding stores only the non-zero values (CSR): every weight it
    leaves out is a zero (zero point 0: TFLite's int8 weights are symmetric).
    """
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    graph = model.Subgraphs(0)
    stats = {}
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        if tensor.Sparsity() is None or tensor.Type() not in _SPARSE_DTYPES:
            continue
        stored = np.frombuffer(model.Buffers(tensor.Buffer()).DataAsNumpy().tobytes(),
                               dtype=_SPARSE_DTYPES[tensor.Type()])
        size = int(np.prod(tensor.ShapeAsNumpy()))
        zeros = size - int(np.count_nonzero(stored))
        stats[tensor.Name().decode()] = {
            "size": size, "zeros": zeros,
            "distinct_values": int(np.unique(stored[stored != 0]).size) + (zeros > 0),
            "dtype": np.dtype(stored.dtype).name, "sparse_encoding": True}
    return stats


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
      point). Tensors in TFLite's sparse encoding are read from the file and
      also have "sparse_encoding": True.
    """
    flatbuffer = _read(tflite_model)
    not_weights, in_file = _not_weights(flatbuffer)
    interpreter = load_interpreter(flatbuffer, xnnpack=False)
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
    stats.update(_sparse_weights(flatbuffer))
    return stats
