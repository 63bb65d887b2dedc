"""The zoo's published reference models: resnet8 and mobilenet_v2.

Their parameters and MACs against the published counts, and each through
tfcompress's machinery (structured shrink, float TFLite export) on a few
random images.
"""

import os
import tempfile

import numpy as np
import tensorflow as tf

from tfcompress import export
from tfcompress import models
from tfcompress import runtime
from tfcompress import shrink
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.evaluate.macs import count_macs

# MLPerf Tiny's ResNet-8, layer by layer as the reference's own Keras summary
# lists its parameters (mlcommons/tiny, benchmark/training/image_classification/
# Logs/training_log.txt, model `resnet_v1_eembc` of keras_model.py: "Total
# params: 78,666, Trainable params: 78,186"): (layer, parameters).
RESNET8_LAYERS = [
    ("stem_conv", 448), ("stem_bn", 64),
    ("stack_1_conv_1", 2_320), ("stack_1_bn_1", 64),
    ("stack_1_conv_2", 2_320), ("stack_1_bn_2", 64),
    ("stack_2_conv_1", 4_640), ("stack_2_bn_1", 128),
    ("stack_2_conv_2", 9_248), ("stack_2_shortcut", 544), ("stack_2_bn_2", 128),
    ("stack_3_conv_1", 18_496), ("stack_3_bn_1", 256),
    ("stack_3_conv_2", 36_928), ("stack_3_shortcut", 2_112), ("stack_3_bn_2", 256),
    ("logits", 650),
]


def _images(count=4, shape=(32, 32, 3), seed=0):
    return np.random.default_rng(seed).uniform(size=(count, *shape)).astype(np.float32)


def _weighted_layers(model):
    return [(layer.name, layer.count_params()) for layer in model.layers
            if layer.count_params()]


class ResNet8Test(tf.test.TestCase):

    def test_layers_parameters_and_macs_are_the_references(self):
        model = models.build("resnet8")
        self.assertEqual(_weighted_layers(model), RESNET8_LAYERS)
        self.assertEqual(model.count_params(), 78_666)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        self.assertEqual(trainable, 78_186)
        # MACs: 32*32*27*16 + 2*32*32*144*16 (stack 1) + 16*16*(144+288+16)*32
        # (stack 2) + 8*8*(288+576+32)*64 (stack 3) + 64*10 = 12,501,632: the
        # "12.5M MACs" quoted for it, "25 MOPS" in NXP's eIQ model zoo card
        # of the same model (two operations per MAC).
        self.assertEqual(count_macs(model)["total"], 12_501_632)
        shapes = {layer.name: layer.output_shape for layer in model.layers}
        self.assertEqual(shapes["stack_1_out"], (None, 32, 32, 16))
        self.assertEqual(shapes["stack_2_out"], (None, 16, 16, 32))
        self.assertEqual(shapes["stack_3_out"], (None, 8, 8, 64))
        self.assertEqual(shapes["pool"], (None, 1, 1, 64))  # average over the 8x8 map
        self.assertEqual(model.get_layer("stack_2_shortcut").kernel.shape, (1, 1, 16, 32))
        self.assertEqual(model.get_layer("stack_2_shortcut").strides, (2, 2))
        # Logits like every zoo model (the reference ends in softmax).
        self.assertIs(model.get_layer("logits").activation, keras.activations.linear)
        self.assertNotAllClose(tf.reduce_sum(model(_images()), axis=-1), tf.ones(4))

    def test_l2_is_off_by_default_and_a_keyword(self):
        self.assertEmpty(models.build("resnet8").losses)
        model = models.build("resnet8:l2=1e-4")
        self.assertLen(model.losses, 9)  # every conv kernel, as the reference; not the Dense
        self.assertEqual(model.count_params(), 78_666)

    def test_filters_scale_every_stack(self):
        wide = models.build("resnet8:32")
        self.assertEqual(wide.get_layer("stack_3_conv_2").filters, 128)
        ratio = count_macs(wide)["total"] / 12_501_632
        self.assertBetween(ratio, 3.9, 4.0)  # the 3-channel stem and the logits grow 2x

    def test_bad_arguments_are_refused_by_name(self):
        for spec, words in (("resnet8:l2=-1", "`l2`"), ("resnet8:0", "`filters`"),
                            ("resnet8:16,32", "at most 1 int"),
                            ("resnet8:alpha=1", "no keyword 'alpha'")):
            with self.subTest(spec=spec), self.assertRaisesRegex(ValueError, words):
                models.build(spec)

    def test_shrink_groups_the_residual_adds_and_halves_the_macs(self):
        model = models.build("resnet8")
        groups = {tuple(g.producers) for g in shrink.dependency_graph(model).prunable_groups()}
        self.assertEqual(groups, {
            ("stack_1_conv_2", "stem_conv"),  # added to the stem's output
            ("stack_1_conv_1",), ("stack_2_conv_1",), ("stack_3_conv_1",),
            ("stack_2_conv_2", "stack_2_shortcut"), ("stack_3_conv_2", "stack_3_shortcut")})
        result = shrink.shrink(model, target_macs=0.5)
        self.assertLessEqual(result.macs["after"], 0.5 * result.macs["before"])
        self.assertGreater(result.macs["after"], 0.4 * result.macs["before"])
        small = result.model
        self.assertEqual(small.get_layer("stack_2_shortcut").filters,
                         small.get_layer("stack_2_conv_2").filters)
        self.assertEqual(small(_images()).shape, (4, 10))
        training.compile_classifier(small)
        history = small.fit(_images(8), np.arange(8) % 10, batch_size=8, epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))


class MobileNetV2Test(tf.test.TestCase):

    def test_imagenet_configuration_equals_keras_mobilenet_v2(self):
        # The builder at the paper's configuration. Keras's MobileNetV2 has
        # 3,538,984 parameters (weights=None, 224x224x3, 1000 classes); the
        # paper gives 300M multiply-adds (Sandler et al. 2018, Table 4;
        # TF-slim's mobilenet README: 300 MACs (M), 3.47M parameters).
        ours = models.build("mobilenet_v2:alpha=1.0,imagenet_strides=true",
                            input_shape=(224, 224, 3), num_classes=1000)
        theirs = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
        self.assertEqual(ours.count_params(), 3_538_984)
        self.assertEqual([w.shape for w in ours.weights], [w.shape for w in theirs.weights])
        self.assertEqual(count_macs(ours)["total"], count_macs(theirs)["total"])
        self.assertAllClose(count_macs(ours)["total"] / 1e6, 300, rtol=0.005)
        self.assertEqual(ours.get_layer("head_conv").output_shape, (None, 7, 7, 1280))

    def test_small_alpha_at_224_matches_the_published_macs(self):
        # TF-slim's mobilenet README: mobilenet_v2_0.35_224, 59 MACs (M).
        model = models.build("mobilenet_v2:alpha=0.35,imagenet_strides=true",
                             input_shape=(224, 224, 3), num_classes=1000)
        self.assertAllClose(count_macs(model)["total"] / 1e6, 59, rtol=0.01)
        self.assertEqual(model.count_params(), 1_691_208)  # Keras's MobileNetV2(alpha=0.35)

    def test_cifar_default_keeps_a_4x4_map(self):
        model = models.build("mobilenet_v2")  # alpha 0.35, 32x32x3, 10 classes
        # Stride 1 in the stem and the first 24-channel block (kuangliu/
        # pytorch-cifar), the paper's strides after: 32, 32, 16, 8, 8, 4, 4.
        self.assertEqual([model.get_layer(f"block_{i}_project_bn").output_shape[1]
                          for i in (0, 2, 5, 9, 12, 15, 16)],
                         [32, 32, 16, 8, 8, 4, 4])
        self.assertEqual(model.get_layer("stem_conv").filters, 16)  # 32*0.35, rounded to 8
        self.assertEqual(model.get_layer("head_conv").filters, 1280)  # not scaled below 1
        self.assertEqual(model(_images()).shape, (4, 10))
        self.assertIs(model.get_layer("logits").activation, keras.activations.linear)

    def test_bad_arguments_are_refused_by_name(self):
        for spec, words in (("mobilenet_v2:alpha=0", "`alpha`"),
                            ("mobilenet_v2:alpha=nan", "`alpha`"),
                            ("mobilenet_v2:imagenet_strides=1", "not true or false"),
                            ("mobilenet_v2:16", "takes no arguments")):
            with self.subTest(spec=spec), self.assertRaisesRegex(ValueError, words):
                models.build(spec)

    def test_shrink_follows_depthwise_layers_and_residual_adds(self):
        model = models.build("mobilenet_v2")
        groups = {tuple(g.producers) for g in shrink.dependency_graph(model).prunable_groups()}
        # A depthwise conv passes its expand conv's channels on; the
        # projections of blocks joined by adds shrink together.
        self.assertIn(("block_4_expand",), groups)
        self.assertIn(("block_3_project", "block_4_project", "block_5_project"), groups)
        result = shrink.shrink(model, fraction=0.5)
        small = result.model
        for i in (1, 8, 16):
            self.assertEqual(small.get_layer(f"block_{i}_depthwise").output_shape[-1],
                             small.get_layer(f"block_{i}_expand").filters)
        self.assertLess(result.macs["after"], 0.5 * result.macs["before"])
        self.assertEqual(small(_images()).shape, (4, 10))


class ExportTest(tf.test.TestCase):

    def test_float_tflite_agrees_with_keras(self):
        images = _images(8, seed=1)
        for spec in ("resnet8", "mobilenet_v2"):
            with self.subTest(spec=spec), tempfile.TemporaryDirectory() as tmp:
                keras.utils.set_random_seed(0)
                model = models.build(spec)
                path = os.path.join(tmp, "model.tflite")
                export.export_tflite(model, path, check_inputs=images)
                expected = model(images, training=False).numpy()
                actual = runtime.TFLiteRunner(path)(images)
                # Relative to the logits' scale: a random MobileNetV2's are
                # tiny (its ReLU6 layers shrink them), so no absolute bound.
                scale = np.abs(expected).max()
                self.assertGreater(scale, 0)
                self.assertAllClose(actual, expected, rtol=1e-4, atol=1e-4 * scale)
                self.assertAllEqual(actual.argmax(-1), expected.argmax(-1))


if __name__ == "__main__":
    tf.test.main()
