"""Recurrent and text benchmarks (issue #16), through the real pipeline.

  python benchmarks/text.py --experiment=mnist_lstm --seeds=0
  python benchmarks/text.py --experiment=sms --seeds=0,1,2

mnist_lstm: `lstm:128` reading MNIST row by row (28 steps of 28 pixels),
trained alone (the dense baseline), pruned to --sparsity (TFMOT, the LSTM's
input and recurrent kernels alike), then post-training int8 (TFMOT has no
QAT for LSTM). Target: <= 0.5 points TFLite accuracy lost at >= 4x smaller
gzipped TFLite file. Also the pruned model with dynamic-range quantization
(int8 weights, float activations), and every file timed again at 1 and 2
threads in interleaved rounds: TFLite's full-integer LSTM kernel is slow.

sms: the UCI SMS Spam Collection (tsv:, seeded 80/10/10 split), as
examples/sms_spam_pipeline.flags runs it: a student trained alone on the
labels (the baseline), a teacher at least 4x larger, the student distilled
from it, pruned, int8. Target: the final file's spam F1 within 0.02 of the
teacher's, above the majority class's (0) and the label-only student's. The
pruning stage distills from the teacher again, so the final student has
trained for the distill and prune epochs together: the label-only student
is also trained that long ("alone, long"), as the fair control.

Each seed is one pipeline run in --work_dir/EXPERIMENT/sSEED (reused when
complete); its evaluate stage times every stage's file at batch 1 in
interleaved rounds. The table gives the mean and spread over seeds.
"""

import json
import os
import statistics

from absl import app
from absl import flags

from tfcompress import _atomic
from tfcompress.evaluate import ratios
from tfcompress import data
from tfcompress import evaluate
from tfcompress import pipeline
from tfcompress.jobs import quantize as quantize_job
from tfcompress.jobs import settings
from tfcompress.jobs import train as train_job

import job_runs

_EXPERIMENT = flags.DEFINE_enum("experiment", "sms", ["mnist_lstm", "sms"],
                                "Which benchmark to run.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds, one pipeline run each.")
_SMS = flags.DEFINE_string("sms", "../shared/data/sms_spam/SMSSpamCollection",
                           "The SMS Spam Collection file.")
_MODEL = flags.DEFINE_string("model", None, "Model spec (default: the experiment's).")
_TEACHER_MODEL = flags.DEFINE_string("teacher_model",
                                     "text_lstm:64,64,bidirectional=true",
                                     "sms: the teacher's spec.")
_EPOCHS = flags.DEFINE_integer("epochs", None, "Epochs of the baseline, teacher and "
                               "distill stages (default: the experiment's).")
_PRUNE_EPOCHS = flags.DEFINE_integer("prune_epochs", 8, "Pruning epochs.")
_SPARSITY = flags.DEFINE_float("sparsity", 0.8, "Pruning target.")
_TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "sms: distillation temperature.")
_ALPHA = flags.DEFINE_float("alpha", 0.5, "sms: weight of the hard-label loss.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", None, "Batch size (default: the "
                                   "experiment's).")
_WORK_DIR = flags.DEFINE_string("work_dir", "saved_models/benchmarks/text",
                                "Where runs are written (reused when complete).")
_OUTPUT = flags.DEFINE_string("output", None, "Write the results as JSON here too.")

# Per experiment: model, epochs, batch size, stages.
_DEFAULTS = {
    "mnist_lstm": ("lstm:128", 10, 128, ("baseline", "prune", "quantize", "export",
                                         "evaluate")),
    "sms": ("text_cnn:16,32", 8, 64, ("baseline", "teacher", "distill", "prune",
                                      "quantize", "export", "evaluate")),
}
# Report key, column, format, scale.
_COLUMNS = (("params", "params", "{:,.0f}", 1),
            ("tflite_accuracy", "TFLite acc", "{:.2%}", 1),
            ("tflite_f1", "spam F1", "{:.3f}", 1),
            ("tflite_gzip_bytes", "gzipped KiB", "{:.1f}", 1 / 1024),
            ("latency_ms", "latency ms (batch 1)", "{:.4f}", 1))


def _options(experiment, seed):
    model, epochs, batch_size, stages = _DEFAULTS[experiment]
    epochs = _EPOCHS.value or epochs
    dataset = "mnist" if experiment == "mnist_lstm" else "tsv:" + _SMS.value
    output_dir = os.path.join(_WORK_DIR.value, experiment, f"s{seed}")
    training = settings.Training(
        output_dir=output_dir, dataset=dataset,
        batch_size=_BATCH_SIZE.value or batch_size, seed=seed, verbose=0,
        resume=os.path.isdir(output_dir))  # a killed run continues
    return pipeline.Options(
        training=training, stages=stages, model=_MODEL.value or model,
        teacher_model=_TEACHER_MODEL.value, baseline_epochs=epochs,
        teacher_epochs=epochs, distill_epochs=epochs, temperature=_TEMPERATURE.value,
        alpha=_ALPHA.value, prune_epochs=_PRUNE_EPOCHS.value, sparsity=_SPARSITY.value,
        quantization="int8")


def _report(options):
    path = os.path.join(options.output_dir, "report.json")
    if not os.path.isfile(path):
        pipeline.run(options, log=lambda *_: None)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _alone_long(options):
    """The label-only student trained for the distill and prune epochs together."""
    epochs = options.distill_epochs + options.prune_epochs
    summary = job_runs.run(
        train_job.TrainJob, os.path.join(options.output_dir, f"alone_{epochs}_epochs"),
        model_spec=options.model, epochs=epochs, dataset=options.training.dataset,
        batch_size=options.training.batch_size, seed=options.training.seed)
    tflite = summary["tflite"]
    return {"stage": "alone, long", "params": summary["params"]["total"],
            "tflite_accuracy": tflite["test_accuracy"], "tflite_f1": tflite["test_f1"],
            "tflite_gzip_bytes": summary["sizes"]["model.tflite"]["gzip_bytes"],
            "latency_ms": None}


def _dynamic_range(options):
    """The pruned model with dynamic-range quantization; all files timed again."""
    root = options.output_dir
    summary = job_runs.run(quantize_job.QuantizeJob, os.path.join(root, "dynamic"),
                           model=os.path.join(root, "prune"), mode="dynamic",
                           dataset=options.training.dataset, seed=options.training.seed)
    files = {stage: os.path.join(root, stage, "model.tflite")
             for stage in ("baseline", "prune", "quantize", "dynamic")}
    for threads in (1, 2):
        timed = evaluate.compare_latency(files, rounds=5, batch_size=1,
                                         num_threads=threads, repeats=200)
        print(f"  {threads} thread(s), ms: " + ", ".join(
            f"{stage} {result['median_ms']:.4f}" for stage, result in timed.items()))
    return {"stage": "prune + dynamic", "params": summary["params"]["total"],
            "tflite_accuracy": summary["tflite"]["test_accuracy"], "tflite_f1": None,
            "tflite_gzip_bytes": summary["tflite"]["gzip_bytes"],
            "latency_ms": timed["dynamic"]["median_ms"]}


def _majority(dataset):
    """Test accuracy of always answering the training split's commonest class."""
    train = [int(y) for _, labels in data.load(dataset, "train") for y in labels]
    test = [int(y) for _, labels in data.load(dataset, "test") for y in labels]
    majority = max(set(train), key=train.count)
    return sum(y == majority for y in test) / len(test)


def _cell(values, fmt, scale):
    if any(v is None for v in values):
        return "-"
    values = [v * scale for v in values]
    mean = fmt.format(statistics.mean(values))
    if len(values) == 1 or fmt == "{:,.0f}":
        return mean
    return f"{mean} ± {fmt.format(statistics.stdev(values)).lstrip()}"


def main(argv):
    del argv
    experiment = _EXPERIMENT.value
    seeds = [int(s) for s in _SEEDS.value]
    runs = []
    for seed in seeds:
        options = _options(experiment, seed)
        print(f"seed {seed}: {options.output_dir}", flush=True)
        runs.append({row["stage"]: row for row in _report(options)["stages"]})
        if experiment == "sms":
            runs[-1]["alone, long"] = _alone_long(options)
        else:
            runs[-1]["prune + dynamic"] = _dynamic_range(options)
    stages = [s for s in runs[0] if all(s in run for run in runs)]
    lines = ["| stage | " + " | ".join(column[1] for column in _COLUMNS) + " |",
             "|---" * (len(_COLUMNS) + 1) + "|"]
    for stage in stages:
        cells = [_cell([run[stage].get(key) for run in runs], fmt, scale)
                 for key, _, fmt, scale in _COLUMNS]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    final, base = [s for s in stages if s not in ("alone, long", "prune + dynamic")][-1], \
        "baseline"
    mean = lambda stage, key: statistics.mean(run[stage][key] for run in runs)  # noqa: E731
    results = {"experiment": experiment, "seeds": seeds, "runs": runs}
    gzip_ratio = mean(base, "tflite_gzip_bytes") / mean(final, "tflite_gzip_bytes")
    change = mean(final, "tflite_accuracy") - mean(base, "tflite_accuracy")
    lines.append("")
    lines.append(f"{base} -> {final}: {gzip_ratio:.1f}x smaller gzipped, accuracy "
                 f"{change * 100:+.2f} points, "
                 f"{ratios.faster_or_slower(mean(base, 'latency_ms') / mean(final, 'latency_ms'), 2)} "
                 "(means over seeds)")
    if experiment == "sms":
        majority = _majority(_options(experiment, seeds[0]).training.dataset)
        teacher_params = mean("teacher", "params") / mean(base, "params")
        f1 = {stage: mean(stage, "tflite_f1") for stage in stages}
        lines.append(f"majority class: accuracy {majority:.2%}, spam F1 0.000; teacher "
                     f"{teacher_params:.1f}x the student's parameters; final spam F1 "
                     f"{f1[final]:.3f} against teacher {f1['teacher']:.3f} "
                     f"({f1[final] - f1['teacher']:+.3f}) and label-only student "
                     f"{f1[base]:.3f} ({f1[final] - f1[base]:+.3f}), trained as long "
                     f"{f1['alone, long']:.3f} ({f1[final] - f1['alone, long']:+.3f})")
        results["majority_accuracy"] = majority
    print("\n".join(lines))
    if _OUTPUT.value:
        _atomic.write_json(_OUTPUT.value, {"flags": flags.FLAGS.flag_values_dict(),
                                           "table": lines, **results})


if __name__ == "__main__":
    app.run(main)
