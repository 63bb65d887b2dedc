"""Tests of the model zoo and model specs."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfcompress import models
from tfcompress._keras import keras


class ZooTest(tf.test.TestCase, parameterized.TestCase):

    # Parameter counts worked out by hand from the layer sizes, e.g.
    # LeNet-300-100: 784*300+300 + 300*100+100 + 100*10+10 = 266,610.
    @parameterized.named_parameters(
        ("lenet_300_100", models.lenet_300_100, 266_610),
        ("lenet5", models.lenet5, 431_080),
        ("small_cnn", models.small_cnn, 20_490),
        # 288+128 stem, 2*(9216+128) block, 18432+256 down, 2*(36864+256) block, 650
        ("residual_cnn", models.residual_cnn, 112_682),
        ("hinton_teacher", models.hinton_teacher, 2_395_210),
        ("hinton_student", models.hinton_student, 1_276_810),
        ("mlp_default", models.mlp, 266_610),
    )
    def test_mnist_model_outputs_logits_and_has_known_size(self, builder, params):
        model = builder()
        self.assertIsInstance(model, keras.Model)
        self.assertEqual(model.count_params(), params)
        out = model(np.random.default_rng(0).uniform(size=(4, 28, 28, 1)))
        self.assertEqual(out.shape, (4, 10))
        # Logits, not probabilities: no softmax at the end.
        self.assertNotAllClose(tf.reduce_sum(out, axis=-1), tf.ones(4))
        self.assertIs(model.layers[-1].activation, keras.activations.linear)

    def test_keras_io_teacher_size(self):
        self.assertEqual(models.small_cnn((256, 512)).count_params(), 1_433_610)

    def test_mlp_takes_flat_input_and_other_class_counts(self):
        model = models.mlp((32,), input_shape=(784,), num_classes=3)
        self.assertEqual(model(np.zeros((2, 784))).shape, (2, 3))

    def test_hinton_teacher_has_dropout(self):
        rates = [layer.rate for layer in models.hinton_teacher().layers
                 if isinstance(layer, keras.layers.Dropout)]
        self.assertEqual(rates, [0.2, 0.5, 0.5])

    @parameterized.parameters(
        (dict(hidden=()), "`hidden` must be a non-empty list"),
        (dict(hidden=(10, -1)), "`hidden` must be a non-empty list"),
        (dict(dropout=1.0), r"`dropout` must be in \[0, 1\), got 1.0"),
    )
    def test_mlp_bad_arguments(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            models.mlp(**kwargs)

    def test_small_cnn_needs_two_filter_counts(self):
        with self.assertRaisesRegex(ValueError, "`filters` must hold 2 ints"):
            models.small_cnn((8, 16, 32))


class SpecTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(
        ("lenet_300_100", 266_610),
        ("mlp:800,800", 1_276_810),
        ("mlp:1200,1200,dropout=0.5", 2_395_210),
        ("small_cnn:16,32", 20_490),
        (" lenet5 ", 431_080),
    )
    def test_build_from_spec(self, spec, params):
        self.assertEqual(models.build(spec).count_params(), params)

    def test_spec_keyword_reaches_the_model(self):
        model = models.build("mlp:64,dropout=0.25,input_dropout=0.1")
        rates = sorted(layer.rate for layer in model.layers
                       if isinstance(layer, keras.layers.Dropout))
        self.assertEqual(rates, [0.1, 0.25])

    def test_spec_input_shape_and_classes(self):
        model = models.build("lenet5", input_shape=(32, 32, 3), num_classes=100)
        self.assertEqual(model.output_shape, (None, 100))

    @parameterized.parameters(
        ("resnet50", r"Unknown model 'resnet50' in spec 'resnet50'; known models: "
                     + ", ".join(models.NAMES) + r" \(e.g."),
        ("", "Model spec must be a non-empty string"),
        ("mlp:800,abc", r"Bad argument 'abc' in model spec 'mlp:800,abc'"),
        ("mlp:800,width=3", r"'mlp' takes no keyword 'width'"),
        ("lenet5:20,50", r"Model 'lenet5' takes no arguments"),
        ("small_cnn:8,dropout=0.1", r"'small_cnn' takes no keyword 'dropout'"),
    )
    def test_bad_spec_errors(self, spec, message):
        with self.assertRaisesRegex(ValueError, message):
            models.build(spec)
