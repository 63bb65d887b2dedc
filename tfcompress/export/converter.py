"""The TFLite converter set up for each quantization mode."""

import tensorflow as tf

from tfcompress import _tfmot_wrappers
from tfcompress import quiet
from tfcompress.data import inputs
from tfcompress.export import float_frontend
from tfcompress.export import int4_weights
from tfcompress.export import recurrent
from tfcompress.export import static_reshapes
from tfcompress.export import tensor_names
from tfcompress.export import validation
from tfcompress.models import spectrogram
from tfcompress.quantize import calibration

# "none": float32; "dynamic": int8 weights, float activations; "float16":
# float16 weights; "int8": int8 weights and activations (calibrated, or from
# quantization-aware training); "int4": int4 Dense weights, int8 others,
# float activations (`int4_weights`, after the converter).
QUANTIZATION_MODES = ("none", "dynamic", "float16", "int8", "int4")


def check_options(model, quantization, representative_data, int8_io):
    """Raises ValueError for a combination the converter cannot honour."""
    if quantization not in QUANTIZATION_MODES:
        raise ValueError(f"`quantization` must be one of {QUANTIZATION_MODES}, got "
                         f"{quantization!r}.")
    if int8_io and quantization != "int8":
        raise ValueError(f"`int8_io` needs quantization='int8', got {quantization!r}.")
    if int8_io and spectrogram.float_layers(model):
        raise ValueError(
            f"{model.name!r} computes audio features in float "
            f"({', '.join(spectrogram.float_layers(model))}), so its int8 file takes "
            "float samples: pass int8_io=False.")
    aware = _tfmot_wrappers.is_quantization_aware(model)
    if aware and quantization != "int8":
        raise ValueError(f"{model.name!r} was trained quantization-aware: export it "
                         f"with quantization='int8', not {quantization!r}.")
    if quantization == "int8" and not aware and representative_data is None:
        raise ValueError("quantization='int8' needs `representative_data` (e.g. the "
                         "training split) to calibrate activation ranges.")
    recurrent.check_exportable(model)


def _from_inference_graph(model, spec, recurrent_form):
    """A converter of `model(x, training=False)`, from one trace.

    Not `from_keras_model`: in TF 2.21 that first saves a Keras SavedModel,
    which traces every layer on its own (about 50 s for a quantization-aware
    MobileNetV2, against 2 s for this one trace of the whole model).
    """
    function = tf.function(lambda inputs: model(inputs, training=False),
                           input_signature=[spec]).get_concrete_function()
    if recurrent_form == "fused":
        return _through_saved_model(function, model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    # Freezing the trace inlines the function tf_keras' LSTM marks
    # `api_implements`, so it stays a WHILE loop instead of the stateful fused op.
    converter.experimental_lower_to_saved_model = False
    return converter


def _through_saved_model(function, model):
    """A converter that imports `function` as a SavedModel, so LSTMs fuse.

    Only for measuring the fused form against the stateless ones
    (`export.recurrent`): the SavedModel importer keeps the mark the
    converter fuses on. The SavedModel holds only the model's variables.
    """
    variables = tf.Module()
    variables.model_variables = list(model.variables)
    return tf.lite.TFLiteConverter.from_concrete_functions([function], variables)


def recurrent_form_of(model, quantization, recurrent_form=None):
    """The form `model`'s recurrent layers are written in (None: it has none)."""
    aware = _tfmot_wrappers.is_quantization_aware(model)
    chosen = recurrent.choose_form(model, quantization, aware)
    if recurrent_form is None or chosen is None:
        return chosen
    if recurrent_form not in recurrent.FORMS:
        raise ValueError(f"`recurrent_form` must be one of {recurrent.FORMS}, got "
                         f"{recurrent_form!r}.")
    if recurrent_form == "loop" and quantization == "int8" and not aware:
        raise ValueError("recurrent_form='loop' cannot be calibrated for "
                         "quantization='int8' (TF's calibrator crashes on a WHILE "
                         "loop); int8 files are unrolled.")
    return recurrent_form


def convert(model, **options):
    """`model` as TFLite flatbuffer bytes (`make_converter`'s options).

    An unrolled recurrent file loses its activation tensors' names, half its
    size (`tensor_names`). A Keras Reshape's shape is a constant, not three
    ops computing the batch size (`static_reshapes`). A calibrated int8 file
    keeps an audio frontend, and what comes before it, in float
    (`float_frontend`). An int4 file is the float file quantized by
    ai-edge-quantizer (`int4_weights`).
    """
    int4 = options.get("quantization") == "int4"
    if int4:
        check_options(model, "int4", None, options.get("int8_io", False))
        if options.get("sparse"):
            raise ValueError("`sparse`: the int4 weights ai-edge-quantizer writes have no "
                             "sparse encoding: pass sparse=False, or quantization 'int8'.")
        options = {**options, "quantization": "none"}
    form = recurrent_form_of(model, options.get("quantization", "none"),
                             options.pop("recurrent_form", None))
    keep_float = _calibrated_float_layers(model, options.get("quantization", "none"))
    if keep_float and options.get("sparse"):
        raise ValueError(
            f"`sparse`: {model.name!r} keeps its audio frontend ({', '.join(keep_float)}) "
            "in float, which TFLite's selective quantization cannot combine with the "
            "sparse encoding: pass sparse=False (or train quantization-aware).")
    converter = make_converter(model, recurrent_form=form, **options)
    with quiet.native_notices_hidden():
        if keep_float:
            flatbuffer = float_frontend.quantize(converter, keep_float)
        else:
            flatbuffer = converter.convert()
    if form == "unrolled":
        flatbuffer = tensor_names.drop_activation_names(flatbuffer)
    flatbuffer = static_reshapes.fold_batch_reshapes(flatbuffer)
    return int4_weights.quantize(flatbuffer) if int4 else flatbuffer


def _calibrated_float_layers(model, quantization):
    """Layers a calibrated int8 file keeps float (a QAT model's stay float unannotated)."""
    if quantization != "int8" or _tfmot_wrappers.is_quantization_aware(model):
        return []
    return spectrogram.float_layers(model)


def make_converter(model, *, quantization="none", representative_data=None,
                   num_samples=calibration.DEFAULT_SAMPLES, int8_io=False,
                   sparse=False, recurrent_form=None):
    """A TFLiteConverter for `model` with the chosen quantization.

    A model with a recurrent layer is converted for batches of
    `recurrent.FIXED_BATCH` examples, in the stateless form
    `recurrent.choose_form` picks (see `tfcompress.export.recurrent`).

    Args:
      model: single-input, single-output tf_keras model (QAT models too).
      quantization: one of QUANTIZATION_MODES.
      representative_data: inputs for int8 calibration: an array, an (x, y)
        tuple of arrays or a `tf.data.Dataset` of (x, y) or x batches; not
        needed for a quantization-aware model.
      num_samples: calibration examples taken from `representative_data`.
      int8_io: int8 input and output tensors too (int8 only).
      sparse: store sparse weights in TFLite's sparse encoding.
      recurrent_form: one of `recurrent.FORMS` to override that choice
        (benchmarks measure the forms against each other).
    """
    shape, dtype = validation.single_input_spec(model)
    check_options(model, quantization, representative_data, int8_io)
    aware = _tfmot_wrappers.is_quantization_aware(model)
    form = recurrent_form_of(model, quantization, recurrent_form)
    if form == "unrolled":
        model = recurrent.unrolled(model)
    # Any batch size, except recurrent models: TFLite needs theirs static.
    batch = recurrent.FIXED_BATCH if form else None
    converter = _from_inference_graph(
        model, tf.TensorSpec([batch, *shape], dtype, name="inputs"), form)
    optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
    if quantization != "none":
        optimizations.append(tf.lite.Optimize.DEFAULT)
    converter.optimizations = optimizations
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        if not aware:
            # A QAT model brings its own ranges; asking for int8-only ops
            # would make the converter demand calibration data anyway.
            examples = calibration.calibration_examples(inputs.first_inputs(
                representative_data, num_samples, arg_name="representative_data"),
                num_samples)
            converter.representative_dataset = calibration.representative_dataset(examples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter
