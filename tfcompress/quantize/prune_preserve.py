"""Sparsity-preserving QAT (PQAT) that keeps every pruned kernel's zeros.

TFMOT 0.8.1's PQAT scheme multiplies a kernel by its zero mask inside the
kernel's fake-quant op, so the int8 file keeps the zeros. It leaves two
kinds of pruned kernels unmasked, and their zeros drift while training:

- DepthwiseConv2D kernels: its registry turns preservation off for them,
  since TFMOT's pruning never prunes one (tfcompress's does).
- The kernel of a Conv2D, DepthwiseConv2D or Dense layer followed by a ReLU
  layer (squeeze-and-excite blocks): TFMOT's `LayerReLUQuantize` transform
  gives that layer `NoOpQuantizeConfig`, so its kernel trains in float; and
  a layer feeding a Concatenate gets the plain registry's config.

In 4 training steps, a pruned MobileNetV3Small lost 4,406 of the 23,292
zeros of its depthwise kernels and 25,750 of the 69,568 of its first
squeeze-and-excite convolutions (tests/test_architectures.py).
`PrunePreserveScheme` gives those kernels TFMOT's own masking quantizers;
only the choice of which layers get them is written here.
"""

import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (
    prune_preserve_quantize_registry as tfmot_registry)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_configs)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_layout_transform)

from tfcompress._keras import keras

_BaseRegistry = tfmot_registry.Default8bitPrunePreserveQuantizeRegistry


class _Registry(_BaseRegistry):
    """TFMOT's PQAT registry, DepthwiseConv2D kernels masked too.

    The default 8-bit registry quantizes them per channel, as it does Conv2D
    kernels: they get the same masking quantizer.
    """

    _LAYERS_CONFIG_MAP = {
        **_BaseRegistry._LAYERS_CONFIG_MAP,
        keras.layers.DepthwiseConv2D: tfmot_registry._PrunePreserveInfo(  # noqa: SLF001
            ["depthwise_kernel"], ["Default8BitConvQuantizeConfig"]),
    }
    _DISABLE_PRUNE_PRESERVE = frozenset()

    def masks(self, layer):
        """Whether this registry masks a kernel of `layer`."""
        return self.supports(layer) and bool(self.get_sparsity_preservable_weights(layer))


class _LayoutTransform(default_8bit_quantize_layout_transform.Default8BitQuantizeLayoutTransform):
    """TFMOT's transforms, then masks for the kernels of layers they configured."""

    def apply(self, model, layer_quantize_map):
        model, layer_quantize_map = super().apply(model, layer_quantize_map)
        registry = _Registry()
        for layer in model.layers:
            entry = layer_quantize_map.get(layer.name, {})
            config = entry.get("quantize_config")
            if config is None or not registry.masks(layer):
                continue  # the registry's config, masked where it should be
            if isinstance(config, default_8bit_quantize_configs.NoOpQuantizeConfig):
                # Before a ReLU: the registry's masked kernel, and still no
                # fake-quant between the layer and its ReLU (TFMOT's intent).
                config = registry.get_quantize_config(layer)
                config.activation_attrs = []
                entry["quantize_config"] = config
            else:  # a Concatenate's input: TFMOT's config, kernel masked
                registry.apply_sparsity_preserve_quantize_config(layer, config)
        return model, layer_quantize_map


class PrunePreserveScheme(tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme):
    """TFMOT's PQAT scheme, every pruned Conv2D, DepthwiseConv2D and Dense
    kernel masked."""

    def get_layout_transformer(self):
        return _LayoutTransform()

    def get_quantize_registry(self):
        return _Registry()
