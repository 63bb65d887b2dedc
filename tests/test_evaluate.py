"""Tests of accuracy, parameter counts and artifact sizes."""

import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

import helpers
from tfcompress import data
from tfcompress import evaluate
from tfcompress import export
from tfcompress import models
from tfcompress._keras import keras
from tfcompress.evaluate import file_parts
from tfcompress.shrink import latency
from tfcompress.jobs import evaluate_tflite
from tfcompress.jobs import runner
from tfcompress.jobs import settings


def _dataset(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=n).astype(np.int32)
    return x, y, tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


class EvaluateTest(tf.test.TestCase):

    def test_keras_accuracy_and_loss_match_hand_computation(self):
        model = helpers.tiny_mlp()
        x, y, ds = _dataset()
        logits = model(x).numpy().astype(np.float64)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        metrics = evaluate.evaluate_classifier(model, ds)
        self.assertEqual(metrics["num_examples"], 40)
        self.assertAllClose(metrics["accuracy"], np.mean(logits.argmax(-1) == y))
        self.assertAllClose(metrics["loss"], -np.mean(log_probs[np.arange(40), y]),
                            rtol=1e-5)

    def test_tflite_accuracy_equals_keras_accuracy(self):
        model = helpers.tiny_mlp()
        _, _, ds = _dataset(n=64, seed=1)
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        export.export_tflite(model, path)
        keras_metrics = evaluate.evaluate_classifier(model, ds)
        tflite_metrics = evaluate.evaluate_tflite(path, ds)
        self.assertEqual(tflite_metrics["accuracy"], keras_metrics["accuracy"])
        self.assertAllClose(tflite_metrics["loss"], keras_metrics["loss"], atol=1e-5)

    def test_empty_dataset_is_an_error(self):
        empty = tf.data.Dataset.from_tensor_slices(
            (np.zeros((0, 6), np.float32), np.zeros((0,), np.int32))).batch(4)
        with self.assertRaisesRegex(ValueError, "The dataset is empty"):
            evaluate.evaluate_classifier(helpers.tiny_mlp(), empty)

    @pytest.mark.mnist
    def test_float_tflite_accuracy_equals_keras_on_mnist_slice(self):
        model = models.lenet5()
        ds = data.load("mnist", "test[:256]")
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        export.export_tflite(model, path)
        self.assertEqual(evaluate.evaluate_tflite(path, ds)["accuracy"],
                         evaluate.evaluate_classifier(model, ds)["accuracy"])


class SizeTest(tf.test.TestCase):

    def test_count_params_counts_nonzeros(self):
        model = helpers.tiny_mlp()
        kernel = model.layers[2].kernel
        kernel.assign(tf.zeros_like(kernel))
        counts = evaluate.count_params(model)
        self.assertEqual(counts["total"], 6 * 8 + 8 + 8 * 3 + 3)
        self.assertEqual(counts["trainable"], counts["total"])
        self.assertEqual(counts["non_trainable"], 0)
        # Zero kernel (48) and zero-initialized biases (8 + 3) are not counted.
        self.assertEqual(counts["nonzero"], 8 * 3)

    def test_file_size_raw_and_gzipped(self):
        path = self.create_tempfile("f.bin", content="a" * 10_000).full_path
        size = evaluate.artifact_size(path)
        self.assertEqual(size["bytes"], 10_000)
        self.assertEqual(size["gzip_bytes"],
                         len(gzip.compress(b"a" * 10_000, compresslevel=9, mtime=0)))
        self.assertLess(size["gzip_bytes"], 200)

    def test_folder_size_is_sum_of_files_and_deterministic(self):
        folder = self.create_tempdir()
        folder.create_file("a", content="x" * 100)
        folder.create_file("sub/b", content="y" * 50)
        first = evaluate.artifact_size(folder.full_path)
        self.assertEqual(first["bytes"], 150)
        self.assertEqual(evaluate.artifact_size(folder.full_path), first)

    def test_missing_path(self):
        with self.assertRaisesRegex(FileNotFoundError, "No file or folder at 'nope'"):
            evaluate.artifact_size("nope")


class CompleteEvaluationTest(tf.test.TestCase):

    def test_an_evaluation_cut_short_is_an_error(self):
        from tfcompress.jobs import artifacts  # pylint: disable=g-import-not-at-top

        with self.assertRaisesRegex(RuntimeError, "The TFLite model was evaluated on 128 "
                                    "examples, but the split holds 10000"):
            artifacts.check_complete({"num_examples": 128}, 10000, "The TFLite model")
        metrics = {"num_examples": 10000, "accuracy": 0.98}
        self.assertIs(artifacts.check_complete(metrics, 10000, "x"), metrics)


class EvaluateJobTest(tf.test.TestCase):
    """`tfcompress evaluate`'s job, through the runner like every other job."""

    def setUp(self):
        super().setUp()
        self.folder = self.create_tempdir().full_path
        rng = np.random.default_rng(0)
        # 40 training images: the default --train_split 'train[5000:]' is empty.
        images = rng.uniform(0, 255, size=(40, 8, 8, 1)).astype(np.float32)
        labels = rng.integers(0, 3, size=40)
        path = os.path.join(self.folder, "data.npz")
        np.savez(path, x_train=images, y_train=labels, x_test=images[:24],
                 y_test=labels[:24])
        self.dataset = f"npz:{path}"
        self.tflite = os.path.join(self.folder, "model.tflite")
        export.export_tflite(helpers.tiny_cnn(), self.tflite,
                             check_inputs=images[:4] / 255)

    def _listing(self):
        return sorted(os.listdir(self.folder))

    def test_runs_through_the_runner_writes_nothing_and_returns_what_it_logged(self):

        before, lines = self._listing(), []
        job = evaluate_tflite.EvaluateJob(self.tflite, batch_sizes=(1, 4), repeats=2,
                                          xnnpack=False)
        result = runner.run(job, settings.Training(output_dir=None, dataset=self.dataset),
                            log=lines.append)
        self.assertEqual(self._listing(), before)
        expected = evaluate.evaluate_tflite(self.tflite, data.load(
            self.dataset, "test", image_shape=(8, 8, 1)), xnnpack=False)
        self.assertEqual(result["accuracy"], expected["accuracy"])
        self.assertEqual(result["num_examples"], 24)
        self.assertEqual([row["batch_size"] for row in result["latency"]], [1, 4])
        self.assertEqual(result["bytes"], os.path.getsize(self.tflite))
        self.assertEqual(lines[0], f"{self.tflite}: accuracy {expected['accuracy']:.2%} "
                         f"on {self.dataset} test (24 examples)")
        self.assertLen(lines, 4)  # accuracy, size, a latency line per batch size

    def test_the_training_split_is_read_only_for_standard_normalization(self):

        def run(**changes):
            return runner.run(evaluate_tflite.EvaluateJob(self.tflite, batch_sizes=()),
                              settings.Training(None, dataset=self.dataset, **changes),
                              log=lambda *_: None)

        self.assertEqual(run()["latency"], [])
        with self.assertRaisesRegex(ValueError, r"^`train_split` 'train\[5000:\]' is not "
                                    "a usable split of 'npz:"):
            run(normalize="standard")
        self.assertEqual(run(normalize="standard", train_split="train")["num_examples"], 24)

    @pytest.mark.mnist
    def test_bad_inputs_are_refused_by_the_evaluate_command_s_names(self):

        def run(dataset=self.dataset, **job_changes):
            job = evaluate_tflite.EvaluateJob(**{"tflite": self.tflite, **job_changes})
            return runner.run(job, settings.Training(None, dataset=dataset),
                              log=lambda *_: None)

        with self.assertRaisesRegex(ValueError, r"^`split` 'test\[:0\]' is not a usable "
                                    "split of 'npz:.*': it is empty"):
            run(split="test[:0]")
        with self.assertRaisesRegex(FileNotFoundError, "^`tflite` 'none.tflite' is not a "
                                    "file: pass the path of a .tflite file.$"):
            run(tflite="none.tflite")
        with self.assertRaisesRegex(ValueError, "^`num_threads` must be a positive int"):
            run(num_threads=0)
        with self.assertRaisesRegex(ValueError, r"^`tflite` '.*model\.tflite' takes inputs "
                                    r"of shape \(8, 8, 1\), but dataset 'mnist' has images "
                                    r"of shape \(28, 28, 1\)"):
            run(dataset="mnist")
        self.assertEqual(self._listing(), ["data.npz", "model.tflite"])


class FilePartsTest(tf.test.TestCase):

    def test_bytes_split_into_parts_that_add_up(self):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(32, 3, name="conv")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))
        weights = 3 * 3 * 32 + 32 * 4  # kernels; biases 32 + 4
        parts = {fmt: file_parts.bytes_by_part(latency.tflite_bytes(model, fmt))
                 for fmt in ("float", "int8")}
        for split in parts.values():
            self.assertEqual(sum(v for k, v in split.items() if k != "total"), split["total"])
        self.assertGreaterEqual(parts["float"]["float constants"], 4 * weights)
        self.assertEqual(parts["float"]["quantization params"], 0)
        self.assertGreaterEqual(parts["int8"]["int constants"], weights + 4 * 36)
        self.assertGreater(parts["int8"]["quantization params"], 32 * 12)  # per channel
        self.assertLess(parts["int8"]["float constants"], weights)
