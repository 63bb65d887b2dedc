"""`tfcompress optimize` on one trained model at several budgets (issue 27).

    TFDS_DATA_DIR=../shared/tensorflow_datasets .venv/bin/python \\
        benchmarks/optimize_budgets.py --model=W/lenet --dataset=mnist \\
        --budget=loose:latency_ms=0.004 --budget=tight:latency_ms=0.0015,accuracy_drop=0.5 \\
        --epochs=10 --work_dir=W/opt

Each budget is one `tfcompress optimize` run (in this process, under
WORK_DIR/NAME; a finished run is read back, a stopped one resumed). Prints a
markdown table: whether the run met its targets (verified by its own
interleaved timing against the input file), the chosen file's format,
widths, latency, size and accuracy, and the run's wall time.
"""

import json
import os
import time

from absl import app
from absl import flags

from tfcompress import quiet
quiet.start()  # before TensorFlow loads: its notices hidden, as the command hides them

from tfcompress.jobs import artifacts  # pylint: disable=g-import-not-at-top
from tfcompress.jobs import optimize
from tfcompress.jobs import run_dir

_MODEL = flags.DEFINE_string("model", None, "The trained input model.", required=True)
_DATASET = flags.DEFINE_string("dataset", "mnist", "The dataset (as --dataset).")
_BUDGETS = flags.DEFINE_multi_string(
    "budget", [], "NAME:KEY=VALUE[,KEY=VALUE]: latency_ms, size_kb, accuracy_drop.")
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Recovery epochs of each attempt.")
_THREADS = flags.DEFINE_integer("threads", 1, "LiteRT threads.")
_ATTEMPTS = flags.DEFINE_integer("max_attempts", 3, "Attempts per run at most.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed.")
_WORK_DIR = flags.DEFINE_string("work_dir", "saved_models/optimize_budgets", "Run folders.")
_TRAINING = flags.DEFINE_list(
    "training", ["lr_schedule=cosine"], "Extra settings.Training fields, KEY=VALUE.")

_KEYS = {"latency_ms": "target_latency_ms", "size_kb": "target_size_kb",
         "accuracy_drop": "max_accuracy_drop"}


def _budget(text):
    name, _, spec = text.partition(":")
    targets = {}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key not in _KEYS:
            raise app.UsageError(f"--budget {text!r}: {key!r} is not one of {list(_KEYS)}.")
        targets[_KEYS[key]] = float(value)
    return name, targets


def _value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _run(name, targets):
    out = os.path.join(_WORK_DIR.value, name)
    summary_path = os.path.join(out, artifacts.SUMMARY_FILE)
    started = time.monotonic()
    if not os.path.exists(summary_path):
        extra = dict(item.split("=", 1) for item in _TRAINING.value if item)
        optimize.optimize(
            _MODEL.value, _DATASET.value, output_dir=out, epochs=_EPOCHS.value,
            latency_threads=_THREADS.value, max_attempts=_ATTEMPTS.value, seed=_SEED.value,
            resume=os.path.isdir(run_dir.staging_dir(out)), verbose=2,
            log=lambda line: print(line, flush=True),
            **{k: _value(v) for k, v in extra.items()}, **targets)
    with open(summary_path, encoding="utf-8") as f:
        return json.load(f)["optimize"], time.monotonic() - started


def main(argv):
    del argv
    rows = []
    for text in _BUDGETS.value:
        name, targets = _budget(text)
        own, seconds = _run(name, targets)
        chosen, inputs = own["chosen"], own["inputs"]
        measured, plan = chosen["measured"], chosen["plan"]
        goals = ", ".join(f"{k}={v:g}" for k, v in own["targets"].items() if v is not None)
        widths = "/".join(str(w) for w in plan["widths"].values())
        if plan.get("sparsity"):  # a sparse-encoded file
            widths += ", zeros " + "/".join(f"{s:.0%}" for s in plan["sparsity"].values())
        rows.append(
            f"| {name} | {goals} | {'met' if own['met'] else 'missed: ' + own['miss']} | "
            f"{plan['latency_format']} {widths} | {measured['latency_ms']:.4f} "
            f"({measured['speedup']:.2f}x) | {measured['size_bytes']:,} "
            f"({inputs['float']['size_bytes'] / measured['size_bytes']:.1f}x smaller) | "
            f"{measured['test_accuracy']:.2%} ({measured['accuracy_drop']:.2f}) | "
            f"{len(own['attempts'])} | {own['seconds']:.0f} s ({own['measure_seconds']:.0f} s "
            f"measuring){'' if seconds > 1 else ' (read back)'} |")
    print(f"\nInput float file: {inputs['float']['latency_ms']:.4f} ms, "
          f"{inputs['float']['size_bytes']:,} bytes, {inputs['float']['test_accuracy']:.2%}; "
          f"int8: {inputs['int8']['latency_ms']:.4f} ms, {inputs['int8']['size_bytes']:,} "
          f"bytes, {inputs['int8']['test_accuracy']:.2%} ({_THREADS.value} thread(s)).\n")
    print("| budget | targets | result | chosen file | ms (vs input float) | bytes | "
          "test accuracy (points lost) | attempts | wall time |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    app.run(main)
