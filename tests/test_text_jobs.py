"""Pruning, quantization and evaluation of a text LSTM read from tsv:PATH."""

import os
import re

import tensorflow as tf

from test_distill_text import _training
from test_distill_text import _write_tsv
from tfcompress import data
from tfcompress.evaluate.tflite_ops import op_names
from tfcompress.jobs import evaluate_tflite
from tfcompress.jobs import prune
from tfcompress.jobs import quantize
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import train
from tfcompress.runtime import variable_tensors

_QUIET = {"log": lambda *_: None}


class TextLstmJobsTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.root = tf.compat.v1.test.get_temp_dir()
        cls.dataset = "tsv:" + _write_tsv(cls.root)
        cls.trained = os.path.join(cls.root, "trained")
        runner.run(train.TrainJob("text_lstm:8,8"), _training(cls.trained, cls.dataset),
                   **_QUIET)
        cls.pruned = os.path.join(cls.root, "pruned")
        cls.prune_summary = runner.run(
            prune.PruneJob(model=cls.trained, sparsity=0.5, schedule="constant"),
            _training(cls.pruned, cls.dataset), **_QUIET)

    def test_pruned_lstm_reaches_its_sparsity_and_exports_a_stateless_loop(self):
        self.assertAllClose(self.prune_summary["sparsity"]["sparsity"], 0.5,
                            atol=0.01)
        path = os.path.join(self.pruned, "model.tflite")
        self.assertIn("WHILE", op_names(path))
        self.assertEmpty(variable_tensors(path))

    def test_pqat_falls_back_to_post_training_int8_and_says_why(self):
        out = os.path.join(self.root, "quantized")
        lines = []
        summary = runner.run(quantize.QuantizeJob(model=self.pruned, mode="pqat"),
                             _training(out, self.dataset), log=lines.append)
        reason = ("TFMOT has no quantization-aware training for layer 'embedding' "
                  "(Embedding): post-training int8 instead of pqat")
        self.assertIn(f"{reason}.", lines)
        self.assertEqual(summary["fallback"], reason)
        self.assertEqual(summary["applied_mode"], "int8")
        self.assertEqual(summary["tflite"]["quantization"], "int8")
        self._assert_unrolled(os.path.join(out, "model.tflite"))
        # Post-training int8 keeps the pruned zeros.
        self.assertGreater(summary["tflite_weights"]["sparsity"], 0.45)
        self.assertTrue(os.path.isfile(os.path.join(out, "vocabulary.txt")))

    def test_cqat_clusters_then_quantizes_after_training(self):
        out = os.path.join(self.root, "cqat")
        summary = runner.run(quantize.QuantizeJob(model=self.trained, mode="cqat",
                                                  clusters=8),
                             _training(out, self.dataset), **_QUIET)
        self.assertEqual(summary["applied_mode"], "cluster_int8")
        self.assertEqual(summary["fallback"], (
            "TFMOT has no quantization-aware training for layer 'embedding' "
            "(Embedding): clustering, then post-training int8 instead of cqat"))
        self.assertEqual(summary["tflite"]["quantization"], "int8")
        self._assert_unrolled(os.path.join(out, "model.tflite"))

    def _assert_unrolled(self, path):
        ops = op_names(path)
        self.assertNotIn("WHILE", ops)
        self.assertNotIn("UNIDIRECTIONAL_SEQUENCE_LSTM", ops)
        self.assertIn("TANH", ops)
        self.assertEmpty(variable_tensors(path))

    def test_evaluate_reads_the_text_test_split_and_reports_f1(self):
        result = runner.run(
            evaluate_tflite.EvaluateJob(os.path.join(self.pruned, "model.tflite"),
                                        batch_sizes=[1], repeats=3, xnnpack=False),
            settings.Training(None, dataset=self.dataset), **_QUIET)
        self.assertEqual(result["num_examples"],
                         data.open_source(self.dataset).num_examples("test"))
        self.assertBetween(result["f1"], 0.0, 1.0)

    def test_data_of_another_vocabulary_is_refused_by_name(self):
        other_folder = os.path.join(self.root, "other")
        os.makedirs(other_folder, exist_ok=True)
        other = "tsv:" + _write_tsv(other_folder, n=160)  # other "w<i>" words
        vocabulary = os.path.join(self.trained, "vocabulary.txt")
        message = re.escape(
            f"`model` {os.path.join(self.trained, 'model.keras')!r} was trained on the ids of {vocabulary!r} (") + (
            r"[0-9,]+ tokens\), but dataset '" + re.escape(other) + r"' numbers its "
            r"words by another vocabulary \([0-9,]+ tokens, first different at id "
            r"[0-9]+\): the model would read other words. Pass the dataset \(and "
            r"seed\) the model was trained on.$")
        with self.assertRaisesRegex(ValueError, "^" + message):
            runner.run(prune.PruneJob(model=self.trained, sparsity=0.5),
                       _training(os.path.join(self.root, "refused"), other), **_QUIET)
        self.assertFalse(os.path.exists(os.path.join(self.root, "refused")))
        with self.assertRaisesRegex(ValueError, "^`tflite` "):
            runner.run(evaluate_tflite.EvaluateJob(os.path.join(self.trained, "model.tflite")),
                       settings.Training(None, dataset=other), **_QUIET)


class DefaultSplitsTest(tf.test.TestCase):

    def test_a_tsv_run_without_splits_reads_the_files_train_val_and_test(self):
        root = self.create_tempdir().full_path
        dataset = "tsv:" + _write_tsv(root)
        run = runner.prepare(train.TrainJob("text_cnn:4,4"),
                             settings.Training(output_dir=os.path.join(root, "out"),
                                               dataset=dataset), **_QUIET)
        self.assertEqual((run.training.train_split, run.training.val_split,
                          run.training.test_split), ("train", "val", "test"))
        self.assertEqual(run.config["train_split"], "train")

    def test_mnist_keeps_its_held_out_validation_split(self):
        self.assertEqual(data.default_splits("mnist"), {
            "train": "train[5000:]", "val": "train[:5000]", "test": "test"})
