"""int8 files that keep an audio feature frontend in float.

Left to itself, the converter quantizes a spectrogram frontend (and the raw
samples before it) to int8: the samples of a quiet clip fall on a few
levels, and a power spectrum spans more orders of magnitude than 8 bits
hold. The int8 file of a model with a frontend (`models.spectrogram`)
therefore takes float samples, computes the frontend in float and
quantizes after it. TFLite's selective quantization does this (its
`QuantizationDebugger` with `denylisted_nodes`, the documented way to keep
chosen ops float): the frontend's ops, and those of every layer before it,
are listed by their output tensors' names, which carry the Keras layer
names as their scope.

The file is then made compact (`compact`): the names that nothing reads
dropped (`tensor_names`: those of activations, biases and shape constants;
2.5 KB of a 63 KB DS-CNN file, 1.7 KB of a 22 KB one) and the frontend's float32 matrices stored as float16
(`half_constants`; 14 KB down to 7 KB, at the same speed), since a
compressed model's int8 weights can be fewer bytes than its frontend's.
"""

import warnings

import tensorflow as tf

from tfcompress.export import half_constants
from tfcompress.export import tensor_names
from tfcompress.runtime import load_interpreter


def _nodes_in(flatbuffer, layer_names):
    """Output tensor names of the file's ops inside the given layers' scopes."""
    interpreter = load_interpreter(flatbuffer, xnnpack=False)
    tensors = interpreter.get_tensor_details()
    outputs = {index for op in interpreter._get_ops_details()  # noqa: SLF001
               for index in op["outputs"]}
    scopes = tuple(f"/{name}/" for name in layer_names)
    return sorted(tensor["name"] for tensor in tensors if tensor["index"] in outputs
                  and any(scope in f"/{part}" for part in tensor["name"].split(";")
                          for scope in scopes))


def quantize(converter, layer_names):
    """int8 flatbuffer of a converter set up for int8, with `layer_names` kept float.

    Args:
      converter: a TFLiteConverter with Optimize.DEFAULT and a
        representative dataset (calibration).
      layer_names: `spectrogram.float_layers(model)`.

    Returns:
      The flatbuffer, float inputs and outputs, int8 after the frontend,
      `compact`: only its weights, inputs and outputs named, the
      frontend's constants float16.
    """
    optimizations = converter.optimizations
    converter.optimizations = []
    float_file = converter.convert()  # the op names, as calibration will see them
    converter.optimizations = optimizations
    nodes = _nodes_in(float_file, layer_names)
    if not nodes:
        raise RuntimeError(f"no op of layers {layer_names} found in the converted file: "
                           "cannot keep the frontend in float; please report it.")
    with warnings.catch_warnings():
        # The debugger runs its own tf.lite.Interpreter, which warns that it is
        # deprecated; tfcompress runs the file it returns in LiteRT.
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=converter.representative_dataset,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(
                denylisted_nodes=nodes, model_debug_metrics=None))
        flatbuffer = debugger.get_nondebug_quantized_model()
    return compact(flatbuffer)


def compact(flatbuffer):
    """An int8 file with a float frontend, unread names dropped and float constants float16."""
    return tensor_names.drop_unread_names(half_constants.halve_float_constants(flatbuffer))


def float_ops(tflite_file):
    """Sorted names of the ops of a file that compute in float (or complex).

    QUANTIZE and DEQUANTIZE, the conversions at the ends of the int8 part,
    are left out, as are int32 shape arithmetic ops.
    """
    interpreter = load_interpreter(tflite_file, xnnpack=False)
    dtypes = {t["index"]: t["dtype"].__name__ for t in interpreter.get_tensor_details()}
    return sorted({op["op_name"] for op in interpreter._get_ops_details()  # noqa: SLF001
                   if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE")
                   and any(dtypes[i] in ("float32", "complex64") for i in op["outputs"])})
