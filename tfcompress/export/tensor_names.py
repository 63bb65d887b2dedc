"""Dropping the names of a .tflite file's activation tensors.

The converter names each activation after every TF op fused into it, joined
by ";". An unrolled recurrent layer has a dozen ops per step, and those
names made up half of an unrolled int8 LSTM file (350 KiB, 180 KiB without
them; the weights are 38 KiB). Weights, inputs and outputs keep their names:
tools and `evaluate.weight_stats` read them. Uses TF's own flatbuffer
object API; nothing in the converter does this.
"""

from tensorflow.lite.tools import flatbuffer_utils


def drop_activation_names(flatbuffer):
    """`flatbuffer` (bytes) with its activation tensors unnamed."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    for graph in model.subgraphs:
        keep = set(graph.inputs) | set(graph.outputs)
        for index, tensor in enumerate(graph.tensors):
            data = model.buffers[tensor.buffer].data if tensor.buffer else None
            if index not in keep and (data is None or len(data) == 0):
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
