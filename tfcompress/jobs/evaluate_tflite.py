"""The `tfcompress evaluate` job: accuracy, size and latency of a .tflite file."""

import dataclasses
import os

from tfcompress import data
from tfcompress import evaluate
from tfcompress._checks import check_positive_int
from tfcompress.jobs import options
from tfcompress.jobs import runner
from tfcompress.runtime import TFLiteRunner
from tfcompress.runtime import load_interpreter
from tfcompress.runtime import variable_tensors

# What `evaluate_tflite` adds for a 2-class model.
_BINARY_KEYS = ("precision", "recall", "f1", "positive_class")


@dataclasses.dataclass
class EvaluateJob(runner.Job):
    """Accuracy of a .tflite file on `split`, its sizes and latency; writes nothing.

    Images come as the file takes them, normalized as the run's settings say
    (the training run's). Latency: the median of `repeats` invokes at each of
    `batch_sizes` (only the file's own if it is fixed), `num_threads` threads,
    with XNNPACK (unless `xnnpack` is False) and without. A file that keeps
    state (variable tensors) runs as a device runs it, and is warned of.

    `runner.execute` returns {"accuracy", "num_examples", "bytes", "gzip_bytes",
    "latency", "variable_tensors"}, and for 2 classes "precision", "recall",
    "f1" and "positive_class".
    """

    tflite: str = options.option(help="The .tflite file.")
    split: str = options.option(
        None, "Split to measure accuracy on (default: the dataset's test split: test, or "
        "held_out with --hold_out).")
    batch_sizes: tuple = options.option((1, 32), "Latency batch sizes.")
    num_threads: int = options.option(2, "LiteRT threads.", lower_bound=1)
    xnnpack: bool = options.option(
        True, "Also run with LiteRT's default XNNPACK delegate (the accuracy uses it); "
        "--noxnnpack for files only the built-in kernels run.")
    repeats: int = options.option(100, "Timed invokes per latency figure.", lower_bound=1)
    name = "evaluate"
    writes_output = False

    def measured_split(self, training):
        """`split`, else the dataset's default test split."""
        if self.split is not None:
            return self.split
        return data.default_splits(training.dataset, training.data_dir)["test"]

    def splits(self, training):
        # The training split only for its mean and std.
        return {"split": self.measured_split(training),
                **({"train_split": training.train_split}
                   if training.normalize == "standard" else {})}

    def __post_init__(self):
        """Raises at once for a missing or unreadable file, or bad numbers."""
        if not isinstance(self.tflite, (str, os.PathLike)) or not os.path.isfile(
                self.tflite):
            raise FileNotFoundError(f"`tflite` {self.tflite!r} is not a file: pass the "
                                    "path of a .tflite file.")
        load_interpreter(self.tflite, arg_name="tflite")  # a truncated file fails here
        for batch_size in self.batch_sizes:
            check_positive_int("batch_sizes", batch_size)
        check_positive_int("num_threads", self.num_threads)

    def check(self, run):
        """Raises unless the file reads the dataset's examples (shape, vocabulary)."""
        tflite, dataset = self.tflite, run.training.dataset
        takes = TFLiteRunner(tflite, arg_name="tflite").input_shape
        source = data.open_source(dataset, run.training.data_dir)
        if source.is_text:
            data.check_model_vocabulary(tflite, source.vocabulary, dataset, "tflite")
        reason = data.source_mismatch(source, takes)
        if reason:
            kind = "audio clips" if getattr(source, "is_audio", False) else "images"
            raise ValueError(f"`tflite` {os.fspath(tflite)!r} takes inputs of shape "
                             f"{takes}, but dataset {dataset!r} has {kind} of shape "
                             f"{source.image_shape} ({reason}): pass the dataset the model "
                             "was trained on.")
        run.input_shape = takes  # the images are given in the file's shape

    def finish(self, run):
        tflite, log, batch_sizes = self.tflite, run.log, list(self.batch_sizes)
        state = variable_tensors(tflite)
        if state:
            log(f"Warning: {tflite} keeps state between invokes in {len(state)} variable "
                f"tensors ({', '.join(state[:2])}{', ...' if len(state) > 2 else ''}), so "
                "an input's answer depends on the inputs run before it. It is evaluated "
                "as a device runs it, never reset: the accuracy below is what a device "
                "gets. A fused LSTM does this; export the model again with tfcompress, "
                "which writes recurrent layers stateless.")
        split = self.measured_split(run.training)
        metrics = evaluate.evaluate_tflite(tflite, run.load(split), xnnpack=self.xnnpack)
        size = evaluate.artifact_size(tflite)
        log(f"{tflite}: accuracy {metrics['accuracy']:.2%} on {run.training.dataset} "
            f"{split} ({metrics['num_examples']:,} examples)")
        binary = {key: metrics[key] for key in _BINARY_KEYS if key in metrics}
        if binary:
            log(f"Positive class {binary['positive_class']} (the minority class): "
                f"precision {binary['precision']:.2%}, recall {binary['recall']:.2%}, "
                f"F1 {binary['f1']:.3f}")
        log(f"Size: {size['bytes'] / 1024:.1f} KiB, gzipped "
            f"{size['gzip_bytes'] / 1024:.1f} KiB")
        fixed = TFLiteRunner(tflite, arg_name="tflite").fixed_batch
        if fixed is not None and any(batch != fixed for batch in batch_sizes):
            log(f"The file takes {fixed} example(s) per invoke (a recurrent model's): "
                f"latency at batch {fixed} only.")
            batch_sizes = [fixed]
        latencies = []
        for delegate in ((True, False) if self.xnnpack else (False,)):
            for batch_size in batch_sizes:
                result = evaluate.measure_latency(tflite, batch_size=batch_size,
                                                  num_threads=self.num_threads,
                                                  xnnpack=delegate, repeats=self.repeats)
                latencies.append(result)
                log(f"Latency, batch {batch_size}, {self.num_threads} threads, "
                    f"{'XNNPACK' if delegate else 'built-in kernels'}: "
                    f"{result['median_ms']:.4f} ms median "
                    f"(p10 {result['p10_ms']:.4f}, p90 {result['p90_ms']:.4f})")
        return {"accuracy": metrics["accuracy"], "num_examples": metrics["num_examples"],
                **binary, **size, "latency": latencies, "variable_tensors": state}

