"""Precision, recall and F1 of the positive class, for 2-class models.

Evaluators, job summaries, the pipeline report and `tfcompress evaluate`.
"""

import json
import os

import helpers
import numpy as np
import tensorflow as tf

from tfcompress import evaluate
from tfcompress import export
from tfcompress._keras import keras
from tfcompress.evaluate import accuracy
from tfcompress.jobs import artifacts
from tfcompress.jobs import evaluate_tflite
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.pipeline import report as report_lib

_BINARY_KEYS = {"precision", "recall", "f1", "positive_class"}

# Hand case: class 1 is the minority (3 of 8). Predicted 1 at rows 0, 1, 3, 4:
# 2 true positives (rows 0, 1), 2 false positives (3, 4), 1 false negative (2).
# Precision 2/4, recall 2/3, F1 2PR/(P+R) = 4/7; accuracy (2 + 3) / 8.
_LABELS = np.array([1, 1, 1, 0, 0, 0, 0, 0], np.int32)
_PREDICTED = np.array([1, 1, 0, 1, 1, 0, 0, 0])


def _logits(predicted):
    """Logits that predict `predicted`: 1.0 for the predicted class, else 0."""
    return np.eye(2, dtype=np.float32)[predicted]


def _logits_model():
    """Outputs its 2 inputs as logits: a Dense with identity kernel, zero bias."""
    inputs = keras.Input((2,))
    dense = keras.layers.Dense(2)
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    return model


def _batches(x, y, batch_size=3):
    # Batches of 3 cut the hand case across batches: the counts must add up.
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def _tflite(model, folder):
    path = os.path.join(folder, "m.tflite")
    export.export_tflite(model, path)
    return path


class BinaryMetricsTest(tf.test.TestCase):

    def test_keras_metrics_of_hand_case_are_positive_minority_class_figures(self):
        metrics = evaluate.evaluate_classifier(
            _logits_model(), _batches(_logits(_PREDICTED), _LABELS))
        self.assertEqual(metrics["positive_class"], 1)
        self.assertAllClose(metrics["precision"], 2 / 4)
        self.assertAllClose(metrics["recall"], 2 / 3)
        self.assertAllClose(metrics["f1"], 4 / 7)
        self.assertAllClose(metrics["accuracy"], 5 / 8)
        self.assertEqual(metrics["num_examples"], 8)

    def test_minority_class_0_is_the_positive_class(self):
        # Swap the classes: class 0 is now the minority, with the same figures.
        metrics = evaluate.evaluate_classifier(
            _logits_model(), _batches(_logits(1 - _PREDICTED), 1 - _LABELS))
        self.assertEqual(metrics["positive_class"], 0)
        self.assertAllClose(metrics["precision"], 2 / 4)
        self.assertAllClose(metrics["recall"], 2 / 3)
        self.assertAllClose(metrics["f1"], 4 / 7)

    def test_tie_between_classes_makes_class_1_positive(self):
        labels = np.array([0, 0, 1, 1], np.int32)
        predicted = np.array([0, 1, 1, 0])  # class 1: TP 1, FP 1, FN 1
        metrics = evaluate.evaluate_classifier(
            _logits_model(), _batches(_logits(predicted), labels))
        self.assertEqual(metrics["positive_class"], 1)
        self.assertAllClose([metrics["precision"], metrics["recall"], metrics["f1"]],
                            [0.5, 0.5, 0.5])

    def test_nothing_predicted_positive_gives_zero_precision_recall_and_f1(self):
        metrics = evaluate.evaluate_classifier(
            _logits_model(), _batches(_logits(np.zeros(8, np.int64)), _LABELS))
        self.assertEqual(metrics["positive_class"], 1)
        self.assertEqual(
            (metrics["precision"], metrics["recall"], metrics["f1"]), (0.0, 0.0, 0.0))
        self.assertAllClose(metrics["accuracy"], 5 / 8)

    def test_binary_metrics_of_labels_all_one_class_are_zero_not_nan(self):
        # Every label is 0: the minority class 1 has no example, recall is 0/0.
        self.assertEqual(accuracy.binary_metrics([[3, 1], [0, 0]]),
                         {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                          "positive_class": 1})

    def test_ten_class_model_gives_only_accuracy_loss_and_count(self):
        model = helpers.tiny_mlp(num_classes=10)
        rng = np.random.default_rng(0)
        x = rng.uniform(size=(20, 6)).astype(np.float32)
        ds = _batches(x, rng.integers(0, 10, 20).astype(np.int32), batch_size=8)
        expected = {"accuracy", "loss", "num_examples"}
        self.assertEqual(set(evaluate.evaluate_classifier(model, ds)), expected)
        path = _tflite(model, self.create_tempdir().full_path)
        self.assertEqual(set(evaluate.evaluate_tflite(path, ds)), expected)

    def _assert_tflite_figures_equal_keras(self, model, ds):
        keras_metrics = evaluate.evaluate_classifier(model, ds)
        tflite_metrics = evaluate.evaluate_tflite(
            _tflite(model, self.create_tempdir().full_path), ds)
        for key in _BINARY_KEYS | {"accuracy"}:
            self.assertEqual(tflite_metrics[key], keras_metrics[key], key)
        return tflite_metrics

    def test_tflite_binary_metrics_of_hand_case_equal_keras_ones(self):
        metrics = self._assert_tflite_figures_equal_keras(
            _logits_model(), _batches(_logits(_PREDICTED), _LABELS))
        self.assertAllClose(metrics["f1"], 4 / 7)

    def test_tflite_binary_metrics_of_random_mlp_equal_keras_ones(self):
        rng = np.random.default_rng(1)
        x = rng.uniform(size=(48, 6)).astype(np.float32)
        ds = _batches(x, rng.integers(0, 2, 48).astype(np.int32), batch_size=16)
        self._assert_tflite_figures_equal_keras(
            helpers.tiny_mlp(num_classes=2, seed=3), ds)


class SummaryTest(tf.test.TestCase):

    def test_export_and_evaluate_of_two_class_model_adds_keys_to_both_sections(self):
        x, labels = _logits(_PREDICTED), _LABELS
        summary = artifacts.export_and_evaluate(
            _logits_model(), self.create_tempdir().full_path, _batches(x, labels),
            check_inputs=x, expected_examples=8)
        for section in ("keras", "tflite"):
            figures = summary[section]
            self.assertEqual(figures["positive_class"], 1)
            self.assertAllClose(
                [figures["test_precision"], figures["test_recall"], figures["test_f1"]],
                [2 / 4, 2 / 3, 4 / 7])
        self.assertContainsSubset(["test_accuracy", "test_loss", "test_examples"],
                                  summary["keras"])
        self.assertIn("max_abs_diff_vs_keras", summary["tflite"])

    def test_binary_section_of_other_tasks_is_empty(self):
        self.assertEqual(artifacts.binary_section(
            {"accuracy": 0.9, "loss": 0.3, "num_examples": 10}), {})


def _write_stage(run_dir, stage, tflite_extra=None):
    """A finished stage's summary.json with the fields the report reads."""
    os.makedirs(os.path.join(run_dir, stage))
    summary = {"params": {"total": 100, "nonzero": 100}, "macs": 100,
               "sizes": {artifacts.TFLITE_FILE: {"bytes": 2048, "gzip_bytes": 1024}},
               "keras": {"test_accuracy": 0.75},
               "tflite": {"test_accuracy": 0.75, **(tflite_extra or {})}}
    with open(os.path.join(run_dir, stage, artifacts.SUMMARY_FILE), "w") as f:
        json.dump(summary, f)


class ReportTest(tf.test.TestCase):

    def test_report_of_two_class_run_has_f1_column_and_names_positive_class(self):
        run_dir = self.create_tempdir().full_path
        _write_stage(run_dir, "baseline", {"test_f1": 0.5, "positive_class": 0})
        _write_stage(run_dir, "distill")  # a stage without F1 shows "-"
        report = report_lib.write_report(run_dir)
        rows = {r["stage"]: r for r in report["stages"]}
        self.assertEqual(rows["baseline"]["tflite_f1"], 0.5)
        self.assertEqual(rows["baseline"]["positive_class"], 0)
        self.assertNotIn("tflite_f1", rows["distill"])
        header, _, baseline, distill = report_lib.format_table(report).splitlines()
        self.assertIn("| TFLite acc | TFLite F1 | latency", header)
        self.assertIn("| 75.00% | 0.500 |", baseline)
        self.assertIn("| 75.00% | - |", distill)
        with open(os.path.join(run_dir, report_lib.REPORT_MD)) as f:
            self.assertIn("F1 is of the positive class, class 0", f.read())

    def test_report_of_other_tasks_has_no_f1_column(self):
        run_dir = self.create_tempdir().full_path
        _write_stage(run_dir, "baseline")
        table = report_lib.format_table(report_lib.build_report(run_dir))
        self.assertNotIn("F1", table)
        self.assertIn("| TFLite acc | latency", table)


class EvaluateJobTest(tf.test.TestCase):

    def test_evaluate_job_prints_and_returns_binary_metrics(self):
        folder = self.create_tempdir().full_path
        # 2x2 images; the model predicts class 1 when the first pixel is bright.
        inputs = keras.Input((2, 2, 1))
        dense = keras.layers.Dense(2)
        model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
        kernel = np.zeros((4, 2), np.float32)
        kernel[0, 1] = 1.0
        dense.set_weights([kernel, np.array([0.5, 0.0], np.float32)])
        images = np.zeros((8, 2, 2), np.uint8)
        images[_PREDICTED == 1, 0, 0] = 255
        dataset = os.path.join(folder, "data.npz")
        np.savez(dataset, x_train=images, y_train=_LABELS.astype(np.int64),
                 x_test=images, y_test=_LABELS.astype(np.int64))
        lines = []
        result = runner.run(
            evaluate_tflite.EvaluateJob(_tflite(model, folder), batch_sizes=(1,), repeats=1,
                                        xnnpack=False),
            settings.Training(None, dataset=f"npz:{dataset}"), log=lines.append)
        self.assertEqual(result["positive_class"], 1)
        self.assertAllClose([result["precision"], result["recall"], result["f1"]],
                            [2 / 4, 2 / 3, 4 / 7])
        self.assertIn("Positive class 1 (the minority class): precision 50.00%, "
                      "recall 66.67%, F1 0.571", lines)


if __name__ == "__main__":
    tf.test.main()
