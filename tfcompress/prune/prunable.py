"""What magnitude pruning thins in each kind of layer, and why it skips the rest.

Pruned: the connection weights. From TFMOT's registry: the kernels of Dense
and Conv layers, the table of an Embedding, and the input and recurrent
kernels of each cell of an LSTM, GRU or SimpleRNN (a table of its own in the
registry). Beyond TFMOT's registry: the depthwise kernels of DepthwiseConv
and SeparableConv layers (TFMOT prunes only a separable layer's pointwise
kernel and no depthwise kernel at all), and both directions of a
Bidirectional recurrent layer (TFMOT refuses the wrapper). Not pruned: batch
normalization (a per-channel scale and shift, no connections to remove;
zeroing its scale would silence whole channels, which is structured
pruning's business), biases, and layers without weights.

TFMOT's wrapper prunes any layer that says which weights it holds
(`get_prunable_weights`); the `Prunable*` subclasses below say it for the
depthwise and Bidirectional layers. They live only while a model is being
pruned: `plain_copy` turns them back into the Keras layers they extend, so a
stripped model holds no tfcompress classes.
"""

from tensorflow_model_optimization.python.core.sparsity.keras import prunable_layer
from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

from tfcompress._keras import keras


_REGISTRY = prune_registry.PruneRegistry


def _recurrent_weights(layer):
    """The kernels TFMOT prunes in RNN `layer`'s cells; None if it cannot.

    TFMOT keeps recurrent layers out of its main weight table: their weights
    live in their cells (several, for StackedRNNCells), listed by cell class.
    """
    if type(layer) not in _REGISTRY._RNN_LAYERS:  # noqa: SLF001
        return None
    if not _REGISTRY.supports(layer):  # a cell neither listed nor PrunableLayer
        return None
    weights = []
    for cell in _REGISTRY._get_rnn_cells(layer):  # noqa: SLF001
        names = _REGISTRY._RNN_CELLS_WEIGHTS_MAP.get(type(cell))  # noqa: SLF001
        if names is None:  # a cell of one's own that says what it prunes
            weights.extend(cell.get_prunable_weights())
        else:
            weights.extend(getattr(cell, name) for name in names)
    return weights


class _PrunableKernels(prunable_layer.PrunableLayer):
    """Mixin: TFMOT prunes what `pruned_weights` lists, by default `_PRUNED`."""

    _PRUNED = ()

    @classmethod
    def pruned_weights(cls, layer):
        """What pruning thins in `layer`, this stand-in or the Keras layer it extends."""
        return [getattr(layer, name) for name in cls._PRUNED]

    def get_prunable_weights(self):
        return self.pruned_weights(self)


@keras.utils.register_keras_serializable(package="tfcompress")
class PrunableDepthwiseConv2D(_PrunableKernels, keras.layers.DepthwiseConv2D):
    """DepthwiseConv2D whose depthwise kernel TFMOT prunes."""

    _PRUNED = ("depthwise_kernel",)


@keras.utils.register_keras_serializable(package="tfcompress")
class PrunableDepthwiseConv1D(_PrunableKernels, keras.layers.DepthwiseConv1D):
    """DepthwiseConv1D whose depthwise kernel TFMOT prunes."""

    _PRUNED = ("depthwise_kernel",)


@keras.utils.register_keras_serializable(package="tfcompress")
class PrunableSeparableConv2D(_PrunableKernels, keras.layers.SeparableConv2D):
    """SeparableConv2D whose depthwise and pointwise kernels TFMOT prunes."""

    _PRUNED = ("depthwise_kernel", "pointwise_kernel")


@keras.utils.register_keras_serializable(package="tfcompress")
class PrunableSeparableConv1D(_PrunableKernels, keras.layers.SeparableConv1D):
    """SeparableConv1D whose depthwise and pointwise kernels TFMOT prunes."""

    _PRUNED = ("depthwise_kernel", "pointwise_kernel")


@keras.utils.register_keras_serializable(package="tfcompress")
class PrunableBidirectional(_PrunableKernels, keras.layers.Bidirectional):
    """Bidirectional whose forward and backward recurrent kernels TFMOT prunes."""

    @classmethod
    def pruned_weights(cls, layer):
        """Both directions' kernels; None unless TFMOT can prune the wrapped RNN."""
        forward = _recurrent_weights(layer.forward_layer)
        backward = _recurrent_weights(layer.backward_layer)
        if forward is None or backward is None:
            return None
        return forward + backward


# Keras layer class -> its prunable stand-in (exact classes, as TFMOT's registry).
_PRUNABLE_CLASS = {
    keras.layers.DepthwiseConv2D: PrunableDepthwiseConv2D,
    keras.layers.DepthwiseConv1D: PrunableDepthwiseConv1D,
    keras.layers.SeparableConv2D: PrunableSeparableConv2D,
    keras.layers.SeparableConv1D: PrunableSeparableConv1D,
    keras.layers.Bidirectional: PrunableBidirectional,
}
_PLAIN_CLASS = {prunable: plain for plain, prunable in _PRUNABLE_CLASS.items()}

_BATCH_NORM_REASON = ("batch normalization: a per-channel scale and shift, no "
                      "connections to prune")


def layer_type(layer):
    """The Keras class name of `layer` (a `Prunable*` stand-in reports its base)."""
    return _PLAIN_CLASS.get(type(layer), type(layer)).__name__


def prunable_weights(layer):
    """The weight variables pruning thins in `layer`: [] if none, None if TFMOT cannot.

    Args:
      layer: a built tf_keras layer (not a pruning wrapper).
    """
    if isinstance(layer, keras.Model):
        return None
    plain = _PLAIN_CLASS.get(type(layer), type(layer))
    if plain in _PRUNABLE_CLASS:
        return _PRUNABLE_CLASS[plain].pruned_weights(layer)
    if isinstance(layer, keras.layers.BatchNormalization):
        return []
    if isinstance(layer, prunable_layer.PrunableLayer) or hasattr(layer,
                                                                  "get_prunable_weights"):
        return list(layer.get_prunable_weights())
    if type(layer) in _REGISTRY._RNN_LAYERS:  # noqa: SLF001
        return _recurrent_weights(layer)
    if _REGISTRY.supports(layer):
        return [getattr(layer, name)
                for name in _REGISTRY._weight_names(layer)]  # noqa: SLF001
    return None


def skip_reason(layer, m_by_n=None):
    """Why `layer` (which has weights) is not pruned; None when it is."""
    if isinstance(layer, keras.Model):
        return f"a subclassed model ({type(layer).__name__}): pruning cannot enter it"
    if isinstance(layer, keras.layers.BatchNormalization):
        return _BATCH_NORM_REASON
    weights = prunable_weights(layer)
    if weights is None:
        rnn = getattr(layer, "forward_layer", layer)  # a Bidirectional: its RNN
        cell = getattr(rnn, "cell", None)
        if cell is not None:  # the cell is what TFMOT's RNN table lists
            return (f"TFMOT cannot prune {type(rnn).__name__} layers of "
                    f"{type(cell).__name__} cells")
        return f"TFMOT cannot prune {type(layer).__name__} layers"
    if not weights:
        return f"{type(layer).__name__} has no weights TFMOT prunes"
    if m_by_n and type(layer) not in (keras.layers.Dense, keras.layers.Conv2D):
        return "N:M sparsity applies to Dense and Conv2D layers only"
    return None


def prunable_copy(layer):
    """A new, unbuilt copy of `layer` that TFMOT's wrapper can prune."""
    cls = _PRUNABLE_CLASS.get(type(layer), type(layer))
    return cls.from_config(layer.get_config())


def plain_copy(layer):
    """A `Prunable*` stand-in as the Keras layer it extends; None for other layers.

    The copy is unbuilt; set its weights (same order) once it is built.
    """
    plain = _PLAIN_CLASS.get(type(layer))
    return None if plain is None else plain.from_config(layer.get_config())
