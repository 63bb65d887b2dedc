"""A Keras `Reshape`'s batch size written as -1 in a .tflite file.

tf_keras's `Reshape` layer reshapes to `(tf.shape(x)[0], *target_shape)`, so
a file of unknown batch size computes that shape at every invoke: SHAPE,
STRIDED_SLICE and PACK ops, and eight tensors to hold their inputs and
outputs (712 bytes of a 20 KB DS-CNN file). -1 in the batch's place means
the same for any batch size, and is what the converter makes of
`tf.reshape(x, [-1, ...])`: a constant. This rewrites the first form into
the second on the flatbuffer, then drops the ops, tensors and buffers left
unused. Hand-written: the converter folds the shape only when the batch
size is static. Uses TF's flatbuffer object API (`flatbuffer_utils`).
"""

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

_OPS = schema.BuiltinOperator


def _op_kind(model, op):
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _int32_constant(model, graph, index):
    """The values of int32 constant tensor `index`, or None."""
    tensor = graph.tensors[index]
    data = model.buffers[tensor.buffer].data if tensor.buffer else None
    if tensor.type != schema.TensorType.INT32 or data is None or not len(data):
        return None
    return np.frombuffer(bytes(data), np.int32)


def _batch_size_of(model, graph, producer, index, data_input):
    """Whether tensor `index` is `tf.shape(data_input)[0]` (SHAPE, then STRIDED_SLICE)."""
    slice_op = producer.get(index)
    if slice_op is None or _op_kind(model, slice_op) != _OPS.STRIDED_SLICE:
        return False
    shape_op = producer.get(slice_op.inputs[0])
    if shape_op is None or _op_kind(model, shape_op) != _OPS.SHAPE:
        return False
    begin, end, strides = (_int32_constant(model, graph, i) for i in slice_op.inputs[1:4])
    options = slice_op.builtinOptions
    return (shape_op.inputs[0] == data_input and begin is not None and end is not None
            and strides is not None and list(begin) == [0] and list(end) == [1]
            and list(strides) == [1] and options.shrinkAxisMask == 1
            and not (options.beginMask or options.endMask or options.ellipsisMask
                     or options.newAxisMask))


def _static_shape(model, graph, producer, reshape):
    """[-1, d1, ...] for a RESHAPE whose shape is PACK(batch size, constants), else None."""
    pack = producer.get(reshape.inputs[1]) if len(reshape.inputs) > 1 else None
    if pack is None or _op_kind(model, pack) != _OPS.PACK or pack.builtinOptions.axis != 0:
        return None
    dims = [_int32_constant(model, graph, i) for i in pack.inputs[1:]]
    if any(d is None or d.size != 1 for d in dims):
        return None
    if not _batch_size_of(model, graph, producer, pack.inputs[0], reshape.inputs[0]):
        return None
    dims = [int(d[0]) for d in dims]
    return [-1, *dims] if all(d > 0 for d in dims) else None


def _add_constant(model, graph, values):
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(np.asarray(values, np.int32).tobytes(), np.uint8)
    model.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.shape, tensor.type = [len(values)], schema.TensorType.INT32
    tensor.buffer = len(model.buffers) - 1
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _drop_dead_ops(model, graph):
    """Removes ops whose outputs nothing reads (of the kinds a shape is computed with)."""
    removable = (_OPS.SHAPE, _OPS.STRIDED_SLICE, _OPS.PACK)
    while True:
        read = set(graph.outputs)
        for op in graph.operators:
            read.update(op.inputs)
        dead = [op for op in graph.operators if _op_kind(model, op) in removable
                and not any(output in read for output in op.outputs)]
        if not dead:
            return
        graph.operators = [op for op in graph.operators if op not in dead]


def _drop_unused_tensors(graph):
    """Removes tensors no op, input or output refers to; renumbers the rest."""
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.operators:
        for indices in (op.inputs, op.outputs, op.intermediates):
            used.update(i for i in (indices if indices is not None else ()) if i >= 0)
    new_index = {old: new for new, old in enumerate(sorted(used))}
    graph.tensors = [graph.tensors[old] for old in sorted(used)]

    def renumber(indices):
        return None if indices is None else [new_index[i] if i >= 0 else i for i in indices]

    graph.inputs, graph.outputs = renumber(graph.inputs), renumber(graph.outputs)
    for op in graph.operators:
        op.inputs, op.outputs = renumber(op.inputs), renumber(op.outputs)
        op.intermediates = renumber(op.intermediates)
    return new_index


def _drop_unused_buffers(model):
    """Removes buffers no tensor or metadata refers to (buffer 0, the empty one, stays)."""
    used = {0} | {tensor.buffer for graph in model.subgraphs for tensor in graph.tensors}
    used |= {entry.buffer for entry in model.metadata or ()}
    new_index = {old: new for new, old in enumerate(sorted(used))}
    model.buffers = [model.buffers[old] for old in sorted(used)]
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.buffer = new_index[tensor.buffer]
    for entry in model.metadata or ():
        entry.buffer = new_index[entry.buffer]


def fold_batch_reshapes(flatbuffer):
    """`flatbuffer` (bytes) with each Keras Reshape's computed shape made a constant.

    Returns the bytes unchanged when the file has no such reshape.
    """
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    folded = 0
    for graph_index, graph in enumerate(model.subgraphs):
        producer = {output: op for op in graph.operators for output in op.outputs}
        changed = False
        for op in graph.operators:
            if _op_kind(model, op) != _OPS.RESHAPE:
                continue
            shape = _static_shape(model, graph, producer, op)
            if shape is not None:
                op.inputs = [op.inputs[0], _add_constant(model, graph, shape)]
                changed = True
                folded += 1
        if changed:
            _drop_dead_ops(model, graph)
            new_index = _drop_unused_tensors(graph)
            for signature in model.signatureDefs or ():
                if signature.subgraphIndex == graph_index:
                    for entry in [*(signature.inputs or ()), *(signature.outputs or ())]:
                        entry.tensorIndex = new_index[entry.tensorIndex]
    if not folded:
        return flatbuffer
    _drop_unused_buffers(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
