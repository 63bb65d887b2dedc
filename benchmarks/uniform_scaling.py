"""`tfcompress optimize` against uniform width scaling at equal latency (issue 27).

    TFDS_DATA_DIR=../shared/tensorflow_datasets .venv/bin/python \\
        benchmarks/uniform_scaling.py --optimize_dir=W/opt/medium --work_dir=W/uniform

The baseline AMC and NetAdapt compare with: every layer's width times one
factor. Here it is a `shrink` run of the same input model with a latency
target (the optimize run's chosen file, timed again here first: this
machine's speed drifts between runs), `search=uniform`
(one fraction removed from every group, found by shrink's own timed
bisection), recovering by distillation for the same epochs as each optimize
attempt, from the same teacher; then an int8 `quantize` run if the chosen
file is int8. Both files are then timed in one interleaved call (7 rounds,
batch 1, the optimize run's threads) and their test accuracy is read from
their jobs' summaries. Prints one markdown row. Each job resumes or is read
back when done.
"""

import json
import os

from absl import app
from absl import flags

from tfcompress import evaluate
from tfcompress.jobs import artifacts
from tfcompress.jobs import quantize
from tfcompress.jobs import run_dir
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import shrink

_OPTIMIZE_DIR = flags.DEFINE_string("optimize_dir", None, "A finished optimize run.",
                                    required=True)
_WORK_DIR = flags.DEFINE_string("work_dir", "saved_models/uniform_scaling",
                                "Folder of the baseline's jobs.")
_ROUNDS = 7


def _read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _run(job, training, folder):
    """The job's summary: read back if finished, else run (resuming a stopped run)."""
    out = os.path.join(_WORK_DIR.value, folder)
    summary_path = os.path.join(out, artifacts.SUMMARY_FILE)
    if not os.path.exists(summary_path):
        runner.run(job, training.replace(output_dir=out,
                                         resume=os.path.isdir(run_dir.staging_dir(out))),
                   log=lambda line: print(line, flush=True))
    return _read(summary_path), os.path.join(out, artifacts.TFLITE_FILE)


def main(argv):
    del argv
    summary = _read(os.path.join(_OPTIMIZE_DIR.value, artifacts.SUMMARY_FILE))
    config, own = summary["config"], summary["optimize"]
    chosen = own["chosen"]
    fmt = chosen["plan"]["latency_format"]
    if fmt not in ("float", "int8") or chosen["plan"].get("sparsity"):
        raise app.UsageError(f"The chosen file is {fmt}"
                             f"{' and sparse' if chosen['plan'].get('sparsity') else ''}: "
                             "uniform scaling is compared with dense float or int8 files.")
    # The optimize run's own data and training settings, its attempt's epochs.
    same = ("dataset", "data_dir", "audio_length", "hold_out", "seed", "batch_size",
            "learning_rate", "lr_schedule", "optimizer", "augment", "normalize",
            "train_split", "val_split", "test_split")
    training = settings.Training(epochs=chosen.get("epochs") or config["epochs"], verbose=2,
                                 output_dir=_WORK_DIR.value,
                                 **{key: config[key] for key in same if key in config})
    optimized = os.path.join(_OPTIMIZE_DIR.value, artifacts.TFLITE_FILE)
    target_ms = evaluate.compare_latency(
        {"optimize": optimized}, rounds=_ROUNDS, batch_size=1,
        num_threads=config["latency_threads"])["optimize"]["median_ms"]
    print(f"The optimize run's file, timed again: {target_ms:.4f} ms (its run measured "
          f"{chosen['measured']['latency_ms']:.4f} ms).", flush=True)
    shrunk, path = _run(shrink.ShrinkJob(
        model=config["model"], teacher=config.get("teacher"),
        target_latency_ms=target_ms, search="uniform",
        latency_format=fmt, latency_threads=config["latency_threads"]), training, "shrink")
    accuracy = shrunk["tflite"]["test_accuracy"]
    if fmt == "int8":
        quantized, path = _run(quantize.QuantizeJob(
            model=os.path.join(_WORK_DIR.value, "shrink"), mode="int8"), training, "int8")
        accuracy = quantized["tflite"]["test_accuracy"]
    files = {"optimize": optimized, "uniform": path}
    timed = evaluate.compare_latency(files, rounds=_ROUNDS, batch_size=1,
                                     num_threads=config["latency_threads"])
    widths = ", ".join(f"{k} {v}" for k, v in shrunk["shrink"]["widths"].items())
    print("| file | widths | ms | bytes | test accuracy |")
    print("|---|---|---|---|---|")
    print(f"| optimize (attempt {chosen['number']}, {fmt}) | "
          + ", ".join(f"{k} {v}" for k, v in chosen["plan"]["widths"].items())
          + f" | {timed['optimize']['median_ms']:.4f} | "
          f"{os.path.getsize(files['optimize']):,} | "
          f"{chosen['measured']['test_accuracy']:.2%} |")
    print(f"| uniform scaling ({fmt}) | {widths} | {timed['uniform']['median_ms']:.4f} | "
          f"{os.path.getsize(path):,} | {accuracy:.2%} |")
    print(f"\noptimize - uniform: "
          f"{100 * (chosen['measured']['test_accuracy'] - accuracy):+.2f} points at "
          f"{timed['optimize']['median_ms'] / timed['uniform']['median_ms']:.2f}x the "
          "uniform file's latency.")


if __name__ == "__main__":
    app.run(main)
