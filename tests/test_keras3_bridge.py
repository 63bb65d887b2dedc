"""The Keras 3 bridge: Keras 3 -> tf_keras -> Keras 3 with equal outputs."""

import os

import keras as keras3  # Keras 3, on purpose: the bridge's input
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tfcompress import graph
from tfcompress import keras3 as bridge
from tfcompress._keras import keras

L = keras3.layers
ACTIVATIONS = ("relu", "relu6", "hard_swish", "hard_silu", "swish", "silu", "gelu",
               "hard_sigmoid", "sigmoid", "tanh", "elu", "softplus", "leaky_relu")


def _conv1d():
    x = inputs = keras3.Input((10, 3))
    x = L.Conv1D(4, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling1D()(x)
    x = L.AveragePooling1D(2, padding="same")(x)
    x = L.ZeroPadding1D(2)(x)
    x = L.Cropping1D((1, 1))(x)
    x = L.UpSampling1D(2)(x)
    x = L.SpatialDropout1D(0.2)(x)
    a = L.GlobalMaxPooling1D()(x)
    b = L.GlobalAveragePooling1D()(x)
    return keras3.Model(inputs, L.Concatenate()([a, b]))


def _conv2d():
    x = inputs = keras3.Input((12, 12, 3))
    x = L.Conv2D(4, 3, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU(6.0)(x)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    x = L.SeparableConv2D(5, 3, padding="same", activation="relu6")(x)
    x = L.Conv2DTranspose(3, 3, strides=2, padding="same")(x)
    x = L.MaxPooling2D()(x)
    x = L.AveragePooling2D(2)(x)
    x = L.ZeroPadding2D(1)(x)
    x = L.Cropping2D(((1, 0), (0, 1)))(x)
    x = L.UpSampling2D()(x)
    x = L.SpatialDropout2D(0.1)(x)
    x = L.Resizing(8, 8)(x)
    a = L.GlobalAveragePooling2D()(x)
    b = L.Flatten()(L.GlobalMaxPooling2D(keepdims=True)(x))
    return keras3.Model(inputs, L.Add()([a, b]))


def _preprocessing():
    x = inputs = keras3.Input((4, 6))
    x = L.Rescaling(1 / 255.0, offset=-0.5)(x)
    x = L.Normalization(mean=0.2, variance=2.0)(x)
    x = L.Permute((2, 1))(x)
    x = L.Reshape((3, 8))(x)
    x = L.LayerNormalization()(x)
    x = L.Dropout(0.3)(x)
    x = L.Flatten()(x)
    return keras3.Model(inputs, L.Dense(3)(x))


def _recurrent():
    x = inputs = keras3.Input((7,), dtype="int32")
    x = L.Embedding(20, 4)(x)
    x = L.LSTM(3, return_sequences=True)(x)
    x = L.GRU(3, return_sequences=True)(x)
    x = L.Bidirectional(L.SimpleRNN(2))(x)
    return keras3.Model(inputs, L.Dense(2)(x))


def _merges():
    a = keras3.Input((5,), name="left")
    b = keras3.Input((5,), name="right")
    merged = [layer()([a, b]) for layer in
              (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum)]
    return keras3.Model([a, b], [L.Concatenate()(merged), L.Dense(2)(a)])


def _activation_layers():
    x = inputs = keras3.Input((6,))
    x = L.Dense(6)(x)
    outs = [L.ReLU()(x), L.ReLU(max_value=6.0)(x), L.LeakyReLU(0.1)(x), L.PReLU()(x),
            L.ELU()(x), L.Softmax()(x)]
    outs += [L.Activation(name)(x) for name in ACTIVATIONS]
    outs += [L.Dense(2, activation=name)(x) for name in ACTIVATIONS]
    return keras3.Model(inputs, L.Concatenate()(outs))


def _ops_with_constants():
    x = inputs = keras3.Input((4, 4, 2))
    y = L.ReLU(6.0)(x * 8.0 + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid
    return keras3.Model(inputs, [y, 3.0 - x, x / 2.0])


def _nested_and_shared():
    inner = keras3.Sequential([keras3.Input((8,)), L.Dense(4, activation="tanh"),
                               L.Dense(8)], name="inner")
    shared = L.Dense(8, name="shared")
    x = inputs = keras3.Input((8,))
    a = shared(x)
    b = shared(a)
    return keras3.Model(inputs, [inner(L.Add()([a, b])), inner(a)])


def _nested_functional_as_output():
    """A functional model whose output is a nested functional model's (as an
    application wrapped for another input is)."""
    x = inputs = keras3.Input((6,))
    inner = keras3.Model(inputs, L.Dense(4, activation="relu")(x), name="inner")
    x = outer_inputs = keras3.Input((3,))
    first = inner(L.Concatenate()([x, x]))
    second = inner(L.Concatenate()([x, L.Dense(3)(x)]))  # differs from the first
    return keras3.Model(outer_inputs, [first, L.Dense(2)(second)])


def _sequential():
    return keras3.Sequential([keras3.Input((28, 28)), L.Flatten(), L.Dense(16, activation="relu"),
                              L.Dropout(0.2), L.Dense(10)])


MODELS = {fn.__name__[1:]: fn for fn in (
    _conv1d, _conv2d, _preprocessing, _recurrent, _merges, _activation_layers,
    _ops_with_constants, _nested_and_shared, _nested_functional_as_output, _sequential)}


def _randomize(model, seed=0):
    """Every weight random and positive, so a weight copied wrong shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras3.Model):
            _randomize(layer, seed + 1)
        elif layer.get_weights():
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype)
                               for w in layer.get_weights()])


def _batch(model, seed=1):
    rng = np.random.default_rng(seed)
    batch = [rng.integers(0, 20, (3, *t.shape[1:])).astype("int32") if "int" in str(t.dtype)
             else rng.normal(0, 2, (3, *t.shape[1:])).astype("float32") for t in model.inputs]
    return batch[0] if len(batch) == 1 else batch


def _outputs(model, batch):
    out = model(batch, training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


class RoundTripTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(*MODELS.items())
    def test_round_trip_keeps_outputs_and_weights(self, make):
        original = make()
        _randomize(original)
        batch = _batch(original)
        expected = _outputs(original, batch)

        conversion = bridge.convert(original)
        converted = conversion.model
        self.assertIsInstance(converted, keras.Model)
        for layer in graph.layers(converted):
            self.assertTrue(type(layer).__module__.startswith(("tf_keras", "tfcompress")),
                            f"{layer.name} is {type(layer).__module__}")
        self.assertLess(conversion.max_abs_diff, 1e-4)
        for e, a in zip(expected, _outputs(converted, batch), strict=True):
            self.assertAllClose(e, a, atol=1e-5, rtol=1e-5)

        back = bridge.to_keras3(converted)
        self.assertIsInstance(back, keras3.Model)
        for e, a in zip(expected, _outputs(back, batch), strict=True):
            self.assertAllClose(e, a, atol=1e-5, rtol=1e-5)
        self.assertEqual(sum(w.size for w in back.get_weights()),
                         sum(w.size for w in original.get_weights()))

    def test_keras3_file_converts_and_saved_round_trip_loads_in_keras3(self):
        original = _ops_with_constants()
        path = os.path.join(self.get_temp_dir(), "k3.keras")
        original.save(path)
        batch = _batch(original)
        converted = bridge.to_tf_keras(path)
        tf_keras_path = os.path.join(self.get_temp_dir(), "tf_keras.keras")
        converted.save(tf_keras_path)  # the ScalarOp layer is registered
        reloaded = keras.models.load_model(tf_keras_path)
        back_path = os.path.join(self.get_temp_dir(), "back.keras")
        bridge.to_keras3(reloaded).save(back_path)
        back = keras3.saving.load_model(back_path)
        for e, a in zip(_outputs(original, batch), _outputs(back, batch), strict=True):
            self.assertAllClose(e, a, atol=1e-6, rtol=0)

    def test_random_layers_built_after_seeding_convert_back(self):
        # training.make_deterministic enables tf_keras's tf.random.Generator,
        # after which its Dropout, SpatialDropout and recurrent layers write
        # an rng_type (CI met it: the order of tests decided).
        keras.backend.experimental.enable_tf_random_generator()
        try:
            converted = bridge.to_tf_keras(_recurrent())
            lstm = next(layer for layer in converted.layers
                        if isinstance(layer, keras.layers.LSTM))
            self.assertIn("rng_type", lstm.get_config())
            back = bridge.to_keras3(converted)
        finally:
            keras.backend.experimental.disable_tf_random_generator()
        self.assertIsInstance(back, keras3.Model)

    def test_converted_model_trains_in_tf_keras(self):
        converted = bridge.to_tf_keras(_conv2d())
        converted.compile(optimizer="sgd", loss="mse")
        before = [w.copy() for w in converted.get_weights()]
        converted.fit(np.ones((4, 12, 12, 3), np.float32), np.zeros((4, 3), np.float32),
                      epochs=1, verbose=0)
        self.assertTrue(any(not np.array_equal(b, a)
                            for b, a in zip(before, converted.get_weights())))


@keras3.saving.register_keras_serializable(package="tests")
class Doubler(keras3.layers.Layer):
    def call(self, inputs):
        return inputs * 2.0


class UnsupportedTest(tf.test.TestCase):

    def _model(self):
        x = inputs = keras3.Input((4,))
        x = L.Dense(4, name="dense")(x)
        x = Doubler(name="doubler")(x)
        x = L.Lambda(lambda t: t + 1.0, name="plus_one")(x)
        return keras3.Model(inputs, x)

    def test_every_unsupported_layer_is_listed_with_what_to_do(self):
        with self.assertRaises(bridge.UnsupportedLayersError) as caught:
            bridge.to_tf_keras(self._model())
        message = str(caught.exception)
        self.assertIn("2 layer(s) have no converter", message)
        self.assertIn("'doubler' (test_keras3_bridge.Doubler)", message.replace("tests.", ""))
        self.assertIn("'plus_one' (keras.src.layers.core.lambda_layer.Lambda)", message)
        self.assertIn("tfcompress.keras3.register(LayerClass, fn)", message)
        self.assertEqual([name for name, _ in caught.exception.layers], ["doubler", "plus_one"])

    def test_registered_converter_is_used(self):
        model = keras3.Sequential([keras3.Input((4,)), L.Dense(3), Doubler(name="doubler")])
        bridge.register(Doubler, lambda layer: keras.layers.Rescaling(2.0, name=layer.name))
        try:
            converted = bridge.to_tf_keras(model)
        finally:
            del bridge.bridge._TO_TF_KERAS[Doubler]  # pylint: disable=protected-access
        batch = np.ones((2, 4), np.float32)
        self.assertAllClose(model(batch), converted(batch), atol=1e-6)

    def test_option_without_equivalent_is_refused(self):
        model = keras3.Sequential([keras3.Input((4,)), L.LayerNormalization(rms_scaling=True,
                                                                             name="ln")])
        with self.assertRaisesRegex(bridge.ConversionError,
                                    r"layer 'ln' \(LayerNormalization\) cannot be converted "
                                    r"to tf_keras: option `rms_scaling`=True has no tf_keras"):
            bridge.to_tf_keras(model)

    def test_unbuilt_sequential_is_refused(self):
        with self.assertRaisesRegex(ValueError, "never built"):
            bridge.to_tf_keras(keras3.Sequential([L.Dense(3)]))

    def test_register_checks_its_arguments(self):
        with self.assertRaisesRegex(TypeError, "`keras3_class` must be a Keras 3 layer class"):
            bridge.register(keras.layers.Dense, lambda layer: layer)
        with self.assertRaisesRegex(TypeError, "`fn` must be callable"):
            bridge.register(Doubler, "not a function")

    def test_wrapped_model_is_refused_back(self):
        import tensorflow_model_optimization as tfmot  # pylint: disable=import-outside-toplevel
        pruned = tfmot.sparsity.keras.prune_low_magnitude(
            keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]))
        with self.assertRaisesRegex(ValueError, "strip them first"):
            bridge.to_keras3(pruned)


APPLICATIONS = {
    "MobileNetV2": lambda: keras3.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10),
    "MobileNetV3Small": lambda: keras3.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), weights=None, classes=10),
    "EfficientNetB0": lambda: keras3.applications.EfficientNetB0(
        input_shape=(32, 32, 3), weights=None, classes=10),
    "ResNet50V2": lambda: keras3.applications.ResNet50V2(
        input_shape=(32, 32, 3), weights=None, classes=10),
    "DenseNet121": lambda: keras3.applications.DenseNet121(
        input_shape=(32, 32, 3), weights=None, classes=10),
}


@pytest.mark.slow
class ApplicationsTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(*APPLICATIONS.items())
    def test_application_converts_with_equal_outputs(self, make):
        original = make()
        batch = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
        conversion = bridge.convert(original)
        self.assertLessEqual(conversion.max_abs_diff, 1e-5)
        self.assertAllClose(original(batch, training=False),
                            conversion.model(batch, training=False), atol=1e-5, rtol=0)
        back = bridge.to_keras3(conversion.model)
        self.assertAllClose(original(batch, training=False), back(batch, training=False),
                            atol=1e-5, rtol=0)
