"""What a model outputs: logits, or probabilities from a final softmax."""

from tfcompress import graph
from tfcompress._keras import keras


def ends_in_softmax(model):
    """Whether a model's last layer applies softmax (outputs probabilities)."""
    last = model.layers[-1]
    if graph.is_nested_model(last):
        return ends_in_softmax(last)
    if isinstance(last, keras.layers.Softmax):
        return True
    # A final tf.nn.softmax(x) in a functional model becomes a TFOpLambda.
    if "softmax" in str(getattr(last, "symbol", "")):
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", None) == "softmax"
