"""The spectrogram frontend: tf_keras twins of Keras 3's layers, the bridge, TFLite.

The twins must compute what Keras 3's `MelSpectrogram` and `STFTSpectrogram`
compute (the bridge checks the converted model equal), save and load as
.keras files, and export to TFLite builtin ops that a device runs one clip
per invoke with the same answer every time.
"""

import os
import tempfile
import warnings

import keras as keras3  # Keras 3, on purpose: the layers the twins copy
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

import tfcompress
from tfcompress import export
from tfcompress import keras3 as bridge
from tfcompress._keras import keras
from tfcompress.evaluate.tflite_ops import op_names
from tfcompress.export import float_frontend
from tfcompress.keras3 import spectrograms as bridge_spectrograms
from tfcompress.models import spectrogram
from tfcompress.runtime import TFLiteRunner
from tfcompress.runtime import load_interpreter

_MEL_CONFIGS = {
    "defaults": {},
    "small_fft": {"fft_length": 256, "sequence_stride": 128, "num_mel_bins": 20,
                  "sampling_rate": 8000},
    "power_no_db": {"fft_length": 512, "sequence_length": 320, "sequence_stride": 160,
                    "num_mel_bins": 10, "sampling_rate": 8000, "power_to_db": False},
    "hamming_magnitude_db": {"fft_length": 256, "sequence_stride": 64, "window": "hamming",
                             "top_db": 40.0, "mag_exp": 1.0, "ref_power": 2.0},
    "no_window_band": {"fft_length": 128, "window": None, "sampling_rate": 8000,
                       "num_mel_bins": 16, "min_freq": 100.0, "max_freq": 3000.0},
}
_STFT_CONFIGS = {
    "log": {},
    "magnitude_same": {"mode": "magnitude", "frame_length": 100, "frame_step": 30,
                       "padding": "same"},
    "psd_spectrum": {"mode": "psd", "window": "hamming", "scaling": "spectrum"},
    "real": {"mode": "real"},
    "imag_periodic": {"mode": "imag", "periodic": True},
    "angle": {"mode": "angle", "fft_length": 512},
    "stft_expand": {"mode": "stft", "expand_dims": True},
    "log_channels_first": {"mode": "log", "data_format": "channels_first",
                           "expand_dims": True},
}


def _waves(shape, seed=0):
    """Noise at two loudness levels, so the dB floor and clip are reached."""
    x = np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)
    x[1] *= 0.01
    return x


def _relative_error(expected, actual):
    expected = np.asarray(expected, np.float64)
    return float(np.max(np.abs(expected - actual) / np.maximum(1.0, np.abs(expected))))


class TwinTest(parameterized.TestCase):

    @parameterized.named_parameters(*_MEL_CONFIGS.items())
    def test_mel_matches_keras3(self, config):
        x = _waves((3, 4000))
        expected = np.asarray(keras3.layers.MelSpectrogram(**config)(x))
        actual = spectrogram.MelSpectrogram(**config)(x).numpy()
        self.assertEqual(actual.shape, expected.shape)
        self.assertLess(_relative_error(expected, actual), 1e-5)

    def test_unknown_length_takes_the_rfft_path_with_the_same_numbers(self):
        # Clips of a known length take `stft_ops` (matmuls), others tf.signal's
        # STFT; both are Keras 3's numbers.
        layer = spectrogram.MelSpectrogram(fft_length=256, sequence_length=240,
                                           sequence_stride=160, num_mel_bins=10,
                                           sampling_rate=8000, top_db=None, min_power=1e-6)
        x = _waves((3, 4000))
        unknown = tf.function(layer, input_signature=[tf.TensorSpec([None, None])])
        self.assertIn("RFFT", str([op.type for op in
                                   unknown.get_concrete_function().graph.get_operations()]))
        self.assertLess(_relative_error(unknown(x).numpy(), layer(x).numpy()), 1e-5)

    def test_mel_top_db_clips_against_the_batch_max(self):
        # Keras 3 behaviour, kept: a quiet clip's floor moves with a loud neighbour.
        layer = spectrogram.MelSpectrogram(fft_length=256, sequence_stride=128, top_db=20.0)
        quiet = _waves((2, 2000))[1:]
        alone = layer(quiet).numpy()[0]
        with_loud = layer(np.concatenate([quiet, 100 * quiet])).numpy()[0]
        self.assertGreater(np.max(np.abs(alone - with_loud)), 1.0)
        per_clip = spectrogram.MelSpectrogram(fft_length=256, sequence_stride=128, top_db=None)
        np.testing.assert_array_equal(
            per_clip(quiet).numpy()[0], per_clip(np.concatenate([quiet, 100 * quiet])).numpy()[0])

    @parameterized.named_parameters(*_STFT_CONFIGS.items())
    def test_stft_matches_keras3(self, config):
        x = _waves((2, 1000, 2))
        if config.get("data_format") == "channels_first":
            x = x.transpose(0, 2, 1)
        original = keras3.layers.STFTSpectrogram(**config)
        expected = np.asarray(original(x))
        twin = spectrogram.STFTSpectrogram(**config)
        twin(x)
        initial = [np.asarray(w) for w in original.get_weights()]
        for kernel, twin_kernel in zip(initial, twin.get_weights()):
            np.testing.assert_allclose(twin_kernel, kernel, atol=1e-6)
        twin.set_weights(initial)  # as the bridge does; the kernels' float32 rounding
        actual = twin(x).numpy()
        self.assertEqual(actual.shape, expected.shape)
        self.assertLess(_relative_error(expected, actual), 1e-5)

    def test_configs_have_keras3_keys(self):
        for twin, original in ((spectrogram.MelSpectrogram(), keras3.layers.MelSpectrogram()),
                               (spectrogram.STFTSpectrogram(),
                                keras3.layers.STFTSpectrogram())):
            self.assertEqual(set(twin.get_config()), set(original.get_config()))

    def test_bad_arguments_are_named(self):
        with self.assertRaisesRegex(ValueError, "fft_length"):
            spectrogram.MelSpectrogram(fft_length=128, sequence_length=256)
        with self.assertRaisesRegex(ValueError, "window"):
            spectrogram.MelSpectrogram(window="blackman")
        with self.assertRaisesRegex(ValueError, "mode"):
            spectrogram.STFTSpectrogram(mode="power")

    def test_saved_model_reloads(self):
        model = _mel_cnn(top_db=None)
        x = _waves((2, 4000))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            loaded = tfcompress.load_keras_model(path)
        self.assertIsInstance(loaded.layers[1], spectrogram.MelSpectrogram)
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


def _keras3_mel_model(**mel):
    # Seeded: with some weights the ReLU hides what top_db's batch-wide clip
    # changes, and the weights must not depend on the tests run before.
    keras3.utils.set_random_seed(0)
    inputs = keras3.Input((4000,))
    x = keras3.layers.MelSpectrogram(fft_length=256, sequence_stride=128, num_mel_bins=16,
                                     sampling_rate=8000, name="mel", **mel)(inputs)
    x = keras3.layers.Reshape((16, 32, 1))(x)
    x = keras3.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras3.layers.GlobalAveragePooling2D()(x)
    return keras3.Model(inputs, keras3.layers.Dense(3)(x))


def _keras3_stft_model():
    inputs = keras3.Input((2000, 1))
    x = keras3.layers.STFTSpectrogram(mode="log", frame_length=128, frame_step=64,
                                      name="stft")(inputs)
    x = keras3.layers.GlobalAveragePooling1D()(x)
    return keras3.Model(inputs, keras3.layers.Dense(3)(x))


class BridgeTest(parameterized.TestCase):

    def test_mel_round_trip(self):
        model = _keras3_mel_model(power_to_db=False)
        x = _waves((4, 4000))
        conversion = bridge.convert(model)
        self.assertIsInstance(conversion.model.get_layer("mel"), spectrogram.MelSpectrogram)
        np.testing.assert_allclose(conversion.model(x).numpy(), np.asarray(model(x)),
                                   rtol=1e-5, atol=1e-5)
        back = bridge.to_keras3(conversion.model)
        self.assertIsInstance(back.get_layer("mel"), keras3.layers.MelSpectrogram)
        self.assertEqual(back.get_layer("mel").get_config(), model.get_layer("mel").get_config())
        np.testing.assert_allclose(np.asarray(back(x)), np.asarray(model(x)), rtol=1e-5,
                                   atol=1e-5)

    def test_stft_round_trip_keeps_trained_kernels(self):
        model = _keras3_stft_model()
        layer = model.get_layer("stft")
        layer.set_weights([w * 1.5 for w in layer.get_weights()])  # as if trained
        x = _waves((2, 2000, 1))
        converted = bridge.to_tf_keras(model)
        self.assertIsInstance(converted.get_layer("stft"), spectrogram.STFTSpectrogram)
        np.testing.assert_allclose(converted(x).numpy(), np.asarray(model(x)), rtol=1e-5,
                                   atol=1e-5)
        back = bridge.to_keras3(converted)
        self.assertIsInstance(back.get_layer("stft"), keras3.layers.STFTSpectrogram)
        np.testing.assert_allclose(np.asarray(back(x)), np.asarray(model(x)), rtol=1e-5,
                                   atol=1e-5)

    def test_top_db_warns_batch_dependent(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bridge.convert(_keras3_mel_model(top_db=80.0))
        messages = [str(w.message) for w in caught
                    if issubclass(w.category, bridge_spectrograms.BatchDependentWarning)]
        self.assertLen(messages, 1)
        self.assertIn("'mel'", messages[0])
        self.assertIn("whole batch", messages[0])

    def test_per_clip_frontend_goes_to_keras3_and_back(self):
        # top_db=None becomes a Keras 3 top_db that never clips, and back None.
        model = _mel_cnn(top_db=None)
        x = _waves((4, 4000))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            back = bridge.to_keras3(model)
            again = bridge.to_tf_keras(back)
        self.assertFalse([w for w in caught
                          if issubclass(w.category, bridge_spectrograms.BatchDependentWarning)])
        self.assertGreater(back.get_layer("mel").top_db, 1000)
        self.assertIsNone(again.get_layer("mel").top_db)
        np.testing.assert_allclose(np.asarray(back(x)), model(x).numpy(), rtol=1e-5, atol=1e-5)
        # One clip alone gives what it gives in a batch, in Keras 3 too.
        np.testing.assert_allclose(np.asarray(back(x[1:2]))[0], np.asarray(back(x))[1],
                                   rtol=1e-5, atol=1e-5)

    def test_keras3_file_loads_as_tf_keras(self):
        model = _keras3_mel_model(power_to_db=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            loaded = tfcompress.load_keras_model(path)
        self.assertIsInstance(loaded.get_layer("mel"), spectrogram.MelSpectrogram)


def _mel_cnn(top_db=None, samples=4000):
    """A tf_keras model computing log-mels per clip (top_db=None) before a conv."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((samples,))
    x = spectrogram.MelSpectrogram(fft_length=256, sequence_stride=128, num_mel_bins=16,
                                   sampling_rate=8000, top_db=top_db, min_power=1e-6,
                                   name="mel")(inputs)
    x = keras.layers.Permute((2, 1))(x)
    x = keras.layers.Reshape((samples // 128 + 1, 16, 1))(x)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


# The frontend's ops for clips of a known length: what a device's TFLite
# build must include (the DFT as matmuls, `stft_ops`), and the slow ones
# it must not need (RFFT2D, MIRROR_PAD, GATHER framing, which XNNPACK
# does not run).
_FRONTEND_OPS = {"REVERSE_V2", "CONCATENATION", "FULLY_CONNECTED", "SQUARE", "LOG"}
_SLOW_OPS = {"RFFT2D", "MIRROR_PAD", "GATHER", "REAL", "IMAG", "COMPLEX_ABS"}


class ExportTest(parameterized.TestCase):

    @parameterized.named_parameters(("features", True), ("classifier", False))
    def test_float_file_has_builtin_ops_and_matches_keras(self, features_only):
        model = _mel_cnn()
        if features_only:
            model = keras.Model(model.inputs, model.get_layer("mel").output)
        x = _waves((8, 4000), seed=3) * 0.3
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "mel.tflite")
            export.export_tflite(model, path, check_inputs=x)
            ops = op_names(path)
            self.assertContainsSubset(_FRONTEND_OPS, set(ops))
            self.assertFalse(_SLOW_OPS & set(ops), ops)
            self.assertFalse([op for op in ops if op.startswith("FLEX") or op == "CUSTOM"],
                             ops)
            runner = TFLiteRunner(path)  # one clip per invoke, no resets, as a device
            passes = [runner.run_each(x, order) for order in
                      (range(len(x)), np.random.default_rng(0).permutation(len(x)),
                       range(len(x)))]
        expected = model(x).numpy()
        for actual in passes:
            self.assertLess(_relative_error(expected, actual), 1e-4)
            np.testing.assert_array_equal(actual, passes[0])

    def test_batch_dependent_keras3_model_is_checked_one_clip_at_a_time(self):
        # Keras 3's default top_db=80 clips against the batch: the file, run
        # one clip per invoke as a device runs it, matches Keras on one clip.
        model = _keras3_mel_model()
        x = _waves((6, 4000), seed=4) * 0.1
        x[:, 2000:] = 0  # padded clips: silence, where the clip binds
        x[0] *= 10
        alone = np.concatenate([np.asarray(model(x[i:i + 1])) for i in range(len(x))])
        self.assertGreater(np.max(np.abs(alone - np.asarray(model(x)))), 1e-3)
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", bridge_spectrograms.BatchDependentWarning)
            path = os.path.join(tmp, "mel.tflite")
            export.export_tflite(model, path, check_inputs=x)
            actual = TFLiteRunner(path).run_each(x)
        self.assertLess(_relative_error(alone, actual), 1e-4)


    def test_int8_keeps_an_stft_frontend_float(self):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((2000, 1))
        x = spectrogram.STFTSpectrogram(frame_length=64, frame_step=32, name="stft")(inputs)
        x = keras.layers.Conv1D(8, 3, activation="relu", name="conv")(x)
        x = keras.layers.Dense(3, name="head")(keras.layers.GlobalAveragePooling1D()(x))
        model = keras.Model(inputs, x)
        x = _waves((16, 2000, 1), seed=5) * 0.1
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "stft.tflite")
            export.export_tflite(model, path, quantization="int8", representative_data=x,
                                 check_inputs=x)
            ops = op_names(path)
            floats = float_frontend.float_ops(path)
            interpreter = load_interpreter(path, xnnpack=False)
        dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
        convs = [dtypes[op["outputs"][0]] for op in interpreter._get_ops_details()  # noqa: SLF001
                 if op["op_name"] == "CONV_2D"]
        # The STFT's two DFT convolutions and its log in float; the model's conv int8.
        self.assertEqual(convs, [np.float32, np.float32, np.int8])
        self.assertContainsSubset({"CONV_2D", "SQRT", "LOG"}, set(floats))
        self.assertLess(ops.index("LOG"), ops.index("QUANTIZE"))


if __name__ == "__main__":
    pytest.main([__file__])
