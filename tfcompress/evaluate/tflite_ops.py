"""Which ops a .tflite file runs, e.g. whether the converter fused an LSTM."""

from tfcompress.runtime import load_interpreter


def op_names(tflite_model):
    """Builtin op names of the file's main graph, in execution order.

    E.g. ['UNIDIRECTIONAL_SEQUENCE_LSTM', 'STRIDED_SLICE', 'FULLY_CONNECTED']
    for a fused LSTM; an unfused recurrent layer shows as 'WHILE' (the ops
    of its loop body, a subgraph of their own, are not listed).

    Args:
      tflite_model: path of a .tflite file, or its bytes.
    """
    # Without XNNPACK: the file's own ops, not the delegate's node.
    interpreter = load_interpreter(tflite_model, xnnpack=False)
    return [op["op_name"] for op in interpreter._get_ops_details()]  # noqa: SLF001
