"""The `tfcompress quantize` job: quantize (or cluster) a trained model and
export a TFLite file that LiteRT has run, with its accuracy, size and speed."""

import os

from tfcompress import _atomic
from tfcompress import data
from tfcompress import evaluate
from tfcompress import export
from tfcompress import prune
from tfcompress import quantize
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.jobs import artifacts
from tfcompress.jobs import inputs
from tfcompress.jobs import run_dir

# Post-training modes (no training), then the modes that fine-tune:
# quantization-aware training (qat), sparsity-preserving QAT (pqat), weight
# clustering (cluster, a float file whose kernels share few values) and
# cluster-preserving QAT (cqat: cluster, then QAT keeping the clusters).
POST_TRAINING_MODES = ("int8", "dynamic", "float16")
FINE_TUNING_MODES = ("qat", "pqat", "cluster", "cqat")
MODES = POST_TRAINING_MODES + FINE_TUNING_MODES

# What each mode's TFLite file is converted with.
_EXPORT_QUANTIZATION = {"int8": "int8", "dynamic": "dynamic", "float16": "float16",
                        "qat": "int8", "pqat": "int8", "cluster": "none", "cqat": "int8"}


def _kernel_sparsity(model):
    return prune.sparsity_report(model)["total"]["sparsity"]


def check_inputs(*, model, mode, output_dir, dataset, epochs, batch_size, optimizer,
                 learning_rate, lr_schedule, clusters, num_samples, int8_io, sparse,
                 train_split, val_split, test_split, overwrite, data_dir):
    """Checks every input of `run` without training, raising at once.

    Raises:
      ValueError: a bad mode or value, options that do not fit together, a
        model that cannot be quantized in this mode.
      FileNotFoundError: no model file, or no prepared dataset.
      FileExistsError: `output_dir` holds files and not `overwrite`.
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}.")
    inputs.check_training_inputs(
        dataset=dataset, data_dir=data_dir, train_split=train_split,
        val_split=val_split, test_split=test_split, optimizer=optimizer,
        learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
        output_dir=output_dir, overwrite=overwrite, lr_schedule=lr_schedule)
    inputs.check_positive_int("num_samples", num_samples)
    if mode in ("cluster", "cqat"):
        inputs.check_positive_int("clusters", clusters)
        if clusters < 2:
            raise ValueError(f"`clusters` must be at least 2, got {clusters}.")
    if int8_io and _EXPORT_QUANTIZATION[mode] != "int8":
        raise ValueError(f"`int8_io` needs an int8 mode (int8, qat, pqat, cqat), got "
                         f"mode {mode!r}.")
    loaded = export.load_keras_model(artifacts.model_path(model))
    if mode == "pqat" and _kernel_sparsity(loaded) < 0.01:
        raise ValueError(f"mode 'pqat' keeps a pruned model's zeros, but {model!r} has "
                         "almost none: prune it first (`tfcompress prune`), or use "
                         "mode 'qat'.")
    if mode in ("qat", "pqat"):
        quantize.quantize_aware(loaded)  # raises if TFMOT cannot quantize it
    if mode in ("cluster", "cqat"):
        quantize.cluster(loaded, clusters)


def _fine_tune(staging, model, name, train_ds, val_ds, *, optimizer, rate, epochs,
               verbose):
    training.compile_classifier(model, optimizer=optimizer, learning_rate=rate)
    return run_dir.train_once(staging, model, lambda: training.fit(
        model, train_ds, epochs=epochs, validation_data=val_ds,
        checkpoint_dir=os.path.join(staging, "checkpoints", name), verbose=verbose),
        name=name)


def _tflite_record(path, test_ds, xnnpack, expected):
    metrics = artifacts.check_complete(
        evaluate.evaluate_tflite(path, test_ds, xnnpack=xnnpack), expected, path)
    return {"test_accuracy": metrics["accuracy"], "test_examples": expected,
            **evaluate.artifact_size(path)}


def run(
    *,
    model,
    mode,
    output_dir,
    clusters=16,
    num_samples=quantize.DEFAULT_SAMPLES,
    int8_io=False,
    sparse=False,
    xnnpack=True,
    dataset="mnist",
    epochs=2,
    batch_size=128,
    optimizer="adam",
    learning_rate=1e-4,
    lr_schedule="constant",
    train_split="train[5000:]",
    val_split="train[:5000]",
    test_split="test",
    seed=0,
    overwrite=False,
    data_dir=None,
    verbose=2,
    log=print,
):
    """Quantizes `model` in `mode` and writes a checked TFLite file.

    Post-training modes convert at once (int8 calibrates on `num_samples`
    training examples). The others fine-tune for `epochs` first: qat and
    pqat (which keeps a pruned model's zeros) learn int8 ranges; cluster
    shares `clusters` values per kernel and exports float (the file then
    gzips small); cqat clusters, then runs QAT keeping the clusters (each
    phase `epochs` long).

    Writes into `output_dir`: model.tflite (run in LiteRT and checked
    against the Keras model before it lands), float_reference.tflite (the
    input model as float TFLite, the baseline of every ratio), model.keras
    for cluster mode, and summary.json (accuracy, sizes, batch-1 latency
    with 2 threads, sparsity and shared values kept).

    Returns:
      The summary dict written to summary.json.
    """
    check_inputs(model=model, mode=mode, output_dir=output_dir, dataset=dataset,
                 epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                 learning_rate=learning_rate, lr_schedule=lr_schedule,
                 clusters=clusters, num_samples=num_samples, int8_io=int8_io,
                 sparse=sparse, train_split=train_split, val_split=val_split,
                 test_split=test_split, overwrite=overwrite, data_dir=data_dir)
    trains = mode in FINE_TUNING_MODES
    config = dict(
        job="quantize", model=os.path.abspath(artifacts.model_path(model)), mode=mode,
        clusters=clusters if mode in ("cluster", "cqat") else None,
        num_samples=num_samples if mode == "int8" else None, int8_io=int8_io,
        sparse=sparse, xnnpack=xnnpack, dataset=dataset,
        epochs=epochs if trains else None, batch_size=batch_size,
        optimizer=optimizer, learning_rate=learning_rate if trains else None,
        lr_schedule=lr_schedule, train_split=train_split, val_split=val_split,
        test_split=test_split, seed=seed,
    )
    staging = run_dir.start(output_dir, config)
    keras.utils.set_random_seed(seed)
    source = export.load_keras_model(config["model"])
    load = {"batch_size": batch_size, "data_dir": data_dir}
    test_ds = data.load(dataset, test_split, **load)
    val_ds = data.load(dataset, val_split, **load) if val_split else None
    check_batch = artifacts.check_batch(dataset, test_split, data_dir)
    test_examples = data.num_examples(dataset, test_split, data_dir)
    source_sparsity = _kernel_sparsity(source)

    log(f"Float reference: {source.name} as float TFLite.")
    reference_path = os.path.join(staging, "float_reference.tflite")
    export.export_tflite(source, reference_path, check_inputs=check_batch)
    reference = _tflite_record(reference_path, test_ds, xnnpack, test_examples)

    final, train_seconds = source, 0.0
    if trains:
        train_ds = data.load(dataset, train_split, shuffle=True, seed=seed, **load)
        tune = {"optimizer": optimizer, "epochs": epochs, "verbose": verbose,
                "rate": inputs.learning_rate(
                    learning_rate=learning_rate, lr_schedule=lr_schedule,
                    dataset=dataset, train_split=train_split, data_dir=data_dir,
                    epochs=epochs, batch_size=batch_size)}
        if mode in ("cluster", "cqat"):
            log(f"Clustering every Dense/Conv2D kernel to {clusters} values, "
                f"fine-tuning {epochs} epochs.")
            clustered = quantize.cluster(source, clusters)
            train_seconds += _fine_tune(staging, clustered, "cluster", train_ds, val_ds,
                                        **tune)
            final = quantize.strip_clusters(clustered)
        if mode != "cluster":
            preserve = {"qat": None, "pqat": "sparsity", "cqat": "clusters"}[mode]
            kept = f" preserving {preserve}" if preserve else ""
            log(f"Quantization-aware training{kept}"
                f", {epochs} epochs.")
            final = quantize.quantize_aware(final, preserve=preserve)
            train_seconds += _fine_tune(staging, final, "qat", train_ds, val_ds, **tune)

    tflite_path = os.path.join(staging, artifacts.TFLITE_FILE)
    quantization = _EXPORT_QUANTIZATION[mode]
    log(f"Converting ({quantization}{', sparse encoding' if sparse else ''}) and "
        "checking the file in LiteRT.")
    exported = export.export_tflite(
        final, tflite_path, quantization=quantization,
        representative_data=(data.load(dataset, train_split, **load)
                             if mode == "int8" else None),
        num_samples=num_samples, int8_io=int8_io, sparse=sparse, xnnpack=xnnpack,
        check_inputs=check_batch)
    if mode == "cluster":
        export.save_keras_model(final, os.path.join(staging, artifacts.KERAS_FILE))
    result = _tflite_record(tflite_path, test_ds, xnnpack, test_examples)
    latency = evaluate.compare_latency(
        {"float": reference_path, "quantized": tflite_path}, rounds=3, batch_size=1,
        num_threads=2, xnnpack=xnnpack)
    reference["latency_ms_batch1"] = latency["float"]["median_ms"]
    result["latency_ms_batch1"] = latency["quantized"]["median_ms"]
    summary = {
        "config": config,
        "train_seconds": train_seconds,
        "source": {"keras_test_accuracy": artifacts.check_complete(
                       evaluate.evaluate_classifier(source, test_ds), test_examples,
                       "The input model")["accuracy"],
                   "kernel_sparsity": source_sparsity},
        "keras": {"test_accuracy": artifacts.check_complete(
            evaluate.evaluate_classifier(final, test_ds), test_examples,
            "The quantized Keras model")["accuracy"]},
        "float_reference": reference,
        "tflite": {**result, "quantization": quantization,
                   "top1_agreement_vs_keras": exported.top1_agreement,
                   "max_abs_diff_vs_keras": exported.max_abs_diff},
        "ratios": {"bytes": reference["bytes"] / result["bytes"],
                   "gzip_bytes": reference["gzip_bytes"] / result["gzip_bytes"],
                   "latency": reference["latency_ms_batch1"] / result["latency_ms_batch1"]},
    }
    weights = evaluate.weight_stats(tflite_path)
    summary["tflite_weights"] = {
        "sparsity": (sum(w["zeros"] for w in weights.values())
                     / max(1, sum(w["size"] for w in weights.values()))),
        "max_distinct_values": max((w["distinct_values"] for w in weights.values()),
                                   default=0),
        "tensors": weights}
    _atomic.write_json(os.path.join(staging, artifacts.SUMMARY_FILE), summary)
    run_dir.finish(staging, output_dir)
    log(format_summary(summary, output_dir))
    return summary


def format_summary(summary, output_dir):
    """Human-readable lines: accuracy, size and speed against the float file."""
    ref, out, ratios = summary["float_reference"], summary["tflite"], summary["ratios"]
    return "\n".join([
        f"Test accuracy: float TFLite {ref['test_accuracy']:.2%} -> "
        f"{summary['config']['mode']} TFLite {out['test_accuracy']:.2%}",
        f"Size: {ref['bytes'] / 1024:.1f} -> {out['bytes'] / 1024:.1f} KiB "
        f"({ratios['bytes']:.1f}x smaller); gzipped {ref['gzip_bytes'] / 1024:.1f} -> "
        f"{out['gzip_bytes'] / 1024:.1f} KiB ({ratios['gzip_bytes']:.1f}x)",
        f"Weights in the file: {summary['tflite_weights']['sparsity']:.1%} zeros, at "
        f"most {summary['tflite_weights']['max_distinct_values']} distinct values per "
        "tensor",
        f"Latency, batch 1, 2 threads: {ref['latency_ms_batch1']:.4f} -> "
        f"{out['latency_ms_batch1']:.4f} ms ({ratios['latency']:.2f}x faster)",
        f"Written to {output_dir}",
    ])
