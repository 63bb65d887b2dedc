"""The `tfcompress evaluate` job: accuracy, size and latency of a .tflite file."""

import os

from tfcompress import data
from tfcompress import evaluate
from tfcompress._checks import check_positive_int
from tfcompress.runtime import TFLiteRunner
from tfcompress.runtime import load_interpreter
from tfcompress.runtime import variable_tensors

# What `evaluate_tflite` adds for a 2-class model.
_BINARY_KEYS = ("precision", "recall", "f1", "positive_class")


def data_options(tflite, dataset, *, normalize="unit", train_split="train[5000:]",
                 data_dir=None):
    """`data.load`'s image shape and normalization for the inputs of `tflite`.

    Raises:
      ValueError: the dataset's images do not convert to the file's inputs.
    """
    takes = TFLiteRunner(tflite, arg_name="tflite").input_shape
    source = data.open_source(dataset, data_dir)
    if source.is_text:
        data.check_model_vocabulary(tflite, source.vocabulary, dataset, "tflite")
    reason = data.shape_mismatch(source.image_shape, takes, source.resizable)
    if reason:
        raise ValueError(f"`tflite` {os.fspath(tflite)!r} takes inputs of shape {takes}, "
                         f"but dataset {dataset!r} has images of shape "
                         f"{source.image_shape} ({reason}): pass the dataset the model "
                         "was trained on.")
    return {"image_shape": takes, **data.normalization(
        dataset, train_split, normalize, data_dir=data_dir, image_shape=takes)}


def check_inputs(*, tflite, dataset, split, batch_sizes, num_threads, data_dir,
                 normalize="unit", train_split="train[5000:]"):
    """Raises at once for a missing or unreadable file, a bad split or bad numbers.

    Returns:
      The `data_options` of the file.
    """
    if not isinstance(tflite, (str, os.PathLike)) or not os.path.isfile(tflite):
        raise FileNotFoundError(f"`tflite` {tflite!r} is not a file: pass the path of a "
                                ".tflite file.")
    load_interpreter(tflite, arg_name="tflite")  # a truncated file fails here, not later
    data.check_split(dataset, split, data_dir)
    if normalize == "standard":
        data.check_split(dataset, train_split, data_dir, "train_split")
    for batch_size in batch_sizes:
        check_positive_int("batch_sizes", batch_size)
    check_positive_int("num_threads", num_threads)
    return data_options(tflite, dataset, normalize=normalize, train_split=train_split,
                        data_dir=data_dir)


def run(*, tflite, dataset="mnist", split="test", batch_sizes=(1, 32), num_threads=2,
        xnnpack=True, repeats=100, data_dir=None, normalize="unit",
        train_split="train[5000:]", log=print):
    """Evaluates a .tflite file: accuracy on a split, sizes, latency.

    The images are given as the file takes them (`data/shapes.py`) and
    normalized as in training: `normalize` as the training run's, and for
    "standard" the mean and std of its `train_split`.

    Latency is the median over `repeats` invokes after a warm-up, at each
    batch size, with `num_threads` threads, with and without XNNPACK (unless
    `xnnpack` is False: then only without).

    The file runs as a device runs it, with nothing between invokes: a
    file that keeps state (variable tensors) is evaluated so, and warned of.

    Returns:
      {"accuracy", "num_examples", "bytes", "gzip_bytes", "latency": [...],
      "variable_tensors": [...]}; for a 2-class model also "precision",
      "recall", "f1" and "positive_class" (`evaluate.accuracy.binary_metrics`).
    """
    options = check_inputs(tflite=tflite, dataset=dataset, split=split,
                           batch_sizes=batch_sizes, num_threads=num_threads,
                           data_dir=data_dir, normalize=normalize,
                           train_split=train_split)
    state = variable_tensors(tflite)
    if state:
        log(f"Warning: {tflite} keeps state between invokes in {len(state)} variable "
            f"tensors ({', '.join(state[:2])}{', ...' if len(state) > 2 else ''}), so "
            "an input's answer depends on the inputs run before it. It is evaluated as "
            "a device runs it, never reset: the accuracy below is what a device gets. "
            "A fused LSTM does this; export the model again with tfcompress, which "
            "writes recurrent layers stateless.")
    metrics = evaluate.evaluate_tflite(
        tflite, data.load(dataset, split, data_dir=data_dir, **options), xnnpack=xnnpack)
    size = evaluate.artifact_size(tflite)
    log(f"{tflite}: accuracy {metrics['accuracy']:.2%} on {dataset} {split} "
        f"({metrics['num_examples']:,} examples)")
    binary = {key: metrics[key] for key in _BINARY_KEYS if key in metrics}
    if binary:
        log(f"Positive class {binary['positive_class']} (the minority class): "
            f"precision {binary['precision']:.2%}, recall {binary['recall']:.2%}, "
            f"F1 {binary['f1']:.3f}")
    log(f"Size: {size['bytes'] / 1024:.1f} KiB, gzipped {size['gzip_bytes'] / 1024:.1f} KiB")
    fixed = TFLiteRunner(tflite, arg_name="tflite").fixed_batch
    if fixed is not None and any(size != fixed for size in batch_sizes):
        log(f"The file takes {fixed} example(s) per invoke (a recurrent model's): "
            f"latency at batch {fixed} only.")
        batch_sizes = [fixed]
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
            **binary, **size, "latency": latencies, "variable_tensors": state}
