"""Baseline: LeNet-300-100 trained alone on MNIST, over several seeds.

The reference every compression benchmark compares against. Prints a
markdown table for BENCHMARKS.md.

  python benchmarks/baseline_training.py --seeds=0,1,2 --epochs=20
"""

import os
import platform
import statistics
import tempfile

from absl import app
from absl import flags

from tfcompress.jobs import artifacts
from tfcompress.jobs import train

import job_runs

_MODEL = flags.DEFINE_string("model", "lenet_300_100", "Model spec.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds, one run each.")
_EPOCHS = flags.DEFINE_integer("epochs", 20, "Training epochs.", lower_bound=1)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in map(int, _SEEDS.value):
            summary = job_runs.run(train.TrainJob, os.path.join(scratch, f"seed{seed}"),
                                   model_spec=_MODEL.value, epochs=_EPOCHS.value,
                                   seed=seed)
            rows.append(summary)
            print(f"seed {seed}: {summary['keras']['test_accuracy']:.2%}", flush=True)

    print(f"\nMachine: {platform.machine()}, {os.cpu_count()} cores; "
          f"model {_MODEL.value}, {_EPOCHS.value} epochs, seeds {_SEEDS.value}\n")
    print("| seed | test errors | Keras acc | TFLite acc | train s | TFLite KiB | gzipped KiB |")
    print("|---|---|---|---|---|---|---|")
    for seed, s in zip(_SEEDS.value, rows):
        size = s["sizes"][artifacts.TFLITE_FILE]
        errors = round((1 - s["keras"]["test_accuracy"]) * s["keras"]["test_examples"])
        print(f"| {seed} | {errors} | {s['keras']['test_accuracy']:.2%} | "
              f"{s['tflite']['test_accuracy']:.2%} | {s['train_seconds']:.0f} | "
              f"{size['bytes'] / 1024:.1f} | {size['gzip_bytes'] / 1024:.1f} |")
    accs = [s["keras"]["test_accuracy"] for s in rows]
    spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
    print(f"\nMean test accuracy {statistics.mean(accs):.2%} (std {spread:.2%}).")


if __name__ == "__main__":
    app.run(main)
