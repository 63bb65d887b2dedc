"""Structured pruning benchmark: measured batch-1 speed-ups against the dense model.

  python benchmarks/shrink.py --dense_model=RUN/baseline --start_model=RUN/distill \
      --teacher=RUN/teacher --target=macs:0.2 --epochs=20

Every row comes from one run, through the real jobs, with the same epochs,
data, optimizer and schedule:

- dense: the model trained alone (the reference), float and int8 (post-training);
- shrunk: `tfcompress shrink` of --start_model (default: the dense model) to
  --target, recovered by distillation from --teacher; float, and int8 after
  --qat_epochs of quantization-aware training (`tfcompress quantize`);
- magnitude: unstructured magnitude pruning (`tfcompress prune`, with the
  same teacher) of the same start model to the shrunk model's parameter count;
- one-shot l1: the start model's filters with the smallest l1 norms removed
  to the same widths, no recovery (Li et al. 2017, "Pruning Filters for
  Efficient ConvNets").

Latency: every TFLite file timed at batch 1 in LiteRT (2 threads, XNNPACK) in
interleaved rounds (`evaluate.compare_latency`), as ratios to the dense
float file of the same run.
"""

import json
import os

from absl import app
from absl import flags

from tfcompress import _atomic
from tfcompress import data
from tfcompress import evaluate
from tfcompress import export
from tfcompress import shrink
from tfcompress.jobs import artifacts
from tfcompress.jobs import prune as prune_job
from tfcompress.jobs import quantize as quantize_job
from tfcompress.jobs import shrink as shrink_job
from tfcompress.jobs import train as train_job

import job_runs

_MODEL = flags.DEFINE_string("model", "lenet_300_100", "Zoo spec of the dense model.")
_DENSE_MODEL = flags.DEFINE_string(
    "dense_model", None, "A trained dense job folder or .keras file (Keras 3 too; else "
    "--model is trained).")
_START_MODEL = flags.DEFINE_string(
    "start_model", None, "The model to compress (e.g. a distilled one; default: dense).")
_TEACHER = flags.DEFINE_string("teacher", None, "Recovery teacher (default: start model).")
_TARGET = flags.DEFINE_string("target", "macs:0.2", "Shrink target (see --shrink_target).")
_CRITERION = flags.DEFINE_enum("criterion", "l2", list(shrink.CRITERIA), "Channel scores.")
_ROUNDS = flags.DEFINE_integer("rounds", 1, "Shrink-and-recover rounds.")
_ROUND_TO = flags.DEFINE_integer("round_to", 1, "Width multiple.")
_MIN_WIDTH = flags.DEFINE_integer("min_width", 1, "Narrowest width of any group.")
_CROP_INPUTS = flags.DEFINE_float("crop_inputs", None, "Crop tolerance (shrink's).")
_EPOCHS = flags.DEFINE_integer("epochs", 20, "Recovery (and pruning) epochs.")
_DENSE_EPOCHS = flags.DEFINE_integer("dense_epochs", 20, "Dense training epochs.")
_QAT_EPOCHS = flags.DEFINE_integer("qat_epochs", 2, "QAT epochs of the int8 rows.")
_TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "Distillation temperature.")
_ALPHA = flags.DEFINE_float("alpha", 0.1, "Weight of the hard-label loss.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of every job.")
_DATASET = flags.DEFINE_string("dataset", "mnist", "Dataset.")
_LATENCY_ROUNDS = flags.DEFINE_integer("latency_rounds", 7, "Interleaved timing rounds.")
_SHRUNK_ONLY = flags.DEFINE_bool(
    "shrunk_only", False, "Only the dense and shrunk float rows (no int8, magnitude "
    "or one-shot runs): a quick look at a large model.")
_LATENCY_THREADS = flags.DEFINE_list(
    "latency_threads", ["2"], "LiteRT thread counts to time every file with (one "
    "interleaved call each; a microsecond model may run faster on one thread).")
_WORK_DIR = flags.DEFINE_string("work_dir", "saved_models/benchmarks/shrink",
                                "Where runs are written (reused when complete).")
_OUTPUT = flags.DEFINE_string("output", None, "Write the results as JSON here too.")


def _common():
    return dict(dataset=_DATASET.value, seed=_SEED.value, lr_schedule="cosine")


def _one_shot_l1(start, widths, crops, folder, test, check):
    """Li et al.'s baseline: l1-smallest filters removed, no recovery."""
    summary_path = os.path.join(folder, artifacts.SUMMARY_FILE)
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            return json.load(f)
    model = export.load_keras_model(artifacts.model_path(start))
    crops = {name: tuple(map(tuple, box)) for name, box in crops.items()} or None
    smaller = shrink.shrink(model, widths=widths, criterion="l1", crop_inputs=crops).model
    os.makedirs(folder, exist_ok=True)
    summary = artifacts.export_and_evaluate(smaller, folder, test, check,
                                            data.num_examples(_DATASET.value, "test"))
    _atomic.write_json(summary_path, summary)
    return summary


def _dense_from_file(path, folder):
    """A job folder for a trained .keras file: its exports and their accuracy."""
    summary_path = os.path.join(folder, artifacts.SUMMARY_FILE)
    if not os.path.exists(summary_path):
        model = export.load_keras_model(path)
        os.makedirs(folder, exist_ok=True)
        test = data.load(_DATASET.value, "test", batch_size=256)
        summary = artifacts.export_and_evaluate(
            model, folder, test, artifacts.check_batch(_DATASET.value, "test"),
            data.num_examples(_DATASET.value, "test"))
        image_shape = [int(d) for d in model.inputs[0].shape[1:]]
        summary["data"] = {"dataset": _DATASET.value, "image_shape": image_shape}
        summary["source"] = os.path.abspath(path)
        _atomic.write_json(summary_path, summary)
    return folder


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    common = _common()
    variant = _TARGET.value.replace(":", "_") + (
        f"_crop{_CROP_INPUTS.value:g}" if _CROP_INPUTS.value else "") + (
        f"_r{_ROUNDS.value}" if _ROUNDS.value > 1 else "") + (
        f"_min{_MIN_WIDTH.value}" if _MIN_WIDTH.value > 1 else "") + (
        f"_{_CRITERION.value}" if _CRITERION.value != "l2" else "")
    root = os.path.join(_WORK_DIR.value, _MODEL.value, variant, f"s{_SEED.value}")
    dense_dir = _DENSE_MODEL.value or os.path.join(_WORK_DIR.value, _MODEL.value, "dense")
    if dense_dir.endswith(".keras"):
        dense_dir = _dense_from_file(dense_dir, os.path.join(_WORK_DIR.value, _MODEL.value,
                                                             "dense"))
    dense = job_runs.run(train_job.TrainJob, dense_dir, model_spec=_MODEL.value,
                         epochs=_DENSE_EPOCHS.value, **common)
    start = _START_MODEL.value or dense_dir
    teacher = _TEACHER.value or start
    kd = dict(teacher=teacher, temperature=_TEMPERATURE.value, alpha=_ALPHA.value)

    shrunk_dir = os.path.join(root, "shrunk")
    shrunk = job_runs.run(shrink_job.ShrinkJob, shrunk_dir, model=start,
                          **shrink_job.parse_target(_TARGET.value),
                          criterion=_CRITERION.value, rounds=_ROUNDS.value,
                          round_to=_ROUND_TO.value, min_width=_MIN_WIDTH.value,
                          crop_inputs=_CROP_INPUTS.value,
                          epochs=_EPOCHS.value, **kd, **common)
    print(f"shrunk: {shrunk['keras']['test_accuracy']:.2%}", flush=True)

    def tflite(folder):
        return os.path.join(folder, artifacts.TFLITE_FILE)

    rows = {
        "dense float": (dense, tflite(dense_dir), dense["tflite"]["test_accuracy"]),
        "shrunk float": (shrunk, tflite(shrunk_dir), shrunk["tflite"]["test_accuracy"]),
    }
    if not _SHRUNK_ONLY.value:
        rows = _all_rows(rows, common, root, dense_dir, start, kd, shrunk, tflite)
    _print_table(rows, dense, start, teacher, shrunk)


def _all_rows(rows, common, root, dense_dir, start, kd, shrunk, tflite):
    """`rows` with int8 files, magnitude pruning and one-shot l1 added."""
    dense, shrunk_dir = rows["dense float"][0], os.path.dirname(rows["shrunk float"][1])
    quant = dict(mode="qat", epochs=_QAT_EPOCHS.value, learning_rate=1e-4,
                 lr_schedule="constant", dataset=_DATASET.value, seed=_SEED.value)
    shrunk_int8 = job_runs.run(quantize_job.QuantizeJob, os.path.join(root, "shrunk_int8"),
                               model=shrunk_dir, **quant)
    dense_int8 = job_runs.run(quantize_job.QuantizeJob, os.path.join(root, "dense_int8"),
                              model=dense_dir, mode="int8", dataset=_DATASET.value,
                              seed=_SEED.value)
    sparsity = 1 - shrunk["params"]["total"] / dense["params"]["total"]
    pruned_dir = os.path.join(root, "magnitude")
    pruned = job_runs.run(prune_job.PruneJob, pruned_dir, model=start,
                          sparsity=round(sparsity, 4), epochs=_EPOCHS.value, **kd, **common)
    pruned_int8 = job_runs.run(quantize_job.QuantizeJob, os.path.join(root, "magnitude_int8"),
                               model=pruned_dir, **{**quant, "mode": "pqat"})
    options = runner_data_options(dense_dir)
    test = data.load(_DATASET.value, "test", batch_size=256, **options)
    check = artifacts.check_batch(_DATASET.value, "test", **options)
    one_shot = _one_shot_l1(start, shrunk["shrink"]["widths"],
                            shrunk["shrink"].get("crops", {}),
                            os.path.join(root, "one_shot_l1"), test, check)

    return {
        "dense float": rows["dense float"],
        "dense int8 (PTQ)": (dense, tflite(os.path.join(root, "dense_int8")),
                             dense_int8["tflite"]["test_accuracy"]),
        "shrunk float": (shrunk, tflite(shrunk_dir), shrunk["tflite"]["test_accuracy"]),
        "shrunk int8 (QAT)": (shrunk, tflite(os.path.join(root, "shrunk_int8")),
                              shrunk_int8["tflite"]["test_accuracy"]),
        "magnitude, same params, float": (pruned, tflite(pruned_dir),
                                          pruned["tflite"]["test_accuracy"]),
        "magnitude, same params, int8 (PQAT)": (
            pruned, tflite(os.path.join(root, "magnitude_int8")),
            pruned_int8["tflite"]["test_accuracy"]),
        "one-shot l1, no recovery, float": (one_shot, tflite(os.path.join(root, "one_shot_l1")),
                                            one_shot["tflite"]["test_accuracy"]),
    }


def _print_table(rows, dense, start, teacher, shrunk):
    """Times every row's file, then prints the table (and --output's JSON)."""
    threads = [int(t) for t in _LATENCY_THREADS.value]
    latencies = {t: evaluate.compare_latency(
        {name: path for name, (_, path, _) in rows.items()}, rounds=_LATENCY_ROUNDS.value,
        batch_size=1, num_threads=t, repeats=300) for t in threads}
    base_acc = dense["keras"]["test_accuracy"]
    print(f"\n{_MODEL.value} on {_DATASET.value}, seed {_SEED.value}: shrink "
          f"{_TARGET.value} ({_CRITERION.value}, {_ROUNDS.value} round(s), round_to "
          f"{_ROUND_TO.value}) of {start}, {_EPOCHS.value} epochs recovering by "
          f"distillation from {teacher}; widths {shrunk['shrink']['widths']}, crops "
          f"{shrunk['shrink'].get('crops') or 'none'}.\n")
    timed = "".join(f" latency ms ({t} thr) | speed-up ({t} thr) |" for t in threads)
    print("| model | params (non-zero) | MACs | TFLite accuracy | vs dense | gzipped KiB "
          f"|{timed}")
    print("|---" * (6 + 2 * len(threads)) + "|")
    results = {}
    for name, (summary, path, accuracy) in rows.items():
        nonzero = summary["params"]["nonzero"]
        gz = evaluate.artifact_size(path)["gzip_bytes"]
        speedups = {t: latencies[t]["dense float"]["median_ms"]
                    / latencies[t][name]["median_ms"] for t in threads}
        print(f"| {name} | {nonzero:,} | {summary.get('macs', 0):,} | {accuracy:.2%} | "
              f"{(accuracy - base_acc) * 100:+.2f} | {gz / 1024:.1f} |" + "".join(
                  f" {latencies[t][name]['median_ms']:.4f} | {speedups[t]:.2f}x |"
                  for t in threads))
        results[name] = {"accuracy": accuracy, "nonzero": nonzero, "gzip_bytes": gz,
                         "latency": {t: latencies[t][name] for t in threads},
                         "speedup": speedups}
    if _OUTPUT.value:
        _atomic.write_json(_OUTPUT.value, {"flags": flags.FLAGS.flag_values_dict(),
                                           "rows": results})


def runner_data_options(job_dir):
    """The dense run's input shape and normalization (as its summary records)."""
    with open(os.path.join(job_dir, artifacts.SUMMARY_FILE), encoding="utf-8") as f:
        record = json.load(f)["data"]
    return {"image_shape": tuple(record["image_shape"]),
            **{k: v for k, v in record.items()
               if k not in ("dataset", "image_shape", "class_names")}}


if __name__ == "__main__":
    app.run(main)
