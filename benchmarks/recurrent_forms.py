"""Stateless recurrent files: each form of an LSTM file, run as a device runs it.

  python benchmarks/recurrent_forms.py --experiment=sms --work_dir=W
  python benchmarks/recurrent_forms.py --experiment=mnist_lstm --work_dir=W

Trains the model once (kept in W/EXPERIMENT/model.keras), then writes it in
every form of `tfcompress.export.recurrent` for every quantization mode:
"fused" (the UNIDIRECTIONAL_SEQUENCE_LSTM op, what tfcompress wrote before
issue #23; stateful), "loop" (WHILE) and "unrolled". Each file is run as an
app runs it (plain LiteRT through `TFLiteRunner.run_each`: one example per
invoke, in order, never reset) on the whole test split, and the same file
with `reset_all_variables()` after every invoke (what a fused file needs,
and what tfcompress's runner did before). Files of a mode are timed at
batch 1 in interleaved rounds (`evaluate.compare_latency`) at 1 and 2
threads. int8 is calibrated on 256 training examples; TF's calibrator
crashes on a WHILE loop, so int8 has no loop row.

sms: `text_lstm:64,64` (Embedding + LSTM) or, with --bidirectional, the
BiLSTM teacher of the SMS benchmark, on the SMS Spam Collection (tsv:,
seeded 80/10/10 split, 64 token ids). mnist_lstm: `lstm:128` reading MNIST
row by row, 28 steps of 28 pixels.
"""

import json
import os

import numpy as np
from absl import app
from absl import flags

from tfcompress import _atomic
from tfcompress import data
from tfcompress import evaluate
from tfcompress import export
from tfcompress import models
from tfcompress import training
from tfcompress.evaluate import accuracy as accuracy_lib
from tfcompress.export import converter as converter_lib
from tfcompress.export import recurrent
from tfcompress.runtime import TFLiteRunner

_EXPERIMENT = flags.DEFINE_enum("experiment", "sms", ["sms", "mnist_lstm"],
                                "Which model and data.")
_BIDIRECTIONAL = flags.DEFINE_bool("bidirectional", False, "sms: the BiLSTM teacher.")
_SMS = flags.DEFINE_string("sms", "../shared/data/sms_spam/SMSSpamCollection",
                           "The SMS Spam Collection file.")
_EPOCHS = flags.DEFINE_integer("epochs", 4, "Training epochs.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Interleaved timing rounds.")
_THREADS = flags.DEFINE_list("threads", ["1", "2"], "LiteRT thread counts timed.")
_TABLE_ONLY = flags.DEFINE_bool("table_only", False, "Print the table of an earlier "
                                 "run's results.json and stop.")
_WORK_DIR = flags.DEFINE_string("work_dir", "saved_models/benchmarks/recurrent_forms",
                                "Where the model and files are written.")

_MODES = ("none", "float16", "dynamic", "int8")


def _setup():
    if _EXPERIMENT.value == "mnist_lstm":
        return "mnist", "lstm:128", {"input_shape": (28, 28, 1)}, "train[5000:]", "test"
    dataset = f"tsv:{os.path.abspath(_SMS.value)}"
    source = data.open_source(dataset)
    spec = ("text_lstm:64,64,bidirectional=true" if _BIDIRECTIONAL.value
            else "text_lstm:64,64")
    return dataset, spec, {"vocab_size": source.vocabulary_size,
                           "sequence_length": source.sequence_length}, "train", "test"


def _trained(folder, dataset, spec, inputs, train_split):
    path = os.path.join(folder, "model.keras")
    if os.path.exists(path):
        return export.load_keras_model(path)
    model = models.build(spec, num_classes=2 if dataset.startswith("tsv:") else 10,
                         **inputs)
    training.train_classifier(model, data.load(dataset, train_split, batch_size=64,
                                               shuffle=True), epochs=_EPOCHS.value,
                              verbose=2)
    export.save_keras_model(model, path)
    return model


def _f1(predicted, labels):
    confusion = np.zeros((2, 2), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    return accuracy_lib.binary_metrics(confusion)["f1"]


def _device_metrics(path, x, y, reset):
    """Accuracy (and spam F1) of one example per invoke, in order."""
    runner = TFLiteRunner(path)
    outputs = []
    for example in x:
        outputs.append(runner.run_each(example[None]))
        if reset:
            runner.interpreter.reset_all_variables()
    logits = np.concatenate(outputs).astype(np.float32)
    predicted = logits.argmax(-1)
    result = {"accuracy": float(np.mean(predicted == y))}
    if logits.shape[-1] == 2:
        result["f1"] = _f1(predicted, y)
    return result


def _table(results):
    """BENCHMARKS.md's rows: one per file, accuracy as a device runs it."""
    binary = "keras_f1" in results
    metric = "spam F1" if binary else "accuracy"
    lines = [f"Keras: accuracy {results['keras_accuracy']:.2%}"
             + (f", spam F1 {results['keras_f1']:.3f}" if binary else ""), "",
             f"| mode | form | KiB | gzipped KiB | ops | {metric}, as a device runs it | "
             f"{metric}, reset after each invoke | ms, 1 thread | ms, 2 threads |",
             "|---|---|---|---|---|---|---|---|---|"]
    key = "f1" if binary else "accuracy"
    show = (lambda v: f"{v:.3f}") if binary else (lambda v: f"{v:.2%}")
    order = {name: i for i, name in enumerate(("fused", "loop", "unrolled"))}
    rows = sorted(results["files"].values(),
                  key=lambda row: (_MODES.index(row["mode"]), order[row["form"]]))
    for row in rows:
        chosen = row["form"] == ("unrolled" if row["mode"] == "int8" else "loop")
        form = f"**{row['form']}**" if chosen else row["form"]
        lines.append(
            f"| {row['mode']} | {form} | {row['bytes'] / 1024:.1f} | "
            f"{row['gzip_bytes'] / 1024:.1f} | {row['ops']} | {show(row['device'][key])} | "
            f"{show(row['reset_each'][key])} | {row.get('latency_ms_1t', float('nan')):.4f} | "
            f"{row.get('latency_ms_2t', float('nan')):.4f} |")
    return "\n".join(lines)


def main(argv):
    del argv
    folder = os.path.join(_WORK_DIR.value, _EXPERIMENT.value
                          + ("_bidirectional" if _BIDIRECTIONAL.value else ""))
    if _TABLE_ONLY.value:
        with open(os.path.join(folder, "results.json"), encoding="utf-8") as f:
            print(_table(json.load(f)))
        return
    dataset, spec, inputs, train_split, test_split = _setup()
    os.makedirs(folder, exist_ok=True)
    model = _trained(folder, dataset, spec, inputs, train_split)
    pairs = list(data.examples(dataset, test_split, cache=False).as_numpy_iterator())
    x_test = np.stack([x for x, _ in pairs])
    y_test = np.array([y for _, y in pairs])
    calibration = data.first_examples(dataset, train_split, 256)
    keras_predicted = np.concatenate([model(x_test[i:i + 256], training=False).numpy()
                                      for i in range(0, len(x_test), 256)]).argmax(-1)
    results = {"experiment": _EXPERIMENT.value, "spec": spec, "dataset": dataset,
               "keras_accuracy": float(np.mean(keras_predicted == y_test)),
               "files": {}}
    if len(np.unique(y_test)) == 2:
        results["keras_f1"] = _f1(keras_predicted, y_test)
    print(f"Keras: {results['keras_accuracy']:.2%}", flush=True)
    for mode in _MODES:
        files = {}
        for form in recurrent.FORMS:
            if form == "loop" and mode == "int8":
                continue  # TF's calibrator dies on a WHILE loop
            path = os.path.join(folder, f"{form}_{mode}.tflite")
            flatbuffer = converter_lib.convert(
                model, quantization=mode, recurrent_form=form,
                representative_data=calibration if mode == "int8" else None)
            with _atomic.atomic_output(path) as tmp:
                with open(tmp, "wb") as f:
                    f.write(flatbuffer)
            files[form] = path
            row = {"form": form, "mode": mode, **evaluate.artifact_size(path),
                   "ops": len(evaluate.op_names(path)),
                   "device": _device_metrics(path, x_test, y_test, reset=False),
                   "reset_each": _device_metrics(path, x_test, y_test, reset=True)}
            results["files"][f"{form}_{mode}"] = row
            print(f"{mode:8} {form:9} {row['bytes'] / 1024:7.1f} KiB  device "
                  f"{row['device']}  reset {row['reset_each']}", flush=True)
        for threads in map(int, _THREADS.value):
            latency = evaluate.compare_latency(files, rounds=_ROUNDS.value, batch_size=1,
                                               num_threads=threads)
            for form, timing in latency.items():
                results["files"][f"{form}_{mode}"][f"latency_ms_{threads}t"] = (
                    timing["median_ms"])
            print(f"{mode:8} {threads} thread(s): " + ", ".join(
                f"{form} {timing['median_ms']:.4f} ms" for form, timing in latency.items()),
                flush=True)
    _atomic.write_json(os.path.join(folder, "results.json"), results)
    print(_table(results))


if __name__ == "__main__":
    app.run(main)
