"""Quantization-aware training with TFMOT, plain or preserving earlier
compression (sparsity from pruning, shared values from clustering)."""

import tensorflow_model_optimization as tfmot

from tfcompress import _tfmot_wrappers
from tfcompress import graph
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.quantize import configs
from tfcompress.quantize import prune_preserve
from tfcompress.keras3 import accepts_keras3

_QUANTIZE = tfmot.quantization.keras
_COMBINE = tfmot.experimental.combine

# What QAT keeps of earlier compression: nothing, the zeros of a pruned model
# (PQAT), or a clustered model's shared values, zeros included (CQAT).
PRESERVE = (None, "sparsity", "clusters")

# Layers TFMOT's default scheme has no QAT for (its registry lists no
# recurrent layer or Embedding; an integer input also breaks its first
# QuantizeLayer): models holding them are quantized after training.
_NO_QAT = (keras.layers.RNN, keras.layers.Bidirectional, keras.layers.Embedding)


def layer_without_qat(model):
    """The first layer of `model` TFMOT cannot train quantization-aware, or None."""
    return next((layer for layer in graph.layers(model) if isinstance(layer, _NO_QAT)), None)


def _scheme(preserve):
    if preserve is None:
        return _QUANTIZE.default_8bit.Default8BitQuantizeScheme()
    if preserve == "sparsity":
        return prune_preserve.PrunePreserveScheme()  # TFMOT's leaves some kernels unmasked
    return _COMBINE.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)


@accepts_keras3("model", returns_model=True)
def quantize_aware(model, preserve=None):
    """A quantization-aware copy of `model`, to fine-tune and export as int8.

    Fake-quantization ops simulate int8 weights and activations in training,
    so fine-tuning recovers what quantization costs. Compile and fit the
    result like any model, then export it with quantization="int8" (no
    calibration data needed: the ranges were learned).

    Weightless layers TFMOT's registry lacks (Multiply, Rescaling, a Keras 3
    model's `x + 3.0`, hard_silu activations: MobileNetV3) get their output
    quantized (`configs`), and nested models are inlined first, so the
    result is one functional model of the same layer names.

    Args:
      model: tf_keras Sequential or functional model, pruning and clustering
        wrappers stripped (`tfcompress.prune.strip`, `strip_clusters`).
      preserve: one of PRESERVE: "sparsity" keeps the zeros of a pruned
        model's Conv2D, DepthwiseConv2D and Dense kernels (PQAT), "clusters"
        keeps a clustered model's shared values (CQAT, zeros too).

    Raises:
      ValueError: wrappers left, already quantization-aware, an unknown
        `preserve`, a recurrent or Embedding layer (`layer_without_qat`), or
        a model TFMOT cannot quantize.
    """
    require_keras2_model(model)
    if preserve not in PRESERVE:
        raise ValueError(f"`preserve` must be one of {PRESERVE}, got {preserve!r}.")
    if _tfmot_wrappers.has_pruning_wrappers(model):
        raise ValueError(f"{model.name!r} still has pruning wrappers: strip them "
                         "first (tfcompress.prune.strip), then quantize.")
    if _tfmot_wrappers.is_clustered(model):
        raise ValueError(f"{model.name!r} still has clustering wrappers: strip them "
                         "first (tfcompress.quantize.strip_clusters).")
    if _tfmot_wrappers.is_quantization_aware(model):
        raise ValueError(f"{model.name!r} is already quantization-aware.")
    if not graph.is_nested_model(model):
        raise ValueError(f"{model.name!r} is a subclassed model: TFMOT quantizes "
                         "Sequential and functional models only.")
    unsupported = layer_without_qat(model)
    if unsupported is not None:
        raise ValueError(
            f"TFMOT has no quantization-aware training for layer "
            f"{unsupported.name!r} ({type(unsupported).__name__}) of {model.name!r}: "
            "recurrent and Embedding layers have none. Quantize the trained model "
            "after training instead (export with quantization='int8', or the "
            "quantize job's mode 'int8').")
    if graph.has_nested_models(model):
        # TFMOT quantizes no model inside a model: call the nested layers in place.
        model = graph.flatten(model, keras.Model)
    try:
        configs.check_no_raw_ops(model)
        annotated = configs.annotate(model)
        with _QUANTIZE.quantize_scope(configs.CUSTOM_OBJECTS):
            return _QUANTIZE.quantize_apply(annotated, _scheme(preserve))
    except (ValueError, RuntimeError, TypeError) as e:
        raise ValueError(f"TFMOT cannot make {model.name!r} quantization-aware: "
                         f"{e}") from e
