"""What TFMOT's default QAT registry leaves out, filled in for real architectures.

TFMOT 0.8.1 quantizes Conv2D + BatchNormalization + ReLU, DepthwiseConv2D,
Add, ZeroPadding2D and global pooling (all of MobileNetV2), but refuses a
model nested in another, `Multiply` (squeeze-and-excite gates, hard-swish),
`Rescaling` (preprocessing inside the model), `Activation` layers other than
relu, relu6, swish, gelu, linear, softmax, sigmoid and tanh, and cannot even
clone the `TFOpLambda` layers that `x + 3.0` and `x * (1 / 6)` become in a
functional model (they get their input as a one-element list;
tensorflow/model-optimization#980 and #1145): MobileNetV3 has all of them.

Nested models are inlined by `graph.flatten`, and a Keras 3 model's
`x + 3.0` arrives from the bridge as a `ScalarOp` layer. `annotate` gives
each layer the default registry has no config for an `OutputQuantizeConfig`:
those layers are elementwise and have no weights, so int8 needs only the
range of their output, learned as TFMOT learns it for Add and ReLU.
"""

import tensorflow_model_optimization as tfmot

from tfcompress._keras import keras
from tfcompress.keras3.equivalents import ScalarOp
from tfcompress.models import spectrogram

_QUANTIZE = tfmot.quantization.keras

# The activations TFMOT's Default8BitActivationQuantizeConfig knows.
_TFMOT_ACTIVATIONS = frozenset({"relu", "relu6", "swish", "gelu", "linear", "softmax",
                                "sigmoid", "tanh"})


@keras.utils.register_keras_serializable(package="tfcompress")
class OutputQuantizeConfig(_QUANTIZE.QuantizeConfig):
    """Quantizes only a weightless layer's output: 8 bits, per tensor, asymmetric.

    The quantizer TFMOT's default registry gives Add and ReLU outputs.
    """

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [_QUANTIZE.quantizers.MovingAverageQuantizer(
            num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

    def get_config(self):
        return {}


# What `quantize_apply` must be able to deserialize while it clones.
CUSTOM_OBJECTS = {"ScalarOp": ScalarOp, "OutputQuantizeConfig": OutputQuantizeConfig}

_ELEMENTWISE = (keras.layers.Multiply, keras.layers.Subtract, keras.layers.Maximum,
                keras.layers.Minimum, keras.layers.Average, keras.layers.Rescaling,
                ScalarOp)


def needs_config(layer):
    """Whether `layer` needs `OutputQuantizeConfig` (TFMOT's registry has none)."""
    if isinstance(layer, keras.layers.Activation):
        name = getattr(layer.activation, "__name__", None)
        return name not in _TFMOT_ACTIVATIONS
    return type(layer) in _ELEMENTWISE


def check_no_raw_ops(model):
    """Raises ValueError naming the first raw TensorFlow op layer of `model`.

    tf_keras makes `x + 3.0` on a Keras tensor a TFOpLambda, which TFMOT's
    clone cannot call (tensorflow/model-optimization#980); a Keras 3 model's
    op nodes arrive through the bridge as `ScalarOp` layers instead.
    """
    for layer in model.layers:
        if type(layer).__name__ == "TFOpLambda":
            function = layer.get_config().get("function")
            raise ValueError(
                f"layer {layer.name!r} is the raw TensorFlow op tf.{function}, which "
                "TFMOT cannot quantize: write it as a Keras layer (keras.layers.Add, "
                "Multiply, Rescaling, Activation)")


def _reads_any(layer, names):
    """Whether `layer` takes the output of a layer named in `names`."""
    for node in layer.inbound_nodes:
        inbound = node.inbound_layers
        if any(l.name in names for l in (inbound if isinstance(inbound, list) else [inbound])):
            return True
    return False


def annotate(model):
    """`model` (flat) annotated for `quantize_apply`, every layer included.

    As TFMOT's `quantize_annotate_model`, except that the layers its default
    registry has no config for get `OutputQuantizeConfig`, and an audio
    frontend and the layers before it stay float (not annotated): the int8
    file takes float samples and quantizes the features.
    """
    keep_float = set(spectrogram.float_layers(model))

    def annotate_layer(layer):
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Lambda)):
            return layer  # TFMOT leaves Lambda layers float too (with a warning)
        if layer.name in keep_float:
            return layer
        if _reads_any(layer, keep_float):
            # TFMOT quantizes only the model's inputs on its own: the first
            # layer after the float frontend quantizes the features.
            return _QUANTIZE.quantize_annotate_layer(layer, OutputQuantizeConfig())
        config = OutputQuantizeConfig() if needs_config(layer) else None
        return _QUANTIZE.quantize_annotate_layer(layer, quantize_config=config)

    with _QUANTIZE.quantize_scope(CUSTOM_OBJECTS):
        return keras.models.clone_model(model, clone_function=annotate_layer)
