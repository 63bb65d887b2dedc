"""The `tfcompress evaluate` job: accuracy, size and latency of a .tflite file."""

import os

from tfcompress import data
from tfcompress import evaluate
from tfcompress._checks import check_positive_int
from tfcompress.runtime import load_interpreter


def check_inputs(*, tflite, dataset, split, batch_sizes, num_threads, data_dir):
    """Raises at once for a missing or unreadable file, a bad split or bad numbers."""
    if not isinstance(tflite, (str, os.PathLike)) or not os.path.isfile(tflite):
        raise FileNotFoundError(f"`tflite` {tflite!r} is not a file: pass the path of a "
                                ".tflite file.")
    load_interpreter(tflite, arg_name="tflite")  # a truncated file fails here, not later
    data.check_split(dataset, split, data_dir)
    for batch_size in batch_sizes:
        check_positive_int("batch_sizes", batch_size)
    check_positive_int("num_threads", num_threads)


def run(*, tflite, dataset="mnist", split="test", batch_sizes=(1, 32), num_threads=2,
        xnnpack=True, repeats=100, data_dir=None, log=print):
    """Evaluates a .tflite file: accuracy on a TFDS split, sizes, latency.

    Latency is the median over `repeats` invokes after a warm-up, at each
    batch size, with `num_threads` threads, with and without XNNPACK (unless
    `xnnpack` is False: then only without).

    Returns:
      {"accuracy", "num_examples", "bytes", "gzip_bytes", "latency": [...]}.
    """
    check_inputs(tflite=tflite, dataset=dataset, split=split, batch_sizes=batch_sizes,
                 num_threads=num_threads, data_dir=data_dir)
    metrics = evaluate.evaluate_tflite(
        tflite, data.load(dataset, split, data_dir=data_dir), xnnpack=xnnpack)
    size = evaluate.artifact_size(tflite)
    log(f"{tflite}: accuracy {metrics['accuracy']:.2%} on {dataset} {split} "
        f"({metrics['num_examples']:,} examples)")
    log(f"Size: {size['bytes'] / 1024:.1f} KiB, gzipped {size['gzip_bytes'] / 1024:.1f} KiB")
    latencies = []
    for delegate in ((True, False) if xnnpack else (False,)):
        for batch_size in batch_sizes:
            result = evaluate.measure_latency(tflite, batch_size=batch_size,
                                              num_threads=num_threads,
                                              xnnpack=delegate, repeats=repeats)
            latencies.append(result)
            log(f"Latency, batch {batch_size}, {num_threads} threads, "
                f"{'XNNPACK' if delegate else 'built-in kernels'}: "
                f"{result['median_ms']:.4f} ms median "
                f"(p10 {result['p10_ms']:.4f}, p90 {result['p90_ms']:.4f})")
    return {"accuracy": metrics["accuracy"], "num_examples": metrics["num_examples"],
            **size, "latency": latencies}
