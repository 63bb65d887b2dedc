"""A measured latency as a shrink target: the exported file, timed in LiteRT.

Each candidate (one uniform fraction of every group's channels removed) is
converted (float, or int8 calibrated on seeded noise: latency does not
depend on the calibration values) and timed at batch 1 in LiteRT with
XNNPACK, at the thread count the model will run with (2 unless told;
`evaluate.compare_latency`), interleaved with the unshrunk model's file in
the same call: this kind of machine drifts between speeds for seconds at a
time, and timing both together keeps their ratio honest. The candidate is
judged by its own figure, as the target is stated.

`search` times the narrowest model first (if even that is too slow, the
target cannot be met; a near miss is timed again, up to twice), then
bisects the fraction. Latency is not strictly monotone in width (kernels
favour some widths) and every figure is noisy, so the result is a fraction
that met the target, near the least that does.
A file LiteRT cannot run (XNNPACK refuses some degenerate int8 files of
very narrow models) counts as too narrow: the search moves wider.

`grow_back` then widens groups one tile at a time (`growback`): each round
times the unshrunk file, the current widths and every widening in one
interleaved call, at most `GROW_TIMINGS` widenings in all.
"""

import numbers

import numpy as np

from tfcompress.evaluate import compare_latency
from tfcompress.evaluate import measure_latency
from tfcompress.export import tflite
from tfcompress.export import validation
from tfcompress.shrink import growback

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
# Widenings grow-back times in all: 3 groups x 3 tiles for a small CNN, 6 x 5
# for ResNet-8; at most ~30 s at a second per file (converting and timing).
GROW_TIMINGS = 30
# A widening is taken to add at least this share of the current latency:
# below it, two interleaved medians differ by noise alone.
_NOISE_SHARE = 0.02
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


def search(original, build, widths_of, target_ms, latency_format, round_to=None,
           num_threads=2):
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
      num_threads: LiteRT threads every file is timed at.

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
                                    num_threads=num_threads, xnnpack=True)
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
        "num_threads": num_threads,
        "before_ms": row["before_ms"], "after_ms": row["candidate_ms"],
        "speedup": row["before_ms"] / row["candidate_ms"], "trials": trials}


def grow_back(original, build_widths, start, sizes, step, gain_of, record, num_threads=2,
              max_timings=None):
    """`growback.grow` from the widths `search` chose, against the measured target.

    Each round converts every widening's file and times it with the unshrunk
    file and the current widths' in one interleaved call; a widening meets
    the target by its own median there. A file LiteRT cannot run is left
    out of its round (it does not meet the target).

    Args:
      original: the unshrunk tf_keras model.
      build_widths: fn(widths, one per group) -> the model.
      start: the widths `search` chose (they met the target).
      sizes, step, gain_of: as `growback.grow`.
      record: `search`'s record; its target and format are used, and a copy
        is returned with after_ms and speedup of the widths reached, and
        each round's timings added to its trials ({"widths", "before_ms",
        "candidate_ms"} or {"widths", "error"}).
      num_threads: LiteRT threads.
      max_timings: most widenings timed in all; None for `GROW_TIMINGS`.

    Returns:
      (widths, record, steps, judged), as `growback.grow` (cost in ms).
    """
    record = {**record, "trials": list(record["trials"])}
    target_ms, latency_format = record["target_ms"], record["format"]
    before_file = tflite_bytes(original, latency_format)
    files = {}

    def file_of(widths):
        if widths not in files:
            files[widths] = tflite_bytes(build_widths(widths), latency_format)
        return files[widths]

    def assess(current, candidates):
        timing = {"before": before_file, "current": file_of(current)}
        for number, candidate in enumerate(candidates):
            try:  # one file LiteRT refuses must not lose the round's others
                measure_latency(file_of(candidate.widths), batch_size=1, warmup=0,
                                repeats=1)
            except (RuntimeError, ValueError) as e:
                record["trials"].append({"widths": list(candidate.widths),
                                         "error": str(e)})
                continue
            timing[f"widening {number}"] = file_of(candidate.widths)
        timed = compare_latency(timing, rounds=ROUNDS, repeats=REPEATS, batch_size=1,
                                num_threads=num_threads, xnnpack=True)
        costs = [timed[f"widening {n}"]["median_ms"] if f"widening {n}" in timed
                 else None for n in range(len(candidates))]
        for candidate, ms in zip(candidates, costs):
            if ms is not None:
                record["trials"].append({"widths": list(candidate.widths),
                                         "before_ms": timed["before"]["median_ms"],
                                         "candidate_ms": ms})
        unshrunk_ms.append(timed["before"]["median_ms"])
        return (timed["current"]["median_ms"], costs,
                [ms is not None and ms <= target_ms for ms in costs])

    unshrunk_ms = []  # per round
    widths, cost, steps, judged = growback.grow(
        start, sizes, step, gain_of, assess, record["after_ms"],
        min_cost_step=_NOISE_SHARE * record["after_ms"],
        max_candidates=GROW_TIMINGS if max_timings is None else max_timings)
    if steps:  # the last widening's figure, and the unshrunk file's in its round
        before_ms = unshrunk_ms[len(steps) - 1]
        record.update(before_ms=before_ms, after_ms=cost, speedup=before_ms / cost)
    record["grow_back_timings"] = judged
    return widths, record, steps, judged
