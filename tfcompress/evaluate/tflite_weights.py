"""What the weights inside a .tflite file look like: zeros and shared values.

Checks compression on the artifact that ships, not on the Keras model it
came from: after QAT, the only weights that matter are the file's int8 ones.
"""

import numpy as np

from tfcompress.runtime import load_interpreter


def weight_stats(tflite_model):
    """Per weight matrix or filter (a constant of 2+ dimensions) in the file.

    Args:
      tflite_model: path of a .tflite file, or its bytes.

    Returns:
      {tensor name: {"size", "zeros", "distinct_values", "dtype"}}. Tensors
      in TFLite's sparse encoding cannot be read back and are left out.
    """
    interpreter = load_interpreter(tflite_model, xnnpack=False)
    interpreter.allocate_tensors()
    # LiteRT has no public "is constant" flag: a constant is a tensor that no
    # op produces and that is not a model input.
    produced = {i for op in interpreter._get_ops_details() for i in op["outputs"]}  # noqa: SLF001
    produced |= {d["index"] for d in interpreter.get_input_details()}
    stats = {}
    for detail in interpreter.get_tensor_details():
        if detail["index"] in produced or len(detail["shape"]) < 2:
            continue
        try:
            values = interpreter.get_tensor(detail["index"])
        except ValueError:
            continue
        stats[detail["name"]] = {
            "size": int(values.size), "zeros": int(np.sum(values == 0)),
            "distinct_values": int(np.unique(values).size),
            "dtype": np.dtype(values.dtype).name}
    return stats
