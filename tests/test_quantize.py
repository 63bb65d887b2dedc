"""Quantization: every mode gives a file that runs in LiteRT and agrees with
Keras; QAT keeps zeros and clusters; broken combinations are refused."""

import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfcompress import evaluate
from tfcompress import export
from tfcompress import prune
from tfcompress import quantize
from tfcompress import runtime
from tfcompress import training
from tfcompress._keras import keras

_FEATURES, _CLASSES = 32, 4


def _data(n=512, seed=0):
    """Inputs in [0, 1) and labels a small MLP learns well."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, _FEATURES)).astype(np.float32)
    projection = np.random.default_rng(99).normal(size=(_FEATURES, _CLASSES))
    y = np.argmax(x @ projection, axis=1).astype(np.int32)
    return x, y


def _dataset(n=512, seed=0):
    return tf.data.Dataset.from_tensor_slices(_data(n, seed)).batch(64)


def _trained_mlp(epochs=30, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((_FEATURES,))
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    model = keras.Model(inputs, keras.layers.Dense(_CLASSES, name="logits")(x))
    training.compile_classifier(model, learning_rate=3e-3)
    model.fit(_dataset(), epochs=epochs, verbose=0)
    return model


def _zero_smallest(model, fraction=0.8):
    """Sets the smallest-magnitude `fraction` of each kernel to zero."""
    for variable in model.weights:
        if "kernel" in variable.name:  # depthwise kernels too
            kernel = variable.numpy()
            kernel[np.abs(kernel) < np.quantile(np.abs(kernel), fraction)] = 0
            variable.assign(kernel)
    return model


def _pruned_mobile_cnn():
    """Half of each kernel zero, in the places TFMOT's PQAT leaves unmasked.

    A Conv2D followed by a ReLU layer, a DepthwiseConv2D with its batch norm
    and a Conv2D feeding a Concatenate; then a Dense, which TFMOT masks.
    """
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.ReLU()(keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs))
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    side = keras.layers.Conv2D(4, 1, name="side")(x)
    x = keras.layers.Concatenate()([keras.layers.BatchNormalization()(depthwise), side])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return _zero_smallest(keras.Model(inputs, keras.layers.Dense(4, name="logits")(x)),
                          fraction=0.5)


def _fine_tune(model, epochs=2):
    training.compile_classifier(model, learning_rate=1e-3)
    model.fit(_dataset(), epochs=epochs, verbose=0)
    return model


def _kernels(model):
    return [w.numpy() for w in model.weights if "kernel" in w.name]


class PostTrainingQuantizationTest(parameterized.TestCase, tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model = _trained_mlp()
        cls.x_check = _data(64, seed=1)[0]

    @parameterized.parameters("dynamic", "float16", "int8")
    def test_mode_writes_a_file_that_runs_and_agrees(self, mode):
        path = os.path.join(self.create_tempdir().full_path, f"{mode}.tflite")
        result = export.export_tflite(
            self.model, path, quantization=mode, representative_data=_dataset(),
            check_inputs=self.x_check)
        self.assertGreaterEqual(result.top1_agreement, 0.95)
        # Independent of the export's own check: agreement on fresh inputs.
        x, _ = _data(256, seed=2)
        ours = runtime.TFLiteRunner(path)(x)
        agreement = np.mean(ours.argmax(1) == self.model(x).numpy().argmax(1))
        self.assertGreaterEqual(agreement, 0.95)
        float_size = len(export.tflite.convert(self.model))
        # Modest on a model this small: the file's fixed overhead is most of it.
        ratio = {"dynamic": 2.0, "float16": 1.5, "int8": 2.0}[mode]
        self.assertLess(os.path.getsize(path) * ratio, float_size)

    def test_int8_file_has_int8_weights_and_activations(self):
        path = os.path.join(self.create_tempdir().full_path, "int8.tflite")
        export.export_tflite(self.model, path, quantization="int8",
                             representative_data=_data()[0], check_inputs=self.x_check)
        dtypes = {w["dtype"] for w in evaluate.weight_stats(path).values()}
        self.assertEqual(dtypes, {"int8"})

    def test_int8_io_quantizes_input_and_output(self):
        path = os.path.join(self.create_tempdir().full_path, "io.tflite")
        export.export_tflite(self.model, path, quantization="int8", int8_io=True,
                             representative_data=_dataset(), check_inputs=self.x_check)
        runner = runtime.TFLiteRunner(path)
        self.assertEqual(runner.input_dtype, np.int8)
        x, y = _data(256, seed=3)
        keras_accuracy = np.mean(self.model(x).numpy().argmax(1) == y)
        tflite = evaluate.evaluate_tflite(path, tf.data.Dataset.from_tensor_slices(
            (x, y)).batch(32))
        self.assertAllClose(tflite["accuracy"], keras_accuracy, atol=0.03)

    def test_disagreeing_file_is_refused_and_not_written(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "bad.tflite")
        # Calibrated on zeros: every activation range collapses, outputs saturate.
        with self.assertRaisesRegex(export.ExportValidationError,
                                    r"disagrees with the Keras model: same top-1 class "
                                    r"on .* under the 100.0% asked \(per class Keras "
                                    r"gives: class \d+: \d+/\d+"):
            export.export_tflite(self.model, path, quantization="int8",
                                 representative_data=np.zeros((16, _FEATURES)),
                                 check_inputs=self.x_check, min_agreement=1.0)
        self.assertEqual(os.listdir(folder), [])

    def test_int8_needs_representative_data(self):
        with self.assertRaisesRegex(ValueError, "quantization='int8' needs "
                                    "`representative_data`"):
            export.export_tflite(self.model, "unused.tflite", quantization="int8")

    def test_unknown_mode(self):
        with self.assertRaisesRegex(ValueError, r"`quantization` must be one of .*"
                                    r"got 'int2'"):
            export.export_tflite(self.model, "unused.tflite", quantization="int2")

    def test_int8_io_needs_int8(self):
        with self.assertRaisesRegex(ValueError, "`int8_io` needs quantization='int8', "
                                    "got 'dynamic'"):
            export.export_tflite(self.model, "unused.tflite", quantization="dynamic",
                                 int8_io=True)

    def test_empty_representative_data(self):
        with self.assertRaisesRegex(ValueError, "`representative_data` holds no "
                                    "examples"):
            export.export_tflite(self.model, "unused.tflite", quantization="int8",
                                 representative_data=np.zeros((0, _FEATURES)))

    def test_min_agreement_out_of_range(self):
        with self.assertRaisesRegex(ValueError, r"`min_agreement` must be in \[0, 1\], "
                                    "got 95"):
            export.export_tflite(self.model, "unused.tflite", min_agreement=95)


class SparseEncodingTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        keras.utils.set_random_seed(0)
        inputs = keras.Input((784,))
        x = keras.layers.Dense(300, activation="relu")(inputs)
        x = keras.layers.Dense(100, activation="relu")(x)
        self.model = _zero_smallest(
            keras.Model(inputs, keras.layers.Dense(10)(x)), fraction=0.9)
        self.x_check = np.random.default_rng(0).uniform(size=(16, 784)).astype(np.float32)

    def test_sparse_int8_weights_fail_xnnpack_and_nothing_is_written(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "sparse.tflite")
        with self.assertRaisesRegex(
                export.ExportValidationError,
                r"XNNPACK delegate cannot run the dynamic \+ sparse encoding export .*"
                r"pass xnnpack=False to accept a file that needs them, or sparse=False "
                r"to keep XNNPACK\. Nothing was written\."):
            export.export_tflite(self.model, path, quantization="dynamic", sparse=True,
                                 check_inputs=self.x_check)
        self.assertEqual(os.listdir(folder), [])

    def test_what_the_error_suggests_works(self):
        folder = self.create_tempdir().full_path
        sparse = export.export_tflite(
            self.model, os.path.join(folder, "sparse.tflite"), quantization="dynamic",
            sparse=True, xnnpack=False, check_inputs=self.x_check)
        dense = export.export_tflite(
            self.model, os.path.join(folder, "dense.tflite"), quantization="dynamic",
            check_inputs=self.x_check)
        self.assertEqual(sparse.top1_agreement, 1.0)
        self.assertEqual(dense.top1_agreement, 1.0)
        # The sparse encoding stores only the non-zeros: much smaller.
        self.assertLess(os.path.getsize(sparse.path) * 2, os.path.getsize(dense.path))

    def test_sparse_float_runs_with_xnnpack(self):
        path = os.path.join(self.create_tempdir().full_path, "sparse_float.tflite")
        result = export.export_tflite(self.model, path, sparse=True,
                                      check_inputs=self.x_check)
        self.assertLessEqual(result.max_abs_diff, 1e-4)


class QuantizationAwareTrainingTest(tf.test.TestCase):

    def test_qat_model_exports_int8_without_calibration_data(self):
        model = _trained_mlp(epochs=10)
        aware = quantize.quantize_aware(model)
        self.assertTrue(quantize.is_quantization_aware(aware))
        self.assertFalse(quantize.is_quantization_aware(model))
        _fine_tune(aware, epochs=1)
        path = os.path.join(self.create_tempdir().full_path, "qat.tflite")
        result = export.export_tflite(aware, path, quantization="int8",
                                      check_inputs=_data(64, seed=1)[0])
        self.assertGreaterEqual(result.top1_agreement, 0.95)
        self.assertEqual({w["dtype"] for w in evaluate.weight_stats(path).values()},
                         {"int8"})

    def test_qat_model_must_be_exported_as_int8(self):
        aware = quantize.quantize_aware(_trained_mlp(epochs=1))
        with self.assertRaisesRegex(ValueError, "trained quantization-aware: export it "
                                    "with quantization='int8', not 'none'"):
            export.export_tflite(aware, "unused.tflite")

    def test_sparsity_survives_pqat(self):
        model = _zero_smallest(_trained_mlp(epochs=10))
        zeros_before = [k == 0 for k in _kernels(model)]
        aware = _fine_tune(quantize.quantize_aware(model, preserve="sparsity"), epochs=2)
        path = os.path.join(self.create_tempdir().full_path, "pqat.tflite")
        export.export_tflite(aware, path, quantization="int8",
                             check_inputs=_data(64, seed=1)[0])
        stats = sorted(evaluate.weight_stats(path).values(), key=lambda w: -w["size"])
        expected = sorted(zeros_before, key=lambda z: -z.size)
        for weights, zeros in zip(stats, expected, strict=True):
            # Every pruned weight is still exactly zero in the int8 file.
            self.assertGreaterEqual(weights["zeros"], int(zeros.sum()))

    def test_plain_qat_does_not_keep_sparsity(self):
        # The control for the test above: without "sparsity", zeros regrow.
        model = _zero_smallest(_trained_mlp(epochs=10))
        aware = _fine_tune(quantize.quantize_aware(model), epochs=2)
        path = os.path.join(self.create_tempdir().full_path, "qat.tflite")
        export.export_tflite(aware, path, quantization="int8",
                             check_inputs=_data(64, seed=1)[0])
        largest = max(evaluate.weight_stats(path).values(), key=lambda w: w["size"])
        self.assertLess(largest["zeros"] / largest["size"], 0.5)

    def test_pqat_keeps_zeros_of_kernels_tfmot_leaves_unmasked(self):
        model = _pruned_mobile_cnn()
        zeros_before = {w.name.split("/")[0]: int(np.sum(w.numpy() == 0))
                        for w in model.weights if "kernel" in w.name}
        self.assertEqual(zeros_before, {"conv": 108, "depthwise": 36, "side": 16,
                                        "logits": 24})
        rng = np.random.default_rng(0)
        x = rng.uniform(size=(256, 8, 8, 3)).astype(np.float32)
        aware = quantize.quantize_aware(model, preserve="sparsity")
        # 40 steps at a high rate: an unmasked zero drifts well past int8's
        # step (TFMOT's own scheme keeps 0 of the 108 zeros of "conv", 1 of
        # 36 of "depthwise", 7 of 16 of "side").
        training.compile_classifier(aware, learning_rate=1e-2)
        aware.fit(x, rng.integers(0, 4, 256), epochs=5, batch_size=32, verbose=0)
        path = os.path.join(self.create_tempdir().full_path, "pqat.tflite")
        export.export_tflite(aware, path, quantization="int8", check_inputs=x[:64],
                             min_agreement=0.0)  # the zeros are the point here
        stats = evaluate.weight_stats(path)
        for name, zeros in zeros_before.items():
            # The file names a kernel after its QAT wrapper, "quant_<layer>".
            kept = [w["zeros"] for key, w in stats.items() if f"/quant_{name}/" in key]
            self.assertLen(kept, 1, msg=name)
            self.assertGreaterEqual(kept[0], zeros, msg=name)  # rounding may add zeros

    def test_pruning_wrappers_must_be_stripped(self):
        pruned = prune.prune(_trained_mlp(epochs=1), sparsity=0.5,
                             schedule="constant").model
        with self.assertRaisesRegex(ValueError, "still has pruning wrappers: strip them "
                                    r"first \(tfcompress.prune.strip\)"):
            quantize.quantize_aware(pruned)

    def test_unknown_preserve(self):
        with self.assertRaisesRegex(ValueError, r"`preserve` must be one of \(None, "
                                    r"'sparsity', 'clusters'\), got 'zeros'"):
            quantize.quantize_aware(_trained_mlp(epochs=1), preserve="zeros")

    def test_layers_outside_tfmots_registry_get_their_output_quantized(self):
        # MobileNetV3's pieces: Rescaling, a Keras 3 `x + 3.0` (ScalarOp from
        # the bridge), Multiply and a hard_silu Activation.
        from tfcompress.keras3 import equivalents
        keras.utils.set_random_seed(0)
        x = inputs = keras.Input((_FEATURES,))
        x = keras.layers.Rescaling(2.0)(x)
        h = keras.layers.Dense(8)(x)
        gate = keras.layers.ReLU(6.0)(equivalents.ScalarOp("add", 3.0)(h))
        h = keras.layers.Multiply()([h, gate])
        h = keras.layers.Activation(equivalents.hard_silu)(h)
        model = keras.Model(inputs, keras.layers.Dense(_CLASSES)(h))
        aware = _fine_tune(quantize.quantize_aware(model), epochs=3)
        batch = _data(64, seed=1)[0]
        path = os.path.join(self.create_tempdir().full_path, "qat.tflite")
        result = export.export_tflite(aware, path, quantization="int8", check_inputs=batch)
        self.assertGreaterEqual(result.top1_agreement, 0.9)

    def test_raw_tensorflow_op_is_refused_with_what_to_write_instead(self):
        x = inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(3)(x) + 3.0)  # a TFOpLambda
        with self.assertRaisesRegex(ValueError, r"is the raw TensorFlow op "
                                    r"tf.__operators__.add, which TFMOT cannot quantize: "
                                    r"write it as a Keras layer"):
            quantize.quantize_aware(model)

    def test_subclassed_model_is_refused(self):
        class Sub(keras.Model):
            def __init__(self):
                super().__init__()
                self.dense = keras.layers.Dense(3)

            def call(self, x):
                return self.dense(x)

        model = Sub()
        model(np.zeros((1, 4), np.float32))
        with self.assertRaisesRegex(ValueError, "is a subclassed model: TFMOT quantizes "
                                    "Sequential and functional models only"):
            quantize.quantize_aware(model)


class ClusteringTest(tf.test.TestCase):

    def test_clustered_kernels_hold_at_most_n_values_and_source_is_untouched(self):
        model = _trained_mlp(epochs=10)
        before = [k.copy() for k in _kernels(model)]
        clustered = _fine_tune(quantize.cluster(model, 8), epochs=2)
        self.assertTrue(quantize.is_clustered(clustered))
        stripped = quantize.strip_clusters(clustered)
        counts = quantize.distinct_values(stripped)
        self.assertEqual(set(counts), {"dense_1", "dense_2", "logits"})
        for count in counts.values():
            self.assertLessEqual(count, 8)
        for kernel, original in zip(_kernels(model), before, strict=True):
            self.assertAllEqual(kernel, original)
        # Still a usable classifier: agrees with the source on most inputs.
        x, _ = _data(256, seed=4)
        agreement = np.mean(stripped(x).numpy().argmax(1) == model(x).numpy().argmax(1))
        self.assertGreater(agreement, 0.8)

    def test_cqat_file_keeps_the_clusters(self):
        model = _trained_mlp(epochs=10)
        stripped = quantize.strip_clusters(_fine_tune(quantize.cluster(model, 8)))
        aware = _fine_tune(quantize.quantize_aware(stripped, preserve="clusters"))
        path = os.path.join(self.create_tempdir().full_path, "cqat.tflite")
        export.export_tflite(aware, path, quantization="int8",
                             check_inputs=_data(64, seed=1)[0])
        stats = evaluate.weight_stats(path)
        self.assertLen(stats, 3)
        for weights in stats.values():
            self.assertEqual(weights["dtype"], "int8")
            self.assertLessEqual(weights["distinct_values"], 8)

    def test_clustering_wrappers_must_be_stripped_before_qat(self):
        clustered = quantize.cluster(_trained_mlp(epochs=1), 4)
        with self.assertRaisesRegex(ValueError, "still has clustering wrappers"):
            quantize.quantize_aware(clustered)

    def test_one_cluster_is_refused(self):
        with self.assertRaisesRegex(ValueError, "`number_of_clusters` must be at least "
                                    "2, got 1"):
            quantize.cluster(_trained_mlp(epochs=1), 1)


class LatencyTest(tf.test.TestCase):

    def test_latency_of_a_float_file(self):
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        export.export_tflite(_trained_mlp(epochs=1), path)
        for xnnpack in (True, False):
            result = evaluate.measure_latency(path, batch_size=4, repeats=5, warmup=1,
                                              xnnpack=xnnpack)
            self.assertGreater(result["median_ms"], 0)
            self.assertLessEqual(result["p10_ms"], result["p90_ms"])
            self.assertEqual((result["batch_size"], result["xnnpack"]), (4, xnnpack))

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "`repeats` must be a positive int, "
                                    "got 0"):
            evaluate.measure_latency(b"unused", repeats=0)
        with self.assertRaisesRegex(ValueError, "`warmup` must be an int >= 0, got -1"):
            evaluate.measure_latency(b"unused", warmup=-1)


class CompareLatencyTest(tf.test.TestCase):

    def test_interleaved_rounds_per_file(self):
        folder = self.create_tempdir().full_path
        files = {name: os.path.join(folder, f"{name}.tflite") for name in ("a", "b")}
        for seed, path in enumerate(files.values()):
            export.export_tflite(_trained_mlp(epochs=1, seed=seed), path)
        calls = []
        result = evaluate.compare_latency(files, rounds=3, repeats=20, warmup=2,
                                          num_threads=1, progress=lambda: calls.append(1))
        self.assertLen(calls, 6)  # every file in every round
        for name in files:
            self.assertLen(result[name]["rounds_ms"], 3)
            self.assertEqual(result[name]["median_ms"],
                             sorted(result[name]["rounds_ms"])[1])
            self.assertEqual(result[name]["num_threads"], 1)
        # One file without XNNPACK (a sparse int8 file needs that), the other with it.
        result = evaluate.compare_latency(files, rounds=1, repeats=5, warmup=1,
                                          file_options={"b": {"xnnpack": False}})
        self.assertEqual((result["a"]["xnnpack"], result["b"]["xnnpack"]), (True, False))
        with self.assertRaisesRegex(ValueError, r"`file_options` must name files of "
                                                r"`files` \(\['a', 'b'\]\), got \['c'\]"):
            evaluate.compare_latency(files, file_options={"c": {"xnnpack": False}})
