"""Exported files answer like the model on every invoke, as a device runs them."""

import os
import re
from unittest import mock

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import helpers
from tfcompress import export
from tfcompress._keras import keras
from tfcompress.data import inputs as data_inputs
from tfcompress.evaluate.tflite_ops import op_names
from tfcompress.export import converter as converter_lib
from tfcompress.export import recurrent
from tfcompress.export import validation
from tfcompress.runtime import TFLiteRunner
from tfcompress.runtime import variable_tensors

_STEPS, _FEATURES, _VOCAB = 6, 4, 30


def _sequences(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, _STEPS, _FEATURES)).astype(np.float32)


def _tokens(n, seed=0):
    return np.random.default_rng(seed).integers(0, _VOCAB, (n, _STEPS)).astype(np.int32)


def _sequence_model(layer):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((_STEPS, _FEATURES))
    return keras.Model(inputs, keras.layers.Dense(3)(layer(inputs)))


_RECURRENT = {
    "lstm": (lambda: _sequence_model(keras.layers.LSTM(8)), _sequences),
    "bidirectional_lstm": (lambda: _sequence_model(
        keras.layers.Bidirectional(keras.layers.LSTM(5))), _sequences),
    "gru": (lambda: _sequence_model(keras.layers.GRU(8)), _sequences),
    "simple_rnn": (lambda: _sequence_model(keras.layers.SimpleRNN(8)), _sequences),
}


def _cases():
    for name in _RECURRENT:
        for mode in ("none", "float16", "dynamic", "int8"):
            yield f"{name}_{mode}", name, mode


def _device_runs(path, examples, passes=3, seed=0):
    """Outputs of `passes` device-style runs in shuffled orders (no resets)."""
    runner = TFLiteRunner(path)
    rng = np.random.default_rng(seed)
    return [runner.run_each(examples, rng.permutation(len(examples)))
            for _ in range(passes)]


class StatelessRecurrentFileTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(*_cases())
    def test_same_output_for_same_input_in_any_order(self, name, mode):
        build, data = _RECURRENT[name]
        model, examples = build(), data(24)
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        export.export_tflite(model, path, quantization=mode,
                             representative_data=examples, min_agreement=0.8)
        self.assertEmpty(variable_tensors(path))
        first, *others = _device_runs(path, examples)
        for other in others:
            self.assertAllEqual(other, first)
        if mode in ("none", "float16"):
            self.assertAllClose(first, model(examples).numpy(), atol=1e-3, rtol=0)
        ops = op_names(path)
        self.assertNotIn("UNIDIRECTIONAL_SEQUENCE_LSTM", ops)
        self.assertNotIn("BIDIRECTIONAL_SEQUENCE_LSTM", ops)
        if mode == "int8":
            self.assertNotIn("WHILE", ops)  # unrolled: the calibrator dies on loops

    def test_keras3_lstm_file_is_stateless_in_float_and_int8(self):
        import keras as keras3  # Keras 3, on purpose: the user's model
        keras3.utils.set_random_seed(0)
        inputs = keras3.Input((_STEPS,), dtype="int32")
        x = keras3.layers.Embedding(_VOCAB, 8)(inputs)
        x = keras3.layers.Bidirectional(keras3.layers.LSTM(4))(x)
        model = keras3.Model(inputs, keras3.layers.Dense(2)(x))
        examples = _tokens(32)
        for mode in ("none", "int8"):
            path = os.path.join(self.create_tempdir().full_path, f"{mode}.tflite")
            export.export_tflite(model, path, quantization=mode,
                                 representative_data=examples, min_agreement=0.8)
            first, *others = _device_runs(path, examples)
            for other in others:
                self.assertAllEqual(other, first)
            self.assertAllClose(first, np.asarray(model(examples)),
                                atol=1e-4 if mode == "none" else 0.2, rtol=0)

    def test_unrolled_file_drops_activation_names_but_keeps_weight_names(self):
        build, data = _RECURRENT["lstm"]
        model, examples = build(), data(24)
        flatbuffer = converter_lib.convert(model, quantization="int8",
                                           representative_data=examples)
        kept = converter_lib.make_converter(model, quantization="int8",
                                            representative_data=examples).convert()
        self.assertLess(len(flatbuffer), len(kept))
        names = [d["name"] for d in TFLiteRunner(flatbuffer).interpreter
                 .get_tensor_details() if d["name"]]
        self.assertTrue(any("kernel" in name or "MatMul" in name for name in names),
                        names)


class DeviceCheckTest(tf.test.TestCase):

    def test_stateful_fused_lstm_file_is_refused_and_nothing_written(self):
        build, data = _RECURRENT["lstm"]
        model, examples = build(), data(16)
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "m.tflite")
        with mock.patch.object(recurrent, "choose_form", return_value="fused"):
            with self.assertRaisesRegex(
                    validation.ExportValidationError,
                    r"^The float TFLite file keeps state between invokes: run one "
                    r"example per invoke, 16 examples in two orders, example \d+ gave "
                    r"outputs [0-9.e-]+ apart \(\d+ examples differ\)\. A device that "
                    r"runs one input per invoke, without `reset_all_variables\(\)`, "
                    r"would get answers the Keras model never gives\. Nothing was "
                    r"written\.$"):
                export.export_tflite(model, path, check_inputs=examples)
        self.assertEmpty(os.listdir(folder))

    def test_runner_hides_no_reset_from_a_stateful_file(self):
        build, data = _RECURRENT["lstm"]
        model, examples = build(), data(2)
        flatbuffer = converter_lib.convert(model, recurrent_form="fused")
        self.assertLen(variable_tensors(flatbuffer), 2)  # output and cell state
        runner = TFLiteRunner(flatbuffer)
        first = runner(examples[:1])
        self.assertNotAllClose(runner(examples[:1]), first)

    def test_file_answering_one_class_for_everything_is_caught_on_imbalanced_data(
            self):
        model = helpers.tiny_mlp(num_classes=2)
        x = helpers.random_batch((6,), n=4096)
        keras_class = np.argmax(model(x).numpy(), -1)
        rare = int(np.argmin(np.bincount(keras_class, minlength=2)))
        # 61 examples Keras gives the common class, 3 it gives the rare one.
        x = np.concatenate([x[keras_class != rare][:61], x[keras_class == rare][:3]])
        self.assertLen(x, 64)
        # A "quantized" file whose answer is always the common class.
        one_class = keras.Sequential([keras.Input((6,)), keras.layers.Dense(
            2, kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(
                [1.0, 0.0] if rare == 1 else [0.0, 1.0]))])
        wrong_bytes = converter_lib.convert(one_class, quantization="dynamic")
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "m.tflite")
        with mock.patch.object(converter_lib, "convert", return_value=wrong_bytes):
            per_class = ", ".join(f"class {c}: {agree}/{count}" for c, agree, count in
                                  sorted([(rare, 0, 3), (1 - rare, 61, 61)]))
            with self.assertRaisesRegex(validation.ExportValidationError, "^" + re.escape(
                    "The dynamic TFLite model disagrees with the Keras model on a whole "
                    "class: same top-1 class on 95.3% of 64 check examples, but within "
                    "one class only 0.0%, under the 50% asked of each (per class Keras "
                    f"gives: {per_class}). A file that answers one class for everything "
                    "looks accurate on imbalanced data. Nothing was written. Calibrate "
                    "on more or more representative data, or fine-tune with "
                    "quantization-aware training.") + "$"):
                export.export_tflite(model, path, quantization="dynamic", check_inputs=x)
        self.assertEmpty(os.listdir(folder))
        # The old measure would have passed it: 61 of 64 agree.
        self.assertGreater(61 / 64, export.tflite.DEFAULT_MIN_AGREEMENT)

    def test_evaluate_runs_a_stateful_file_as_a_device_and_warns(self):
        from test_distill_text import _write_tsv  # pylint: disable=import-outside-toplevel
        from tfcompress import data  # pylint: disable=import-outside-toplevel
        from tfcompress import models  # pylint: disable=import-outside-toplevel
        from tfcompress.jobs import evaluate_tflite  # pylint: disable=import-outside-toplevel
        from tfcompress.jobs import runner  # pylint: disable=import-outside-toplevel
        from tfcompress.jobs import settings  # pylint: disable=import-outside-toplevel
        folder = self.create_tempdir().full_path
        dataset = "tsv:" + _write_tsv(folder, n=60)
        source = data.open_source(dataset)
        model = models.build("text_lstm:4,4", vocab_size=source.vocabulary_size,
                             sequence_length=source.sequence_length)
        path = os.path.join(folder, "fused.tflite")
        with open(path, "wb") as f:
            f.write(converter_lib.convert(model, recurrent_form="fused"))
        lines = []
        result = runner.run(evaluate_tflite.EvaluateJob(path, batch_sizes=[1, 32], repeats=2),
                            settings.Training(None, dataset=dataset), log=lines.append)
        self.assertLen(result["variable_tensors"], 2)
        self.assertIn("The file takes 1 example(s) per invoke (a recurrent model's): "
                      "latency at batch 1 only.", lines)
        self.assertEqual([row["batch_size"] for row in result["latency"]], [1, 1])
        self.assertRegex(lines[0], "^" + re.escape(
            f"Warning: {path} keeps state between invokes in 2 variable tensors (")
            + r".+\), so an input's answer depends on the inputs run before it\. It "
            r"is evaluated as a device runs it, never reset: the accuracy below is what "
            r"a device gets\. A fused LSTM does this; export the model again with "
            r"tfcompress, which writes recurrent layers stateless\.$")

    def test_check_takes_examples_of_every_class_from_labelled_data(self):
        model = helpers.tiny_mlp(num_classes=3)
        x = helpers.random_batch((6,), n=400)
        y = np.zeros(400, np.int64)
        y[-5:] = 2  # a rare class at the end of the data
        batch = validation.check_batch(model, (x, y))
        self.assertLen(batch, validation.CHECK_PER_CLASS + 5)
        rare_rows = [row for row in batch if any((row == x[-5:]).all(axis=1))]
        self.assertLen(rare_rows, 5)

    def test_examples_of_every_class_reads_labels_in_every_form(self):
        x = np.arange(40, dtype=np.float32).reshape(20, 2)
        y = np.array([0] * 17 + [1, 2, 2])
        want = [0, 1, 2, 0, 2, 0, 0]  # classes take turns, then the rest of class 0
        for labels in (y, y[:, None], np.eye(3)[y]):
            picked_x, picked_y = data_inputs.examples_of_every_class(
                (x, labels), per_class=4, max_examples=7)
            self.assertAllEqual(picked_y, want)
            self.assertAllEqual(picked_x[:, 0], [0, 34, 36, 2, 38, 4, 6])
        batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
        self.assertAllEqual(data_inputs.examples_of_every_class(
            batches, per_class=4, max_examples=7)[1], want)
        with self.assertRaisesRegex(ValueError, re.escape(
                "`data`: x has 20 examples and y 19 labels: pass one label per "
                "example.")):
            data_inputs.examples_of_every_class((x, y[:19]))

    def test_check_falls_back_to_representative_data(self):
        model = helpers.tiny_mlp()
        x = helpers.random_batch((6,), n=40, seed=3)
        self.assertAllEqual(validation.check_batch(model, None, x), x)


if __name__ == "__main__":
    tf.test.main()
