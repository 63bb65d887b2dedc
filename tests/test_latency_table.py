"""The latency lookup table: layers measured once, models predicted from them.

A stand-in timer (milliseconds from a file's size) makes the arithmetic
exact; files are converted for real, so predicted bytes are checked against
real files; benchmarks measure the real latency error.
"""

import dataclasses
import json

import tensorflow as tf
from absl.testing import parameterized

from tfcompress import budget
from tfcompress import models
from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.evaluate import tflite_ops
from tfcompress.budget import LatencyTable
from tfcompress.budget import latency_table


class _Timer:
    """Milliseconds = kilobytes of each file; remembers what it was asked."""

    def __init__(self):
        self.calls = []

    def __call__(self, files, latency_format, num_threads):
        self.calls.append((sorted(files), latency_format, num_threads))
        return {name: len(data) / 1000 for name, data in files.items()}


def _cnn():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = keras.layers.Conv2D(32, 1, name="conv_2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(5, name="logits")(x), name="cnn")


class LatencyTableTest(tf.test.TestCase, parameterized.TestCase):

    def setUp(self):
        super().setUp()
        self.model = _cnn()
        self.timer = _Timer()
        self.table = LatencyTable(latency_format="float", num_threads=1, timer=self.timer)

    def test_each_distinct_layer_is_measured_once(self):
        self.assertEqual([layer.name for layer in latency_table.timed_layers(self.model)],
                         ["conv_1", "depthwise", "conv_2", "logits"])
        self.assertEqual(self.table.add(self.model), 4)
        self.assertEqual(self.table.add(self.model), 0)
        # conv_2 narrowed: conv_1, depthwise stay; conv_2 and logits read new widths.
        narrower = shrink.shrink(self.model, widths={"conv_2": 8}).model
        self.assertEqual(self.table.add(narrower), 2)
        self.assertLen(self.table.entries, 6)
        self.assertEqual([len(names) for names, _, _ in self.timer.calls], [4, 2])
        self.assertEqual(self.timer.calls[0][1:], ("float", 1))

    def test_prediction_is_the_entries_plus_the_rest_of_the_full_model(self):
        with self.assertRaisesRegex(ValueError, "call `calibrate`"):
            self.table.predict(self.model)
        with self.assertRaisesRegex(ValueError, "call `calibrate`"):
            self.table.predict_bytes(self.model)
        measured = self.table.calibrate(self.model)
        # The full file and its four layers' files, timed in one call.
        self.assertEqual([len(names) for names, _, _ in self.timer.calls], [5])
        self.assertAllClose(self.table.predict(self.model), measured["ms"])
        self.assertEqual(self.table.predict_bytes(self.model), measured["bytes"])
        narrower = shrink.shrink(self.model, widths={"conv_1": 8}).model
        predicted = self.table.predict(narrower)  # measures its new layers
        entries = sum(self.table.entries[latency_table.layer_key(layer)]["ms"]
                      for layer in latency_table.timed_layers(narrower))
        self.assertAllClose(predicted, entries + self.table.rest_ms)
        self.assertLess(predicted, measured["ms"])

    @parameterized.parameters("float", "int8")
    def test_predicted_bytes_are_within_one_percent_of_the_file(self, latency_format):
        table = LatencyTable(latency_format=latency_format, timer=self.timer)
        table.calibrate(self.model)
        narrower = [shrink.shrink(self.model, widths=widths).model
                    for widths in ({"conv_1": 8}, {"conv_1": 4, "conv_2": 24})]
        for row in table.check(narrower)["models"]:
            self.assertLess(row["measured_bytes"], 0.9 * len(
                shrink.latency.tflite_bytes(self.model, latency_format)))
            self.assertAllClose(row["bytes_error"],
                                row["predicted_bytes"] / row["measured_bytes"] - 1)
            self.assertLess(abs(row["bytes_error"]), 0.01, row)

    def test_a_trained_models_biases_are_predicted_at_every_width(self):
        # A trained model has non-zero biases, which the converter keeps with
        # their per-channel scales; a zero bias it drops. Before entries were
        # built with random weights, narrow files were predicted 35% too large.
        keras.utils.set_random_seed(1)
        inputs = keras.Input((100,))
        x = keras.layers.Dense(64, activation="relu", name="h1")(inputs)
        x = keras.layers.Dense(32, activation="relu", name="h2")(x)
        model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))
        model.set_weights([w + 0.1 for w in model.get_weights()])  # biases too
        table = LatencyTable(latency_format="int8", timer=self.timer)
        table.calibrate(model)
        narrow = shrink.shrink(model, widths={"h1": 16, "h2": 16}).model
        measured = len(shrink.latency.tflite_bytes(narrow, "int8"))
        self.assertLess(abs(table.predict_bytes(narrow) / measured - 1), 0.01)  # was 19%

    def test_an_entrys_bytes_are_its_weights_not_the_files_fixed_tables(self):
        self.table.add(self.model)
        conv_1 = self.model.get_layer("conv_1")
        entry = self.table.entries[latency_table.layer_key(conv_1)]["bytes"]
        weights = 4 * conv_1.count_params()  # float32
        file = len(shrink.latency.tflite_bytes(latency_table.layer_alone(conv_1), "float"))
        self.assertBetween(entry, weights, weights + 500)
        self.assertGreater(file - entry, 500)

    def test_check_times_every_whole_file_in_one_call(self):
        self.table.calibrate(self.model)
        self.timer.calls.clear()
        narrower = shrink.shrink(self.model, widths={"conv_2": 8}).model
        narrowest = shrink.shrink(self.model, widths={"conv_1": 4, "conv_2": 8}).model
        report = self.table.check([self.model, narrower, narrowest])
        # One call: the three whole files and the new layers (conv_2 and logits
        # at 8 wide; conv_1 at 4, depthwise, conv_2 reading 4 channels).
        self.assertLen(self.timer.calls, 1)
        names = self.timer.calls[0][0]
        self.assertEqual([n for n in names if n.startswith("model ")],
                         ["model 0: cnn", f"model 1: {narrower.name}",
                          f"model 2: {narrowest.name}"])
        self.assertLen(names, 3 + 5)
        full, small, smallest = report["models"]
        self.assertAllClose(full["error"], 0.0)
        self.assertEqual(full["bytes_error"], 0.0)
        self.assertAllClose(small["error"], small["predicted_ms"] / small["measured_ms"] - 1)
        self.assertEqual(small["measured_bytes"], len(
            shrink.latency.tflite_bytes(narrower, "float")))
        errors = [abs(row["error"]) for row in report["models"]]
        self.assertAllClose(report["max_abs_error"], max(errors))
        self.assertAllClose(report["mean_abs_error"], sum(errors) / 3)
        bytes_errors = [abs(row["bytes_error"]) for row in report["models"]]
        self.assertAllClose(report["max_abs_bytes_error"], max(bytes_errors))
        self.assertNotIn("reference", report)

    def test_check_times_the_reference_with_the_models_and_reports_ratios(self):
        self.table.calibrate(self.model)
        self.timer.calls.clear()
        narrower = shrink.shrink(self.model, widths={"conv_2": 8}).model
        report = self.table.check([narrower], reference=self.model)
        self.assertLen(self.timer.calls, 1)
        self.assertIn("model 1: cnn", self.timer.calls[0][0])
        ref, (row,) = report["reference"], report["models"]
        self.assertEqual(ref["name"], "cnn")
        self.assertAllClose(row["ratio_error"], (row["predicted_ms"] / ref["predicted_ms"])
                            / (row["measured_ms"] / ref["measured_ms"]) - 1)
        self.assertAllClose(report["max_abs_ratio_error"], abs(row["ratio_error"]))

    def test_a_table_read_back_predicts_without_timing_again(self):
        self.table.calibrate(self.model)
        record = json.loads(json.dumps(self.table.to_json()))
        timer = _Timer()
        again = LatencyTable.from_json(record, timer=timer)
        self.assertEqual(again.predict(self.model), self.table.predict(self.model))
        self.assertEqual(again.predict_bytes(self.model),
                         self.table.predict_bytes(self.model))
        self.assertEqual(again.to_json(), self.table.to_json())
        self.assertEqual(timer.calls, [])

    def test_a_record_without_bytes_is_refused(self):
        self.table.calibrate(self.model)
        record = self.table.to_json()
        del record["rest_bytes"]
        record["entries"] = {key: entry["ms"] for key, entry in record["entries"].items()}
        with self.assertRaisesRegex(ValueError, "without file bytes.*build the table again"):
            LatencyTable.from_json(record)

    def test_int8_entries_time_int8_files(self):
        seen = []

        def timer(files, latency_format, num_threads):
            seen.extend(tflite_ops.op_names(data) for data in files.values())
            return self.timer(files, latency_format, num_threads)

        LatencyTable(latency_format="int8", timer=timer).add(self.model)
        self.assertLen(seen, 4)
        for ops in seen:
            self.assertEqual((ops[0], ops[-1]), ("QUANTIZE", "DEQUANTIZE"))
        self.assertEqual(self.timer.calls[0][1], "int8")

    def test_bad_format_is_named(self):
        with self.assertRaisesRegex(ValueError, "`latency_format` must be one of "
                                    r"\('float', 'int8'\), got 'fp16'"):
            LatencyTable(latency_format="fp16")


def _mlp():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = keras.layers.Dense(24, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(16, activation="relu", name="fc2")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name="mlp")


class LayersAtTest(tf.test.TestCase, parameterized.TestCase):
    """`layers_at`: a width set's layers as the table sees them, without
    building the model, are those of the model `Narrowing.build` makes."""

    @parameterized.named_parameters(
        ("cnn", _cnn, {}),
        ("mlp_with_a_crop", _mlp, {"flatten": ((1, 2), (0, 3))}),
        ("resnet8", lambda: models.build("resnet8", input_shape=(16, 16, 3)), {}),
        ("ds_cnn", lambda: models.build("ds_cnn:16", input_shape=(4000, 1),
                                        sample_rate=8000), {}))
    def test_keys_and_predictions_equal_the_built_models(self, make, crops):
        narrow = dataclasses.replace(shrink.narrowing(make()), crops=crops)
        table = LatencyTable(latency_format="int8", timer=_Timer())
        table.calibrate(narrow.build(narrow.sizes))
        int4 = budget.Int4Bytes(table)
        sets = [narrow.sizes, tuple(max(1, size // 2) for size in narrow.sizes),
                tuple(max(1, size - 3 * (i % 2)) for i, size in enumerate(narrow.sizes))]
        for widths in sets:
            built = narrow.build(widths)
            found = latency_table.layers_at(narrow, widths)
            self.assertEqual([layer.key for layer in found],
                             [layer.key for layer in latency_table.table_layers(built)])
            self.assertEqual(table.predict(found), table.predict(built))
            self.assertEqual(table.predict_bytes(found), table.predict_bytes(built))
            self.assertAllClose(int4.predict_bytes(found), int4.predict_bytes(built))
            self.assertEqual(budget.sparse_plan.kernels_at(found, {}),
                             budget.sparse_plan.kernels(built))


class UntimedTableTest(tf.test.TestCase):
    """A table that times nothing (a size budget) fits new widths' bytes on the
    files its layers' families measured, and converts what they do not settle."""

    def test_fitted_bytes_are_the_converted_files_and_save_conversions(self):
        narrow = shrink.narrowing(_cnn())
        converted = []
        table = LatencyTable(latency_format="int8", timer=None)
        table._file = lambda model: converted.append(model) or shrink.latency.tflite_bytes(
            model, "int8")
        table.calibrate(narrow.build(narrow.sizes))
        widths = [(w1, w2) for w1 in (16, 12, 8, 4) for w2 in (32, 24, 16, 8, 4)]
        for pair in widths:
            table.predict_bytes(latency_table.layers_at(narrow, pair))
        fitted = [key for key, entry in table.entries.items() if entry.get("fitted")]
        self.assertNotEmpty(fitted)
        self.assertLen(converted, 1 + len(table.entries) - len(fitted))
        self.assertEqual({entry["ms"] for entry in table.entries.values()}, {0.0})
        for key in fitted:  # each as its own file gives it, within the tolerance
            layer = latency_table.TableLayer(*_layer_of_key(key))
            file = len(shrink.latency.tflite_bytes(layer.alone(), "int8"))
            empty = latency_table.empty_bytes(layer.input_shape, "int8")
            self.assertLessEqual(abs(table.entries[key]["bytes"] - (file - empty)),
                                 budget.layer_bytes.TOLERANCE_BYTES, key)
        again = LatencyTable.from_json(table.to_json(), timer=None)
        self.assertEqual(again.to_json(), table.to_json())

    def test_a_family_with_too_few_files_or_a_new_direction_is_not_fitted(self):
        families = budget.layer_bytes.Families()
        key = latency_table.layer_key(_cnn().get_layer("conv_2"))
        self.assertIsNone(families.fitted(key, [8 * 16 + 8, 8, 16]))
        for cout, cin in ((32, 16), (24, 16), (16, 16), (8, 16)):  # input never varies
            families.add(key, [cout * cin + cout, cout, cin], 1000 + cout * cin + 28 * cout)
        self.assertEqual(families.fitted(key, [4 * 16 + 4, 4, 16]), 1000 + 64 + 4 * 28)
        self.assertIsNone(families.fitted(key, [8 * 12 + 8, 8, 12]))
        families.add(key, [4 * 16 + 4, 4, 16], 1000 + 64 + 4 * 28 + 100)  # off the line
        self.assertIsNone(families.fitted(key, [4 * 16 + 4, 4, 16]))

    def test_an_untimed_table_has_no_latencies_to_check(self):
        table = LatencyTable(timer=None)
        model = _cnn()
        table.calibrate(model)
        self.assertEqual(table.predict(model), 0.0)
        with self.assertRaisesRegex(ValueError, r"times nothing \(`timer` None\)"):
            table.check([model])


def _layer_of_key(key):
    kind, config, shape = json.loads(key)
    return getattr(keras.layers, kind), config, tuple(shape[1:])
