"""Dropping the names of a .tflite file's tensors that nothing reads.

The converter names each tensor after every TF op fused into it, joined
by ";". An unrolled recurrent layer has a dozen ops per step, and those
names made up half of an unrolled int8 LSTM file (350 KiB, 180 KiB without
them; the weights are 38 KiB). In a compressed DS-CNN's int8 file the
names of its biases and shape constants (up to 190 characters each) were
1.7 KB of 22 KB. Inputs, outputs and weights (constants of two or more
dimensions) keep their names: tools and `evaluate.weight_stats` read them.
Uses TF's own flatbuffer object API; nothing in the converter does this.
"""

from tensorflow.lite.tools import flatbuffer_utils


def _constant(model, tensor):
    data = model.buffers[tensor.buffer].data if tensor.buffer else None
    return data is not None and len(data) > 0


def drop_activation_names(flatbuffer):
    """`flatbuffer` (bytes) with its activation tensors unnamed."""
    return _unnamed(flatbuffer, lambda model, tensor: not _constant(model, tensor))


def drop_unread_names(flatbuffer):
    """`flatbuffer` with only its inputs, outputs and weights named.

    Unnamed: activations, biases, and shape, axis and scalar constants.
    """
    return _unnamed(flatbuffer, lambda model, tensor: not (
        _constant(model, tensor) and len(tensor.shape) >= 2))


def _unnamed(flatbuffer, drops_name):
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    for graph in model.subgraphs:
        keep = set(graph.inputs) | set(graph.outputs)
        for index, tensor in enumerate(graph.tensors):
            if index not in keep and drops_name(model, tensor):
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def name_unnamed(flatbuffer):
    """`flatbuffer` with every unnamed tensor named "tensor_<subgraph>_<index>"
    (unique within its subgraph).

    ai-edge-quantizer reads every tensor's name and fails on one without
    (`static_reshapes`' shape constants, and the names dropped above).
    """
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    for number, graph in enumerate(model.subgraphs):
        taken = {tensor.name for tensor in graph.tensors if tensor.name}
        for index, tensor in enumerate(graph.tensors):
            if not tensor.name:
                name = f"tensor_{number}_{index}".encode()
                while name in taken:
                    name += b"_"
                tensor.name = name
                taken.add(name)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
