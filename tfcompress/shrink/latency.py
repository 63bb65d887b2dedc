"""A measured-latency target: the least shrinking whose TFLite file is fast enough.

Latency is not a count: it is measured. Each candidate (one uniform
fraction of every group's channels removed) is converted to a TFLite file
and timed at batch 1 in LiteRT (`evaluate.compare_latency`: 2 threads,
XNNPACK), interleaved with the unshrunk model's file in the same call. A
shared or virtual machine drifts between speeds for seconds at a time;
timing both together lets the record show a ratio that drift cannot fake,
while the candidate is judged by its own figure, as the target is stated.

The search bisects the fraction: the narrowest model first (if even that is
too slow, the target cannot be met), then a few halvings. Latency is not
strictly monotone in width (kernels favour some widths), so the result is
a fraction that met the target, close to the least that does.
"""

import numbers

from tfcompress.evaluate.latency import compare_latency
from tfcompress.export import tflite
from tfcompress.export import validation

FORMATS = ("float", "int8")
# Measured candidates after the narrowest one: the fraction to within 1/256.
STEPS = 8
# compare_latency settings per candidate: 2 x 5 x 300 invokes, well under a
# second for a LeNet-300-100 (a few microseconds each).
ROUNDS = 5
REPEATS = 300
# Halvings that find only widths already measured cost nothing; stop at this many.
_MAX_HALVINGS = 20
# int8 calibration: seeded noise; the ranges it gives do not change the speed.
_CALIBRATION_SAMPLES = 16


def check(target_latency_ms, latency_format):
    """Raises ValueError for a target that is not a positive number or a bad format."""
    if (isinstance(target_latency_ms, bool) or not isinstance(target_latency_ms, numbers.Real)
            or not target_latency_ms > 0):
        raise ValueError(f"`target_latency_ms` must be a positive number of milliseconds, "
                         f"got {target_latency_ms!r}.")
    if latency_format not in FORMATS:
        raise ValueError(f"`latency_format` must be 'float' or 'int8', got "
                         f"{latency_format!r}.")


def tflite_bytes(model, latency_format):
    """`model` as the TFLite file a device would run: float, or full-integer int8.

    int8 is calibrated on seeded uniform noise of the model's input shape
    (inputs and outputs stay float, as `tfcompress quantize` writes them).
    """
    if latency_format == "float":
        return tflite.convert(model)
    calibration = validation.check_batch(model, num_examples=_CALIBRATION_SAMPLES)
    return tflite.convert(model, quantization="int8", representative_data=calibration,
                          num_samples=_CALIBRATION_SAMPLES)


def _timed(before_file, model, latency_format, fraction):
    """One candidate, timed interleaved with the unshrunk model's file."""
    times = compare_latency({"before": before_file,
                             "candidate": tflite_bytes(model, latency_format)},
                            rounds=ROUNDS, repeats=REPEATS, batch_size=1)
    return {"fraction": fraction, "before_ms": times["before"]["median_ms"],
            "candidate_ms": times["candidate"]["median_ms"]}


def search(original, build, widths_of, target_latency_ms, latency_format):
    """The smallest uniform fraction found whose file runs in `target_latency_ms`.

    Args:
      original: the unshrunk tf_keras model (the reference file of every timing).
      build: fn(fraction) -> the shrunk model.
      widths_of: fn(fraction) -> hashable widths; equal widths, equal model
        (not measured twice).
      target_latency_ms: positive number, batch-1 milliseconds.
      latency_format: "float" or "int8".

    Returns:
      (model, fraction, record): record is {"target_ms", "format",
      "before_ms", "after_ms", "speedup", "trials"}; before_ms and after_ms
      come from the same interleaved call, and trials lists every
      {"fraction", "before_ms", "candidate_ms"} measured.

    Raises:
      ValueError: even the narrowest model (fraction 1: every group at its
        minimum width) is slower than the target.
    """
    check(target_latency_ms, latency_format)
    before_file = tflite_bytes(original, latency_format)
    trials = []

    def trial(fraction):
        model = build(fraction)
        trials.append(_timed(before_file, model, latency_format, fraction))
        return model, trials[-1]

    def meets(row):
        return row["candidate_ms"] <= target_latency_ms

    best = trial(1.0)
    if not meets(best[1]):
        raise ValueError(
            f"`target_latency_ms`={target_latency_ms!r} cannot be reached: with every group "
            f"at its minimum width the {latency_format} TFLite file runs in "
            f"{best[1]['candidate_ms']:.4f} ms at batch 1 (the unshrunk model's in "
            f"{best[1]['before_ms']:.4f} ms, timed alongside). Give a larger "
            "`target_latency_ms`, a smaller `min_width` or fewer `pinned` layers"
            + (", or latency_format='int8'" if latency_format == "float" else "") + ".")
    low, high = 0.0, 1.0
    low_widths, high_widths = widths_of(low), widths_of(high)
    if best[1]["before_ms"] <= target_latency_ms:  # perhaps nothing need go
        unshrunk = trial(0.0)
        if meets(unshrunk[1]):
            best, high = unshrunk, 0.0
    measured = 0
    for _ in range(_MAX_HALVINGS):
        if measured == STEPS or high == 0.0:
            break
        middle = (low + high) / 2
        widths = widths_of(middle)
        if widths == high_widths:
            high = middle
            continue
        if widths == low_widths:
            low = middle
            continue
        candidate = trial(middle)
        measured += 1
        if meets(candidate[1]):
            best, high, high_widths = candidate, middle, widths
        else:
            low, low_widths = middle, widths
    model, row = best
    record = {"target_ms": float(target_latency_ms), "format": latency_format,
              "before_ms": row["before_ms"], "after_ms": row["candidate_ms"],
              "speedup": row["before_ms"] / row["candidate_ms"], "trials": trials}
    return model, row["fraction"], record
