"""Tests of the `tfcompress` command: usage errors and the train job."""

import json
import os

import helpers
import numpy as np
import pytest
import tensorflow as tf

from tfcompress.jobs import artifacts

_run_cli = helpers.run_cli
CliTestCase = helpers.CliTestCase


class UsageErrorTest(CliTestCase):

    def test_no_command_prints_usage(self):
        result = _run_cli()
        self.assertEqual(result.returncode, 2)
        self.assertIn("Usage: tfcompress COMMAND", result.stdout)

    def test_command_help_lists_its_flags(self):
        result = _run_cli("train", "--help")  # absl exits 1 after printing help
        for flag in ("--model:", "--epochs:", "--lr_schedule:", "--output_dir:"):
            self.assertIn(flag, result.stdout)

    def test_unknown_command(self):
        self.assertUsageError(_run_cli("compress"), "unknown command 'compress'")

    def test_unknown_flag(self):
        self.assertUsageError(_run_cli("train", "--epoch=3"),
                              "Unknown command line flag 'epoch'")

    def test_flag_out_of_bounds(self):
        self.assertUsageError(_run_cli("train", "--epochs=0"),
                              "flag --epochs=0: 0 is not a positive integer")

    def test_stray_argument(self):
        self.assertUsageError(_run_cli("train", "mnist"), "Unexpected arguments: ['mnist']")

    @pytest.mark.mnist
    def test_unknown_model_spec(self):
        out = os.path.join(self.create_tempdir().full_path, "run")
        self.assertUsageError(_run_cli("train", "--model=resnet", f"--output_dir={out}"),
                              "Unknown model 'resnet' in spec 'resnet'")
        self.assertFalse(os.path.exists(out))

    @pytest.mark.mnist
    def test_bad_model_argument_value(self):
        out = os.path.join(self.create_tempdir().full_path, "run")
        self.assertUsageError(
            _run_cli("train", "--model=mlp:10,dropout=2", f"--output_dir={out}"),
            "`dropout` must be in [0, 1), got 2.0")

    def test_dataset_not_prepared(self):
        empty = self.create_tempdir().full_path
        self.assertUsageError(_run_cli("train", f"--data_dir={empty}"),
                              f"Dataset 'mnist' is not prepared under '{empty}'")

    @pytest.mark.mnist
    def test_bad_split(self):
        out = os.path.join(self.create_tempdir().full_path, "run")
        self.assertUsageError(
            _run_cli("train", "--test_split=validation", f"--output_dir={out}"),
            "`test_split` 'validation' is not a usable split of 'mnist'")

    @pytest.mark.mnist
    def test_existing_output_dir_needs_overwrite(self):
        out = self.create_tempdir()
        out.create_file("summary.json", content="{}")
        self.assertUsageError(_run_cli("train", f"--output_dir={out.full_path}"),
                              "already holds files; pass --overwrite")


@pytest.mark.mnist
@pytest.mark.slow
class TrainCommandTest(tf.test.TestCase):

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
        self.assertUsageError(_run_cli("distill"), "Flag --teacher must have a value")

    @pytest.mark.mnist
    def test_missing_teacher(self):
        out = os.path.join(self.create_tempdir().full_path, "out")
        self.assertUsageError(
            _run_cli("distill", "--teacher=/no/such/teacher", f"--output_dir={out}"),
            "`teacher`: no model at '/no/such/teacher'")

    @pytest.mark.mnist
    def test_keras3_teacher_file(self):
        import keras as keras3  # pylint: disable=g-import-not-at-top

        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "k3.keras")
        keras3.Sequential([keras3.Input((28, 28, 1)), keras3.layers.Flatten(),
                           keras3.layers.Dense(10)]).save(path)
        self.assertUsageError(
            _run_cli("distill", f"--teacher={path}",
                     f"--output_dir={os.path.join(folder, 'out')}"),
            f"Cannot load '{path}' as a tf_keras (Keras 2) model")

    def test_alpha_flag_out_of_range(self):
        self.assertUsageError(_run_cli("distill", "--teacher=t.keras", "--alpha=1.5"),
                              "flag --alpha=1.5: 1.5 is not a number in the range [0.0, 1.0]")

    def assertDistillRefused(self, flags, message, num_classes=10):
        """`tfcompress distill FLAGS` from a saved mlp:32 teacher: a usage error."""
        folder = self.create_tempdir().full_path
        teacher = _save_mnist_teacher(folder, num_classes=num_classes)
        self.assertUsageError(
            _run_cli("distill", f"--teacher={teacher}", *flags,
                     f"--output_dir={os.path.join(folder, 'out')}"),
            message)

    @pytest.mark.mnist
    def test_teacher_with_other_classes(self):
        self.assertDistillRefused(
            [], "`teacher` outputs shape (None, 5) but `student` outputs (None, 10)",
            num_classes=5)

    @pytest.mark.mnist
    def test_zero_temperature(self):
        self.assertDistillRefused(["--temperature=0"], "`temperature` must be > 0, got 0.0")

    @pytest.mark.mnist
    def test_student_init_from_narrower_teacher(self):
        self.assertDistillRefused(
            ["--student=mlp:64", "--student_init=teacher"],
            "`student` layer 'dense_1' has 64 units against 32 in `teacher` layer "
            "'dense_1'; a student layer may be narrower than its teacher's, not wider.")

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


class PruneUsageErrorTest(CliTestCase):

    def test_model_flag_is_required(self):
        self.assertUsageError(_run_cli("prune"), "Flag --model must have a value")

    @pytest.mark.mnist
    def test_bad_m_by_n(self):
        folder = self.create_tempdir().full_path
        model = _save_mnist_teacher(folder)
        self.assertUsageError(
            _run_cli("prune", f"--model={model}", "--m_by_n=2-4",
                     f"--output_dir={os.path.join(folder, 'out')}"),
            "`m_by_n` must look like '2:4'")

    @pytest.mark.mnist
    def test_pruning_end_epoch_after_last_epoch(self):
        folder = self.create_tempdir().full_path
        model = _save_mnist_teacher(folder)
        self.assertUsageError(
            _run_cli("prune", f"--model={model}", "--epochs=2", "--pruning_end_epoch=3",
                     f"--output_dir={os.path.join(folder, 'out')}"),
            "`pruning_end_epoch` (3) must be at most `epochs` (2)")
        self.assertFalse(os.path.exists(os.path.join(folder, "out")))


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


class QuantizeUsageErrorTest(CliTestCase):

    def test_model_flag_is_required(self):
        self.assertUsageError(_run_cli("quantize"), "Flag --model must have a value")

    def test_unknown_mode(self):
        self.assertUsageError(_run_cli("quantize", "--model=m.keras", "--mode=int4"),
                              "flag --mode=int4: value should be one of")

    @pytest.mark.mnist
    def test_pqat_needs_a_pruned_model(self):
        folder = self.create_tempdir().full_path
        model = _save_mnist_teacher(folder)
        self.assertUsageError(
            _run_cli("quantize", f"--model={model}", "--mode=pqat",
                     f"--output_dir={os.path.join(folder, 'out')}"),
            "mode 'pqat' keeps a pruned model's zeros, but")

    @pytest.mark.mnist
    def test_int8_io_with_a_float_mode(self):
        folder = self.create_tempdir().full_path
        model = _save_mnist_teacher(folder)
        self.assertUsageError(
            _run_cli("quantize", f"--model={model}", "--mode=float16", "--int8_io",
                     f"--output_dir={os.path.join(folder, 'out')}"),
            "`int8_io` needs an int8 mode (int8, qat, pqat, cqat), got mode 'float16'")
        self.assertFalse(os.path.exists(os.path.join(folder, "out")))


class EvaluateUsageErrorTest(CliTestCase):

    def test_missing_file(self):
        self.assertUsageError(_run_cli("evaluate", "--tflite=nowhere.tflite"),
                              "`tflite` 'nowhere.tflite' is not a file")

    def test_bad_batch_sizes(self):
        self.assertUsageError(_run_cli("evaluate", "--tflite=x", "--batch_sizes=1,a"),
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
        self.assertCountEqual(os.listdir(out), [artifacts.TFLITE_FILE,
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
