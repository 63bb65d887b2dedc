"""What TFLite needs of a recurrent model: a fixed batch, no masks, no state.

A TFLite file answers each invoke on its own: the same input gives the same
output whatever ran before, as a device that never resets it expects. How a
recurrent layer is written decides that. Three forms were measured
(BENCHMARKS.md, "Stateless recurrent files"):

- "fused": tf_keras' LSTM as one UNIDIRECTIONAL_SEQUENCE_LSTM op. Its state
  lives in variable tensors that keep the last invoke's state for the next
  one unless the app calls `reset_all_variables()`, so a device gets other
  answers from the second input on. The kernel takes its state only as
  variable tensors, so it cannot be given zeros as inputs instead. Kept only
  as the measured baseline; `export_tflite` refuses what it writes.
- "loop": the layer as a WHILE loop over its steps (the state is a loop
  variable, zero on every invoke). In float, float16 and dynamic range the
  fastest form at LiteRT's default single thread (1.8x the fused op in
  float), its file about the fused file's size.
- "unrolled": one copy of the cell's ops per step (plain FULLY_CONNECTED,
  LOGISTIC, TANH...). The only form full-integer calibration survives: TF
  2.21's int8 calibrator dies on a WHILE loop (a segmentation fault). 9-12x
  faster than the fused int8 kernel, but each step's ops make the file
  1.2-1.9x larger.

Loops keep a `tf.TensorArray` of [batch, units] elements, which TFLite
lowers only when that shape is static, so every recurrent file takes a
fixed batch of FIXED_BATCH example per invoke, as a device runs each input
it gets. Masks and `stateful=True` layers are refused.
"""

from tfcompress import graph
from tfcompress._keras import keras

# One example per invoke (the TF guide's Keras LSTM conversion fixes batch 1).
FIXED_BATCH = 1

FORMS = ("loop", "unrolled", "fused")


def is_recurrent(model):
    """Whether `model` holds a recurrent layer (LSTM, GRU, SimpleRNN, ...)."""
    return bool(_recurrent_layers(model))


def check_exportable(model):
    """Raises ValueError, naming the layer, for a mask or state TFLite cannot run."""
    for layer in graph.layers(model):
        if isinstance(layer, keras.layers.Embedding) and layer.mask_zero:
            raise ValueError(
                f"Layer {layer.name!r} (Embedding) has mask_zero=True, and TFLite "
                "export supports no masks. Build the model with mask_zero=False, as "
                "the zoo's text models are, and train it again: padding (id 0) is "
                "then read like any token.")
        if isinstance(layer, keras.layers.Masking):
            raise ValueError(
                f"Layer {layer.name!r} is a Masking layer, and TFLite export supports "
                "no masks. Build the model without it and train it again: padded "
                "steps are then read like any step.")
        if isinstance(layer, keras.layers.RNN) and layer.stateful:
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) has stateful=True, "
                "and an exported file answers every input from a zero state. Build "
                "the same model with stateful=False, copy the weights into it "
                "(`set_weights(model.get_weights())`) and export that one.")


def choose_form(model, quantization, aware):
    """The form a recurrent model is written in for `quantization`.

    None for a model without recurrent layers. `aware`: the model was
    trained quantization-aware (it brings its own ranges, no calibration).
    """
    if not is_recurrent(model):
        return None
    return "unrolled" if quantization == "int8" and not aware else "loop"


def _recurrent_layers(model):
    return [layer for layer in graph.layers(model) if isinstance(layer, keras.layers.RNN)]


def _unrolled_layer(layer):
    """A copy of a recurrent layer (or a Bidirectional one) unrolled."""
    config = layer.get_config()
    if isinstance(layer, keras.layers.Bidirectional):
        for key in ("layer", "backward_layer"):
            if key in config:
                config[key]["config"]["unroll"] = True
    else:
        config["unroll"] = True
    return type(layer).from_config(config)


def unrolled(model):
    """A copy of `model` with every recurrent layer unrolled over its steps.

    The copy has the model's weights, so its outputs are the model's.
    Written here: neither tf_keras nor the converter unrolls an existing
    layer.

    Raises:
      ValueError: a layer reads sequences of any length (nothing to unroll
        over); the message names it.
    """
    loops = {id(layer) for layer in _recurrent_layers(model)}

    def clone(layer):
        inner = [layer.forward_layer, layer.backward_layer] if isinstance(
            layer, keras.layers.Bidirectional) else [layer]
        if any(id(part) in loops for part in inner):
            return _unrolled_layer(layer)
        return type(layer).from_config(layer.get_config())

    try:
        copy = keras.models.clone_model(model, clone_function=clone)
    except ValueError as e:
        if "fixed number of timesteps" not in str(e):
            raise
        layer = _recurrent_layers(model)[0]
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) reads sequences of any "
            "length, so it can only run as a WHILE loop, and calibrating a loop for "
            "quantization='int8' crashes the TFLite converter. Give the model's "
            "input a fixed number of steps (the layer is then unrolled for int8), "
            "or export with quantization='dynamic' or 'float16'.") from None
    copy.set_weights(model.get_weights())
    return copy
