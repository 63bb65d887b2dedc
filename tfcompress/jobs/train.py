"""The `tfcompress train` job: train, evaluate and export one model."""

import os
import time

from tfcompress import _atomic
from tfcompress import data
from tfcompress import evaluate
from tfcompress import export
from tfcompress import models
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.jobs import run_dir

# Artifact names inside an output folder; later stages read these.
KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
TFLITE_FILE = "model.tflite"
SUMMARY_FILE = "summary.json"

# Real test images the exports are checked on.
_CHECK_EXAMPLES = 64


def dataset_shape(dataset, data_dir=None):
    """(input shape, number of classes) of a TFDS image-classification set."""
    info = data.builder(dataset, data_dir).info
    if not info.supervised_keys:
        raise ValueError(f"`dataset` {dataset!r} has no (image, label) supervised keys.")
    image_key, label_key = info.supervised_keys[:2]
    return tuple(info.features[image_key].shape), info.features[label_key].num_classes


def _check_split(dataset, split, arg_name, data_dir):
    try:
        if data.num_examples(dataset, split, data_dir) == 0:
            raise ValueError("it is empty")
    except (KeyError, ValueError) as e:
        raise ValueError(
            f"`{arg_name}` {split!r} is not a usable split of {dataset!r}: {e}"
        ) from None


def check_inputs(*, model_spec, output_dir, dataset, epochs, batch_size,
                 optimizer, learning_rate, train_split, val_split, test_split,
                 overwrite, data_dir):
    """Checks every input of `run` without training; cheap, raises at once.

    Raises:
      ValueError: a bad model spec, dataset, split or hyperparameter.
      FileNotFoundError: the dataset is not prepared locally.
      FileExistsError: `output_dir` holds files and not `overwrite`.
    """
    input_shape, num_classes = dataset_shape(dataset, data_dir)
    # Building is cheap and checks the spec's values too (dropout=2 fails).
    models.build(model_spec, input_shape=input_shape, num_classes=num_classes)
    for arg_name, split in (("train_split", train_split), ("val_split", val_split),
                            ("test_split", test_split)):
        if split or arg_name != "val_split":
            _check_split(dataset, split, arg_name, data_dir)
    training.make_optimizer(optimizer, learning_rate)
    for arg_name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{arg_name}` must be a positive int, got {value!r}.")
    run_dir.check_output_dir(output_dir, overwrite)


def run(
    *,
    model_spec,
    output_dir,
    dataset="mnist",
    epochs=10,
    batch_size=128,
    optimizer="adam",
    learning_rate=1e-3,
    train_split="train[5000:]",
    val_split="train[:5000]",
    test_split="test",
    seed=0,
    overwrite=False,
    data_dir=None,
    verbose=2,
    log=print,
):
    """Trains `model_spec` on a TFDS dataset, evaluates it and exports it.

    Writes into `output_dir`: model.keras, saved_model/, model.tflite (both
    exports run and compared with Keras on real test images) and
    summary.json. All inputs are checked (`check_inputs`) before training.

    Returns:
      The summary dict written to summary.json.
    """
    check_inputs(
        model_spec=model_spec, output_dir=output_dir, dataset=dataset,
        epochs=epochs, batch_size=batch_size, optimizer=optimizer,
        learning_rate=learning_rate, train_split=train_split,
        val_split=val_split, test_split=test_split, overwrite=overwrite,
        data_dir=data_dir,
    )
    input_shape, num_classes = dataset_shape(dataset, data_dir)
    config = dict(
        job="train", model_spec=model_spec, dataset=dataset, epochs=epochs,
        batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate,
        train_split=train_split, val_split=val_split, test_split=test_split,
        seed=seed,
    )
    staging = run_dir.start(output_dir, config)
    keras.utils.set_random_seed(seed)
    load = dict(batch_size=batch_size, data_dir=data_dir)
    train_ds = data.load(dataset, train_split, shuffle=True, seed=seed, **load)
    val_ds = data.load(dataset, val_split, **load) if val_split else None
    test_ds = data.load(dataset, test_split, **load)
    model = models.build(model_spec, input_shape=input_shape,
                         num_classes=num_classes)
    log(f"Training {model_spec} ({model.count_params():,} parameters) on {dataset} "
        f"{train_split} for {epochs} epochs.")

    start = time.time()
    training.train_classifier(
        model, train_ds, epochs=epochs, validation_data=val_ds,
        optimizer=optimizer, learning_rate=learning_rate,
        checkpoint_dir=os.path.join(staging, "checkpoints"), verbose=verbose,
    )
    train_seconds = time.time() - start
    keras_metrics = evaluate.evaluate_classifier(model, test_ds)
    params = evaluate.count_params(model)

    check_batch = next(iter(test_ds))[0].numpy()[:_CHECK_EXAMPLES]
    paths = {name: os.path.join(staging, name)
             for name in (KERAS_FILE, SAVED_MODEL_DIR, TFLITE_FILE)}
    export.save_keras_model(model, paths[KERAS_FILE])
    saved = export.export_saved_model(model, paths[SAVED_MODEL_DIR],
                                      check_inputs=check_batch)
    tflite = export.export_tflite(model, paths[TFLITE_FILE], check_inputs=check_batch)
    tflite_metrics = evaluate.evaluate_tflite(paths[TFLITE_FILE], test_ds)

    summary = {
        "config": config,
        "params": params,
        "train_seconds": round(train_seconds, 2),
        "keras": {"test_accuracy": keras_metrics["accuracy"],
                  "test_loss": keras_metrics["loss"],
                  "test_examples": keras_metrics["num_examples"]},
        "tflite": {"test_accuracy": tflite_metrics["accuracy"],
                   "max_abs_diff_vs_keras": tflite.max_abs_diff},
        "saved_model": {"max_abs_diff_vs_keras": saved.max_abs_diff},
        "sizes": {name: evaluate.artifact_size(path) for name, path in paths.items()},
    }
    _atomic.write_json(os.path.join(staging, SUMMARY_FILE), summary)
    run_dir.finish(staging, output_dir)
    log(format_summary(summary, output_dir))
    return summary


def format_summary(summary, output_dir):
    """A few human-readable lines: accuracy, parameters and artifact sizes."""
    lines = [
        f"Test accuracy: Keras {summary['keras']['test_accuracy']:.2%}, "
        f"TFLite {summary['tflite']['test_accuracy']:.2%} "
        f"({summary['keras']['test_examples']:,} examples)",
        f"Parameters: {summary['params']['total']:,}",
        f"Artifacts in {output_dir}:",
    ]
    for name, size in summary["sizes"].items():
        lines.append(f"  {name:<14} {size['bytes'] / 1024:9.1f} KiB   "
                     f"gzipped {size['gzip_bytes'] / 1024:9.1f} KiB")
    return "\n".join(lines)
