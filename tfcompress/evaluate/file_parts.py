"""Where a .tflite file's bytes go: constants, quantization parameters, names, tables.

A small file is often mostly not weights: per-channel scales and int64 zero
points, tensor names, and the flatbuffer's tables of tensors, ops and
shapes (about 100 bytes a tensor). Splitting the bytes says which to cut.
"""

from tensorflow.lite.tools import flatbuffer_utils

# TFLite schema tensor types stored as floats: FLOAT32 (0) and FLOAT16 (1).
_FLOAT_TYPES = (0, 1)
# Bytes per value of a tensor's quantization fields (the schema's types).
_QUANTIZATION_FIELDS = (("scale", 4), ("zeroPoint", 8), ("min", 4), ("max", 4))


def bytes_by_part(flatbuffer):
    """{part: bytes} of a .tflite file's bytes, `total` their sum.

    Parts: "float constants" (float32 and float16 buffers), "int constants"
    (int8 weights, int32 biases, shapes), "quantization params" (scales,
    zero points, min and max), "tensor names", and "rest" (the tables, op
    options, metadata and alignment). A buffer shared by tensors counts once.
    """
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    parts = {"float constants": 0, "int constants": 0, "quantization params": 0,
             "tensor names": 0}
    seen = set()
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            parts["tensor names"] += len(tensor.name or b"")
            data = model.buffers[tensor.buffer].data if tensor.buffer else None
            if data is not None and len(data) and tensor.buffer not in seen:
                seen.add(tensor.buffer)
                kind = "float" if tensor.type in _FLOAT_TYPES else "int"
                parts[f"{kind} constants"] += len(data)
            quantization = tensor.quantization
            if quantization is not None:
                parts["quantization params"] += sum(
                    len(values) * size for values, size in (
                        (getattr(quantization, field), size)
                        for field, size in _QUANTIZATION_FIELDS) if values is not None)
    parts["rest"] = len(flatbuffer) - sum(parts.values())
    parts["total"] = len(flatbuffer)
    return parts
