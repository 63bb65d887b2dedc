"""The job runner: determinism, exact resume after SIGKILL, NaN guard, TensorBoard."""

import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

import job_helpers
from tfcompress._keras import keras
from tfcompress.jobs import distill
from tfcompress.jobs import checkpoints
from tfcompress.jobs import prune
from tfcompress.jobs import quantize
from tfcompress.jobs import run_dir
from tfcompress.jobs import runner
from tfcompress.jobs import train

_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resume_child.py")
# A model with dropout, so the dropout generators' state matters on resume.
_SPEC = "mlp:32,dropout=0.25"


class _StopBeforeEpoch(keras.callbacks.Callback):
    """Raises as epoch `epoch` begins: the run stops with the epoch before saved."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"stopped before epoch {epoch}")


class _StoppingTrainJob(train.TrainJob):
    stop_before_epoch = None

    def build(self, run, phase):
        trainee = super().build(run, phase)
        trainee.callbacks = (_StopBeforeEpoch(self.stop_before_epoch),)
        return trainee


def _train(output_dir, **changes):
    return runner.run(train.TrainJob(_SPEC),
                      job_helpers.mnist_training(output_dir, **changes), log=lambda *_: None)


@pytest.mark.mnist
class DeterminismTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path

    def test_train_twice_with_one_seed_gives_identical_weights_and_metrics(self):
        first = _train(os.path.join(self.root, "a"))
        second = _train(os.path.join(self.root, "b"))
        job_helpers.assert_bitwise_equal(
            self, job_helpers.saved_weights(os.path.join(self.root, "a")),
            job_helpers.saved_weights(os.path.join(self.root, "b")))
        self.assertEqual(first["keras"], second["keras"])
        self.assertEqual(first["tflite"], second["tflite"])

    def test_other_seed_gives_other_weights(self):
        _train(os.path.join(self.root, "a"))
        _train(os.path.join(self.root, "b"), seed=1)
        a = job_helpers.saved_weights(os.path.join(self.root, "a"))
        b = job_helpers.saved_weights(os.path.join(self.root, "b"))
        self.assertFalse(np.array_equal(a[0], b[0]))

    def test_distill_twice_with_one_seed_gives_identical_student_and_metrics(self):
        teacher = os.path.join(self.root, "teacher")
        _train(teacher, epochs=1)
        results = []
        for name in ("a", "b"):
            results.append(runner.run(
                distill.DistillJob(teacher=teacher, student_spec="mlp:16,dropout=0.2"),
                job_helpers.mnist_training(os.path.join(self.root, name)),
                log=lambda *_: None))
        job_helpers.assert_bitwise_equal(
            self, job_helpers.saved_weights(os.path.join(self.root, "a")),
            job_helpers.saved_weights(os.path.join(self.root, "b")))
        self.assertEqual(results[0]["keras"], results[1]["keras"])

    def test_prune_twice_with_one_seed_gives_identical_masks_and_weights(self):
        dense = os.path.join(self.root, "dense")
        _train(dense, epochs=1)
        results = []
        for name in ("a", "b"):
            results.append(runner.run(
                prune.PruneJob(model=dense, sparsity=0.8, frequency=2),
                job_helpers.mnist_training(os.path.join(self.root, name)),
                log=lambda *_: None))
        a = job_helpers.saved_weights(os.path.join(self.root, "a"))
        b = job_helpers.saved_weights(os.path.join(self.root, "b"))
        job_helpers.assert_bitwise_equal(self, a, b)
        self.assertAllEqual(a[0] == 0, b[0] == 0)  # the masks
        self.assertEqual(results[0]["sparsity"], results[1]["sparsity"])
        self.assertGreater(results[0]["sparsity"]["sparsity"], 0.75)


@pytest.mark.mnist
@pytest.mark.slow
class KillAndResumeTest(tf.test.TestCase):

    def _child(self, *args, **kwargs):
        return subprocess.Popen([sys.executable, _CHILD, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, **kwargs)

    def test_sigkill_mid_epoch_then_resume_equals_uninterrupted_run(self):
        root = self.create_tempdir().full_path
        dense = os.path.join(root, "dense")
        _train(dense, epochs=1)
        whole, killed = os.path.join(root, "whole"), os.path.join(root, "killed")

        uninterrupted = self._child(whole, dense, dense)
        marker = os.path.join(root, "marker")
        victim = self._child(killed, dense, dense, "--slow_from_step=12",
                             f"--marker={marker}")
        deadline = time.time() + 240
        while not os.path.exists(marker) and victim.poll() is None:
            self.assertLess(time.time(), deadline, "the child never reached step 12")
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)  # in epoch 2 of 3 (8 steps an epoch)
        victim_output = victim.communicate(timeout=60)[0]
        self.assertEqual(victim.returncode, -signal.SIGKILL, victim_output)
        self.assertFalse(os.path.exists(killed))  # nothing half-written at the name
        self.assertTrue(glob.glob(os.path.join(run_dir.staging_dir(killed),
                                               "checkpoints", "train", "ckpt-*")))

        resumed = self._child(killed, dense, dense, "--resume")
        resumed_output = resumed.communicate(timeout=300)[0]
        self.assertEqual(resumed.returncode, 0, resumed_output)
        self.assertIn("train: resuming at epoch 2, step", resumed_output)
        whole_output = uninterrupted.communicate(timeout=300)[0]
        self.assertEqual(uninterrupted.returncode, 0, whole_output)

        # Bitwise: op determinism, and every piece of state restored.
        a, b = job_helpers.saved_weights(whole), job_helpers.saved_weights(killed)
        job_helpers.assert_bitwise_equal(self, a, b)
        self.assertAllEqual(a[0] == 0, b[0] == 0)  # identical pruning masks
        self.assertFalse(os.path.exists(run_dir.staging_dir(killed)))


@pytest.mark.mnist
class RunFolderTest(tf.test.TestCase, parameterized.TestCase):

    def setUp(self):
        super().setUp()
        self.out = os.path.join(self.create_tempdir().full_path, "run")

    def _stopped_run(self, **changes):
        job = _StoppingTrainJob(_SPEC)
        job.stop_before_epoch = 1
        with self.assertRaises(KeyboardInterrupt):
            runner.run(job, job_helpers.mnist_training(self.out, **changes),
                       log=lambda *_: None)

    def test_unfinished_run_needs_resume_or_overwrite(self):
        self._stopped_run()
        with self.assertRaisesRegex(FileExistsError, "has an unfinished run in .*run.partial"
                                    ".*: pass --resume .* or --overwrite"):
            runner.prepare(train.TrainJob(_SPEC), job_helpers.mnist_training(self.out))

    def test_resume_with_other_settings_is_refused(self):
        self._stopped_run()
        with self.assertRaisesRegex(ValueError, r"was started with batch_size=64, "
                                    r"not batch_size=32; resume it with its own settings"):
            runner.prepare(train.TrainJob(_SPEC), job_helpers.mnist_training(
                self.out, resume=True, batch_size=32))

    def test_resume_without_unfinished_run_is_refused(self):
        with self.assertRaisesRegex(ValueError, "there is no unfinished run to resume"):
            runner.prepare(train.TrainJob(_SPEC),
                           job_helpers.mnist_training(self.out, resume=True))

    @parameterized.parameters("constant", "cosine")
    def test_stopped_then_resumed_equals_uninterrupted(self, lr_schedule):
        self._stopped_run(lr_schedule=lr_schedule)
        _train(self.out, resume=True, lr_schedule=lr_schedule)
        whole = os.path.join(os.path.dirname(self.out), "whole")
        _train(whole, lr_schedule=lr_schedule)
        job_helpers.assert_bitwise_equal(self, job_helpers.saved_weights(whole),
                                         job_helpers.saved_weights(self.out))


@pytest.mark.mnist
class NonFiniteLossTest(tf.test.TestCase):

    def test_nan_stops_at_once_and_resume_at_a_lower_rate_continues(self):
        root = self.create_tempdir().full_path
        out = os.path.join(root, "run")
        job = _StoppingTrainJob(_SPEC)
        job.stop_before_epoch = 1
        settings = job_helpers.mnist_training(out, optimizer="sgd", learning_rate=0.05)
        with self.assertRaises(KeyboardInterrupt):  # epoch 1 done and checkpointed
            runner.run(job, settings, log=lambda *_: None)

        with self.assertRaisesRegex(
                checkpoints.NonFiniteLossError,
                r"^train job, train: the loss became (nan|inf) at epoch 2, step \d+; "
                r"training stopped\. The last good checkpoint \(epoch 2, step 0\) is "
                r"kept: rerun with --resume and a lower --learning_rate"):
            runner.run(train.TrainJob(_SPEC),
                       settings.replace(resume=True, learning_rate=1e12),
                       log=lambda *_: None)
        self.assertFalse(os.path.exists(out))

        runner.run(train.TrainJob(_SPEC), settings.replace(resume=True),
                   log=lambda *_: None)
        whole = os.path.join(root, "whole")
        runner.run(train.TrainJob(_SPEC), settings.replace(output_dir=whole),
                   log=lambda *_: None)
        # The diverged epoch left no trace: same weights as a run that never diverged.
        job_helpers.assert_bitwise_equal(self, job_helpers.saved_weights(whole),
                                         job_helpers.saved_weights(out))


def _scalars(log_dir):
    """{tag: [values]} of every scalar in the event files under `log_dir`."""
    found = {}
    for path in sorted(set(glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"),
                                     recursive=True))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                number = (value.simple_value if value.HasField("simple_value")
                          else float(tf.make_ndarray(value.tensor)))
                found.setdefault(value.tag, []).append(number)
    return found


@pytest.mark.mnist
class TensorBoardTest(tf.test.TestCase):

    def test_prune_with_teacher_logs_losses_accuracy_rate_and_sparsity(self):
        root = self.create_tempdir().full_path
        dense = os.path.join(root, "dense")
        _train(dense, epochs=1)
        logs = os.path.join(root, "logs")
        runner.run(prune.PruneJob(model=dense, teacher=dense, sparsity=0.5, frequency=2),
                   job_helpers.mnist_training(os.path.join(root, "pruned"), log_dir=logs),
                   log=lambda *_: None)
        scalars = _scalars(logs)
        for tag in ("epoch_loss", "epoch_hard_loss", "epoch_soft_loss", "epoch_accuracy"):
            self.assertLen(scalars[tag], 4)  # 2 epochs, training and validation
        self.assertAllClose(scalars["epoch_learning_rate"], [1e-3, 1e-3])
        sparsity = {tag: values for tag, values in scalars.items()
                    if tag.endswith("/sparsity")}
        self.assertLen(sparsity, 2)  # both Dense kernels
        for values in sparsity.values():
            self.assertAllInRange(values, 0.0, 0.5 + 1e-6)


class ProgressVerbosityTest(tf.test.TestCase):

    def test_progress_bar_becomes_epoch_lines_when_stdout_is_not_a_terminal(self):
        from unittest import mock  # pylint: disable=g-import-not-at-top
        from tfcompress import training  # pylint: disable=g-import-not-at-top

        with mock.patch("sys.stdout.isatty", return_value=False):
            self.assertEqual(training.progress_verbosity(1), 2)
            self.assertEqual(training.progress_verbosity(0), 0)
        with mock.patch("sys.stdout.isatty", return_value=True):
            self.assertEqual(training.progress_verbosity(1), 1)


@pytest.mark.mnist
class MirroredStrategyTest(tf.test.TestCase):
    """Two replicas on the two logical CPUs tests/conftest.py sets up."""

    def test_distill_with_teacher_cache_and_prune_train_on_two_replicas(self):
        root = self.create_tempdir().full_path
        teacher = os.path.join(root, "teacher")
        _train(teacher, epochs=1)
        results = {}
        for strategy in ("default", "mirrored"):
            results[strategy] = runner.run(
                distill.DistillJob(teacher=teacher, student_spec="mlp:16"),
                job_helpers.mnist_training(os.path.join(root, strategy),
                                           strategy=strategy), log=lambda *_: None)
        self.assertEqual(results["mirrored"]["config"]["strategy"], "mirrored")
        # Each replica takes half of every batch: the same training, but for the
        # order in which the halves' gradients are summed.
        self.assertAllClose(results["mirrored"]["keras"]["test_accuracy"],
                            results["default"]["keras"]["test_accuracy"], atol=0.03)
        pruned = runner.run(
            prune.PruneJob(model=teacher, teacher=teacher, sparsity=0.5, frequency=2),
            job_helpers.mnist_training(os.path.join(root, "pruned"), strategy="mirrored"),
            log=lambda *_: None)
        self.assertAllClose(pruned["sparsity"]["sparsity"], 0.5, atol=0.01)
        self.assertLessEqual(pruned["tflite"]["max_abs_diff_vs_keras"], 1e-4)


@pytest.mark.mnist
class ResumeWithOtherStrategyTest(tf.test.TestCase):

    def test_run_stopped_on_two_replicas_finishes_on_one_device(self):
        root = self.create_tempdir().full_path
        out = os.path.join(root, "run")
        job = _StoppingTrainJob(_SPEC)
        job.stop_before_epoch = 1
        with self.assertRaises(KeyboardInterrupt):
            runner.run(job, job_helpers.mnist_training(out, strategy="mirrored"),
                       log=lambda *_: None)
        resumed = _train(out, resume=True)  # default strategy
        self.assertEqual(resumed["config"]["strategy"], "default")
        whole = _train(os.path.join(root, "whole"))
        # Epoch 1 on two replicas: the same batches, summed in another order.
        self.assertAllClose(resumed["keras"]["test_accuracy"],
                            whole["keras"]["test_accuracy"], atol=0.03)


@pytest.mark.mnist
class MirroredQuantizationTest(tf.test.TestCase):

    def test_pqat_fine_tunes_on_two_replicas_and_keeps_the_zeros(self):
        root = self.create_tempdir().full_path
        dense, pruned = os.path.join(root, "dense"), os.path.join(root, "pruned")
        _train(dense, epochs=1)
        runner.run(prune.PruneJob(model=dense, sparsity=0.5, frequency=2),
                   job_helpers.mnist_training(pruned), log=lambda *_: None)
        results = {}
        for strategy in ("default", "mirrored"):
            results[strategy] = runner.run(
                quantize.QuantizeJob(model=pruned, mode="pqat"),
                job_helpers.mnist_training(os.path.join(root, strategy), epochs=1,
                                           learning_rate=1e-4, strategy=strategy),
                log=lambda *_: None)
        mirrored, default = results["mirrored"], results["default"]
        self.assertEqual(mirrored["tflite"]["quantization"], "int8")
        self.assertGreaterEqual(mirrored["tflite"]["top1_agreement_vs_keras"], 0.95)
        self.assertAllClose(mirrored["tflite_weights"]["sparsity"],
                            default["tflite_weights"]["sparsity"], atol=0.01)
        self.assertAllClose(mirrored["tflite"]["test_accuracy"],
                            default["tflite"]["test_accuracy"], atol=0.03)
