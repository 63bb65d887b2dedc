"""Keras 3 in, Keras 3 out: the Python API hands a Keras 3 user Keras 3 back.

The rule (README, "Your Keras 3 model"): a function that returns a finished
model returns it in the Keras it was given; a model still to be trained with
TFMOT (`prune(...).model`, `quantize_aware`, `cluster`) is a tf_keras model
that remembers, so what finishes it (`strip`, `strip_clusters`) hands back
Keras 3. Every fit tfcompress owns (a Distiller's, a pruned model's) takes
Keras 3 callbacks, and every .keras file it writes for a Keras 3 user loads
with `keras.saving.load_model`.
"""

import csv
import os

import keras as keras3  # Keras 3, on purpose: the user's side
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import tfcompress
from tfcompress import distill
from tfcompress import keras3 as bridge
from tfcompress import prune
from tfcompress import quantize
from tfcompress import shrink
from tfcompress._keras import keras

_X = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
_Y = (np.arange(64) % 3).astype(np.int32)
_DATA = tf.data.Dataset.from_tensor_slices((_X, _Y)).batch(16)


def _keras3_mlp(seed=0, width=16):
    keras3.utils.set_random_seed(seed)
    return keras3.Sequential([keras3.Input((6,)),
                              keras3.layers.Dense(width, activation="relu"),
                              keras3.layers.Dense(3)])


def _tf_keras_mlp(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(3)])


def _loads_in_keras3(test_case, path, like):
    loaded = keras3.saving.load_model(path)
    test_case.assertIsInstance(loaded, keras3.Model)
    test_case.assertAllClose(loaded(_X), like(_X), atol=1e-5)


def _keras3_callbacks(folder, seen):
    class Recorder(keras3.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, sorted(logs)))

    return [
        keras3.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9),
        keras3.callbacks.ModelCheckpoint(os.path.join(folder, "best.keras")),
        keras3.callbacks.TensorBoard(os.path.join(folder, "logs"), histogram_freq=1),
        keras3.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=1e9,
                                           factor=0.5),
        keras3.callbacks.CSVLogger(os.path.join(folder, "log.csv")),
        Recorder(),
    ]


class Keras3OutTest(tf.test.TestCase, parameterized.TestCase):

    def test_distiller_trains_the_callers_keras3_student(self):
        student, teacher = _keras3_mlp(1), _keras3_mlp(2, width=32)
        before = [w.copy() for w in student.get_weights()]
        distiller = tfcompress.Distiller(student, teacher)
        distiller.compile(keras.optimizers.Adam(0.05))
        distiller.fit(_DATA, epochs=2, verbose=0)
        self.assertIs(distiller.student, student)
        self.assertTrue(any(not np.array_equal(b, a)
                            for b, a in zip(before, student.get_weights())))
        self.assertAllClose(student(_X), distiller.tf_keras_student(_X), atol=1e-5)
        path = os.path.join(self.create_tempdir().full_path, "student.keras")
        tfcompress.save_keras_model(distiller.student, path)
        _loads_in_keras3(self, path, student)

    def test_student_checkpoint_of_a_keras3_student_is_a_keras3_file(self):
        student, teacher = _keras3_mlp(1), _keras3_mlp(2, width=32)
        distiller = tfcompress.Distiller(student, teacher)
        distiller.compile("adam")
        path = os.path.join(self.create_tempdir().full_path, "ckpt.keras")
        distiller.fit(_DATA, epochs=1, verbose=0,
                      callbacks=[distill.StudentCheckpoint(path)])
        _loads_in_keras3(self, path, student)

    def test_keras3_callbacks_run_in_a_distillers_fit(self):
        folder = self.create_tempdir().full_path
        student, teacher = _keras3_mlp(1), _keras3_mlp(2, width=32)
        distiller = tfcompress.Distiller(student, teacher)
        distiller.compile(keras.optimizers.Adam(0.01))
        seen = []
        history = distiller.fit(_DATA, epochs=5, verbose=0,
                                callbacks=_keras3_callbacks(folder, seen))
        self._assert_callbacks_ran(folder, seen, history, distiller.optimizer, student)

    def test_keras3_callbacks_run_in_a_pruned_models_fit(self):
        folder = self.create_tempdir().full_path
        result = prune.prune(_keras3_mlp(), sparsity=0.5, schedule="constant", frequency=1)
        result.model.compile(keras.optimizers.Adam(0.01),
                             keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        seen = []
        history = result.model.fit(
            _DATA, epochs=5, verbose=0,
            callbacks=prune.callbacks() + _keras3_callbacks(folder, seen))
        stripped = prune.strip(result.model)
        self.assertIsInstance(stripped, keras3.Model)
        self._assert_callbacks_ran(folder, seen, history, result.model.optimizer, stripped)

    def _assert_callbacks_ran(self, folder, seen, history, optimizer, finished):
        # EarlyStopping: every epoch after the first "fails" to improve by 1e9.
        self.assertLen(history.history["loss"], 2)
        self.assertEqual([epoch for epoch, _ in seen], [0, 1])
        self.assertIn("loss", seen[0][1])
        with open(os.path.join(folder, "log.csv"), encoding="utf-8") as f:
            self.assertLen(list(csv.DictReader(f)), 2)
        self.assertNotEmpty(os.listdir(os.path.join(folder, "logs", "train")))
        # ReduceLROnPlateau halved the rate once (after the second epoch).
        self.assertAllClose(float(optimizer.learning_rate.numpy()), 0.005)
        # ModelCheckpoint saved the finished model, in Keras 3, after the last epoch.
        _loads_in_keras3(self, os.path.join(folder, "best.keras"), finished)

    def test_strip_of_a_keras3_prune_is_keras3_and_tf_keras_stays_tf_keras(self):
        for build, kind in ((_keras3_mlp, keras3.Model), (_tf_keras_mlp, keras.Model)):
            result = prune.prune(build(), sparsity=0.5, schedule="constant")
            self.assertIsInstance(result.model, keras.Model)  # TFMOT trains tf_keras
            stripped = prune.strip(result.model)
            self.assertIsInstance(stripped, kind)
            self.assertIsInstance(prune.strip(build()), kind)

    def test_a_keras3_lstm_is_pruned_by_training(self):
        # Keras 3 records training=False in the graph of a model it has run;
        # the bridge used to copy it, so the LSTM's pruning masks never updated.
        keras3.utils.set_random_seed(0)
        inputs = keras3.Input((12,), dtype="int32")
        x = keras3.layers.LSTM(8, dropout=0.1)(keras3.layers.Embedding(50, 8)(inputs))
        model = keras3.Model(inputs, keras3.layers.Dense(2)(x))
        tokens = np.random.default_rng(0).integers(0, 50, (64, 12)).astype("int32")
        model(tokens[:2], training=False)
        result = prune.prune(model, sparsity=0.5, schedule="constant", end_step=4,
                             frequency=4)
        tfcompress.compile_classifier(result.model)
        result.model.fit(tokens, _Y % 2, batch_size=16, epochs=1, verbose=0,
                         callbacks=prune.callbacks())
        stripped = prune.strip(result.model)
        lstm = [layer for layer in stripped.layers if type(layer).__name__ == "LSTM"][0]
        kernel = np.asarray(lstm.cell.kernel)
        self.assertAllClose(np.mean(kernel == 0), 0.5, atol=0.01)

    def test_shrink_hands_back_the_keras_it_was_given(self):
        for build, kind in ((_keras3_mlp, keras3.Model), (_tf_keras_mlp, keras.Model)):
            result = shrink.shrink(build(), fraction=0.5)
            self.assertIsInstance(result.model, kind)
            dense = [layer for layer in result.model.layers
                     if type(layer).__name__ == "Dense"]
            self.assertEqual(dense[0].units, 8)

    def test_clusters_and_qat_of_a_keras3_model_finish_as_keras3(self):
        clustered = quantize.cluster(_keras3_mlp(), 4)
        self.assertIsInstance(clustered, keras.Model)
        shared = quantize.strip_clusters(clustered)
        self.assertIsInstance(shared, keras3.Model)
        self.assertLessEqual(max(len(np.unique(w)) for w in shared.get_weights()
                                 if w.ndim == 2), 4)
        aware = quantize.quantize_aware(_keras3_mlp())
        self.assertIsInstance(aware, keras.Model)  # fake-quant layers exist only in tf_keras
        self.assertTrue(bridge.came_from_keras3(aware))
        self.assertIsInstance(quantize.strip_clusters(quantize.cluster(_tf_keras_mlp(), 4)),
                              keras.Model)


if __name__ == "__main__":
    tf.test.main()
