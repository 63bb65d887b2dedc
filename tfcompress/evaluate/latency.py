"""Inference latency of a .tflite file in LiteRT, as a device would run it."""

import statistics
import time

import numpy as np

from tfcompress._checks import check_positive_int
from tfcompress.runtime import TFLiteRunner


def measure_latency(tflite_model, *, batch_size=1, num_threads=2, xnnpack=True,
                    warmup=20, repeats=200, inputs=None, seed=0):
    """Milliseconds per `invoke` of a .tflite model, after a warm-up.

    Times only the interpreter's invoke on a fixed batch (set once), so the
    figure is the model's compute, not Python's copying. Report the median:
    the spread on a shared machine is wide.

    Args:
      tflite_model: path of a .tflite file, or its bytes.
      batch_size: examples per invoke.
      num_threads: LiteRT threads.
      xnnpack: with LiteRT's default XNNPACK delegate.
      warmup: untimed invokes first (delegate set-up, caches).
      repeats: timed invokes.
      inputs: float batch to run ([batch_size, ...]); seeded uniform noise
        in [0, 1) when None.

    Returns:
      {"median_ms", "p10_ms", "p90_ms", "mean_ms", "batch_size",
       "num_threads", "xnnpack", "repeats"}.
    """
    for name, value in (("batch_size", batch_size), ("num_threads", num_threads),
                        ("repeats", repeats)):
        check_positive_int(name, value)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"`warmup` must be an int >= 0, got {warmup!r}.")
    runner = TFLiteRunner(tflite_model, num_threads=num_threads, xnnpack=xnnpack,
                          arg_name="tflite_model")
    if runner.fixed_batch not in (None, batch_size):
        raise ValueError(f"`batch_size` {batch_size}: this file takes batches of "
                         f"{runner.fixed_batch} example(s) per invoke only (a recurrent "
                         f"model's file), so time it at batch_size={runner.fixed_batch}.")
    if inputs is None:
        rng = np.random.default_rng(seed)
        inputs = rng.uniform(size=(batch_size, *runner.input_shape)).astype(np.float32)
    runner(inputs)  # resizes, allocates and sets the input once
    interpreter = runner.interpreter
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000)
    deciles = statistics.quantiles(times, n=10) if len(times) > 1 else times * 9
    return {"median_ms": statistics.median(times), "p10_ms": deciles[0],
            "p90_ms": deciles[-1], "mean_ms": statistics.fmean(times),
            "batch_size": batch_size, "num_threads": num_threads,
            "xnnpack": xnnpack, "repeats": repeats}


def compare_latency(files, *, rounds=5, progress=None, file_options=None, **options):
    """Latency of several .tflite files, measured in interleaved rounds.

    Each round times every file in turn (`measure_latency` with `options`);
    a file's figure is the median of its rounds' medians. On a shared or
    virtual machine the speed drifts between modes for seconds at a time
    (2-thread runs here swing between about 0.012 and 0.021 ms for the same
    file); interleaving exposes every file to the same drift, so ratios
    between files stay honest.

    Args:
      files: {name: path or bytes}.
      rounds: positive int.
      progress: optional callable run after each measurement (a progress bar).
      file_options: {name: {option: value}} overriding `options` for one file
        (e.g. xnnpack=False for a file XNNPACK cannot run).
      **options: `measure_latency` arguments (batch_size, num_threads, ...).

    Returns:
      {name: {"median_ms", "rounds_ms": [per-round medians], **settings}}.
    """
    check_positive_int("rounds", rounds)
    file_options = file_options or {}
    unknown = sorted(set(file_options) - set(files))
    if unknown:
        raise ValueError(f"`file_options` must name files of `files` ({sorted(files)}), "
                         f"got {unknown!r}.")
    results = {name: [] for name in files}
    for round_index in range(rounds):
        for name, path in files.items():
            results[name].append(measure_latency(
                path, seed=round_index, **{**options, **file_options.get(name, {})}))
            if progress:
                progress()
    summary = {}
    for name, runs in results.items():
        medians = [run["median_ms"] for run in runs]
        settings = {k: runs[0][k] for k in ("batch_size", "num_threads", "xnnpack",
                                             "repeats")}
        summary[name] = {"median_ms": statistics.median(medians), "rounds_ms": medians,
                         **settings}
    return summary
