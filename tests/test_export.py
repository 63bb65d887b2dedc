"""Tests of SavedModel, TFLite and .keras exports: each must agree with Keras."""

import os
from unittest import mock

import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from ai_edge_litert.interpreter import Interpreter

import helpers
from tfcompress import export
from tfcompress import models
from tfcompress import runtime
from tfcompress.export import tflite as tflite_module
from tfcompress.export import validation


def _run_with_litert(path, batch):
    """Independent of tfcompress's runner: plain LiteRT, one example at a time."""
    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    rows = []
    for example in batch:
        interpreter.set_tensor(inp, example[None])
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out)[0])
    return np.stack(rows)


class TFLiteExportTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("mlp", lambda: helpers.tiny_mlp(), (6,)),
        ("cnn", lambda: helpers.tiny_cnn(), (8, 8, 1)),
        ("lenet5", lambda: models.lenet5(), (28, 28, 1)),
    )
    def test_tflite_file_runs_and_matches_keras_logits(self, build, shape):
        model = build()
        batch = helpers.random_batch(shape, n=5)
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        result = export.export_tflite(model, path, check_inputs=batch)
        self.assertEqual(result.path, path)
        self.assertEqual(result.num_checked, 5)
        self.assertLessEqual(result.max_abs_diff, 1e-4)
        actual = _run_with_litert(path, batch)
        self.assertAllClose(actual, model(batch).numpy(), atol=1e-4, rtol=0)

    def test_default_check_batch_is_noise_of_the_input_shape(self):
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        result = export.export_tflite(helpers.tiny_mlp(), path)
        self.assertEqual(result.num_checked, validation.MADE_UP_EXAMPLES)
        self.assertTrue(os.path.isfile(path))

    def test_disagreeing_model_leaves_no_file(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "m.tflite")
        with self.assertRaisesRegex(export.ExportValidationError,
                                    "The TFLite model disagrees with the Keras model"):
            export.export_tflite(helpers.tiny_mlp(), path, atol=-1.0)
        self.assertEqual(os.listdir(folder), [])

    def test_model_litert_cannot_run_is_reported_and_not_written(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "m.tflite")
        with mock.patch.object(tflite_module, "convert", return_value=b"not a model"):
            with self.assertRaisesRegex(export.ExportValidationError,
                                        "LiteRT could not run the float export"):
                export.export_tflite(helpers.tiny_mlp(), path)
        self.assertEqual(os.listdir(folder), [])

    def test_check_inputs_of_wrong_shape(self):
        with self.assertRaisesRegex(ValueError,
                                    r"`check_inputs` must have shape \[batch, 6\], got \[2, 7\]"):
            export.export_tflite(helpers.tiny_mlp(), "unused.tflite",
                                 check_inputs=np.zeros((2, 7)))

    def test_empty_check_inputs_is_refused(self):
        with self.assertRaisesRegex(ValueError, "`check_inputs` is empty"):
            export.export_tflite(helpers.tiny_mlp(), "unused.tflite",
                                 check_inputs=np.zeros((0, 6)))

    def test_unknown_input_dims_need_check_inputs(self):
        from tfcompress._keras import keras  # pylint: disable=g-import-not-at-top

        inputs = keras.Input((None, 3))
        model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        with self.assertRaisesRegex(ValueError, "unknown dimensions, .* pass `check_inputs`"):
            export.export_tflite(model, "unused.tflite")

    def test_runner_handles_changing_batch_sizes(self):
        model = helpers.tiny_mlp()
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        export.export_tflite(model, path)
        runner = runtime.TFLiteRunner(path)
        for n in (3, 1, 7):
            batch = helpers.random_batch((6,), n=n, seed=n)
            self.assertAllClose(runner(batch), model(batch), atol=1e-4, rtol=0)


class SavedModelExportTest(tf.test.TestCase):

    def test_saved_model_serves_logits_matching_keras(self):
        model = helpers.tiny_cnn()
        batch = helpers.random_batch((8, 8, 1), n=4)
        path = os.path.join(self.create_tempdir().full_path, "saved_model")
        result = export.export_saved_model(model, path, check_inputs=batch)
        self.assertLessEqual(result.max_abs_diff, 1e-4)
        serve = tf.saved_model.load(path).signatures["serving_default"]
        self.assertEqual(list(serve.structured_outputs), ["logits"])
        logits = serve(inputs=tf.constant(batch))["logits"]
        self.assertAllClose(logits, model(batch), atol=1e-4, rtol=0)
        # The batch dimension stays open for serving.
        self.assertAllClose(serve(inputs=tf.constant(batch[:1]))["logits"],
                            model(batch[:1]), atol=1e-4, rtol=0)

    def test_disagreeing_saved_model_leaves_old_folder_alone(self):
        folder = self.create_tempdir()
        path = os.path.join(folder.full_path, "saved_model")
        os.makedirs(os.path.join(path, "previous"))
        with self.assertRaises(export.ExportValidationError):
            export.export_saved_model(helpers.tiny_mlp(), path, atol=-1.0)
        self.assertEqual(os.listdir(folder.full_path), ["saved_model"])
        self.assertEqual(os.listdir(path), ["previous"])

    def test_multi_input_model_is_refused(self):
        from tfcompress._keras import keras  # pylint: disable=g-import-not-at-top

        a, b = keras.Input((2,)), keras.Input((2,))
        model = keras.Model([a, b], keras.layers.Add()([a, b]))
        with self.assertRaisesRegex(ValueError, "one input and one output"):
            export.export_saved_model(model, "unused")


class KerasModelTest(tf.test.TestCase):

    def test_keras_file_round_trip(self):
        model = models.lenet_300_100()
        path = os.path.join(self.create_tempdir().full_path, "m.keras")
        export.save_keras_model(model, path)
        loaded = export.load_keras_model(path)
        batch = helpers.random_batch((28, 28, 1), n=3)
        self.assertAllClose(loaded(batch), model(batch), atol=0, rtol=0)
        self.assertEqual(loaded.name, "lenet_300_100")

    def test_keras_path_must_end_in_keras(self):
        with self.assertRaisesRegex(ValueError, r"`path` must end in .keras, got 'm.h5'"):
            export.save_keras_model(helpers.tiny_mlp(), "m.h5")

    def test_missing_model_file(self):
        with self.assertRaisesRegex(FileNotFoundError, "No model at 'nope.keras'"):
            export.load_keras_model("nope.keras")
