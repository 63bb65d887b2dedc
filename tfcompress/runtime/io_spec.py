"""What a .tflite file takes and returns, as an app must feed and read it."""

import numpy as np

from tfcompress.runtime.file_state import variable_tensors
from tfcompress.runtime.interpreter import load_interpreter


def _tensor(detail):
    scale, zero_point = detail["quantization"]
    signature = [int(d) for d in detail["shape_signature"]]
    return {"name": detail["name"], "shape": ["batch" if d < 0 else d for d in signature],
            "dtype": np.dtype(detail["dtype"]).name,
            "quantization": ({"scale": float(scale), "zero_point": int(zero_point)}
                             if scale else None)}


def io_spec(tflite_model):
    """{"input", "output", "batch", "stateless"} of a single-input, single-output file.

    "batch" is the number of examples an invoke takes, or "any"; each
    tensor's "quantization" is its (scale, zero point) when it is integer
    (int8 input and output), else None. "stateless": the file has no
    variable tensors, so nothing must be reset between invokes.
    """
    interpreter = load_interpreter(tflite_model, arg_name="tflite_model")
    (source,), (result,) = (interpreter.get_input_details(),
                            interpreter.get_output_details())
    batch = int(source["shape_signature"][0])
    return {"input": _tensor(source), "output": _tensor(result),
            "batch": batch if batch > 0 else "any",
            "stateless": not variable_tensors(tflite_model)}
