"""Tests of classifier training on a slice of real MNIST."""

import os

import numpy as np
import pytest
import tensorflow as tf

import helpers
from tfcompress import data
from tfcompress import evaluate
from tfcompress import models
from tfcompress import training
from tfcompress._keras import keras


class TrainingTest(tf.test.TestCase):

    @pytest.mark.mnist
    def test_training_on_mnist_slice_improves_accuracy(self):
        keras.utils.set_random_seed(0)
        model = models.lenet_300_100()
        train = data.load("mnist", "train[:3000]", shuffle=True, seed=0)
        val = data.load("mnist", "train[3000:4000]")
        test = data.load("mnist", "test[:1000]")
        before = evaluate.evaluate_classifier(model, test)["accuracy"]
        history = training.train_classifier(model, train, epochs=3,
                                            validation_data=val, verbose=0)
        after = evaluate.evaluate_classifier(model, test)["accuracy"]
        self.assertLess(before, 0.3)
        self.assertGreater(after, 0.85)
        self.assertLen(history.history["val_accuracy"], 3)

    def test_best_validation_epoch_weights_are_restored(self):
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x = rng.uniform(size=(64, 6)).astype(np.float32)
        y = (x[:, 0] > 0.5).astype(np.int32)
        train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        # Validation labels are the opposite rule: the more the model learns
        # the training rule, the worse it does, so the first epoch is best.
        val = tf.data.Dataset.from_tensor_slices((x, 1 - y)).batch(16)
        model = helpers.tiny_mlp(num_classes=2)
        history = training.train_classifier(
            model, train, epochs=6, validation_data=val, learning_rate=0.05,
            verbose=0)
        best = max(history.history["val_accuracy"])
        self.assertGreater(best, history.history["val_accuracy"][-1])
        restored = evaluate.evaluate_classifier(model, val)["accuracy"]
        self.assertAllClose(restored, best)

    def test_constant_learning_rate_is_kept(self):
        self.assertEqual(training.learning_rate_schedule(0.01, "constant"), 0.01)

    def test_cosine_learning_rate_decays_to_zero_over_the_run(self):
        rate = training.learning_rate_schedule(0.01, "cosine", total_steps=100)
        self.assertAllClose([float(rate(0)), float(rate(50)), float(rate(100))],
                            [0.01, 0.005, 0.0], atol=1e-7)

    def test_unknown_learning_rate_schedule(self):
        with self.assertRaisesRegex(ValueError, r"`lr_schedule` must be one of "
                                    r"\('constant', 'cosine'\), got 'step'"):
            training.learning_rate_schedule(0.01, "step", total_steps=10)

    def test_checkpoint_dir_keeps_best_weights(self):
        folder = self.create_tempdir().full_path
        x = np.zeros((8, 6), np.float32)
        ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(8, np.int32))).batch(4)
        training.train_classifier(helpers.tiny_mlp(), ds, epochs=1,
                                  validation_data=ds, checkpoint_dir=folder,
                                  verbose=0)
        self.assertIn("best.json", os.listdir(os.path.join(folder, "best")))
        self.assertIsNotNone(tf.train.latest_checkpoint(os.path.join(folder, "best")))

    def test_bad_arguments(self):
        ds = tf.data.Dataset.from_tensor_slices(
            (np.zeros((4, 6), np.float32), np.zeros(4, np.int32))).batch(2)
        model = helpers.tiny_mlp()
        with self.assertRaisesRegex(ValueError, "`epochs` must be a positive int, got 0"):
            training.train_classifier(model, ds, epochs=0)
        with self.assertRaisesRegex(ValueError, "`early_stopping_patience` needs"):
            training.train_classifier(model, ds, epochs=1, early_stopping_patience=2)
        with self.assertRaisesRegex(ValueError, "`optimizer` must be one of"):
            training.train_classifier(model, ds, epochs=1, optimizer="lbfgs")
        with self.assertRaisesRegex(ValueError, "`learning_rate` must be > 0, got -1"):
            training.train_classifier(model, ds, epochs=1, learning_rate=-1)


class ResumeTest(tf.test.TestCase):

    def _data(self):
        x, y = helpers.labelled_data()
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)

    def test_killed_fit_resumes_at_the_next_epoch(self):
        folder = self.create_tempdir().full_path
        ds = self._data()
        model = helpers.tiny_mlp()
        training.compile_classifier(model)
        with self.assertRaisesRegex(RuntimeError, "killed"):
            training.fit(model, ds, epochs=4, validation_data=ds, checkpoint_dir=folder,
                         callbacks=[helpers.KillAfterEpoch(1)], verbose=0)
        resumed = helpers.tiny_mlp(seed=7)
        training.compile_classifier(resumed)
        history = training.fit(resumed, ds, epochs=4, validation_data=ds,
                               checkpoint_dir=folder, verbose=0)
        # The kill came before epoch 1's backup was written: epoch 1 is redone,
        # epoch 0 is not.
        self.assertEqual(history.epoch, [1, 2, 3])

    def test_fresh_run_in_a_used_checkpoint_dir_ignores_the_old_best(self):
        folder = self.create_tempdir().full_path
        ds = self._data()
        keep = training.KeepBestWeights(os.path.join(folder, "best"))
        keep.set_model(helpers.tiny_mlp())
        keep.on_epoch_end(0, {"val_accuracy": 1.0})  # an old run's perfect best
        model = helpers.tiny_mlp()
        training.compile_classifier(model, learning_rate=0.05)
        training.fit(model, ds, epochs=2, validation_data=ds, checkpoint_dir=folder,
                     verbose=0)
        self.assertLess(keep.best(), 1.0)

    def test_missing_accuracy_metric_is_a_clear_error(self):
        ds = self._data()
        model = helpers.tiny_mlp()
        model.compile("sgd", loss=keras.losses.SparseCategoricalCrossentropy(True))
        with self.assertRaisesRegex(ValueError, "needs 'val_accuracy' in the epoch logs"):
            training.fit(model, ds, epochs=1, validation_data=ds, verbose=0)


class KeepBestWeightsTest(tf.test.TestCase):

    def test_best_value_survives_a_restart(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "best")
        model = helpers.tiny_mlp()
        first = training.KeepBestWeights(path)
        first.set_model(model)
        first.on_epoch_end(0, {"val_accuracy": 0.8})
        saved = [w.numpy().copy() for w in model.weights]
        model.layers[-1].kernel.assign(tf.zeros_like(model.layers[-1].kernel))
        # A new callback (as after a kill and resume) still knows 0.8 is best.
        resumed = training.KeepBestWeights(path)
        resumed.set_model(model)
        self.assertEqual(resumed.best(), 0.8)
        resumed.on_epoch_end(1, {"val_accuracy": 0.5})
        resumed.restore(model)
        for before, after in zip(saved, model.weights):
            self.assertAllEqual(before, after.numpy())
        resumed.on_epoch_end(2, {"val_accuracy": 0.9})
        self.assertEqual(resumed.best(), 0.9)


class OptimizerTest(tf.test.TestCase):

    def test_learning_rate_schedule_is_accepted(self):
        schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=10)
        optimizer = training.make_optimizer("adam", schedule)
        # At step 0 the cosine schedule gives its initial rate; at the end, 0.
        self.assertAllClose(optimizer.learning_rate, 1e-3)
        self.assertAllClose(schedule(10), 0.0)

    def test_bad_learning_rate(self):
        with self.assertRaisesRegex(ValueError, "`learning_rate` must be > 0, got True"):
            training.make_optimizer("adam", True)
