"""The TFLite converter set up for each quantization mode."""

import tensorflow as tf

from tfcompress import _tfmot_wrappers
from tfcompress.data import inputs
from tfcompress.export import recurrent
from tfcompress.export import validation
from tfcompress.quantize import calibration

# "none": float32; "dynamic": int8 weights, float activations; "float16":
# float16 weights; "int8": int8 weights and activations (calibrated, or from
# quantization-aware training).
QUANTIZATION_MODES = ("none", "dynamic", "float16", "int8")


def check_options(model, quantization, representative_data, int8_io):
    """Raises ValueError for a combination the converter cannot honour."""
    if quantization not in QUANTIZATION_MODES:
        raise ValueError(f"`quantization` must be one of {QUANTIZATION_MODES}, got "
                         f"{quantization!r}.")
    if int8_io and quantization != "int8":
        raise ValueError(f"`int8_io` needs quantization='int8', got {quantization!r}.")
    aware = _tfmot_wrappers.is_quantization_aware(model)
    if aware and quantization != "int8":
        raise ValueError(f"{model.name!r} was trained quantization-aware: export it "
                         f"with quantization='int8', not {quantization!r}.")
    if quantization == "int8" and not aware and representative_data is None:
        raise ValueError("quantization='int8' needs `representative_data` (e.g. the "
                         "training split) to calibrate activation ranges.")
    recurrent.check_exportable(model)


def _from_inference_graph(model, spec):
    """A converter of `model(x, training=False)`, from one trace.

    Not `from_keras_model`: in TF 2.21 that first saves a Keras SavedModel,
    which traces every layer on its own (about 50 s for a quantization-aware
    MobileNetV2, against 2 s for this one trace of the whole model).
    """
    function = tf.function(lambda inputs: model(inputs, training=False),
                           input_signature=[spec]).get_concrete_function()
    if recurrent.is_recurrent(model):
        return _through_saved_model(function, model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    converter.experimental_lower_to_saved_model = False  # freeze the trace
    return converter


def _through_saved_model(function, model):
    """A converter that imports `function` as a SavedModel, so LSTMs fuse.

    TFLite makes its fused LSTM op from the function tf_keras' LSTM marks
    `api_implements`; freezing the graph inlines that function and loses
    the mark, leaving a WHILE loop. The SavedModel holds only the model's
    variables: saving the Keras model itself would trace every layer.
    """
    variables = tf.Module()
    variables.model_variables = list(model.variables)
    return tf.lite.TFLiteConverter.from_concrete_functions([function], variables)


def make_converter(model, *, quantization="none", representative_data=None,
                   num_samples=calibration.DEFAULT_SAMPLES, int8_io=False,
                   sparse=False):
    """A TFLiteConverter for `model` with the chosen quantization.

    A model with a recurrent layer is converted for batches of
    `recurrent.FIXED_BATCH` examples (see `tfcompress.export.recurrent`).

    Args:
      model: single-input, single-output tf_keras model (QAT models too).
      quantization: one of QUANTIZATION_MODES.
      representative_data: inputs for int8 calibration: an array, an (x, y)
        tuple of arrays or a `tf.data.Dataset` of (x, y) or x batches; not
        needed for a quantization-aware model.
      num_samples: calibration examples taken from `representative_data`.
      int8_io: int8 input and output tensors too (int8 only).
      sparse: store sparse weights in TFLite's sparse encoding.
    """
    shape, dtype = validation.single_input_spec(model)
    check_options(model, quantization, representative_data, int8_io)
    # Any batch size, except recurrent models: TFLite needs theirs static.
    batch = recurrent.FIXED_BATCH if recurrent.is_recurrent(model) else None
    if quantization == "int8" and not _tfmot_wrappers.is_quantization_aware(model):
        model = recurrent.unrolled_for_calibration(model)
    converter = _from_inference_graph(model, tf.TensorSpec([batch, *shape], dtype,
                                                           name="inputs"))
    optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
    if quantization != "none":
        optimizations.append(tf.lite.Optimize.DEFAULT)
    converter.optimizations = optimizations
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        if not _tfmot_wrappers.is_quantization_aware(model):
            # A QAT model brings its own ranges; asking for int8-only ops
            # would make the converter demand calibration data anyway.
            examples = calibration.calibration_examples(inputs.first_inputs(
                representative_data, num_samples, arg_name="representative_data"),
                num_samples)
            converter.representative_dataset = calibration.representative_dataset(
                examples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter
