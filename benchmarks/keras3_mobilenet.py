"""A Keras 3 MobileNetV2 (alpha 0.35) for MNIST, trained with Keras 3, then
`tfcompress pipeline` on its .keras file, as a user would do it.

    python benchmarks/keras3_mobilenet.py [--train_epochs=5] [--sparsity=0.5]

The model pads MNIST to 32x32 and repeats its one channel three times inside
the model (ZeroPadding2D, Concatenate), then runs keras.applications'
MobileNetV2 (weights=None, logits, batch-norm momentum 0.99) as a nested model. It is trained by
Keras 3's own `fit` (Adam, cosine decay) and saved as a Keras 3 .keras file;
the pipeline then prunes it (TFMOT, polynomial schedule) and quantizes it to
int8 by sparsity-preserving QAT. The table's baseline is the user's model
itself, exported to float TFLite by tfcompress in the same run; latencies of
all files come from one interleaved `compare_latency` (batch 1, 2 threads).
"""

import json
import os
import platform
import subprocess
import sys
import time

from absl import app
from absl import flags

_OUT = flags.DEFINE_string("output_dir", "saved_models/benchmarks/keras3_mobilenet",
                           "Where the model, the pipeline run and results.json go.")
_TRAIN_EPOCHS = flags.DEFINE_integer("train_epochs", 5, "Keras 3 fit epochs.", lower_bound=1)
_PRUNE_EPOCHS = flags.DEFINE_integer("prune_epochs", 2, "Pipeline prune epochs.", lower_bound=1)
_QUANTIZE_EPOCHS = flags.DEFINE_integer("quantize_epochs", 1, "PQAT epochs.", lower_bound=1)
_SPARSITY = flags.DEFINE_float("sparsity", 0.5, "Pruning target.")
_TRAIN_SPLIT = flags.DEFINE_string("train_split", "train[5000:]", "Training split.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the Keras 3 training and the pipeline.")
_TRAIN_ONLY = flags.DEFINE_bool(
    "train_only", False, "Only train and save user_model.keras (e.g. for benchmarks/shrink.py).")


def _user_model():
    import keras  # Keras 3, as the user has it  pylint: disable=import-outside-toplevel

    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.ZeroPadding2D(2)(inputs)
    x = keras.layers.Concatenate()([x, x, x])
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None,
                                          classes=10, classifier_activation=None)
    # MobileNetV2's batch norms average with momentum 0.999, made for ImageNet's
    # long runs: after a few MNIST epochs their moving statistics are still
    # mostly the initial ones and the model predicts one class at test time
    # (seen here: 96% train, 10% validation accuracy after 2 epochs).
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.99
    return keras.Model(inputs, base(x), name="mnist_mobilenetv2")


def _train_keras3(path):
    import keras  # pylint: disable=import-outside-toplevel
    from tfcompress import data  # pylint: disable=import-outside-toplevel

    keras.utils.set_random_seed(_SEED.value)
    train = data.load("mnist", _TRAIN_SPLIT.value, batch_size=128, shuffle=True,
                      seed=_SEED.value)
    steps = int(train.cardinality()) * _TRAIN_EPOCHS.value
    model = _user_model()
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(train, epochs=_TRAIN_EPOCHS.value, validation_data=data.load(
        "mnist", "train[:5000]", batch_size=256), verbose=2)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(data.load("mnist", "test", batch_size=256), verbose=0)
    model.save(path)
    return {"keras3_test_accuracy": float(accuracy), "fit_seconds": round(seconds, 1),
            "params": model.count_params()}


def _pipeline(model_path, run_dir):
    command = [sys.executable, "-m", "tfcompress.cli.main", "pipeline",
               f"--input_model={model_path}", "--dataset=mnist",
               "--stages=prune,quantize,export,evaluate", f"--train_split={_TRAIN_SPLIT.value}",
               f"--prune_epochs={_PRUNE_EPOCHS.value}", f"--sparsity={_SPARSITY.value}",
               "--quantization=pqat", f"--quantize_epochs={_QUANTIZE_EPOCHS.value}",
               f"--seed={_SEED.value}", f"--output_dir={run_dir}", "--overwrite", "--verbose=1"]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return command, time.perf_counter() - start


def main(argv):
    del argv
    os.makedirs(_OUT.value, exist_ok=True)
    model_path = os.path.join(_OUT.value, "user_model.keras")
    trained = _train_keras3(model_path)
    if _TRAIN_ONLY.value:
        print(json.dumps(trained, indent=2))
        return
    run_dir = os.path.join(_OUT.value, "run")
    command, pipeline_seconds = _pipeline(model_path, run_dir)

    import tfcompress  # pylint: disable=import-outside-toplevel
    from tfcompress import data  # pylint: disable=import-outside-toplevel
    from tfcompress.evaluate import ratios  # pylint: disable=import-outside-toplevel

    baseline_path = os.path.join(_OUT.value, "user_model.tflite")
    tfcompress.export_tflite(tfcompress.load_keras_model(model_path), baseline_path)
    test = data.load("mnist", "test", batch_size=256)
    files = {"baseline": baseline_path,
             "prune": os.path.join(run_dir, "prune", "model.tflite"),
             "quantize": os.path.join(run_dir, "quantize", "model.tflite")}
    latency = tfcompress.evaluate.compare_latency(files, rounds=5, batch_size=1, num_threads=2)
    rows = {}
    for stage, path in files.items():
        rows[stage] = {"tflite_accuracy": tfcompress.evaluate_tflite(path, test)["accuracy"],
                       **tfcompress.artifact_size(path),
                       "latency_ms_batch1": latency[stage]["median_ms"]}
    with open(os.path.join(run_dir, "prune", "summary.json"), encoding="utf-8") as f:
        prune_summary = json.load(f)
    results = {"command": " ".join(command), "machine": platform.platform(),
               "cpus": os.cpu_count(), "seed": _SEED.value, "train_epochs": _TRAIN_EPOCHS.value,
               **trained, "pipeline_seconds": round(pipeline_seconds, 1),
               "conversion": prune_summary["keras3_conversion"]["model"],
               "sparsity": prune_summary["sparsity"], "stages": rows}
    with open(os.path.join(_OUT.value, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    base = rows["baseline"]
    print("| stage | TFLite acc | KiB | gzipped KiB | latency ms (batch 1) | vs baseline |")
    print("|---|---|---|---|---|---|")
    for stage, row in rows.items():
        print(f"| {stage} | {row['tflite_accuracy']:.2%} | {row['bytes'] / 1024:.1f} | "
              f"{row['gzip_bytes'] / 1024:.1f} | {row['latency_ms_batch1']:.3f} | "
              f"{ratios.smaller_or_larger(base['gzip_bytes'] / row['gzip_bytes'])}, "
              f"{ratios.faster_or_slower(base['latency_ms_batch1'] / row['latency_ms_batch1'], 2)} |")
    print(json.dumps({k: v for k, v in results.items() if k != "stages"}, indent=2))


if __name__ == "__main__":
    app.run(main)
