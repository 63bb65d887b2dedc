"""Quantization benchmarks (issue #5), through the real `tfcompress quantize` job.

  python benchmarks/quantization.py --experiment=int8
  python benchmarks/quantization.py --experiment=latency
  python benchmarks/quantization.py --experiment=deep_compression \\
      --pruned=saved_models/benchmarks/pruning/lenet_300_100/cosine/95pct_s0,...

int8: LeNet-300-100 and LeNet-5 (dense, `tfcompress train`, 20 epochs, seed
0; the same dense models the pruning benchmark starts from), converted
post-training to dynamic range, float16 and full-integer int8; TFLite test
accuracy of each against the float TFLite file, and sizes.

latency: batch-1 LiteRT latency, 2 threads, XNNPACK, of those files: each
file timed in turn, several rounds interleaved, so drift on this shared
machine hits every file alike; the median of the rounds' medians.

deep_compression: pruned LeNet-300-100 models (from benchmarks/pruning.py,
one per seed) through int8 and cluster-preserving QAT; gzipped size of the
result against the dense float TFLite file.
"""

import os
import platform
import statistics

from absl import app
from absl import flags

from tfcompress import _atomic
from tfcompress import evaluate
from tfcompress.jobs import artifacts
from tfcompress.jobs import quantize as quantize_job
from tfcompress.jobs import train as train_job

import job_runs

_EXPERIMENT = flags.DEFINE_enum("experiment", "int8",
                                ["int8", "latency", "deep_compression"],
                                "Which benchmark to run.")
_MODELS = flags.DEFINE_list("models", ["lenet_300_100", "lenet5"], "Dense models.")
_DENSE_EPOCHS = flags.DEFINE_integer("dense_epochs", 20, "Dense training epochs.")
_PRUNED = flags.DEFINE_list("pruned", [], "Pruned model folders (deep_compression).")
_DENSE = flags.DEFINE_string(
    "dense", "saved_models/benchmarks/pruning/lenet_300_100/dense",
    "The dense model the pruned ones came from (deep_compression baseline).")
_CLUSTERS = flags.DEFINE_integer("clusters", 16, "Clusters per kernel for cqat.")
_EPOCHS = flags.DEFINE_integer("epochs", 2, "Fine-tuning epochs of cqat (each phase).")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Interleaved latency rounds.")
_REPEATS = flags.DEFINE_integer("repeats", 500, "Timed invokes per round and file.")
_WORK_DIR = flags.DEFINE_string("work_dir", "saved_models/benchmarks",
                                "Where runs are written (reused when complete).")
_OUTPUT = flags.DEFINE_string("output", None, "Write the results as JSON here too.")

_PTQ_MODES = ("dynamic", "float16", "int8")


# What `tfcompress quantize` fine-tunes with by default.
_FINE_TUNING = {"epochs": 2, "learning_rate": 1e-4}


def _dense_dir(model):
    # The pruning benchmark's dense model: trained once, shared.
    return os.path.join(_WORK_DIR.value, "pruning", model,
                        "dense" if _DENSE_EPOCHS.value == 20
                        else f"dense_{_DENSE_EPOCHS.value}ep")


def _ptq_runs():
    runs = {}
    for model in _MODELS.value:
        dense = _dense_dir(model)
        job_runs.run(train_job.TrainJob, dense, model_spec=model,
                     epochs=_DENSE_EPOCHS.value, seed=0)
        for mode in _PTQ_MODES:
            out = os.path.join(_WORK_DIR.value, "quantization", model, mode)
            runs[(model, mode)] = (out, job_runs.run(
                quantize_job.QuantizeJob, out, model=dense, mode=mode, **_FINE_TUNING))
    return runs


def _int8_experiment():
    print("| model | file | TFLite test accuracy | vs float | size | vs float | "
          "gzipped | vs float |")
    print("|---|---|---|---|---|---|---|---|")
    results = {}
    for (model, mode), (_, summary) in _ptq_runs().items():
        ref, out = summary["float_reference"], summary["tflite"]
        if mode == _PTQ_MODES[0]:
            print(f"| {model} | float32 | {ref['test_accuracy']:.2%} | | "
                  f"{ref['bytes'] / 1024:.1f} KiB | 1.0x | "
                  f"{ref['gzip_bytes'] / 1024:.1f} KiB | 1.0x |")
        print(f"| {model} | {mode} | {out['test_accuracy']:.2%} | "
              f"{(out['test_accuracy'] - ref['test_accuracy']) * 100:+.2f} pts | "
              f"{out['bytes'] / 1024:.1f} KiB | {summary['ratios']['bytes']:.2f}x smaller | "
              f"{out['gzip_bytes'] / 1024:.1f} KiB | "
              f"{summary['ratios']['gzip_bytes']:.2f}x smaller |")
        results[f"{model}/{mode}"] = summary
    return results


def _latency_experiment():
    files = {}
    for (model, mode), (out, _) in _ptq_runs().items():
        files.setdefault((model, "float32"), os.path.join(out, "float_reference.tflite"))
        files[(model, mode)] = os.path.join(out, artifacts.TFLITE_FILE)
    measured = evaluate.compare_latency(files, rounds=_ROUNDS.value, batch_size=1,
                                        num_threads=2, repeats=_REPEATS.value, warmup=50)
    medians = {key: result["rounds_ms"] for key, result in measured.items()}
    print(f"\nBatch-1 latency, 2 threads, XNNPACK; median over {_ROUNDS.value} "
          f"interleaved rounds of {_REPEATS.value} invokes each.\n")
    print("| model | file | latency (ms) | rounds' range (ms) | speed-up vs float32 |")
    print("|---|---|---|---|---|")
    results = {}
    for (model, mode), values in medians.items():
        median = statistics.median(values)
        base = statistics.median(medians[(model, "float32")])
        print(f"| {model} | {mode} | {median:.4f} | {min(values):.4f} - "
              f"{max(values):.4f} | {base / median:.2f}x |")
        results[f"{model}/{mode}"] = values
    return results


def _deep_compression_experiment():
    if not _PRUNED.value:
        raise app.UsageError("--pruned: give the pruned model folders to compress.")
    dense = job_runs.run(quantize_job.QuantizeJob,
                         os.path.join(_WORK_DIR.value, "quantization", "dense_reference"),
                         model=_DENSE.value, mode="dynamic", **_FINE_TUNING)["float_reference"]
    print(f"Dense float TFLite: {dense['bytes'] / 1024:.1f} KiB, gzipped "
          f"{dense['gzip_bytes'] / 1024:.1f} KiB, test error "
          f"{1 - dense['test_accuracy']:.2%}.\n")
    print("| pruned model | stage | test error | size | gzipped | gzipped vs dense |")
    print("|---|---|---|---|---|---|")
    results = {}
    for pruned in _PRUNED.value:
        name = os.path.basename(os.path.normpath(pruned))
        stages = {
            "int8": dict(mode="int8", **_FINE_TUNING),
            f"cqat {_CLUSTERS.value} clusters": dict(
                mode="cqat", clusters=_CLUSTERS.value, epochs=_EPOCHS.value, seed=0,
                learning_rate=_FINE_TUNING["learning_rate"]),
        }
        pruned_float = None
        for stage, kwargs in stages.items():
            suffix = f"{kwargs['mode']}{kwargs.get('clusters', '')}"
            out = os.path.join(_WORK_DIR.value, "quantization", "deep_compression",
                               f"{name}_{suffix}")
            summary = job_runs.run(quantize_job.QuantizeJob, out, model=pruned, **kwargs)
            if pruned_float is None:
                pruned_float = summary["float_reference"]
                print(f"| {name} | pruned, float | {1 - pruned_float['test_accuracy']:.2%} "
                      f"| {pruned_float['bytes'] / 1024:.1f} KiB | "
                      f"{pruned_float['gzip_bytes'] / 1024:.1f} KiB | "
                      f"{dense['gzip_bytes'] / pruned_float['gzip_bytes']:.1f}x |")
            tflite = summary["tflite"]
            print(f"| {name} | {stage} | {1 - tflite['test_accuracy']:.2%} | "
                  f"{tflite['bytes'] / 1024:.1f} KiB | {tflite['gzip_bytes'] / 1024:.1f} KiB "
                  f"| {dense['gzip_bytes'] / tflite['gzip_bytes']:.1f}x |")
            results[f"{name}/{stage}"] = summary
    return {"dense": dense, "runs": results}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores\n")
    result = {"int8": _int8_experiment, "latency": _latency_experiment,
              "deep_compression": _deep_compression_experiment}[_EXPERIMENT.value]()
    if _OUTPUT.value:
        _atomic.write_json(_OUTPUT.value, result)


if __name__ == "__main__":
    app.run(main)
