"""The audio zoo: ds_cnn against MLPerf Tiny's reference, and through tfcompress.

Counts on the reference's own input (49x10x1 MFCCs) and on raw 8 kHz clips
(the log-mel frontend inside the model); then the model with its frontend
through shrink, pruning, QAT and int8 export, whose file must keep the
frontend in float, and a few real FSDD clips from waveform to class.
"""

import glob
import json
import os
import tempfile

import numpy as np
import tensorflow as tf

from tfcompress import export
from tfcompress import models
from tfcompress import prune
from tfcompress import quantize
from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.evaluate.macs import count_macs
from tfcompress.export import float_frontend
from tfcompress.export import tflite
from tfcompress.jobs import quantize as quantize_job
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import train
from tfcompress.models import spectrogram
from tfcompress.models import speech
from tfcompress.runtime import TFLiteRunner
from tfcompress.runtime import load_interpreter

_FSDD = "/work/shared/data/fsdd"
_RATE = 8000

# mlcommons/tiny benchmark/training/keyword_spotting/keras_model.py, model
# `ds_cnn`, on its 49x10x1 MFCCs with 12 keywords, layer by layer (each
# count from the layer's shapes: conv 10x4x1x64 + 64 biases, depthwise
# 3x3x64 + 64, pointwise 64x64 + 64, BN 4x64 of which 2x64 train, dense
# 64x12 + 12). Its parameters: 24,908 (23,756 trainable). Its MACs: a 25x5
# map after the stride-2 conv: 25*5*64*40 (conv) + 4 * 25*5*64*(9 + 64)
# (blocks) + 64*12 (dense) = 2,656,768, about the 5.4 M operations (two per
# MAC) Hello Edge lists for its small DS-CNN. (The reference repository
# ships no Keras summary of this model, unlike ResNet-8's training log, so
# the counts are the reference code's, layer by layer.)
_REFERENCE_LAYERS = [
    ("stem_conv", 2_624), ("stem_bn", 256),
    *[(name, count) for i in range(1, 5) for name, count in (
        (f"block_{i}_depthwise", 640), (f"block_{i}_dw_bn", 256),
        (f"block_{i}_pointwise", 4_160), (f"block_{i}_pw_bn", 256))],
    ("logits", 780),
]
_REFERENCE_MACS = 2_656_768


def _weighted_layers(model):
    return [(layer.name, layer.count_params()) for layer in model.layers
            if layer.count_params()]


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


class CountsTest(tf.test.TestCase):

    def test_reference_input_has_the_references_counts(self):
        model = models.ds_cnn(input_shape=speech.REFERENCE_FEATURES_SHAPE, num_classes=12)
        self.assertEqual(_weighted_layers(model), _REFERENCE_LAYERS)
        self.assertEqual(model.count_params(), 24_908)
        self.assertEqual(_trainable(model), 23_756)
        self.assertEqual(model.get_layer("stem_conv").output_shape, (None, 25, 5, 64))
        self.assertEqual(model.get_layer("pool").output_shape, (None, 1, 1, 64))
        macs = count_macs(model)
        self.assertEqual(macs["total"], _REFERENCE_MACS)
        self.assertNotIn("frontend", macs)

    def test_raw_clips_through_the_frontend(self):
        model = models.build("ds_cnn", input_shape=(_RATE, 1), sample_rate=_RATE,
                             num_classes=12)
        self.assertIsInstance(model.get_layer("log_mel"), spectrogram.MelSpectrogram)
        # 1 s at 8 kHz: 1 + 8000 // 160 = 51 frames of 10 mel bands.
        self.assertEqual(model.get_layer("feature_map").output_shape, (None, 51, 10, 1))
        self.assertEqual(model.get_layer("stem_conv").output_shape, (None, 26, 5, 64))
        # Same weights as the reference: the frontend has none.
        self.assertEqual(_weighted_layers(model), _REFERENCE_LAYERS)
        macs = count_macs(model)
        # The network on a 26x5 map (one row more than the reference's 25).
        self.assertEqual(macs["total"], 26 * 5 * 64 * 40 + 4 * 26 * 5 * 64 * 73 + 64 * 12)
        self.assertAlmostEqual(macs["total"] / _REFERENCE_MACS, 1.04, places=2)
        # The frontend, counted apart: per frame a 240-sample window, a 256-point
        # real FFT (256 log2 256), the power of 129 bins and the 129x10 mel matrix.
        self.assertEqual(macs["frontend"], 51 * (240 + 256 * 8 + 2 * 129 + 129 * 10))

    def test_sample_rate_sets_the_frames(self):
        at_16k = models.build("ds_cnn", input_shape=(16000,), sample_rate=16000)
        layer = at_16k.get_layer("log_mel")
        self.assertEqual((layer.sequence_length, layer.sequence_stride, layer.fft_length),
                         (480, 320, 512))
        self.assertEqual(at_16k.get_layer("feature_map").output_shape, (None, 51, 10, 1))
        self.assertIsNone(layer.top_db)  # per clip: no batch-wide clip

    def test_bad_arguments_are_refused_by_name(self):
        with self.assertRaisesRegex(ValueError, "lenet5.*sample_rate"):
            models.build("lenet5", sample_rate=_RATE)
        with self.assertRaisesRegex(ValueError, r"input_shape.*\(8000, 2\).*mono"):
            models.build("ds_cnn", input_shape=(_RATE, 2), sample_rate=_RATE)
        with self.assertRaisesRegex(ValueError, "frame.*pad the clips"):
            models.build("ds_cnn", input_shape=(100,), sample_rate=_RATE)
        with self.assertRaisesRegex(ValueError, "mel_bins"):
            models.build("ds_cnn:mel_bins=0", input_shape=(_RATE,), sample_rate=_RATE)


def _layer_configs(model):
    return [(type(layer).__name__, layer.get_config()) for layer in model.layers]


class FrameKeywordsTest(tf.test.TestCase):
    """`window_ms`, `stride_ms` and `blocks`: a compressed model's own frames and depth."""

    def test_defaults_build_the_same_model(self):
        default = models.build("ds_cnn:16", input_shape=(_RATE,), sample_rate=_RATE)
        spelled = models.build("ds_cnn:16,window_ms=30,stride_ms=20,blocks=4",
                               input_shape=(_RATE,), sample_rate=_RATE)
        self.assertEqual(_layer_configs(default), _layer_configs(spelled))
        layer = default.get_layer("log_mel")
        self.assertEqual((layer.sequence_length, layer.sequence_stride, layer.fft_length),
                         (240, 160, 256))

    def test_stride_sets_the_frames_and_window_the_fft(self):
        model = models.build("ds_cnn:16,window_ms=16,stride_ms=40,blocks=2",
                             input_shape=(_RATE, 1), sample_rate=_RATE, num_classes=10)
        layer = model.get_layer("log_mel")
        # 16 ms at 8 kHz: 128 samples, an FFT of 128; a 320-sample hop:
        # 1 + 8000 // 320 = 26 frames, half the default's 51.
        self.assertEqual((layer.sequence_length, layer.sequence_stride, layer.fft_length),
                         (128, 320, 128))
        self.assertEqual(model.get_layer("feature_map").output_shape, (None, 26, 10, 1))
        self.assertEqual(model.get_layer("stem_conv").output_shape, (None, 13, 5, 16))
        self.assertEqual([layer.name for layer in model.layers if "pointwise" in layer.name],
                         ["block_1_pointwise", "block_2_pointwise"])
        # A window that is not a power of two rounds its FFT up.
        self.assertEqual(speech.frame_settings(_RATE, window_ms=25, stride_ms=10),
                         (200, 80, 256))

    def test_bad_values_are_refused_by_name(self):
        for spec, pattern in (("ds_cnn:window_ms=0", r"`window_ms`.*0"),
                              ("ds_cnn:stride_ms=-5", r"`stride_ms`.*-5"),
                              ("ds_cnn:stride_ms=0.01", r"`stride_ms` 0.01 is 0 sample"),
                              ("ds_cnn:window_ms=0.1", r"`window_ms` 0.1 is 1 sample"),
                              ("ds_cnn:blocks=0", r"`blocks`.*0"),
                              ("ds_cnn:window_ms=long", r"window_ms=long")):
            with self.subTest(spec=spec), self.assertRaisesRegex(ValueError, pattern):
                models.build(spec, input_shape=(_RATE,), sample_rate=_RATE)
        with self.assertRaisesRegex(ValueError, "1 frame.*of 1500 ms.*pad the clips"):
            models.build("ds_cnn:stride_ms=1500", input_shape=(_RATE,), sample_rate=_RATE)


def _tiny_ds_cnn(filters=8, samples=4000, num_classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    return models.ds_cnn(filters, input_shape=(samples, 1), sample_rate=_RATE,
                         num_classes=num_classes)


def _noise(count, samples=4000, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(count, samples, 1)) * 0.1).astype(np.float32)


def _op_dtypes(path):
    """[(op name, output dtypes)] of a .tflite file, in execution order."""
    interpreter = load_interpreter(path, xnnpack=False)
    dtypes = {t["index"]: t["dtype"].__name__ for t in interpreter.get_tensor_details()}
    return [(op["op_name"], {dtypes[i] for i in op["outputs"]})
            for op in interpreter._get_ops_details()]  # noqa: SLF001


class CompressionTest(tf.test.TestCase):

    def test_shrink_keeps_the_frontend_and_halves_the_convs(self):
        model = _tiny_ds_cnn()
        result = shrink.shrink(model, fraction=0.5)
        small = result.model
        self.assertEqual(small.get_layer("log_mel").get_config(),
                         model.get_layer("log_mel").get_config())
        self.assertEqual(small.get_layer("stem_conv").filters, 4)
        self.assertEqual(small.get_layer("block_4_pointwise").filters, 4)
        self.assertEqual(small.output_shape, model.output_shape)
        self.assertLess(count_macs(small)["total"], count_macs(model)["total"] / 2)

    def test_pruning_skips_the_frontend(self):
        model = _tiny_ds_cnn()
        pruned = prune.prune(model, sparsity=0.5, schedule="constant").model
        wrapped = {layer.layer.name for layer in pruned.layers
                   if prune.is_pruning_wrapper(layer)}
        self.assertIn("stem_conv", wrapped)
        self.assertIsInstance(pruned.get_layer("log_mel"), spectrogram.MelSpectrogram)
        inputs = keras.Input((2000, 1))
        x = spectrogram.STFTSpectrogram(frame_length=64, frame_step=32, name="stft")(inputs)
        x = keras.layers.Dense(3, name="head")(keras.layers.GlobalAveragePooling1D()(x))
        stft_pruned = prune.prune(keras.Model(inputs, x), sparsity=0.5,
                                  schedule="constant").model
        self.assertEqual({layer.layer.name for layer in stft_pruned.layers
                          if prune.is_pruning_wrapper(layer)}, {"head"})

    def test_int8_file_keeps_the_frontend_float(self):
        model = _tiny_ds_cnn()
        x = _noise(24, seed=1)
        self.assertEqual(spectrogram.float_layers(model), ["log_mel", "mono"])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "int8.tflite")
            result = export.export_tflite(model, path, quantization="int8",
                                          representative_data=x, check_inputs=x)
            ops = _op_dtypes(path)
            floats = float_frontend.float_ops(path)
            input_dtype = load_interpreter(path).get_input_details()[0]["dtype"]
        self.assertEqual(input_dtype, np.float32)  # the file takes float samples
        self.assertGreaterEqual(result.top1_agreement, tflite.DEFAULT_MIN_AGREEMENT)
        # The frontend's DFT and mel matmuls (`stft_ops`) and its log in float.
        for name in ("REVERSE_V2", "FULLY_CONNECTED", "SQUARE", "LOG"):
            self.assertIn(name, floats)
        names = [name for name, _ in ops]
        quantize_at = names.index("QUANTIZE")
        self.assertGreater(quantize_at, names.index("LOG"))  # quantized after the features
        for name, dtypes in ops[:quantize_at]:
            self.assertNotIn("int8", dtypes, name)
        # Its matrices stored as float16 (`float_frontend.compact`), widened first.
        self.assertEqual(ops[0], ("DEQUANTIZE", {"float32"}))
        for name, dtypes in ops[quantize_at + 1:]:
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"):
                self.assertEqual(dtypes, {"int8"}, name)

    def test_options_a_float_frontend_cannot_take_are_refused(self):
        with self.assertRaisesRegex(ValueError, "float samples.*int8_io=False"):
            export.export_tflite(_tiny_ds_cnn(), "/nonexistent/x.tflite", quantization="int8",
                                 representative_data=_noise(4), int8_io=True)
        with self.assertRaisesRegex(ValueError, "sparse.*log_mel.*sparse=False"):
            export.export_tflite(_tiny_ds_cnn(), "/nonexistent/x.tflite", quantization="int8",
                                 representative_data=_noise(4), sparse=True)

    def test_qat_leaves_the_frontend_float_and_quantizes_after_it(self):
        aware = quantize.quantize_aware(_tiny_ds_cnn())
        self.assertIsInstance(aware.get_layer("log_mel"), spectrogram.MelSpectrogram)
        x = _noise(8, seed=2)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "qat.tflite")
            export.export_tflite(aware, path, quantization="int8", check_inputs=x)
            ops = _op_dtypes(path)
        names = [name for name, _ in ops]
        self.assertLess(names.index("LOG"), names.index("QUANTIZE"))
        convs = [dtypes for name, dtypes in ops if name == "CONV_2D"]
        self.assertEqual(convs[0], {"int8"})  # the stem conv too


def _fsdd_clips(split, per_digit, offset=0):
    """(clips (n, 8000, 1) float32 in [-1, 1], digits): padded or cropped to 1 s."""
    clips, labels = [], []
    for digit in range(10):
        files = sorted(glob.glob(os.path.join(_FSDD, split, str(digit), "*.wav")))
        for path in files[offset::max(1, len(files) // per_digit)][:per_digit]:
            audio, rate = tf.audio.decode_wav(tf.io.read_file(path))
            assert int(rate) == _RATE, path
            audio = audio.numpy()[:_RATE]
            clips.append(np.pad(audio, [(0, _RATE - len(audio)), (0, 0)]))
            labels.append(digit)
    return np.stack(clips).astype(np.float32), np.array(labels)


def _settle_batch_norm(model, x):
    """Batch norm's moving statistics set to `x`'s, as a longer training leaves them.

    With momentum 0.99 they start at (0, 1) and take hundreds of steps to
    reach the data's; after the few steps a test trains, inference would
    answer one class for every clip.
    """
    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer in norms:
        layer.momentum = 0.99


class SpokenDigitsEndToEndTest(tf.test.TestCase):
    """Real FSDD clips, waveform to class: Keras, the float file and the int8 file."""

    def test_waveform_to_class(self):
        if not os.path.isdir(_FSDD):
            self.skipTest(f"FSDD not at {_FSDD}")
        x_train, y_train = _fsdd_clips("train", 30)
        x_test, y_test = _fsdd_clips("test", 3)
        keras.utils.set_random_seed(0)
        model = models.ds_cnn(32, input_shape=(_RATE, 1), sample_rate=_RATE, num_classes=10)
        model.compile(keras.optimizers.Adam(2e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x_train, y_train, batch_size=16, epochs=10, verbose=0)
        _settle_batch_norm(model, x_train)
        expected = model.predict(x_test, verbose=0)
        # Digits told apart (about 75% here, 10% by chance), so agreeing on
        # classes means something.
        self.assertGreater(np.mean(expected.argmax(1) == y_test), 0.3)
        with tempfile.TemporaryDirectory() as tmp:
            float_path = os.path.join(tmp, "float.tflite")
            int8_path = os.path.join(tmp, "int8.tflite")
            export.export_tflite(model, float_path, check_inputs=x_test)
            result = export.export_tflite(model, int8_path, quantization="int8",
                                          representative_data=x_train, check_inputs=x_test)
            runner = TFLiteRunner(float_path)  # one clip per invoke, no resets
            float_out = runner.run_each(x_test)
            again = runner.run_each(x_test, np.arange(len(x_test))[::-1])
        relative = np.abs(float_out - expected) / np.maximum(np.abs(expected), 1.0)
        self.assertLess(float(relative.max()), 1e-4)
        np.testing.assert_array_equal(again, float_out)
        np.testing.assert_array_equal(float_out.argmax(1), expected.argmax(1))
        self.assertGreaterEqual(result.top1_agreement, tflite.DEFAULT_MIN_AGREEMENT)


    def test_train_and_quantize_jobs_on_a_folder_of_clips(self):
        if not os.path.isdir(_FSDD):
            self.skipTest(f"FSDD not at {_FSDD}")
        root, out = self.create_tempdir().full_path, self.create_tempdir().full_path
        for split, count in (("train", 8), ("test", 3)):  # links: the data stays put
            for digit in "012":
                os.makedirs(os.path.join(root, split, digit))
                for path in sorted(glob.glob(os.path.join(_FSDD, split, digit, "*.wav")))[
                        ::17][:count]:
                    os.symlink(path, os.path.join(root, split, digit, os.path.basename(path)))
        lines = []

        def training(name):
            return settings.Training(
                output_dir=os.path.join(out, name), dataset="dir:" + root, epochs=6,
                batch_size=8, val_split="", verbose=0, audio_length=4000)

        runner.run(train.TrainJob(model_spec="ds_cnn:8"), training("trained"), log=lines.append)
        model = export.load_keras_model(os.path.join(out, "trained", "model.keras"))
        self.assertEqual(model.get_layer("log_mel").sampling_rate, _RATE)  # the data's rate
        summary = runner.run(quantize_job.QuantizeJob(model=os.path.join(out, "trained"),
                                                      mode="int8", num_samples=16),
                             training("int8"), log=lines.append)
        with open(os.path.join(out, "int8", "summary.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["frontend_kept_float"], summary["frontend_kept_float"])
        kept = summary["frontend_kept_float"]
        self.assertEqual(kept["layers"], ["log_mel", "mono"])
        self.assertContainsSubset({"FULLY_CONNECTED", "LOG", "REVERSE_V2"}, kept["float_ops"])
        self.assertNotIn("CONV_2D", kept["float_ops"])
        self.assertEqual(summary["tflite"]["float_ops"], kept["float_ops"])
        self.assertTrue(any(line.startswith("Frontend kept in float") for line in lines), lines)
        with self.assertRaisesRegex(ValueError, "int8_io.*float samples"):
            runner.run(quantize_job.QuantizeJob(model=os.path.join(out, "trained"), mode="qat",
                                                int8_io=True), training("int8_io"),
                       log=lines.append)


if __name__ == "__main__":
    tf.test.main()
