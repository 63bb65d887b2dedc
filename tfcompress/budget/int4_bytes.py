"""An int4 file's bytes, predicted from the int8 lookup table.

An int4 file (`export.int4_weights`: int4 Dense weights, int8 others,
float activations) is the int8 file less half a byte per Dense weight
(ai-edge-quantizer packs two int4 weights a byte: LeNet-300-100's dynamic
int8 file less its int4 file is 133,176 bytes for 266,200 Dense weights,
BENCHMARKS.md), less some bytes per output channel of each Dense and
convolution (the full-integer file's int32 bias, with a scale and zero
point per value, where the dynamic-range file keeps a float bias; a conv
followed by batch norm gets one when folded), plus a constant (activation
scales, QUANTIZE ops). The constant and the bytes per channel are fitted on
two measured int4 files (`calibrate`): the input model's own and a
narrower one.

Bytes only: int4 plans are for size budgets without a latency target, so
`predict` (latency) is 0, as an untimed table's.
"""

import dataclasses

from tfcompress import graph
from tfcompress._keras import keras
from tfcompress.budget import sparse_plan

# Before a second file is measured: an int8 file's float32 scale and int64
# zero point of one bias value.
BIAS_QUANTIZATION_BYTES = 12


def dense_weights(model):
    """The Dense kernels' weights of `model`, nested models' included."""
    return sum(int(layer.kernel.shape.num_elements())
               for _, layer in graph.walk(model, models_only=True)
               if isinstance(layer, keras.layers.Dense))


def output_channels(model):
    """Output channels of the Dense and convolution layers (each has a bias in
    the file, batch norm folded into those without one), counted as the
    sparse plans count them (`sparse_plan.kernels`)."""
    return sum(channels for shapes in sparse_plan.kernels(model).values()
               for _, _, channels in shapes)


@dataclasses.dataclass
class Int4Bytes:
    """int4 file bytes as the int8 table's, less half a byte per Dense weight and
    `per_channel` bytes per output channel, plus `offset`.

    Attributes:
      int8_table: the int8 `LatencyTable`, calibrated.
      offset: bytes the int4 files have beyond that.
      per_channel: bytes the int4 file saves per output channel.
    """
    int8_table: object
    offset: float = 0.0
    per_channel: float = BIAS_QUANTIZATION_BYTES
    # {table key: (Dense weights, output channels)} of layers counted alone.
    _counted: dict = dataclasses.field(default_factory=dict, repr=False)

    def _counts(self, model):
        """(Dense kernel weights, output channels) of `model`, or of its
        `TableLayer`s (a width search's, `latency_table.layers_at`): each
        counted alone, once per key."""
        if not isinstance(model, list):
            return dense_weights(model), output_channels(model)
        for layer in model:
            if layer.key not in self._counted:
                alone = layer.alone()
                self._counted[layer.key] = (dense_weights(alone), output_channels(alone))
        return tuple(sum(self._counted[layer.key][i] for layer in model) for i in (0, 1))

    def calibrate(self, measured):
        """Fits `offset` (one file) or `offset` and `per_channel` (two or more
        files of different channel counts) by least squares.

        Args:
          measured: [(model, int4 file bytes)].
        """
        rows = [(float(size) - self._halved(model), self._counts(model)[1])
                for model, size in measured]
        channels = {c for _, c in rows}
        if len(channels) > 1:
            mean_c = sum(c for _, c in rows) / len(rows)
            mean_r = sum(r for r, _ in rows) / len(rows)
            slope = (sum((c - mean_c) * (r - mean_r) for r, c in rows)
                     / sum((c - mean_c) ** 2 for _, c in rows))
            self.per_channel = -slope
        self.offset = sum(r + self.per_channel * c for r, c in rows) / len(rows)

    def _halved(self, model):
        return self.int8_table.predict_bytes(model) - self._counts(model)[0] / 2

    def predict_bytes(self, model):
        """`model`'s (a model, or its `TableLayer`s) predicted int4 file bytes."""
        return self._halved(model) - self.per_channel * self._counts(model)[1] + self.offset

    def predict(self, model):
        del model
        return 0.0

    def to_json(self):
        return {"offset": self.offset, "per_channel": self.per_channel}
