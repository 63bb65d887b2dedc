"""Tests of the `tfcompress` command: usage errors and the train job."""

import importlib
import json
import os
import re
import sys
import textwrap

import helpers
import numpy as np
import pytest
import tensorflow as tf
from absl import app
from absl import flags

from tfcompress import export
from tfcompress.cli import custom_objects
from tfcompress.jobs import artifacts

# A new process, as a user runs the command: for what the process itself
# does (its exit, its start-up lines) and for real runs.
_run_cli = helpers.run_cli
# In this process: usage errors, without TensorFlow's seconds of import.
_run_in_process = helpers.run_cli_in_process
CliTestCase = helpers.CliTestCase


class UsageErrorTest(CliTestCase):

    def test_no_command_prints_usage_and_help_lists_the_commands(self):
        result = _run_cli()
        self.assertEqual(result.returncode, 2)
        self.assertIn("Usage: tfcompress COMMAND", result.stdout)
        result = _run_cli("--help")
        self.assertEqual(result.returncode, 0)
        self.assertIn("Usage: tfcompress COMMAND", result.stdout)
        self.assertIn("  evaluate   Accuracy, size and latency of a .tflite file.",
                      result.stdout)

    def test_command_help_lists_its_flags(self):
        result = _run_in_process("train", "--help")
        self.assertEqual(result.returncode, 1)  # absl exits 1 after printing help
        self.assertIn("USAGE: tfcompress train [flags]", result.stdout)
        for flag in ("--model:", "--epochs:", "--lr_schedule:", "--output_dir:"):
            self.assertIn(flag, result.stdout)
        for flag in ("unsafe_load:", "--custom_objects:"):  # train loads no model file
            self.assertNotIn(flag, result.stdout)

    def test_pipeline_help_lists_only_the_flags_the_pipeline_takes(self):
        result = _run_in_process("pipeline", "--help")
        for flag in ("--baseline_epochs:", "--prune_epochs:", "--custom_objects:",
                     "unsafe_load:", "--output_dir:"):
            self.assertIn(flag, result.stdout)
        self.assertNotIn("--epochs:", result.stdout)  # refused: one per stage instead

    def test_evaluate_help_lists_its_own_flags_only(self):
        result = _run_in_process("evaluate", "--help")
        for flag in ("--tflite:", "--split:", "--batch_sizes:", "--[no]xnnpack:",
                     "--train_split:", "--audio_length:", "--hold_out:"):
            self.assertIn(flag, result.stdout)
        for flag in ("--epochs:", "--output_dir:", "--test_split:"):  # it trains nothing
            self.assertNotIn(flag, result.stdout)

    def test_unknown_command(self):
        self.assertUsageError(_run_in_process("compress"), "unknown command 'compress'")

    def test_unknown_flag(self):
        self.assertUsageError(_run_in_process("train", "--epoch=3"),
                              "Unknown command line flag 'epoch'")

    def test_flag_out_of_bounds(self):
        self.assertUsageError(_run_in_process("train", "--epochs=0"),
                              "flag --epochs=0: 0 is not a positive integer")

    def test_stray_argument(self):
        self.assertUsageError(_run_in_process("train", "mnist"),
                              "Unexpected arguments: ['mnist']")


class InProcessTest(CliTestCase):
    """`run_cli_in_process` leaves absl's global flags as it found them."""

    def test_commands_in_turn_define_their_own_flags_and_leave_none_behind(self):
        # As another test may have: the shared flags are defined already.
        common = importlib.import_module("tfcompress.cli.common")
        dataset = flags.FLAGS["dataset"]
        # absl's --help flags are defined once per process, by the first
        # app.run, and stay: whether an earlier test in this worker ran one
        # depends on how pytest-xdist shares out the tests.
        app.define_help_flags()
        before = {name: flags.FLAGS[name].value for name in flags.FLAGS}
        # train and evaluate both define --dataset, with other help: each
        # command's module defines its own, as in a process of its own.
        self.assertUsageError(_run_in_process("train", "--dataset=x", "--epochs=0"),
                              "0 is not a positive integer")
        self.assertUsageError(_run_in_process("evaluate", "--tflite=none.tflite",
                                              "--verbosity=1"),
                              "`tflite` 'none.tflite' is not a file")
        self.assertIn("--normalize: <unit|standard|none>: The training run's input "
                      "normalization", _run_in_process("evaluate", "--help").stdout)
        after = {name: flags.FLAGS[name].value for name in flags.FLAGS}
        self.assertEqual(after, before)
        self.assertIs(flags.FLAGS["dataset"], dataset)
        self.assertIs(sys.modules["tfcompress.cli.common"], common)
        self.assertEqual(common.DATASET.value, "mnist")
        self.assertTrue(flags.FLAGS.is_parsed())
        self.assertEqual(_run_in_process("train", "--help").stdout,
                         _run_in_process("train", "--help").stdout)

@pytest.mark.mnist
@pytest.mark.slow
class TrainCommandTest(CliTestCase):

    def test_nan_loss_exits_with_where_and_keeps_the_unfinished_run(self):
        out = os.path.join(self.create_tempdir().full_path, "run")
        result = _run_cli("train", "--model=mlp:16", "--optimizer=sgd",
                          "--learning_rate=1e12", "--epochs=1", "--train_split=train[:512]",
                          "--val_split=", "--test_split=test[:64]", f"--output_dir={out}")
        self.assertUsageError(result, "Error: train job, train: the loss became nan at "
                              "epoch 1, step")
        self.assertIn("rerun with --resume and a lower --learning_rate", result.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertTrue(os.path.isdir(out + ".partial"))

    def test_train_writes_checked_artifacts_and_summary(self):
        out = os.path.join(self.create_tempdir().full_path, "run")
        result = _run_cli(
            "train", "--model=lenet_300_100", "--epochs=2", "--lr_schedule=cosine",
            "--train_split=train[:4000]", "--val_split=train[4000:5000]",
            "--test_split=test[:1000]", f"--output_dir={out}", "--verbose=0")
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertIn("Test accuracy: Keras", result.stdout)
        self.assertCountEqual(
            os.listdir(out),
            [artifacts.KERAS_FILE, artifacts.SAVED_MODEL_DIR, artifacts.TFLITE_FILE,
             artifacts.SUMMARY_FILE])
        self.assertFalse(os.path.exists(out + ".partial"))
        with open(os.path.join(out, artifacts.SUMMARY_FILE)) as f:
            summary = json.load(f)
        self.assertEqual(summary["params"]["total"], 266_610)
        self.assertEqual(summary["keras"]["test_examples"], 1000)
        self.assertGreater(summary["keras"]["test_accuracy"], 0.85)
        self.assertAllClose(summary["tflite"]["test_accuracy"],
                            summary["keras"]["test_accuracy"], atol=0.002)
        self.assertLessEqual(summary["tflite"]["max_abs_diff_vs_keras"], 1e-4)
        self.assertLessEqual(summary["saved_model"]["max_abs_diff_vs_keras"], 1e-4)
        tflite_size = summary["sizes"][artifacts.TFLITE_FILE]
        self.assertEqual(tflite_size["bytes"],
                         os.path.getsize(os.path.join(out, artifacts.TFLITE_FILE)))
        self.assertLess(tflite_size["gzip_bytes"], tflite_size["bytes"])
        # A float32 model: about 4 bytes per parameter.
        self.assertBetween(tflite_size["bytes"], 4 * 266_610, 4 * 266_610 * 1.05)
        self.assertEqual(summary["config"]["model_spec"], "lenet_300_100")
        self.assertEqual(summary["config"]["lr_schedule"], "cosine")


def _save_mnist_teacher(folder, num_classes=10):
    from tfcompress import export  # pylint: disable=g-import-not-at-top
    from tfcompress import models  # pylint: disable=g-import-not-at-top

    path = os.path.join(folder, "teacher.keras")
    export.save_keras_model(models.mlp((32,), num_classes=num_classes), path)
    return path


class DistillUsageErrorTest(CliTestCase):

    def test_teacher_flag_is_required(self):
        self.assertUsageError(_run_in_process("distill"), "Flag --teacher must have a value")


@pytest.mark.mnist
@pytest.mark.slow
class DistillCommandTest(tf.test.TestCase):

    def _distill(self, *flags):
        """Runs `tfcompress distill FLAGS` from an untrained mlp:32 teacher.

        Returns (teacher path, output folder, stdout, summary).
        """
        folder = self.create_tempdir().full_path
        teacher = _save_mnist_teacher(folder)
        out = os.path.join(folder, "student")
        result = _run_cli("distill", f"--teacher={teacher}", *flags,
                          "--test_split=test[:1000]", f"--output_dir={out}", "--verbose=0")
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        with open(os.path.join(out, artifacts.SUMMARY_FILE)) as f:
            return teacher, out, result.stdout, json.load(f)

    def test_student_init_teacher_starts_as_the_teacher(self):
        # Same widths and a learning rate too small to move it: the student
        # stays a copy of the teacher.
        teacher, out, stdout, summary = self._distill(
            "--student=mlp:32", "--student_init=teacher", "--epochs=1",
            "--learning_rate=1e-12", "--train_split=train[:2000]", "--val_split=")
        self.assertIn("Initializing the student from the teacher", stdout)
        self.assertEqual(summary["config"]["student_init"], "teacher")
        self.assertEqual(summary["keras"]["test_accuracy"],
                         summary["teacher"]["test_accuracy"])
        from tfcompress import export  # pylint: disable=g-import-not-at-top

        images = np.random.default_rng(0).uniform(size=(8, 28, 28, 1))
        self.assertAllClose(
            export.load_keras_model(os.path.join(out, artifacts.KERAS_FILE))(images),
            export.load_keras_model(teacher)(images), atol=1e-4)

    def test_distill_writes_student_artifacts_and_summary(self):
        _, out, _, summary = self._distill(
            "--student=mlp:64", "--epochs=2", "--temperature=5", "--alpha=0.2",
            "--train_split=train[:3000]", "--val_split=train[3000:4000]")
        self.assertCountEqual(
            os.listdir(out),
            [artifacts.KERAS_FILE, artifacts.SAVED_MODEL_DIR, artifacts.TFLITE_FILE,
             artifacts.SUMMARY_FILE])
        self.assertEqual(summary["config"]["temperature"], 5.0)
        self.assertEqual(summary["config"]["alpha"], 0.2)
        self.assertTrue(summary["config"]["teacher_cache"])
        self.assertEqual(summary["params"]["total"], 784 * 64 + 64 + 64 * 10 + 10)
        self.assertEqual(summary["teacher"]["params"], 784 * 32 + 32 + 32 * 10 + 10)
        # An untrained teacher guesses; the student still learns from labels.
        self.assertGreater(summary["keras"]["test_accuracy"], 0.5)
        self.assertAllClose(summary["tflite"]["test_accuracy"],
                            summary["keras"]["test_accuracy"], atol=0.002)
        self.assertLessEqual(summary["tflite"]["max_abs_diff_vs_keras"], 1e-4)
        from tfcompress import export  # pylint: disable=g-import-not-at-top

        student = export.load_keras_model(os.path.join(out, artifacts.KERAS_FILE))
        self.assertEqual(student.count_params(), summary["params"]["total"])



@pytest.mark.mnist
@pytest.mark.slow
class PruneCommandTest(tf.test.TestCase):

    def test_prune_with_sensitivity_and_teacher_writes_sparse_artifacts(self):
        folder = self.create_tempdir().full_path
        model = _save_mnist_teacher(folder)
        out = os.path.join(folder, "pruned")
        result = _run_cli(
            "prune", f"--model={model}", f"--teacher={model}", "--sparsity=0.8",
            "--sensitivity", "--epochs=2", "--frequency=5",
            "--train_split=train[:2000]", "--val_split=train[2000:2500]",
            "--test_split=test[:500]", f"--output_dir={out}", "--verbose=0")
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertCountEqual(
            os.listdir(out),
            [artifacts.KERAS_FILE, artifacts.SAVED_MODEL_DIR, artifacts.TFLITE_FILE,
             artifacts.SUMMARY_FILE, "prune_report.json", "sensitivity.json"])
        with open(os.path.join(out, "sensitivity.json")) as f:
            plan = json.load(f)["plan"]
        with open(os.path.join(out, "prune_report.json")) as f:
            report = json.load(f)
        kernels = {"dense_1": 784 * 32, "logits": 32 * 10}
        planned = sum(kernels[name] * plan[name] for name in kernels) / sum(kernels.values())
        self.assertAllClose(planned, 0.8)
        for row in report["layers"]:
            self.assertAllClose(row["kernel_sparsity"], plan[row["name"]], atol=0.01)
        with open(os.path.join(out, artifacts.SUMMARY_FILE)) as f:
            summary = json.load(f)
        sizes = summary["sizes"][artifacts.TFLITE_FILE]
        self.assertLess(sizes["gzip_bytes"], 0.5 * sizes["bytes"])
        self.assertEqual(summary["sparsity"], report["total"])
        self.assertAllClose(summary["tflite"]["test_accuracy"],
                            summary["keras"]["test_accuracy"], atol=0.002)
        from tfcompress import export  # pylint: disable=g-import-not-at-top
        from tfcompress import prune  # pylint: disable=g-import-not-at-top

        stripped = export.load_keras_model(os.path.join(out, artifacts.KERAS_FILE))
        self.assertFalse(prune.has_pruning_wrappers(stripped))



class QuietStartTest(CliTestCase):

    def test_evaluate_at_default_verbosity_prints_no_tensorflow_lines(self):
        folder = self.create_tempdir().full_path
        rng = np.random.default_rng(0)
        images = rng.uniform(0, 255, size=(40, 8, 8, 1)).astype(np.float32)
        labels = rng.integers(0, 3, size=40)
        dataset = os.path.join(folder, "data.npz")
        np.savez(dataset, x_train=images, y_train=labels, x_test=images[:24],
                 y_test=labels[:24])
        tflite = os.path.join(folder, "model.tflite")
        export.export_tflite(helpers.tiny_cnn(), tflite, check_inputs=images[:4] / 255)
        result = _run_cli("evaluate", f"--tflite={tflite}", f"--dataset=npz:{dataset}",
                          "--batch_sizes=1", "--repeats=2")
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertIn("(24 examples)", result.stdout)
        # What TF 2.21 printed before: oneDNN and CUDA notices, the absl banner,
        # the no-GPU cuInit error, and LiteRT's XNNPACK line. None is left.
        self.assertEqual(result.stderr.splitlines(), [])


class CustomObjectsTest(tf.test.TestCase):
    """--custom_objects imports a module; what it registers then loads."""

    def setUp(self):
        super().setUp()
        self.folder = self.create_tempdir().full_path
        sys.path.insert(0, self.folder)
        self.addCleanup(sys.path.remove, self.folder)

    def _module(self, name, text):
        with open(os.path.join(self.folder, f"{name}.py"), "w") as f:
            f.write(textwrap.dedent(text))
        self.addCleanup(sys.modules.pop, name, None)

    def test_keras3_layer_and_its_converter_from_the_module_load(self):
        import keras as keras3  # pylint: disable=g-import-not-at-top

        package = "tfcompress_test_custom_objects"
        self._module("my_double_layer", f"""
            import keras
            import tf_keras
            from tfcompress import keras3

            @keras.saving.register_keras_serializable(package="{package}")
            class Double(keras.layers.Layer):
                def call(self, inputs):
                    return 2.0 * inputs

            class TfKerasDouble(tf_keras.layers.Layer):
                def call(self, inputs):
                    return 2.0 * inputs

            keras3.register(Double, lambda layer: TfKerasDouble(name=layer.name))
            """)
        custom_objects.import_modules(["my_double_layer"])
        model = keras3.Sequential([keras3.Input((6,)), keras3.layers.Dense(3),
                                   sys.modules["my_double_layer"].Double()])
        path = os.path.join(self.folder, "custom.keras")
        model.save(path)
        # As a new process, which has not imported the module:
        keras3.saving.get_custom_objects().pop(f"{package}>Double")
        del sys.modules["my_double_layer"]
        with self.assertRaisesRegex(ValueError, "cannot find: 'Double'"):
            export.load_keras_model(path)

        custom_objects.import_modules(["my_double_layer"])
        loaded = export.load_keras_model(path)
        batch = helpers.random_batch((6,), n=4)
        self.assertAllClose(loaded(batch), model(batch), atol=1e-6)

    def test_a_file_name_is_refused_with_the_module_name_to_give(self):
        with self.assertRaisesRegex(app.UsageError, re.escape(
                "--custom_objects='my_layers.py' must name a Python module, not a file: "
                "e.g. --custom_objects=my_layers for my_layers.py in the current folder, "
                "or my_pkg.layers on PYTHONPATH.")):
            custom_objects.import_modules(["my_layers.py"])

    def test_a_missing_module_is_a_usage_error(self):
        with self.assertRaisesRegex(app.UsageError, re.escape(
                "--custom_objects='no_such_layers': no module of that name in the "
                "current folder or on PYTHONPATH. Pass the module that defines your "
                "layers, e.g. my_layers for ./my_layers.py, or add its folder to "
                "PYTHONPATH.")):
            custom_objects.import_modules(["no_such_layers"])

    def test_a_missing_import_inside_the_module_keeps_its_traceback(self):
        self._module("layers_needing_more", "import no_such_dependency\n")
        with self.assertRaisesRegex(ModuleNotFoundError, "no_such_dependency"):
            custom_objects.import_modules(["layers_needing_more"])


class EvaluateUsageErrorTest(CliTestCase):

    def test_bad_batch_sizes(self):
        self.assertUsageError(_run_in_process("evaluate", "--tflite=x", "--batch_sizes=1,a"),
                              "--batch_sizes must be integers")


@pytest.mark.mnist
@pytest.mark.slow
class QuantizeCommandTest(tf.test.TestCase):

    def _quantize(self, folder, *flags):
        model = _save_mnist_teacher(folder)
        out = os.path.join(folder, "out")
        result = _run_cli("quantize", f"--model={model}", *flags,
                          "--train_split=train[:1000]", "--val_split=train[1000:1500]",
                          "--test_split=test[:500]", f"--output_dir={out}", "--verbose=0")
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        with open(os.path.join(out, artifacts.SUMMARY_FILE)) as f:
            return out, json.load(f), result.stdout

    def test_int8_then_evaluate(self):
        out, summary, stdout = self._quantize(self.create_tempdir().full_path,
                                              "--mode=int8", "--num_samples=100")
        # model.keras: the fine-tuned float weights, as a Keras 3 file.
        self.assertCountEqual(os.listdir(out), [artifacts.TFLITE_FILE, artifacts.KERAS_FILE,
                                                "float_reference.tflite",
                                                artifacts.SUMMARY_FILE])
        self.assertIn("int8 TFLite", stdout)
        tflite = summary["tflite"]
        self.assertEqual(tflite["quantization"], "int8")
        self.assertGreaterEqual(tflite["top1_agreement_vs_keras"], 0.95)
        self.assertEqual(tflite["bytes"],
                         os.path.getsize(os.path.join(out, artifacts.TFLITE_FILE)))
        self.assertGreater(summary["ratios"]["bytes"], 3.5)  # float32 -> int8
        self.assertAllClose(tflite["test_accuracy"], summary["keras"]["test_accuracy"],
                            atol=0.03)
        self.assertGreater(tflite["latency_ms_batch1"], 0)
        self.assertEqual({w["dtype"] for w in summary["tflite_weights"]["tensors"].values()},
                         {"int8"})

        result = _run_cli("evaluate", f"--tflite={os.path.join(out, artifacts.TFLITE_FILE)}",
                          "--split=test[:500]", "--batch_sizes=1,8", "--repeats=5")
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertIn(f"accuracy {tflite['test_accuracy']:.2%} on mnist test[:500] "
                      "(500 examples)", result.stdout)
        self.assertIn(f"gzipped {tflite['gzip_bytes'] / 1024:.1f} KiB", result.stdout)
        self.assertEqual(result.stdout.count("Latency, batch"), 4)  # 2 sizes x 2 kernels

    def test_cqat_keeps_clusters_in_the_int8_file(self):
        _, summary, _ = self._quantize(self.create_tempdir().full_path, "--mode=cqat",
                                       "--clusters=8", "--epochs=1")
        self.assertEqual(summary["config"]["clusters"], 8)
        self.assertLessEqual(summary["tflite_weights"]["max_distinct_values"], 8)
        self.assertGreater(summary["train_seconds"], 0)
        self.assertGreaterEqual(summary["tflite"]["top1_agreement_vs_keras"], 0.95)
