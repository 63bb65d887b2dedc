"""What TFLite needs of a recurrent model: a fixed batch, no masks, no state.

tf_keras' LSTM and GRU loop over time with a `tf.TensorArray` of [batch,
units] elements, which TFLite lowers only when that shape is static; the
fused UNIDIRECTIONAL_SEQUENCE_LSTM op that tf_keras' LSTM becomes also sizes
its state tensors by the batch. So a recurrent model is converted for a
fixed batch of FIXED_BATCH examples, and the file runs one batch of that
size per invoke. The fused op takes no mask, and its state tensors hold the
last state for the next invoke unless reset (the interpreter's
`reset_all_variables()`): export runs every input from a zero state, as the
Keras model does, so masked and stateful models are refused.
"""

from tfcompress._keras import keras

# One example per invoke, as a device runs each input it gets (the TF
# guide's Keras LSTM conversion fixes batch 1 too).
FIXED_BATCH = 1


def _all_layers(layer):
    """`layer` and every layer inside it: sub-models and wrapped layers."""
    yield layer
    if isinstance(layer, keras.layers.Bidirectional):
        inner = [layer.forward_layer, layer.backward_layer]
    elif isinstance(layer, keras.layers.Wrapper):  # TFMOT's wrappers too
        inner = [layer.layer]
    else:
        inner = getattr(layer, "layers", None) or []
    for child in inner:
        yield from _all_layers(child)


def is_recurrent(model):
    """Whether `model` holds a recurrent layer (LSTM, GRU, SimpleRNN, ...)."""
    return any(isinstance(layer, keras.layers.RNN) for layer in _all_layers(model))


def check_exportable(model):
    """Raises ValueError, naming the layer, for a mask or state TFLite cannot run."""
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.Embedding) and layer.mask_zero:
            raise ValueError(
                f"Layer {layer.name!r} (Embedding) has mask_zero=True, and TFLite "
                "export supports no masks (the fused LSTM op takes none). Build the "
                "model with mask_zero=False, as the zoo's text models are, and train "
                "it again: padding (id 0) is then read like any token.")
        if isinstance(layer, keras.layers.Masking):
            raise ValueError(
                f"Layer {layer.name!r} is a Masking layer, and TFLite export supports "
                "no masks (the fused LSTM op takes none). Build the model without "
                "it and train it again: padded steps are then read like any step.")
        if isinstance(layer, keras.layers.RNN) and layer.stateful:
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) has stateful=True, "
                "and TFLite export runs every input from a zero state. Build the "
                "same model with stateful=False, copy the weights into it "
                "(`set_weights(model.get_weights())`) and export that one.")


def check_calibration(model):
    """Raises ValueError for a recurrent layer TFLite does not fuse.

    Only tf_keras' LSTM becomes one op; a GRU or SimpleRNN stays a WHILE
    loop, on which TF 2.21's int8 calibrator dies (a segmentation fault that
    would take the whole process with it).
    """
    for layer in _all_layers(model):
        fused = isinstance(layer, keras.layers.LSTM)
        if isinstance(layer, keras.layers.RNN) and not fused:
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) runs as a WHILE loop in "
                "TFLite, and calibrating a loop for quantization='int8' crashes the "
                "TFLite converter. Export it with quantization='dynamic' or 'float16', "
                "or use an LSTM, which TFLite fuses into one op that int8 supports.")
