"""A measured latency as a shrink target: the exported file, timed in LiteRT.

Each candidate (one uniform fraction of every group's channels removed) is
converted (float, or int8 calibrated on seeded noise: latency does not
depend on the calibration values) and timed at batch 1 in LiteRT, 2
threads with XNNPACK (`evaluate.compare_latency`), interleaved with the
unshrunk model's file in the same call: this kind of machine drifts between
speeds for seconds at a time, and timing both together keeps their ratio
honest. The candidate is judged by its own figure, as the target is stated.

`search` times the narrowest model first (if even that is too slow, the
target cannot be met; a near miss is timed again, up to twice), then
bisects the fraction. Latency is not strictly monotone in width (kernels
favour some widths) and every figure is noisy, so the result is a fraction
that met the target, near the least that does.
A file LiteRT cannot run (XNNPACK refuses some degenerate int8 files of
very narrow models) counts as too narrow: the search moves wider.
"""

import numbers

import numpy as np

from tfcompress.evaluate import compare_latency
from tfcompress.evaluate import measure_latency
from tfcompress.export import tflite
from tfcompress.export import validation

FORMATS = ("float", "int8")
# Candidates timed after the narrowest: the fraction to within 1/128.
STEPS = 7
# Per candidate, ROUNDS x 2 files x REPEATS invokes: a fraction of a second
# for a LeNet-300-100 (microseconds per invoke); converting takes as long.
ROUNDS, REPEATS = 5, 300
# Times the narrowest model is timed again when it misses by less than 2x.
_RETRIES = 2
# Halvings that land on widths already timed cost nothing; at most this many.
_MAX_HALVINGS = 20
_CALIBRATION_SAMPLES = 16
_AS = {"float": "a float", "int8": "an int8"}


def check(target_ms, latency_format):
    """Raises ValueError for a target that is not positive, or a bad format."""
    if isinstance(target_ms, bool) or not isinstance(target_ms, numbers.Real) \
            or not target_ms > 0:
        raise ValueError(f"`target_latency_ms` must be a positive number of "
                         f"milliseconds, got {target_ms!r}.")
    if latency_format not in FORMATS:
        raise ValueError(f"`latency_format` must be 'float' or 'int8', got "
                         f"{latency_format!r}.")


def tflite_bytes(model, latency_format):
    """`model` as the TFLite file whose speed counts (float in and out for int8).

    int8 is calibrated on seeded standard-normal noise: signed inputs keep
    every unit of a narrow model active on some example, where noise in
    [0, 1) can leave one at zero, a degenerate range that XNNPACK refuses.
    """
    if latency_format == "float":
        return tflite.convert(model)
    shape, dtype = validation.single_input_spec(model)
    if None in shape:
        raise ValueError(f"`target_latency_ms` needs a fixed input shape to time; "
                         f"{model.name!r} takes {[None, *shape]}.")
    noise = np.random.default_rng(0).standard_normal((_CALIBRATION_SAMPLES, *shape))
    return tflite.convert(model, quantization="int8",
                          representative_data=noise.astype(dtype.as_numpy_dtype),
                          num_samples=_CALIBRATION_SAMPLES)


def search(original, build, widths_of, target_ms, latency_format, round_to=None):
    """The least uniform fraction found whose file runs in `target_ms`.

    Args:
      original: the unshrunk tf_keras model; every candidate is timed with it.
      build: fn(fraction) -> the model with that fraction of every group removed.
      widths_of: fn(fraction) -> hashable widths; equal widths are the same
        model, not converted and timed again.
      target_ms: positive number, batch-1 milliseconds.
      latency_format: "float" or "int8".
      round_to: (multiple, source) the widths are rounded to, named in the
        error when the target cannot be reached (a smaller one may reach it).

    Returns:
      (model, fraction, record), record = {"target_ms", "format",
      "before_ms", "after_ms", "speedup", "trials"}: after_ms is the chosen
      model's median, before_ms the unshrunk model's in the same interleaved
      call, speedup their ratio; trials lists every {"fraction", "before_ms",
      "candidate_ms"} timed ({"fraction", "error"} for a file LiteRT could
      not run: counted as too narrow). Fraction 0 (a copy) if the unshrunk
      model already meets the target.

    Raises:
      ValueError: even the narrowest model (every group at its minimum width)
        is slower than `target_ms`, or no candidate could be run at all.
    """
    check(target_ms, latency_format)
    before_file = tflite_bytes(original, latency_format)
    measure_latency(before_file, batch_size=1, warmup=0, repeats=1)  # runs, or says why
    trials, files = [], {}  # files: fraction -> (model, its file), for re-timing

    def trial(fraction):
        """(model, its timing), or (None, None) if LiteRT cannot run its file."""
        if fraction not in files:
            model = build(fraction)
            files[fraction] = model, tflite_bytes(model, latency_format)
        model, candidate_file = files[fraction]
        try:
            timed = compare_latency({"before": before_file, "candidate": candidate_file},
                                    rounds=ROUNDS, repeats=REPEATS, batch_size=1,
                                    num_threads=2, xnnpack=True)
        except (RuntimeError, ValueError) as e:
            trials.append({"fraction": fraction, "error": str(e)})
            return None, None
        trials.append({"fraction": fraction, "before_ms": timed["before"]["median_ms"],
                       "candidate_ms": timed["candidate"]["median_ms"]})
        return model, trials[-1]

    def meets(row):
        return row is not None and row["candidate_ms"] <= target_ms

    def unreachable(row, what, how=""):
        return ValueError(
            f"`target_latency_ms`={target_ms!r} cannot be reached: {what} measured "
            f"{row['candidate_ms']:.4f} ms{how} (the unshrunk model "
            f"{row['before_ms']:.4f} ms, timed alongside), as {_AS[latency_format]} TFLite "
            "file at batch 1. Give a larger `target_latency_ms`, a smaller `min_width`"
            + (f", a smaller `round_to` (widths were multiples of {round_to[0]}, "
               f"{round_to[1]})" if round_to and round_to[0] > 1 else "")
            + " or fewer `pinned` layers"
            + (", or latency_format='int8'" if latency_format == "float" else "") + ".")

    best = trial(1.0)
    for _ in range(_RETRIES):  # a near miss is timed again: drift can double a figure
        if best[1] is None or meets(best[1]) or best[1]["candidate_ms"] > 2 * target_ms:
            break
        best = trial(1.0)
    if best[1] is not None and not meets(best[1]):
        fastest = min((row for row in trials if "candidate_ms" in row),
                      key=lambda row: row["candidate_ms"])
        raise unreachable(fastest, "the narrowest model",
                          ", with every group at its minimum width")
    if best[1] is None:
        best = None  # the narrowest file would not run: bisect without a bound
    low, high = 0.0, 1.0
    low_widths, high_widths = widths_of(low), widths_of(high)
    if trials[-1].get("before_ms", target_ms + 1) <= target_ms:  # perhaps nothing need go
        unshrunk = trial(0.0)
        if meets(unshrunk[1]):
            best, high = unshrunk, 0.0
    timed = 0
    for _ in range(_MAX_HALVINGS):
        if timed == STEPS or high == 0.0:
            break
        middle = (low + high) / 2
        widths = widths_of(middle)
        if widths in (low_widths, high_widths):  # the same model as a bound
            low, high = (middle, high) if widths == low_widths else (low, middle)
            continue
        candidate = trial(middle)
        timed += 1
        if candidate[1] is None or meets(candidate[1]):  # would not run: too narrow
            high, high_widths = middle, widths
            best = candidate if candidate[1] is not None else best
        else:
            low, low_widths = middle, widths
    if best is None:
        ran = [row for row in trials if "candidate_ms" in row]
        if not ran:
            raise ValueError(
                f"`target_latency_ms`={target_ms!r}: LiteRT could not run the "
                f"{latency_format} file of any candidate ({trials[0]['error']}). Try a "
                "larger `min_width`" + (" or latency_format='float'" if latency_format
                                        == "int8" else "") + ".")
        raise unreachable(min(ran, key=lambda row: row["candidate_ms"]),
                          "the fastest model that ran")
    model, row = best
    return model, row["fraction"], {
        "target_ms": float(target_ms), "format": latency_format,
        "before_ms": row["before_ms"], "after_ms": row["candidate_ms"],
        "speedup": row["before_ms"] / row["candidate_ms"], "trials": trials}
