"""Which TFMOT wrappers a model holds: pruning, clustering, quantization.

One place for these questions, so pruning, clustering, QAT and export ask
them without importing each other. Imports nothing of tfcompress.
"""

import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.clustering.keras import cluster_wrapper
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

_QUANTIZE_WRAPPERS = (tfmot.quantization.keras.QuantizeWrapper,
                      tfmot.quantization.keras.QuantizeWrapperV2)


def is_pruning_wrapper(layer):
    """Whether `layer` is a TFMOT PruneLowMagnitude wrapper."""
    return isinstance(layer, pruning_wrapper.PruneLowMagnitude)


def pruning_wrappers(model):
    """The PruneLowMagnitude wrappers of `model`, nested models' included."""
    return pruning_wrapper.collect_prunable_layers(model)


def has_pruning_wrappers(model):
    """Whether `model` (or a model nested in it) holds pruning wrappers."""
    return bool(pruning_wrappers(model))


def unwrap_pruning(layer):
    """The layer a pruning wrapper wraps; any other layer itself."""
    return layer.layer if is_pruning_wrapper(layer) else layer


def is_clustered(model):
    """True if `model` still holds TFMOT clustering wrappers (not stripped)."""
    return any(isinstance(layer, cluster_wrapper.ClusterWeights) for layer in model.layers)


def is_quantization_aware(model):
    """True if `model` holds TFMOT quantization wrappers (a QAT model)."""
    return any(isinstance(layer, _QUANTIZE_WRAPPERS)
               for layer in getattr(model, "layers", ()))


def unwrap_quantization(layer):
    """The layer a quantization wrapper wraps; any other layer itself."""
    return layer.layer if isinstance(layer, _QUANTIZE_WRAPPERS) else layer
