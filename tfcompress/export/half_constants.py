"""Float32 constants of a .tflite file stored as float16, widened at load.

An int8 file that keeps an audio frontend in float (`float_frontend`)
carries the frontend's matrices (DFT, twiddles, mel filters, window) as
float32: 14 KB of a DS-CNN file, more than a narrow DS-CNN's int8 weights.
Stored as float16, each feeding a DEQUANTIZE op, they take half that;
LiteRT's XNNPACK delegate widens such constants once, when it loads the
file, so an invoke costs what it did (benchmarks/fsdd_frontend_cost.py).
float16 rounds each value by at most 2^-11 relative: the zoo's log-mel
features moved by 0.001 dB on average, 0.045 dB at most, on 30 FSDD test
clips, against int8 steps of about 0.4 dB right after them.

The converter's own float16 mode does this for every weight of a float
model, not for the float part of an int8 file, so it is done here on the
flatbuffer with TF's object API (`flatbuffer_utils`).
"""

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

# Smaller constants (scalars, shapes) are not worth a DEQUANTIZE op.
MIN_ELEMENTS = 64
# DEQUANTIZE's version that takes float16 inputs (TFLite's op versioning).
_DEQUANTIZE_FLOAT16_VERSION = 3


def _dequantize_code(model):
    """Index of the DEQUANTIZE operator code, added if missing."""
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.DEQUANTIZE:
            code.version = max(code.version, _DEQUANTIZE_FLOAT16_VERSION)
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.DEQUANTIZE
    code.version = _DEQUANTIZE_FLOAT16_VERSION
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _buffer_users(model):
    users = {}
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            users[tensor.buffer] = users.get(tensor.buffer, 0) + 1
    return users


def halve_float_constants(flatbuffer, min_elements=MIN_ELEMENTS):
    """`flatbuffer` (bytes) with its float32 constants of `min_elements` or more as float16.

    Each such tensor becomes the unnamed output of a DEQUANTIZE op (run
    first) from a float16 constant of the same shape and name; the ops that
    read it are unchanged. A buffer that several tensors share is left as it is.
    """
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    users = _buffer_users(model)
    dequantize = None
    for graph in model.subgraphs:
        widen = []
        for index, tensor in enumerate(list(graph.tensors)):
            data = model.buffers[tensor.buffer].data if tensor.buffer else None
            if (tensor.type != schema.TensorType.FLOAT32 or data is None
                    or len(data) < 4 * min_elements or users[tensor.buffer] != 1):
                continue
            if dequantize is None:
                dequantize = _dequantize_code(model)
            values = np.frombuffer(bytes(data), np.float32).astype(np.float16)
            model.buffers[tensor.buffer].data = np.frombuffer(values.tobytes(), np.uint8)
            half = schema.TensorT()
            half.shape, half.type, half.name = tensor.shape, schema.TensorType.FLOAT16, tensor.name
            half.buffer = tensor.buffer
            # The float32 tensor is an activation now: unnamed, as the file's
            # others (`tensor_names`); the constant keeps the name.
            tensor.name = None
            graph.tensors.append(half)
            model.buffers.append(schema.BufferT())  # the float32 tensor: computed now
            tensor.buffer = len(model.buffers) - 1
            op = schema.OperatorT()
            op.opcodeIndex, op.inputs, op.outputs = dequantize, [len(graph.tensors) - 1], [index]
            op.builtinOptionsType = schema.BuiltinOptions.DequantizeOptions
            op.builtinOptions = schema.DequantizeOptionsT()
            widen.append(op)
        graph.operators = widen + list(graph.operators)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
