"""A user's own layers shrink through the rules they register.

`ChannelMix` keeps its kernel as (units, inputs), the transpose of a Dense's,
plus a bias and a scale per unit: a rule with the wrong axes cuts the wrong
weights. `Gain` multiplies each channel by a weight of its own: a "pass"
rule cuts it with the channels around it. The checks are the built-in
layers' (tests/test_shrink.py, tests/test_shrink_export.py): the smaller
model computes what the original computes once the removed channels'
readers are zeroed, and dead channels are the ones removed.
"""

import numpy as np
import tensorflow as tf

from test_shrink import _inputs, _randomize
from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.shrink import dependency
from tfcompress.shrink import structured

L = keras.layers


@keras.utils.register_keras_serializable(package="test_shrink_rules")
class ChannelMix(L.Layer):
    """(x @ kernel^T + bias) * scale, with kernel of shape (units, inputs)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(self.units, int(input_shape[-1])))
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.scale = self.add_weight(name="scale", shape=(self.units,), initializer="ones")

    def call(self, x):
        return (tf.matmul(x, self.kernel, transpose_b=True) + self.bias) * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.utils.register_keras_serializable(package="test_shrink_rules")
class Gain(L.Layer):
    """x * gain, one gain per channel."""

    def build(self, input_shape):
        self.gain = self.add_weight(name="gain", shape=(int(input_shape[-1]),))

    def call(self, x):
        return x * self.gain


class Unregistered(L.Layer):
    def call(self, x):
        return x * 2.0


class DoubledDense(L.Dense):
    """A Dense subclass without a rule of its own: it takes Dense's."""

    def call(self, x):
        return super().call(x) * 2.0


shrink.register(ChannelMix, shrink.ChannelRule("produce", kernels=((1, 0),), width="units"))
shrink.register(Gain, shrink.ChannelRule("pass"))


def _model(middle=Gain):
    """mix -> gain -> relu, added to a Dense (one group of 12), read by a Dense."""
    x = inputs = keras.Input((10,))
    a = L.ReLU()(middle(name="gain")(ChannelMix(12, name="mix")(x)))
    b = DoubledDense(12, name="side")(x)
    return keras.Model(inputs, L.Dense(4, name="out")(L.Add()([a, b])))


class RegisteredLayersShrinkTest(tf.test.TestCase):

    def test_shrunk_model_equals_original_without_removed_channels(self):
        model = _randomize(_model())
        result = shrink.shrink(model, fraction=0.5)
        graph = dependency.build(model)
        groups = graph.prunable_groups()
        self.assertEqual([sorted(g.producers) for g in groups], [["mix", "side"]])
        ranking = structured._ranking(graph, groups, "l2", None)
        kept = structured._kept(groups, ranking, structured._widths(groups, 0.5, 1, 1))
        removed = np.setdiff1d(np.arange(12), kept[groups[0].spaces[0]])
        kernel, bias = model.get_layer("out").get_weights()
        kernel[removed] = 0  # the only reader of the group
        model.get_layer("out").set_weights([kernel, bias])

        self.assertAllClose(result.model(_inputs(model)), model(_inputs(model)),
                            atol=1e-5, rtol=1e-5)
        for name in ("mix", "gain", "side"):
            self.assertEqual(result.model.get_layer(name).get_output_shape_at(0)[-1], 6)
        self.assertEqual([w.shape for w in result.model.get_layer("mix").get_weights()],
                         [(6, 10), (6,), (6,)])
        self.assertLess(result.params["after"], result.params["before"])

    def test_dead_channels_are_the_ones_removed(self):
        """Channels whose making and reading weights are all zero score 0, so
        they go; a weight cut along a wrong axis moves the outputs."""
        model = _randomize(_model())
        dead = np.array([1, 4, 5, 7, 10, 11])
        mix, side, out = (model.get_layer(name) for name in ("mix", "side", "out"))
        kernel, bias, scale = mix.get_weights()
        kernel[dead], bias[dead], scale[dead] = 0, 0, 0
        mix.set_weights([kernel, bias, scale])
        kernel, bias = side.get_weights()
        kernel[:, dead], bias[dead] = 0, 0
        side.set_weights([kernel, bias])
        kernel, bias = out.get_weights()
        kernel[dead] = 0
        out.set_weights([kernel, bias])
        expected = model(_inputs(model))

        result = shrink.shrink(model, fraction=0.5)

        self.assertAllClose(result.model(_inputs(model)), expected, atol=1e-5, rtol=0)
        live = np.setdiff1d(np.arange(12), dead)
        self.assertAllClose(result.model.get_layer("gain").get_weights()[0],
                            model.get_layer("gain").get_weights()[0][live])

    def test_group_lasso_reads_the_rules_output_axis(self):
        x = inputs = keras.Input((3,))
        model = keras.Model(inputs, L.Dense(2)(ChannelMix(2, name="mix")(x)))
        model.get_layer("mix").set_weights([np.float32([[1, 2, 2], [0, 3, 0]]),
                                            np.float32([0, 4]), np.float32([0, 0])])
        # unit 0: sqrt(1 + 4 + 4) = 3; unit 1: sqrt(9 + 16) = 5
        self.assertAllClose(shrink.penalties.make("group_lasso", model, 0.5)(), 4.0)


class UnregisteredLayersTest(tf.test.TestCase):

    def test_an_unregistered_layer_is_refused_or_pinned(self):
        model = _model(middle=Unregistered)
        with self.assertRaisesRegex(shrink.UnfollowableLayersError,
                                    r"'gain' \(Unregistered\)\. Pass on_unknown='pin'"):
            shrink.shrink(model, fraction=0.5)
        with self.assertWarnsRegex(UserWarning, r"'gain' \(Unregistered\) is not known"):
            graph = dependency.build(model, on_unknown="pin")
        self.assertEmpty(graph.prunable_groups())


class RegisterArgumentsTest(tf.test.TestCase):

    def test_bad_arguments_are_named(self):
        rule = shrink.ChannelRule("pass")
        with self.assertRaisesRegex(TypeError, r"`layer_class` must be a tf_keras layer "
                                               r"class, got 'Gain'"):
            shrink.register("Gain", rule)
        with self.assertRaisesRegex(TypeError, r"`rule` must be a tfcompress.shrink."
                                               r"ChannelRule, got 'pass'"):
            shrink.register(Gain, "pass")
        with self.assertRaisesRegex(ValueError, r"`role` must be one of .*got 'make'"):
            shrink.ChannelRule("make")
        with self.assertRaisesRegex(ValueError, r"`kernels` must be \(input axis, output "
                                                r"axis\) pairs"):
            shrink.ChannelRule("pass", kernels=((0,),))
        with self.assertRaisesRegex(ValueError, r"'produce' rule needs `kernels` with an "
                                                r"output axis and `width`"):
            shrink.ChannelRule("produce", kernels=((0, -1),))


if __name__ == "__main__":
    tf.test.main()
