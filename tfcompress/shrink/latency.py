"""A measured latency as a shrink target: the exported file, timed in LiteRT.

Each candidate is converted (float, or int8 calibrated on seeded noise:
latency does not depend on the calibration values) and timed at batch 1
against the unshrunk model's file in interleaved rounds, since this kind of
machine drifts between speeds for seconds at a time.
"""

import numpy as np

from tfcompress.evaluate import compare_latency
from tfcompress.export import tflite

FORMATS = ("float", "int8")
# Few rounds of few invokes: a search step should take a second or two.
_ROUNDS, _REPEATS = 3, 200


def check(target_ms, latency_format):
    if isinstance(target_ms, bool) or not isinstance(target_ms, (int, float)) \
            or not target_ms > 0:
        raise ValueError(f"`target_latency_ms` must be a positive number of "
                         f"milliseconds, got {target_ms!r}.")
    if latency_format not in FORMATS:
        raise ValueError(f"`latency_format` must be 'float' or 'int8', got "
                         f"{latency_format!r}.")


def tflite_bytes(model, latency_format):
    """`model` as the TFLite file whose speed counts."""
    if latency_format == "float":
        return tflite.convert(model)
    shape = tuple(model.input_shape[1:])
    noise = np.random.default_rng(0).uniform(size=(32, *shape)).astype(np.float32)
    return tflite.convert(model, quantization="int8", representative_data=noise)


class Timer:
    """Times candidates of one model against that model's own file."""

    def __init__(self, original, latency_format):
        self.latency_format = latency_format
        self.original = tflite_bytes(original, latency_format)
        self.measured = []  # (candidate ms, original ms) of every timing

    def __call__(self, candidate):
        """Median batch-1 milliseconds of `candidate`'s file."""
        timed = compare_latency(
            {"original": self.original,
             "candidate": tflite_bytes(candidate, self.latency_format)},
            rounds=_ROUNDS, batch_size=1, num_threads=2, repeats=_REPEATS)
        ms = timed["candidate"]["median_ms"]
        self.measured.append((ms, timed["original"]["median_ms"]))
        return ms
