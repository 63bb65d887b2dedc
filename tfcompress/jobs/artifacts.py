"""The artifacts every job leaves: .keras, SavedModel and TFLite, all checked."""

import json
import os

from tfcompress import data
from tfcompress import evaluate
from tfcompress import export
from tfcompress import keras3

# Artifact names inside an output folder; later stages read these.
KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
TFLITE_FILE = "model.tflite"
SUMMARY_FILE = "summary.json"


def model_path(path, arg_name="model"):
    """The .keras file of `path`: the file itself, or a job folder's model."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"`{arg_name}` must be the path of a .keras file or of a job's "
                         f"output folder, got {path!r}.")
    path = os.fspath(path)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, KERAS_FILE)) and any(
                name == "saved_model.pb" or name.endswith(".keras")
                for name in os.listdir(path)):
            export.check_keras_path(path, arg_name)  # says what the folder holds
        path = os.path.join(path, KERAS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"`{arg_name}`: no model at {path!r}: give a .keras file or the output "
            "folder of a `tfcompress train`, `distill` or `prune` run.")
    return path


def abspath_of_model(path, arg_name="model"):
    """The absolute path of `path`'s .keras file, as a run's config records it."""
    return os.path.abspath(model_path(path, arg_name))


def check_batch(dataset, split, data_dir=None, **load_kwargs):
    """Real test examples every export is run and compared on: (x, y) arrays.

    Up to 16 of every class (`data.examples_of_every_class`), so a file that
    answers the common class for everything fails its check.
    `load_kwargs`: the run's image shape and normalization (`data.load`'s).
    """
    return data.examples_of_every_class(dataset, split, data_dir=data_dir,
                                        **load_kwargs)


def check_complete(metrics, expected, what):
    """Raises if an evaluation saw fewer examples than the split holds."""
    if metrics["num_examples"] != expected:
        raise RuntimeError(f"{what} was evaluated on {metrics['num_examples']} examples, "
                           f"but the split holds {expected}: the input pipeline "
                           "was cut short. Nothing was written.")
    return metrics


def binary_section(metrics):
    """The summary keys of `metrics`' binary figures; {} when it has none.

    Only a 2-class model's evaluation has them (`evaluate.accuracy.binary_metrics`).
    """
    if "f1" not in metrics:
        return {}
    return {"test_precision": metrics["precision"], "test_recall": metrics["recall"],
            "test_f1": metrics["f1"], "positive_class": metrics["positive_class"]}


def save_model(model, path, as_keras3=True):
    """Writes model.keras: converted to Keras 3 (checked equal), or tf_keras.

    A model Keras 3 cannot hold (a custom layer without a
    `keras3.register_reverse` converter) is written by tf_keras rather than
    lost at the end of a job; the summary record says why.
    """
    if as_keras3:
        try:
            converted = keras3.to_keras3(model)
        except keras3.UnsupportedLayersError as e:
            export.save_keras_model(model, path)
            return {"format": "tf_keras", "why_not_keras3": str(e)}
        export.save_keras_model(converted, path)
        return {"format": "keras3"}
    export.save_keras_model(model, path)
    return {"format": "tf_keras"}


def export_and_evaluate(model, folder, test_ds, check_inputs, expected_examples,
                        as_keras3=True):
    """Writes and checks the three artifacts; returns the summary sections.

    With `as_keras3` (what jobs do), model.keras is written by Keras 3, so
    `keras.saving.load_model` reads it.

    Both exports are run on `check_inputs` (real test examples) and compared
    with the Keras model before they land; the Keras model and the TFLite
    file are then evaluated on `test_ds`, which must yield all
    `expected_examples`.

    Returns:
      {"params", "macs", "keras", "tflite", "saved_model", "sizes"} summary
      sections (MACs of one example's inference). For a 2-class model,
      "keras" and "tflite" also hold `binary_section`'s keys.
    """
    keras_metrics = check_complete(evaluate.evaluate_classifier(model, test_ds),
                                   expected_examples, "The Keras model")
    check_batch = check_inputs
    paths = {name: os.path.join(folder, name)
             for name in (KERAS_FILE, SAVED_MODEL_DIR, TFLITE_FILE)}
    keras_file = save_model(model, paths[KERAS_FILE], as_keras3)
    saved = export.export_saved_model(model, paths[SAVED_MODEL_DIR],
                                      check_inputs=check_batch)
    tflite = export.export_tflite(model, paths[TFLITE_FILE], check_inputs=check_batch)
    tflite_metrics = check_complete(evaluate.evaluate_tflite(paths[TFLITE_FILE], test_ds),
                                    expected_examples, "The TFLite model")
    return {
        "params": evaluate.count_params(model),
        "macs": evaluate.count_macs(model)["total"],
        "keras": {"test_accuracy": keras_metrics["accuracy"],
                  "test_loss": keras_metrics["loss"],
                  "test_examples": keras_metrics["num_examples"],
                  **binary_section(keras_metrics)},
        "tflite": {"test_accuracy": tflite_metrics["accuracy"],
                   **binary_section(tflite_metrics),
                   "max_abs_diff_vs_keras": tflite.max_abs_diff},
        "saved_model": {"max_abs_diff_vs_keras": saved.max_abs_diff},
        "keras_file": keras_file,
        "sizes": {name: evaluate.artifact_size(path) for name, path in paths.items()},
    }


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


def spec_of_model(path):
    """The zoo spec the job that wrote `path`'s model trained it from
    (`train`'s model_spec, `distill`'s student_spec), or None: a bare .keras
    file, or a job that changed the model (shrink, prune, ...)."""
    folder = os.path.dirname(model_path(path))
    summary_path = os.path.join(folder, SUMMARY_FILE)
    if not os.path.isfile(summary_path):
        return None
    with open(summary_path, encoding="utf-8") as f:
        config = json.load(f).get("config", {})
    return {"train": config.get("model_spec"),
            "distill": config.get("student_spec")}.get(config.get("job"))
