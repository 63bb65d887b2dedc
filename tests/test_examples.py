"""The example scripts run as a user would run them."""

import os
import re
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

_EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples")


@pytest.mark.mnist
@pytest.mark.slow
class ExamplesTest(tf.test.TestCase):

    def test_mnist_train_example_trains_and_exports(self):
        out = self.create_tempdir().full_path
        result = subprocess.run(
            [sys.executable, os.path.join(_EXAMPLES, "mnist_train.py"),
             "--epochs=1", f"--output_dir={out}"],
            capture_output=True, text=True, timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertTrue(os.path.isfile(os.path.join(out, "model.tflite")))
        accuracy = float(re.search(r"TFLite test: \{'accuracy': ([0-9.]+)",
                                   result.stdout).group(1))
        self.assertGreater(accuracy, 0.9)

    def test_mnist_distill_example_trains_both_students_and_exports(self):
        out = self.create_tempdir().full_path
        result = subprocess.run(
            [sys.executable, os.path.join(_EXAMPLES, "mnist_distill.py"),
             "--teacher_epochs=1", "--epochs=1", f"--output_dir={out}"],
            capture_output=True, text=True, timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertTrue(os.path.isfile(os.path.join(out, "student.tflite")))
        for who in ("Teacher", "Student alone", "Student distilled"):
            accuracy = float(re.search(who + r": \{'accuracy': ([0-9.]+)",
                                       result.stdout).group(1))
            self.assertGreater(accuracy, 0.9, who)

    def test_mnist_prune_example_reaches_its_sparsity_and_exports(self):
        out = self.create_tempdir().full_path
        result = subprocess.run(
            [sys.executable, os.path.join(_EXAMPLES, "mnist_prune.py"),
             "--train_epochs=2", "--epochs=2", "--sparsity=0.8", f"--output_dir={out}"],
            capture_output=True, text=True, timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertTrue(os.path.isfile(os.path.join(out, "pruned.tflite")))
        total = re.search(r"total\s+[\d,]+\s+[\d,]+\s+([\d.]+)%", result.stdout)
        self.assertGreater(float(total.group(1)), 75.0)  # biases stay dense
        accuracy = float(re.search(r"Pruned: \{'accuracy': ([0-9.]+)",
                                   result.stdout).group(1))
        self.assertGreater(accuracy, 0.9)


@pytest.mark.mnist
@pytest.mark.slow
class Keras3ExampleTest(tf.test.TestCase):

    def test_keras3_users_script_gets_keras3_models_and_a_checked_file(self):
        out = self.create_tempdir().full_path
        result = subprocess.run(
            [sys.executable, os.path.join(_EXAMPLES, "keras3_mnist.py"), "--epochs=1",
             "--train_split=train[5000:10000]", f"--output_dir={out}"],
            capture_output=True, text=True, timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        import keras  # pylint: disable=import-outside-toplevel  (Keras 3, the user's)
        for name in ("student.keras", "pruned.keras"):
            self.assertIsInstance(keras.saving.load_model(os.path.join(out, name)),
                                  keras.Model)
        self.assertIn("Pruned (keras.", result.stdout)  # strip() handed back Keras 3
        accuracy = float(re.search(r"int8 file: \{'accuracy': ([0-9.]+)",
                                   result.stdout).group(1))
        self.assertGreater(accuracy, 0.85)
        with open(os.path.join(out, "pruning.csv"), encoding="utf-8") as f:
            self.assertLen(f.read().strip().splitlines(), 2)  # header + 1 epoch (CSVLogger)
        # Quiet by default: no TensorFlow start-up lines.
        self.assertNotIn("cuInit", result.stderr)
        self.assertNotIn("oneDNN", result.stderr)


@pytest.mark.sms_spam
@pytest.mark.slow
class SmsSpamExampleTest(tf.test.TestCase):

    def test_example_on_a_slice_beats_the_majority_class(self):
        from conftest import SMS_SPAM  # pylint: disable=import-outside-toplevel
        out = self.create_tempdir().full_path
        result = subprocess.run(
            [sys.executable, os.path.join(_EXAMPLES, "sms_spam.py"),
             f"--data={SMS_SPAM}", "--train_split=train[:2000]", "--teacher_epochs=4",
             "--epochs=4", "--prune_epochs=2", "--learning_rate=3e-3",
             f"--output_dir={out}"],
            capture_output=True, text=True, timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        majority = float(re.search(r"Majority class \(ham\) on test: accuracy "
                                   r"([0-9.]+)%", result.stdout).group(1))
        final = re.search(r"int8 file .*spam\.tflite: accuracy ([0-9.]+)%, spam "
                          r"precision [0-9.]+%, recall [0-9.]+%, F1 ([0-9.]+)",
                          result.stdout)
        self.assertGreater(float(final.group(1)), majority)
        self.assertGreater(float(final.group(2)), 0.5)  # the majority's F1 is 0
        self.assertTrue(os.path.isfile(os.path.join(out, "vocabulary.txt")))
        self.assertIn(" spam: WINNER! Claim your free prize now", result.stdout)
        self._assert_readme_snippet_gets_what_evaluate_reports(out, SMS_SPAM)

    def _assert_readme_snippet_gets_what_evaluate_reports(self, out, sms):
        # pylint: disable=import-outside-toplevel
        import readme
        from tfcompress import data
        from tfcompress.jobs import evaluate_tflite
        from tfcompress.jobs import runner
        from tfcompress.jobs import settings
        path = os.path.join(out, "spam.tflite")
        dataset = f"tsv:{sms}"
        evaluated = runner.run(evaluate_tflite.EvaluateJob(path, batch_sizes=[1], repeats=3),
                               settings.Training(None, dataset=dataset), log=lambda _: None)
        snippet = readme.run_snippet("deploy_text", MODEL=path,
                                     VOCABULARY=os.path.join(out, "vocabulary.txt"))
        texts, labels = data.open_source(dataset).texts("test")
        answers = np.array([snippet["classify"](text) == "spam" for text in texts])
        self.assertEqual(float(np.mean(answers == labels)), evaluated["accuracy"])
        true_positives = np.sum(answers & (labels == 1))
        f1 = 2 * true_positives / (np.sum(answers) + np.sum(labels == 1))
        self.assertAllClose(f1, evaluated["f1"], atol=1e-9)


_FSDD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "shared", "data", "fsdd")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(_FSDD), reason=f"no {_FSDD}")
class SpokenDigitsExampleTest(tf.test.TestCase):

    def test_keras3_audio_script_exports_a_file_that_agrees_with_keras(self):
        out = self.create_tempdir().full_path
        result = subprocess.run(
            [sys.executable, os.path.join(_EXAMPLES, "spoken_digits.py"), f"--data={_FSDD}",
             "--epochs=6", "--prune_epochs=3", "--max_clips=640", f"--output_dir={out}"],
            capture_output=True, text=True, timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        for name in ("model.keras", "pruned.keras", "int8.tflite"):
            self.assertTrue(os.path.isfile(os.path.join(out, name)), name)
        import keras  # pylint: disable=import-outside-toplevel  (Keras 3, the user's)
        pruned = keras.saving.load_model(os.path.join(out, "pruned.keras"))
        self.assertIsInstance(pruned, keras.Model)
        self.assertIsInstance(pruned.layers[1], keras.layers.MelSpectrogram)
        self.assertIn("Pruned model handed back: keras.", result.stdout)  # strip(): Keras 3
        keras_accuracy = float(re.search(r"Pruned Keras model: test accuracy ([0-9.]+)% on "
                                         r"300 clips", result.stdout).group(1))
        tflite_accuracy = float(re.search(r"int8 file .*int8\.tflite: test accuracy "
                                          r"([0-9.]+)% on 300 clips, one per invoke",
                                          result.stdout).group(1))
        self.assertGreater(keras_accuracy, 20.0)  # learnt: 10 digits, chance is 10%
        self.assertLessEqual(abs(keras_accuracy - tflite_accuracy), 5.0)
        # Quiet by default: no TensorFlow start-up lines, nor the int8 converter's.
        self.assertNotIn("oneDNN", result.stderr)
        self.assertNotIn("fully_quantize", result.stderr)
        self.assertNotIn("tf.lite.Interpreter is deprecated", result.stderr)


class Cifar10FlagfileTest(tf.test.TestCase):
    """The flagfile parses into the pipeline's options (a run takes hours: none here)."""

    def test_every_flag_is_accepted_and_read(self):
        import helpers  # pylint: disable=import-outside-toplevel
        from tfcompress import pipeline  # pylint: disable=import-outside-toplevel
        planned = []
        with mock.patch.object(pipeline, "check_inputs",
                               side_effect=lambda options, log: planned.append(options)), \
                mock.patch.object(pipeline, "run") as run:
            result = helpers.run_cli_in_process(
                "pipeline", f"--flagfile={os.path.join(_EXAMPLES, 'cifar10_pipeline.flags')}")
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        run.assert_called_once()
        options, = planned
        self.assertEqual(options.stages, ("baseline", "teacher", "distill", "shrink", "prune",
                                          "quantize", "export", "evaluate"))
        self.assertEqual((options.model, options.teacher_model),
                         ("resnet8", "resnet8:48"))
        self.assertEqual(options.training.dataset, "dir:../shared/data/cifar10")
        self.assertEqual(options.training.augment, "crop_flip")
        self.assertEqual(options.quantization, "int8")
        self.assertEqual(options.output_dir, "saved_models/cifar10")
