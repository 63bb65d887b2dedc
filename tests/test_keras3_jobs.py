"""A Keras 3 .keras file through the prune and quantize jobs, and back out as Keras 3."""

import json
import os

import keras as keras3  # Keras 3, on purpose: the user's model
import numpy as np
import pytest
import tensorflow as tf

import helpers
import job_helpers
from tfcompress import data
from tfcompress import runtime
from tfcompress.jobs import artifacts
from tfcompress.jobs import prune
from tfcompress.jobs import quantize
from tfcompress.jobs import runner

L = keras3.layers


def _keras3_mobile_cnn():
    """Batch norm, ReLU6, a depthwise conv and a residual add, as MobileNets have."""
    keras3.utils.set_random_seed(0)
    x = inputs = keras3.Input((28, 28, 1))
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    x = L.ReLU(6.0)(L.BatchNormalization()(x))
    y = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    y = L.ReLU(6.0)(L.BatchNormalization()(y))
    y = L.BatchNormalization()(L.Conv2D(8, 1, use_bias=False)(y))
    x = L.GlobalAveragePooling2D()(L.Add()([x, y]))
    return keras3.Model(inputs, L.Dense(10)(x))


def _kernel_sparsity(model):
    kernels = [np.asarray(w) for w in model.weights if "kernel" in w.path]
    return sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels)


@pytest.mark.mnist
@pytest.mark.slow
class Keras3JobsTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.get_temp_dir()
        model = _keras3_mobile_cnn()
        model.compile(optimizer=keras3.optimizers.Adam(learning_rate=3e-3),
                      loss=keras3.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(data.load("mnist", "train[:1024]", batch_size=64), epochs=2, verbose=0)
        self.source = os.path.join(self.root, "user_model.keras")
        model.save(self.source)
        self.batch = data.first_examples("mnist", "test[:64]", 64)

    def _assert_keras3_file_agrees_with_tflite(self, folder, atol):
        model = keras3.saving.load_model(os.path.join(folder, artifacts.KERAS_FILE))
        self.assertIsInstance(model, keras3.Model)
        tflite = runtime.TFLiteRunner(os.path.join(folder, artifacts.TFLITE_FILE))
        keras_out = np.asarray(model(self.batch, training=False))
        tflite_out = tflite(self.batch)
        if atol is None:  # int8: the same predictions, not the same logits
            agreement = np.mean(keras_out.argmax(1) == tflite_out.argmax(1))
            self.assertGreaterEqual(agreement, 0.9)
        else:
            self.assertAllClose(keras_out, tflite_out, atol=atol)
        return model

    def test_keras3_file_pruned_then_quantized_comes_back_as_keras3(self):
        pruned_dir = os.path.join(self.root, "pruned")
        summary = runner.run(prune.PruneJob(model=self.source, sparsity=0.5, frequency=2),
                             job_helpers.mnist_training(pruned_dir, epochs=1),
                             log=lambda *_: None)
        self.assertLessEqual(summary["keras3_conversion"]["model"]["max_abs_diff"], 1e-5)
        self.assertEqual(summary["keras_file"], {"format": "keras3"})
        pruned = self._assert_keras3_file_agrees_with_tflite(pruned_dir, atol=1e-4)
        self.assertGreater(_kernel_sparsity(pruned), 0.3)

        quantized_dir = os.path.join(self.root, "quantized")
        summary = runner.run(quantize.QuantizeJob(model=pruned_dir, mode="pqat"),
                             job_helpers.mnist_training(quantized_dir, epochs=1),
                             log=lambda *_: None)
        self.assertEqual(summary["keras_file"], {"format": "keras3"})
        quantized = self._assert_keras3_file_agrees_with_tflite(quantized_dir, atol=None)
        # PQAT kept the zeros, in the file and in the float model handed back.
        self.assertGreaterEqual(_kernel_sparsity(quantized), _kernel_sparsity(pruned))
        with open(os.path.join(quantized_dir, artifacts.SUMMARY_FILE), encoding="utf-8") as f:
            self.assertIn("keras3_conversion", json.load(f))

    def test_pipeline_command_hands_a_keras3_file_back_as_keras3(self):
        run_dir = os.path.join(self.root, "run")
        result = helpers.run_cli(
            "pipeline", f"--input_model={self.source}", "--dataset=mnist",
            "--stages=prune,quantize,export,evaluate", "--train_split=train[:1024]",
            "--val_split=train[1024:1280]", "--test_split=test[:256]", "--prune_epochs=1",
            "--sparsity=0.5", "--quantization=pqat", "--quantize_epochs=1",
            f"--output_dir={run_dir}", "--verbose=0")
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self._assert_keras3_file_agrees_with_tflite(os.path.join(run_dir, "export"), atol=None)


@pytest.mark.mnist
class SoftmaxModelTest(tf.test.TestCase):

    def test_fine_tuning_a_softmax_model_is_refused_before_any_work(self):
        path = os.path.join(self.get_temp_dir(), "probabilities.keras")
        keras3.Sequential([keras3.Input((28, 28, 1)), L.Flatten(),
                           L.Dense(10, activation="softmax")]).save(path)
        out = os.path.join(self.get_temp_dir(), "out")
        for job in (prune.PruneJob(model=path), quantize.QuantizeJob(model=path, mode="qat")):
            with self.assertRaisesRegex(ValueError, (
                    rf"`model` '{path}' ends in a softmax \(it outputs probabilities\), but "
                    r"tfcompress fine-tunes on logits: .*`classifier_activation=None`")):
                runner.prepare(job, job_helpers.mnist_training(out))
            self.assertFalse(os.path.exists(out) or os.path.exists(out + ".partial"))


if __name__ == "__main__":
    tf.test.main()
