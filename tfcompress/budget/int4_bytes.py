"""An int4 file's bytes, predicted from the int8 lookup table.

An int4 file (`export.int4_weights`: int4 Dense weights, int8 others) is
the int8 file less half a byte per Dense weight, less the int8 file's
scale and zero point of each int32 bias value (12 bytes per output
channel: the dynamic-range file keeps biases float, 4 bytes as int32's),
give or take what else the two store differently (activation scales,
QUANTIZE ops): a constant, measured once on the input model's own int4
file (`calibrate`). ai-edge-quantizer packs two
int4 weights a byte: LeNet-300-100's dynamic int8 file less its int4 file
is 133,176 bytes for 266,200 Dense weights (BENCHMARKS.md).

Bytes only: int4 plans are for size budgets without a latency target, so
`predict` (latency) is 0, as an untimed table's.
"""

import dataclasses

from tfcompress import graph
from tfcompress._keras import keras

# An int8 file's float32 scale and int64 zero point of one bias value.
BIAS_QUANTIZATION_BYTES = 12
_WITH_BIAS = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
              keras.layers.DepthwiseConv2D)


def dense_weights(model):
    """The Dense kernels' weights of `model`, nested models' included."""
    return sum(int(layer.kernel.shape.num_elements())
               for _, layer in graph.walk(model, models_only=True)
               if isinstance(layer, keras.layers.Dense))


def biased_channels(model):
    """Output channels of the Dense and convolution layers with a bias."""
    total = 0
    for _, layer in graph.walk(model, models_only=True):
        if isinstance(layer, _WITH_BIAS) and getattr(layer, "use_bias", False):
            total += int(layer.bias.shape.num_elements())
    return total


@dataclasses.dataclass
class Int4Bytes:
    """int4 file bytes as the int8 table's less half a byte per Dense weight.

    Attributes:
      int8_table: the int8 `LatencyTable`, calibrated.
      offset: bytes the int4 file of the calibrating model had beyond that.
    """
    int8_table: object
    offset: float = 0.0

    def calibrate(self, model, measured_bytes):
        """Sets `offset` from `model`'s measured int4 file."""
        self.offset = float(measured_bytes) - self._halved(model)

    def _halved(self, model):
        return (self.int8_table.predict_bytes(model) - dense_weights(model) / 2
                - BIAS_QUANTIZATION_BYTES * biased_channels(model))

    def predict_bytes(self, model):
        return self._halved(model) + self.offset

    def predict(self, model):
        del model
        return 0.0
