"""Every public function that takes a model takes a Keras 3 model too."""

import os

import keras as keras3  # Keras 3, on purpose: the input under test
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import tfcompress
from tfcompress import keras3 as bridge
from tfcompress import prune
from tfcompress import quantize
from tfcompress._keras import keras

_X = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
_Y = (np.arange(16) % 3).astype(np.int32)
_DATA = tf.data.Dataset.from_tensor_slices((_X, _Y)).batch(8)


def _keras3_mlp(seed=0, activation="relu6"):
    keras3.utils.set_random_seed(seed)
    return keras3.Sequential([keras3.Input((6,)), keras3.layers.Dense(8, activation=activation),
                              keras3.layers.Dense(3)])


class Keras3ModelsTest(tf.test.TestCase, parameterized.TestCase):

    def test_count_and_evaluate_agree_with_the_conversion(self):
        model = _keras3_mlp()
        converted = bridge.to_tf_keras(model)
        self.assertEqual(tfcompress.count_params(model), tfcompress.count_params(converted))
        self.assertEqual(tfcompress.evaluate_classifier(model, _DATA),
                         tfcompress.evaluate_classifier(converted, _DATA))

    def test_train_classifier_writes_the_trained_weights_back(self):
        model = _keras3_mlp()
        before = [w.copy() for w in model.get_weights()]
        tfcompress.train_classifier(model, _DATA, epochs=2, learning_rate=0.05)
        after = model.get_weights()
        self.assertTrue(any(not np.array_equal(b, a) for b, a in zip(before, after)))
        # What the Keras 3 model now computes is the trained tf_keras model's function.
        reference = _keras3_mlp()
        trained = bridge.to_tf_keras(reference)
        tfcompress.train_classifier(trained, _DATA, epochs=2, learning_rate=0.05)
        self.assertAllClose(model(_X), trained(_X), atol=1e-4)

    def test_exports_of_a_keras3_model_run_and_agree(self):
        model = _keras3_mlp()
        folder = self.get_temp_dir()
        tflite_path = os.path.join(folder, "m.tflite")
        tfcompress.export_tflite(model, tflite_path)  # validated in LiteRT inside
        runner = tfcompress.runtime.TFLiteRunner(tflite_path)
        self.assertAllClose(runner(_X), model(_X), atol=1e-5)
        tfcompress.export_saved_model(model, os.path.join(folder, "saved"))
        self.assertTrue(os.path.exists(os.path.join(folder, "saved", "saved_model.pb")))

    def test_save_keras_model_writes_a_keras3_file(self):
        model = _keras3_mlp()
        path = os.path.join(self.get_temp_dir(), "m.keras")
        tfcompress.save_keras_model(model, path)
        loaded = keras3.saving.load_model(path)
        self.assertAllClose(loaded(_X), model(_X), atol=1e-6)

    def test_prune_quantize_and_distill_take_keras3_models(self):
        # relu: TFMOT's QAT knows only tf_keras's own activations by name.
        student, teacher = _keras3_mlp(1, "relu"), _keras3_mlp(2)
        result = prune.prune(student, sparsity=0.5, schedule="constant")
        self.assertIsInstance(result.model, keras.Model)
        self.assertEqual(set(result.targets.values()), {0.5})
        self.assertIsInstance(quantize.quantize_aware(student), keras.Model)
        distiller = tfcompress.Distiller(student, teacher)
        self.assertIs(distiller.student, student)  # the caller's model, trained in place
        self.assertIsInstance(distiller.tf_keras_student, keras.Model)
        self.assertAllClose(distiller.tf_keras_student(_X), student(_X), atol=1e-6)

    @parameterized.named_parameters(
        ("compile_classifier", tfcompress.compile_classifier),
        ("fit", lambda m: tfcompress.training.fit(m, _DATA, epochs=1)))
    def test_in_place_functions_say_how_to_convert(self, call):
        with self.assertRaisesRegex(
                TypeError, r"`model` is a Keras 3 model \(keras\.src\.models\.sequential\."
                r"Sequential\), and this function works on a tf_keras model in place\. "
                r"Convert it first with `tfcompress\.keras3\.to_tf_keras\(model\)`"):
            call(_keras3_mlp())

    def test_non_model_is_refused(self):
        with self.assertRaisesRegex(TypeError, "`model` must be a tf_keras Model, got str"):
            tfcompress.count_params("model.keras")


if __name__ == "__main__":
    tf.test.main()
