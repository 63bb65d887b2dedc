"""What each layer class does to channels: one `ChannelRule` per class.

A rule says a layer's role, its output's `Layout` given its inputs', how its
weights are cut and which kernel axes hold its channels: `dependency`,
`surgery`, `scores` and `penalties` all read it, and `register` gives a
user's layer one. A class without a rule takes its nearest base class's.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from tfcompress._keras import keras
from tfcompress.keras3.equivalents import ScalarOp
from tfcompress.models import spectrogram

ROLES = PRODUCE, PASS, MERGE, PIN = ("produce", "pass", "merge", "pin")


def channels_last_ungrouped(layer):
    """Whether channels are the last axis and every output reads every input."""
    return (getattr(layer, "data_format", "channels_last") in ("channels_last", None)
            and getattr(layer, "groups", 1) == 1)


def _first(layer, layouts, tie):
    return layouts[0]


def _merged(layer, layouts, tie):
    for other in layouts[1:]:
        tie(layouts[0], other)
    return layouts[0]


@dataclasses.dataclass(frozen=True)
class ChannelRule:
    """What a layer class does to the channels on its tensors' last axis.

    Attributes:
      role: "produce" (its output channels are its own: a Dense's units),
        "pass" (output channel i comes from input channel i: batch norm),
        "merge" (its inputs' channels are tied together: Add) or "pin" (it
        mixes channels in ways a group cannot follow: what it reads and
        makes keeps its width).
      kernels: (input axis, output axis) of each leading weight, in
        `get_weights()` order, None where it has none: ((0, -1),) for a
        Dense. Every weight after them holds one value per output channel
        along its last axis (a bias, a batch norm's gamma) and is cut there.
      width: the config key of the output width ("units"; of a shape, its
        last entry), set to the kept count when the layer is rebuilt. A
        "produce" rule needs one, and a kernel with an output axis.
      when: fn(layer) -> whether the rule applies to this layer; where not,
        the layer pins. Default: channels last, not grouped.
      output: fn(layer, input layouts, tie) -> the output `Layout`, or None
        to pin; tie(a, b) ties two layouts' channels. Default: the first
        input's ("pass"), after tying every input to it ("merge").
      cut: fn(layer, keep_in, keep_out) -> the weights with only the kept
        input and output positions, for weights `kernels` cannot describe.
    """
    role: str
    kernels: tuple = ()
    width: str | None = None
    when: Callable = channels_last_ungrouped
    output: Callable | None = None
    cut: Callable | None = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"`role` must be one of {ROLES}, got {self.role!r}.")
        if self.output is None:  # frozen: set as the constructor would
            object.__setattr__(self, "output", _merged if self.role == MERGE else _first)
        if not isinstance(self.kernels, (tuple, list)) or not all(
                isinstance(pair, (tuple, list)) and len(pair) == 2
                and all(axis is None or isinstance(axis, int) for axis in pair)
                for pair in self.kernels):
            raise ValueError(f"`kernels` must be (input axis, output axis) pairs of ints "
                             f"or None, got {self.kernels!r}.")
        if self.role == PRODUCE and (self.kernel(1) is None or not self.width):
            raise ValueError(f"A 'produce' rule needs `kernels` with an output axis and "
                             f"`width`, got {self.kernels!r} and {self.width!r}.")

    def kernel(self, side):
        """(weight index, axis) of the first kernel with an input (side 0) or
        output (side 1) axis, or None."""
        for index, axes in enumerate(self.kernels):
            if axes[side] is not None:
                return index, axes[side]
        return None

    def makers(self, weights):
        """[(weight, axis)]: where a producer's `weights` hold its output channels."""
        index, axis = self.kernel(1)
        return [(weights[index], axis)] + [(w, -1) for w in weights[len(self.kernels):]]

    def width_changes(self, config, count):
        """The changes to a layer's `config` for `count` output positions."""
        if not self.width:
            return {}
        old = config[self.width]
        return {self.width: (*old[:-1], count) if isinstance(old, (tuple, list)) else count}

    def cut_weights(self, layer, keep_in, keep_out):
        """(config changes, weights) of `layer` with only input positions
        `keep_in` and output positions `keep_out`."""
        changes = self.width_changes(layer.get_config(), len(keep_out))
        if self.cut is not None:
            return changes, self.cut(layer, keep_in, keep_out)
        weights, cut = layer.get_weights(), []
        for weight, (axis_in, axis_out) in zip(weights, self.kernels):
            if axis_in is not None:
                weight = np.take(weight, keep_in, axis=axis_in)
            cut.append(weight if axis_out is None else np.take(weight, keep_out, axis=axis_out))
        return changes, cut + [np.take(w, keep_out, axis=-1) for w in weights[len(cut):]]


def _repeated(layer, layouts, tie):
    return layouts[0].repeated(layer.depth_multiplier)


def _flattened(layer, layouts, tie):
    shape = layer.get_input_shape_at(0)
    if None in shape[1:]:
        return None
    return layouts[0].flattened(int(np.prod(shape[1:-1])) if len(shape) > 2 else 1)


def _concatenated(layer, layouts, tie):
    if layer.axis not in (-1, len(layer.get_output_shape_at(0)) - 1):
        return _merged(layer, layouts, tie)
    joined = layouts[0]
    for other in layouts[1:]:
        joined = joined.concatenated(other) if joined is not None else None
    return joined


def _on_last_axis(layer):
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    return list(axis) in ([-1], [len(layer.get_input_shape_at(0)) - 1])


def _keeps_last_axis(layer):
    return layer.target_shape[-1] == int(layer.get_input_shape_at(0)[-1])


def _cut_separable(layer, keep_in, keep_out):
    """The pointwise kernel reads the depthwise's multiplier outputs per input."""
    depthwise, pointwise, *bias = layer.get_weights()
    multiplier = depthwise.shape[-1]
    middle = (keep_in[:, None] * multiplier + np.arange(multiplier)[None, :]).ravel()
    pointwise = np.take(np.take(pointwise, middle, axis=-2), keep_out, axis=-1)
    return [np.take(depthwise, keep_in, axis=-2), pointwise,
            *[np.take(b, keep_out, axis=0) for b in bias]]


def _rules_for(names, rule):
    return {getattr(keras.layers, name): rule for name in names.split()}


_RULES = {
    keras.layers.Dense: ChannelRule(PRODUCE, ((0, -1),), "units"),
    **_rules_for("Conv1D Conv2D Conv3D", ChannelRule(PRODUCE, ((-2, -1),), "filters")),
    **_rules_for("Conv1DTranspose Conv2DTranspose Conv3DTranspose",
                 ChannelRule(PRODUCE, ((-1, -2),), "filters")),
    **_rules_for("SeparableConv1D SeparableConv2D",
                 ChannelRule(PRODUCE, ((-2, None), (-2, -1)), "filters", cut=_cut_separable)),
    **_rules_for("DepthwiseConv1D DepthwiseConv2D",
                 ChannelRule(PASS, ((-2, None),), output=_repeated)),
    **_rules_for("""PReLU Activation ReLU LeakyReLU ELU ThresholdedReLU Dropout
        SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianNoise GaussianDropout
        AlphaDropout ActivityRegularization MaxPooling1D MaxPooling2D MaxPooling3D
        AveragePooling1D AveragePooling2D AveragePooling3D GlobalMaxPooling1D
        GlobalMaxPooling2D GlobalMaxPooling3D GlobalAveragePooling1D GlobalAveragePooling2D
        GlobalAveragePooling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D Cropping1D
        Cropping2D Cropping3D UpSampling1D UpSampling2D UpSampling3D Resizing Identity""",
                 ChannelRule(PASS)),
    ScalarOp: ChannelRule(PASS),
    keras.layers.BatchNormalization: ChannelRule(
        PASS, when=lambda layer: channels_last_ungrouped(layer) and _on_last_axis(layer)),
    keras.layers.Rescaling: ChannelRule(
        PASS, when=lambda layer: np.ndim(layer.scale) == 0 and np.ndim(layer.offset) == 0),
    keras.layers.Flatten: ChannelRule(PASS, output=_flattened),
    keras.layers.Reshape: ChannelRule(PASS, width="target_shape", when=_keeps_last_axis),
    **_rules_for("Add Subtract Multiply Average Maximum Minimum", ChannelRule(MERGE)),
    keras.layers.Concatenate: ChannelRule(MERGE, output=_concatenated),
    # Known to mix channels in ways a group cannot follow.
    **_rules_for("""InputLayer Softmax LayerNormalization UnitNormalization Normalization
        Permute Dot Attention AdditiveAttention MultiHeadAttention LSTM GRU SimpleRNN
        Bidirectional ConvLSTM2D Embedding TimeDistributed Lambda RepeatVector
        CategoryEncoding Discretization""", ChannelRule(PIN)),
    keras.src.layers.TFOpLambda: ChannelRule(PIN),
    # An audio frontend: samples in, features out (time or frequency on the
    # last axis, not channels), no weights to cut but an STFT's transform.
    **{cls: ChannelRule(PIN) for cls in spectrogram.FRONTEND_LAYERS},
}


def register(layer_class, rule):
    """Gives `layer_class` (and its subclasses without a rule of their own) `rule`.

    Args:
      layer_class: a tf_keras layer class, yours or a built-in one to override;
        for a Keras 3 model, the class its converter makes (`keras3.register`).
      rule: a `ChannelRule`.

    Raises:
      TypeError: `layer_class` is not a tf_keras layer class, or `rule` not a
        `ChannelRule`.
    """
    if not isinstance(layer_class, type) or not issubclass(layer_class, keras.layers.Layer):
        raise TypeError(f"`layer_class` must be a tf_keras layer class, got {layer_class!r}.")
    if not isinstance(rule, ChannelRule):
        raise TypeError(f"`rule` must be a tfcompress.shrink.ChannelRule, got {rule!r}.")
    _RULES[layer_class] = rule


def rule_of(layer):
    """The `ChannelRule` of `layer`'s class or its nearest base with one, or None."""
    for cls in type(layer).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    return None
