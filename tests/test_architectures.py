"""Real mobile architectures through every stage: keras.applications
MobileNetV3Small and MobileNetV2 (alpha 0.35), built and trained in Keras 3
as a user would, then pruned (depthwise kernels included), analyzed for
sensitivity, distilled with a FitNets hint between maps of other sizes,
made quantization-aware (QAT and sparsity-preserving PQAT) and exported to
int8 TFLite files that agree with Keras.

The task is small enough to learn in seconds and needs the whole network:
the color of an 8x8 square on a noisy 32x32 image (four classes).
"""

import functools

import keras as keras3  # Keras 3, on purpose: the user's models
import numpy as np
import tensorflow as tf

from tfcompress import distill
from tfcompress import evaluate
from tfcompress import export
from tfcompress import keras3 as bridge
from tfcompress import prune
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.prune import sensitivity
from tfcompress.quantize import qat

CLASSES = 4
MIN_AGREEMENT = 0.9  # int8 file against its Keras model, top-1 on the test split


def _squares(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.uniform(0, 60, (n, 32, 32, 3)).astype("float32")
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], "float32")
    for image, label, (row, col) in zip(x, y, rng.integers(0, 20, (n, 2)), strict=True):
        image[row:row + 12, col:col + 12] = colors[label]
    return x, y.astype("int64")


TRAIN, TEST = _squares(512, seed=0), _squares(256, seed=1)


def _application(name):
    """A Keras 3 application taking raw pixels (through a Rescaling layer), giving logits."""
    keras3.utils.set_random_seed(0)
    if name == "MobileNetV3Small":
        model = keras3.applications.MobileNetV3Small(
            input_shape=(32, 32, 3), alpha=0.75, weights=None, classes=CLASSES,
            classifier_activation=None)
    else:  # MobileNetV2 takes [-1, 1]: a Rescaling in front, in the same graph
        pixels = keras3.Input((32, 32, 3))
        scaled = keras3.layers.Rescaling(1 / 127.5, offset=-1)(pixels)
        model = keras3.applications.MobileNetV2(
            input_tensor=scaled, alpha=0.35, weights=None, classes=CLASSES,
            classifier_activation=None)
        model = keras3.Model(pixels, model.output, name="mobilenetv2_pixels")
    for layer in model.layers:
        if isinstance(layer, keras3.layers.BatchNormalization):
            layer.momentum = 0.9  # 0.999 needs thousands of steps for usable statistics
    return model


@functools.lru_cache(maxsize=None)
def _trained_v3_small():
    """MobileNetV3Small trained with Keras 3's own fit (cached: it is the teacher too)."""
    model = _application("MobileNetV3Small")
    model.compile(optimizer=keras3.optimizers.Adam(2e-3),
                  loss=keras3.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(*TRAIN, epochs=4, batch_size=32, verbose=0)
    return model


def _accuracy(model):
    return evaluate.evaluate_classifier(model, TEST)["accuracy"]


def _export_int8(test, model, path, **options):
    result = export.export_tflite(model, path, quantization="int8", check_inputs=TEST,
                                  min_agreement=MIN_AGREEMENT, **options)
    test.assertGreaterEqual(result.top1_agreement, MIN_AGREEMENT)
    tflite_accuracy = evaluate.evaluate_tflite(path, TEST)["accuracy"]
    test.assertAllClose(tflite_accuracy, _accuracy(model), atol=0.05)
    return result


def _classes(model):
    return np.argmax(model.predict(TEST[0], verbose=0), axis=-1)


def _kernel_sparsity(model, layer_type):
    report = prune.sparsity_report(model)
    return {row["name"]: row["kernel_sparsity"] for row in report["layers"]
            if row["type"] == layer_type and "kernel_sparsity" in row}


class MobileNetV3SmallTest(tf.test.TestCase):
    """Pruned once (setUpClass), then exported, PQAT-trained and analyzed."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.keras3_model = _trained_v3_small()
        result = prune.prune(cls.keras3_model, sparsity=0.5, schedule="constant",
                             frequency=4)
        cls.wrapped = [layer.layer for layer in result.model.layers
                       if hasattr(layer, "pruning_step")]
        training.compile_classifier(result.model, learning_rate=5e-4)
        result.model.fit(*TRAIN, epochs=1, batch_size=32, callbacks=prune.callbacks(),
                         verbose=0)
        cls.pruned = prune.strip(result.model)

    def test_keras3_model_learned_the_task(self):
        # Otherwise agreement below would be agreement on noise.
        self.assertGreater(_accuracy(bridge.to_tf_keras(self.keras3_model)), 0.7)

    def test_depthwise_and_pointwise_kernels_reach_the_target(self):
        self.assertTrue(any(isinstance(layer, keras.layers.DepthwiseConv2D)
                            for layer in self.wrapped))  # TFMOT alone prunes none
        for layer_type in ("Conv2D", "DepthwiseConv2D"):
            sparsity = _kernel_sparsity(self.pruned, layer_type)
            self.assertNotEmpty(sparsity)
            for name, value in sparsity.items():
                self.assertAllClose(value, 0.5, atol=0.02, msg=name)
        report = prune.sparsity_report(self.pruned)
        batch_norms = [row for row in report["layers"] if row["type"] == "BatchNormalization"]
        self.assertTrue(batch_norms and not any(row["prunable"] for row in batch_norms))

    def test_pruned_model_exported_to_int8_agrees_with_keras(self):
        self.assertGreater(_accuracy(self.pruned), 0.7)
        _export_int8(self, self.pruned, self.get_temp_dir() + "/pruned_int8.tflite",
                     representative_data=TRAIN)

    def test_sparsity_preserving_qat_keeps_zeros_and_agrees_in_int8(self):
        aware = qat.quantize_aware(self.pruned, preserve="sparsity")
        training.compile_classifier(aware, learning_rate=5e-4)
        aware.fit(*TRAIN, epochs=1, batch_size=32, verbose=0)
        self.assertGreater(_accuracy(aware), 0.7)
        path = self.get_temp_dir() + "/pqat_int8.tflite"
        _export_int8(self, aware, path)
        in_file = evaluate.weight_stats(path)  # the int8 file's own weights
        pruned = 0
        for layer in self.pruned.layers:
            for weight in layer.weights:
                if "kernel" not in weight.name:
                    continue
                zeros = int(np.sum(weight.numpy() == 0))
                pruned += zeros
                # The file names a kernel after its QAT wrapper, "quant_<layer>".
                kept = [t["zeros"] for name, t in in_file.items()
                        if f"/quant_{layer.name}/" in name]
                self.assertLen(kept, 1, msg=layer.name)
                # Every zero kept, depthwise and squeeze-and-excite kernels
                # included (TFMOT's own PQAT masks neither). Batch norm folds
                # into a kernel by scaling, which keeps a zero a zero; int8
                # rounding may add zeros.
                self.assertGreaterEqual(kept[0], zeros, msg=layer.name)
        self.assertGreater(pruned, 0)

    def test_sensitivity_covers_depthwise_layers_not_batch_norm(self):
        model = bridge.to_tf_keras(self.keras3_model)
        result = sensitivity.analyze(model, TEST, sparsities=(0.5, 0.95), verbose=0)
        analyzed = {type(model.get_layer(name)).__name__ for name in result.accuracy}
        self.assertEqual(analyzed, {"Conv2D", "DepthwiseConv2D"})
        self.assertAllClose(result.baseline, _accuracy(model))
        # Pruning a layer to 95% hurts somewhere: the trials really prune.
        self.assertLess(min(curve[0.95] for curve in result.accuracy.values()),
                        result.baseline - 0.05)


class MobileNetV2Test(tf.test.TestCase):

    def test_distilled_from_v3_small_with_a_hint_then_qat_int8(self):
        teacher = _trained_v3_small()
        teacher_classes = np.argmax(teacher.predict(TEST[0], verbose=0), axis=-1)
        # block_2_add is 8x8x8, the teacher's expanded_conv_2_add 4x4x24: a
        # strided convolution adapts them (FitNets' regressor).
        hint = distill.FeatureHint("block_2_add", "expanded_conv_2_add", weight=0.1)
        distiller = distill.Distiller(_application("MobileNetV2"), teacher, alpha=0.5,
                                      extra_losses=[hint])
        student = distiller.student
        agreement_before = np.mean(_classes(student) == teacher_classes)
        distiller.compile(training.make_optimizer("adam", 5e-3), metrics=["accuracy"])
        history = distiller.fit(*TRAIN, epochs=6, batch_size=32, verbose=0).history
        self.assertLess(history[hint.name][-1], history[hint.name][0])
        self.assertLess(history["soft_loss"][-1], history["soft_loss"][0])
        agreement = np.mean(_classes(student) == teacher_classes)
        self.assertGreater(agreement, agreement_before + 0.2)
        self.assertGreater(_accuracy(student), 0.7)

        aware = qat.quantize_aware(student)
        training.compile_classifier(aware, learning_rate=5e-4)
        aware.fit(*TRAIN, epochs=1, batch_size=32, verbose=0)
        _export_int8(self, aware, self.get_temp_dir() + "/v2_qat_int8.tflite")

    def test_sensitivity_covers_depthwise_layers_not_batch_norm(self):
        model = bridge.to_tf_keras(_application("MobileNetV2"))
        result = sensitivity.analyze(model, TEST, sparsities=(0.5,), verbose=0)
        analyzed = {type(model.get_layer(name)).__name__ for name in result.accuracy}
        self.assertEqual(analyzed, {"Conv2D", "DepthwiseConv2D", "Dense"})  # Dense: the top
