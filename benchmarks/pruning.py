"""Pruning benchmarks against Han et al. 2015, through the real jobs.

  python benchmarks/pruning.py --model=lenet_300_100 --seeds=0,1,2
  python benchmarks/pruning.py --model=lenet5 --seeds=0,1,2
  python benchmarks/pruning.py --lr_schedule=cosine --dense_epochs=40 \
      --teacher=saved_models/benchmarks/hinton_teacher_60ep_b128_jitter2_cosine.keras

Trains the dense model once (seed 0, through `tfcompress train`), then for
each seed prunes it with `tfcompress prune` in three ways, all with the same
epochs, data, optimizer and learning-rate schedule: to --sparsity alone (Han
parity), and to --beyond_sparsity without and with distillation from
--teacher (default: the dense model itself), with sensitivity-planned
per-layer targets if --sensitivity. Every row comes from the same run;
sizes are gzipped float TFLite files, compared with the dense one.
"""

import os
import statistics

from absl import app
from absl import flags

from tfcompress import _atomic
from tfcompress.jobs import artifacts
from tfcompress.jobs import prune as prune_job
from tfcompress.jobs import train as train_job

import job_runs

_MODEL = flags.DEFINE_string("model", "lenet_300_100", "Zoo model spec to prune.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Pruning seeds.")
_DENSE_EPOCHS = flags.DEFINE_integer("dense_epochs", 20, "Dense training epochs.")
_EPOCHS = flags.DEFINE_integer("epochs", 20, "Pruning + fine-tuning epochs.")
_SPARSITY = flags.DEFINE_float("sparsity", 0.92, "Han parity target.")
_BEYOND = flags.DEFINE_float("beyond_sparsity", 0.95, "The 'beyond Han' target.")
_LR_SCHEDULE = flags.DEFINE_enum("lr_schedule", "constant", ["constant", "cosine"],
                                 "Learning-rate schedule of every run.")
_TEACHER = flags.DEFINE_string("teacher", None, "Teacher of the KD row (default: the "
                               "dense model).")
_TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "Distillation temperature.")
_SENSITIVITY = flags.DEFINE_bool("sensitivity", True,
                                 "Sensitivity-planned per-layer targets in the KD row.")
_DENSE_MODEL = flags.DEFINE_string(
    "dense_model", None, "Prune this trained model (a job folder, e.g. a distilled "
    "one) instead of training --model.")
_VARIANTS = flags.DEFINE_list("variants", ["parity", "beyond", "kd"],
                              "Rows to run: parity (--sparsity), parity_kd (with KD), "
                              "beyond (--beyond_sparsity), kd (--beyond_sparsity with KD).")
_WORK_DIR = flags.DEFINE_string("work_dir", "saved_models/benchmarks/pruning",
                                "Where runs are written (reused when complete).")
_OUTPUT = flags.DEFINE_string("output", None, "Write the results as JSON here too.")


def _summary(path):
    import json  # pylint: disable=g-import-not-at-top

    with open(os.path.join(path, artifacts.SUMMARY_FILE), encoding="utf-8") as f:
        return json.load(f)


def _errors(summary):
    return round((1 - summary["keras"]["test_accuracy"]) * summary["keras"]["test_examples"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    schedule = _LR_SCHEDULE.value
    # Earlier layouts (constant rate) keep their folders; others get their own.
    root = os.path.join(_WORK_DIR.value, _MODEL.value,
                        *(() if schedule == "constant" else (schedule,)))
    if _DENSE_MODEL.value:
        dense_dir = _DENSE_MODEL.value
        root = os.path.join(root, os.path.basename(os.path.normpath(dense_dir)))
        dense = _summary(dense_dir)
    else:
        dense_dir = os.path.join(root, f"dense_{_DENSE_EPOCHS.value}ep"
                                 if _DENSE_EPOCHS.value != 20 else "dense")
        dense = job_runs.run(train_job.TrainJob, dense_dir, model_spec=_MODEL.value,
                             epochs=_DENSE_EPOCHS.value, seed=0, lr_schedule=schedule)
    print(f"dense: {_errors(dense)} errors", flush=True)
    teacher = _TEACHER.value or dense_dir
    kd_name = (f"{_BEYOND.value:.0%} + KD{' + sensitivity' if _SENSITIVITY.value else ''}"
               f"{' (' + os.path.basename(teacher) + ')' if _TEACHER.value else ''}")
    variants = {
        f"{_SPARSITY.value:.0%}": ("parity", dict(sparsity=_SPARSITY.value)),
        kd_name.replace(f"{_BEYOND.value:.0%}", f"{_SPARSITY.value:.0%}"): (
            "parity_kd", dict(sparsity=_SPARSITY.value, teacher=teacher,
                              temperature=_TEMPERATURE.value,
                              sensitivity=_SENSITIVITY.value)),
        f"{_BEYOND.value:.0%}": ("beyond", dict(sparsity=_BEYOND.value)),
        kd_name: ("kd", dict(sparsity=_BEYOND.value, teacher=teacher,
                             temperature=_TEMPERATURE.value,
                             sensitivity=_SENSITIVITY.value)),
    }
    variants = {name: kwargs for name, (key, kwargs) in variants.items()
                if key in _VARIANTS.value}
    rows = {name: [] for name in variants}
    for seed in map(int, _SEEDS.value):
        for name, kwargs in variants.items():
            folder = "".join(c for c in name.replace("%", "pct") if c.isalnum() or c in "+_.-")
            out = os.path.join(root, f"{folder}_s{seed}")
            summary = job_runs.run(prune_job.PruneJob, out, model=dense_dir,
                                   epochs=_EPOCHS.value, seed=seed, lr_schedule=schedule, **kwargs)
            rows[name].append(summary)
            print(f"seed {seed} {name}: {_errors(summary)} errors, sparsity "
                  f"{summary['sparsity']['sparsity']:.2%}", flush=True)

    dense_gz = dense["sizes"][artifacts.TFLITE_FILE]["gzip_bytes"]
    print(f"\n{_DENSE_MODEL.value or _MODEL.value}: dense "
          f"{dense['params']['total']:,} parameters, "
          f"{_DENSE_EPOCHS.value} epochs, {_errors(dense)} test errors "
          f"({1 - dense['keras']['test_accuracy']:.2%}); TFLite gzipped "
          f"{dense_gz / 1024:.1f} KiB. Pruning: {_EPOCHS.value} epochs (polynomial "
          f"ramp over the first two thirds), Adam 1e-3 ({schedule}), "
          f"seeds {_SEEDS.value}; KD teacher {teacher}.\n")
    print("| pruning | weights kept | test error (mean ± std) | per seed | "
          "TFLite gzipped | vs dense |")
    print("|---|---|---|---|---|---|")
    for name, summaries in rows.items():
        errors = [1 - s["keras"]["test_accuracy"] for s in summaries]
        kept = statistics.mean(1 - s["sparsity"]["sparsity"] for s in summaries)
        gz = statistics.mean(s["sizes"][artifacts.TFLITE_FILE]["gzip_bytes"]
                             for s in summaries)
        spread = statistics.stdev(errors) if len(errors) > 1 else 0.0
        print(f"| {name} | {kept:.2%} | {statistics.mean(errors):.2%} ± {spread:.2%} | "
              f"{', '.join(f'{e:.2%}' for e in errors)} | {gz / 1024:.1f} KiB | "
              f"{dense_gz / gz:.1f}x smaller |")
    if _OUTPUT.value:
        _atomic.write_json(_OUTPUT.value, {"dense": dense, "variants": rows})


if __name__ == "__main__":
    app.run(main)
