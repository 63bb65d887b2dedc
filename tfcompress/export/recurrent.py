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


def _loops(model):
    """The recurrent layers TFLite runs as a WHILE loop (all but the LSTM)."""
    return [layer for layer in _all_layers(model)
            if isinstance(layer, keras.layers.RNN)
            and not isinstance(layer, keras.layers.LSTM)]


def _unrolled(layer):
    """A copy of a GRU or SimpleRNN layer (or a Bidirectional one) unrolled."""
    config = layer.get_config()
    if isinstance(layer, keras.layers.Bidirectional):
        for key in ("layer", "backward_layer"):
            if key in config and config[key]["class_name"] != "LSTM":
                config[key]["config"]["unroll"] = True
    else:
        config["unroll"] = True
    return type(layer).from_config(config)


def unrolled_for_calibration(model):
    """`model`, or a copy with its GRU and SimpleRNN layers unrolled.

    Only tf_keras' LSTM becomes one TFLite op; a GRU or SimpleRNN stays a
    WHILE loop, on which TF 2.21's int8 calibrator dies (a segmentation
    fault that would take the whole process with it). Unrolled over its
    fixed number of steps, a loop becomes plain ops that the calibrator
    handles; the copy has the model's weights, so its outputs are the
    model's. Written here: neither tf_keras nor the converter unrolls an
    existing layer.
    """
    if not _loops(model):
        return model
    loops = {id(layer) for layer in _loops(model)}

    def clone(layer):
        inner = [layer.forward_layer, layer.backward_layer] if isinstance(
            layer, keras.layers.Bidirectional) else [layer]
        if any(id(part) in loops for part in inner):
            return _unrolled(layer)
        return type(layer).from_config(layer.get_config())

    try:
        copy = keras.models.clone_model(model, clone_function=clone)
    except ValueError as e:
        if "fixed number of timesteps" not in str(e):
            raise
        layer = _loops(model)[0]
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) reads sequences of any "
            "length, so TFLite runs it as a WHILE loop, and calibrating a loop for "
            "quantization='int8' crashes the TFLite converter. Give the model's "
            "input a fixed number of steps (the layer is then unrolled for int8), "
            "export with quantization='dynamic' or 'float16', or use an LSTM, which "
            "TFLite fuses into one op that int8 supports.") from None
    copy.set_weights(model.get_weights())
    return copy
