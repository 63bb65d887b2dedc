"""The budget's floor: the minimal model of an input and output, measured, and
targets below it refused."""

import numpy as np
import tensorflow as tf

from tfcompress._keras import keras
from tfcompress.budget import Targets
from tfcompress.budget import check_reachable
from tfcompress.budget import measure_floor
from tfcompress.budget import minimal_model
from tfcompress.models import spec
from tfcompress.models import spectrogram


def _mlp(input_shape=(784,)):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(32, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="mlp")


def _cnn_with_softmax():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x), name="cnn")


class _Timer:
    """Milliseconds = kilobytes of each file; remembers what it was asked."""

    def __init__(self):
        self.calls = []

    def __call__(self, files, num_threads):
        self.calls.append((sorted(files), num_threads))
        return {name: len(data) / 1000 for name, data in files.items()}


class MinimalModelTest(tf.test.TestCase):

    def test_mlp_on_vectors_is_one_dense_layer(self):
        minimal, description = minimal_model(_mlp())
        self.assertEqual(description, "Dense(10)")
        self.assertEqual((minimal.input_shape, minimal.output_shape), ((None, 784), (None, 10)))
        self.assertEqual(minimal.count_params(), 784 * 10 + 10)

    def test_mlp_on_images_pools_every_pixel(self):
        minimal, description = minimal_model(_mlp((28, 28, 1)))
        self.assertEqual(description, "GlobalAveragePooling2D + Dense(10)")
        self.assertEqual(minimal.input_shape, (None, 28, 28, 1))
        self.assertEqual(minimal.count_params(), 1 * 10 + 10)

    def test_cnn_keeps_its_softmax_output(self):
        minimal, description = minimal_model(_cnn_with_softmax())
        self.assertEqual(description, "GlobalAveragePooling2D + Dense(10, softmax)")
        self.assertEqual(minimal.count_params(), 3 * 10 + 10)
        outputs = minimal(np.random.default_rng(0).uniform(size=(4, 32, 32, 3)))
        self.assertAllClose(tf.reduce_sum(outputs, axis=-1), np.ones(4))

    def test_ds_cnn_keeps_a_copy_of_its_frontend(self):
        model = spec.build("ds_cnn:16", input_shape=(8000,), num_classes=10)
        minimal, description = minimal_model(model)
        self.assertEqual(description, "MelSpectrogram + GlobalAveragePooling1D + Dense(10)")
        self.assertNotEmpty(spectrogram.float_layers(minimal))
        self.assertEqual(minimal.input_shape, model.input_shape)
        self.assertEqual(minimal.output_shape, model.output_shape)
        original = model.get_layer("log_mel")
        copy = [layer for layer in minimal.layers if spectrogram.is_frontend(layer)][0]
        self.assertIsNot(copy, original)  # the caller's model shares no layer with it
        clips = np.random.default_rng(0).uniform(-1, 1, size=(2, 8000)).astype(np.float32)
        self.assertAllClose(copy(clips), original(clips))

    def test_token_ids_are_refused(self):
        inputs = keras.Input((12,), dtype="int32")
        x = keras.layers.Embedding(50, 4)(inputs)
        model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
        with self.assertRaisesRegex(ValueError, "takes int32 inputs .*skip "
                                    "`check_reachable` for a text model"):
            minimal_model(model)


class MeasureFloorTest(tf.test.TestCase):

    def test_floor_is_the_least_of_the_formats_real_files(self):
        floor = measure_floor(_mlp(), num_threads=1)  # timed for real in LiteRT
        formats = floor["formats"]
        self.assertEqual(sorted(formats), ["float", "int8"])
        # 7,850 weights: int8 keeps a byte of each, float four.
        self.assertGreater(formats["int8"]["size_bytes"], 7850)
        self.assertLess(formats["int8"]["size_bytes"], formats["float"]["size_bytes"])
        self.assertGreater(formats["float"]["size_bytes"], 4 * 7850)
        self.assertEqual((floor["size_bytes"], floor["size_format"]),
                         (formats["int8"]["size_bytes"], "int8"))
        self.assertGreater(min(f["latency_ms"] for f in formats.values()), 0)
        self.assertEqual(floor["latency_ms"],
                         min(f["latency_ms"] for f in formats.values()))
        self.assertEqual(formats[floor["latency_format"]]["latency_ms"], floor["latency_ms"])
        self.assertEqual((floor["model"], floor["num_threads"]), ("Dense(10)", 1))

    def test_files_are_timed_together_at_the_given_threads(self):
        timer = _Timer()
        floor = measure_floor(_mlp((28, 28, 1)), num_threads=2, timer=timer)
        self.assertEqual(timer.calls, [(["float", "int8"], 2)])
        # The stand-in's milliseconds are kilobytes: the smaller file is the faster.
        self.assertEqual(floor["latency_format"], floor["size_format"])
        self.assertEqual(floor["latency_ms"], floor["size_bytes"] / 1000)
        self.assertEqual(sorted(measure_floor(_mlp(), formats=("float",), timer=timer)
                                ["formats"]), ["float"])

    def test_bad_formats_are_refused(self):
        with self.assertRaisesRegex(ValueError, r"`formats` must be some of \('float', "
                                    r"'int8'\), got \('int4',\)"):
            measure_floor(_mlp(), formats=("int4",), timer=_Timer())


class CheckReachableTest(tf.test.TestCase):

    def test_size_target_below_the_measured_floor_is_refused_naming_it(self):
        floor = measure_floor(_mlp(), timer=_Timer())
        least = floor["size_bytes"] / 1000
        with self.assertRaises(ValueError) as caught:
            check_reachable(Targets(size_kb=2.0), floor)
        self.assertEqual(
            str(caught.exception),
            f"`target_size_kb` 2 is below the smallest file a model of this input and "
            f"output takes here: {least:g} KB (an int8 Dense(10)); give at least {least:g}.")
        check_reachable(Targets(size_kb=least), floor)  # the floor itself may be given
        check_reachable(Targets(size_kb=least + 1), floor)

    def test_latency_target_below_the_floor_is_refused_with_the_size_one(self):
        floor = {"latency_ms": 0.0123412, "latency_format": "float", "size_bytes": 1316,
                 "size_format": "float", "model": "GlobalAveragePooling2D + Dense(10)",
                 "num_threads": 2}
        with self.assertRaises(ValueError) as caught:
            check_reachable(Targets(latency_ms=0.01, size_kb=1.3), floor)
        self.assertEqual(
            str(caught.exception),
            "`target_latency_ms` 0.01 is below the fastest a model of this input and output "
            "runs here: 0.01235 ms (a float GlobalAveragePooling2D + Dense(10), batch 1 at 2 "
            "threads); give at least 0.01235. `target_size_kb` 1.3 is below the smallest "
            "file a model of this input and output takes here: 1.316 KB (a float "
            "GlobalAveragePooling2D + Dense(10)); give at least 1.316.")
        check_reachable(Targets(latency_ms=0.01235, size_kb=1.316), floor)
        # Accuracy has no floor.
        check_reachable(Targets(max_accuracy_drop=0), floor)
