"""Shrunk models in Keras and in LiteRT: dead channels go, nothing else moves.

The proof the style guide asks of every rewrite: make some channels dead in
the original model, shrink, and assert the smaller model computes what the
original computes (max abs diff <= 1e-5), in Keras and in LiteRT. Then the
merges stay consistent, the counts match a hand computation, and pinned
layers keep their weights bit for bit.
"""

import keras as keras3  # Keras 3, on purpose: a user's application
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from test_shrink import MODELS, _inputs, _randomize
from tfcompress import keras3 as bridge
from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.evaluate.macs import count_macs
from tfcompress.export import tflite
from tfcompress.runtime import TFLiteRunner
from tfcompress.shrink import dependency

L = keras.layers

# (index in get_weights(), axis) of the kernel axis that makes a layer's
# output channels, and of the one that reads its input channels. Written out
# here, not taken from the library, so a wrong axis there cannot hide.
_MAKES = {"Dense": (0, -1), "Conv1D": (0, -1), "Conv2D": (0, -1), "Conv2DTranspose": (0, -2),
          "SeparableConv2D": (1, -1)}
_READS = {"Dense": (0, 0), "Conv1D": (0, -2), "Conv2D": (0, -2), "Conv2DTranspose": (0, -1),
          "SeparableConv2D": (0, -2), "DepthwiseConv2D": (0, -2)}


def _zero(array, axis, positions):
    np.moveaxis(array, axis, 0)[np.ravel(positions)] = 0  # a view: writes through


def _kill(graph, group, dead):
    """Zeros every weight that makes or reads channels `dead` of `group`.

    Zeroing the readers alone makes the channels irrelevant (a batch norm's
    beta or a sigmoid would still give a dead filter a nonzero output);
    zeroing the makers too scores them 0 under l1/l2, so shrink picks them.
    """
    for layer in graph.model.layers:  # the original's layers, nested ones inlined
        kind = type(layer).__name__
        if kind not in _READS:
            continue
        weights = layer.get_weights()
        for space in group.spaces:
            if space.owner == layer.name and kind in _MAKES:
                where = graph.outputs[layer.name].positions_of(space)[dead]
                _zero(weights[_MAKES[kind][0]], _MAKES[kind][1], where)
                if layer.use_bias:
                    _zero(weights[-1], 0, where)
            where = graph.inputs[layer.name][0].positions_of(space)[dead]
            _zero(weights[_READS[kind][0]], _READS[kind][1], where)
        layer.set_weights(weights)


# Per kernel (index in get_weights()): the axes of its outputs; the rest are summed.
_OUTPUT_AXES = {"Dense": {0: (-1,)}, "Conv1D": {0: (-1,)}, "Conv2D": {0: (-1,)},
                "Conv2DTranspose": {0: (-2,)}, "DepthwiseConv2D": {0: (-2, -1)},
                "SeparableConv2D": {0: (-2, -1), 1: (-1,)}}


def _fan_in_scaled(model):
    """`model` with each kernel divided by the sqrt of its fan-in.

    Keeps outputs near 1, so LiteRT's float32 rounding (it sums in another
    order) stays far below the 1e-5 bound that a wrong slice breaks.
    """
    for layer in model.layers:
        weights = layer.get_weights()
        for index, axes in _OUTPUT_AXES.get(type(layer).__name__, {}).items():
            kernel = weights[index]
            outputs = np.prod([kernel.shape[axis] for axis in axes])
            weights[index] = kernel / np.sqrt(kernel.size // outputs)
        layer.set_weights(weights)
    return model


def _tflite(model, batch):
    return TFLiteRunner(tflite.convert(model))(batch)


class DeadChannelsLeaveOutputsUnchangedTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(*MODELS.items())
    def test_shrink_removes_dead_channels_without_moving_keras_or_tflite_outputs(self, make):
        """Dead: every weight that makes a channel (kernel slice, bias) or reads
        it (the next kernels' input rows) is zero. Zeroing the readers is what
        makes removal exact; zeroing the makers scores the channels 0, so
        shrink must remove exactly them: a live channel removed, or a weight
        sliced along the wrong axis, moves the outputs by far more than 1e-5.
        """
        model = _fan_in_scaled(_randomize(make()))
        # How many channels fraction=0.5 removes per group (rounding included).
        widths = {tuple(g.producers): g.after for g in shrink.shrink(model, fraction=0.5).groups}
        graph = dependency.build(model)
        rng = np.random.default_rng(0)
        for group in graph.prunable_groups():
            live = widths[tuple(group.producers)]
            dead = rng.choice(group.size, group.size - live, replace=False)  # scattered
            _kill(graph, group, np.sort(dead))
        batch = _inputs(model, n=8)
        expected = model(batch, training=False).numpy()

        result = shrink.shrink(model, fraction=0.5)

        for producers, live in widths.items():
            for name in producers:  # every layer of the group, read off the model
                self.assertEqual(result.model.get_layer(name).get_output_shape_at(0)[-1], live)
        self.assertTrue(any(g.after < g.before for g in result.groups))
        self.assertAllClose(result.model(batch, training=False), expected, atol=1e-5, rtol=0)
        self.assertAllClose(_tflite(model, batch), expected, atol=1e-5, rtol=0)
        self.assertAllClose(_tflite(result.model, batch), expected, atol=1e-5, rtol=0)


def _check_merges(test, model):
    """Every Add/Multiply adds equal widths; every Concatenate sums its inputs'."""
    merges = 0
    for layer in model.layers:  # tf_keras or Keras 3 layers: matched by class name
        if type(layer).__name__ in ("Add", "Multiply", "Concatenate"):
            widths = [int(t.shape[-1]) for t in layer.input]
            if type(layer).__name__ == "Concatenate":
                test.assertEqual(int(layer.output.shape[-1]), sum(widths), layer.name)
            else:
                test.assertLen(set(widths), 1, f"{layer.name}: {widths}")
            merges += 1
    test.assertGreater(merges, 0)


class MergesStayConsistentTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(("residual_cnn",), ("squeeze_excite",))
    def test_shrunk_pattern_model_merges_equal_widths(self, name):
        result = shrink.shrink(_randomize(MODELS[name]()), fraction=0.5)
        _check_merges(self, result.model)
        # ...and every group did shrink, so the merges were checked at new widths.
        for group in result.groups:
            self.assertLess(group.after, group.before, group)
            for producer in group.producers:
                self.assertEqual(
                    result.model.get_layer(producer).get_output_shape_at(0)[-1], group.after)
        self.assertLess(result.params["after"], result.params["before"])

    def test_shrunk_keras3_mobilenet_v2_merges_and_runs_in_tflite(self):
        keras3.utils.set_random_seed(0)
        application = keras3.applications.MobileNetV2(
            input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10,
            classifier_activation=None)
        result = shrink.shrink(application, fraction=0.5)
        self.assertIsInstance(result.model, keras3.Model)  # Keras 3 in, Keras 3 out
        self.assertTrue(any(g.after < g.before for g in result.groups))
        _check_merges(self, result.model)
        batch = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype("float32")
        expected = np.asarray(result.model(batch, training=False))
        self.assertAllClose(_tflite(bridge.to_tf_keras(result.model), batch), expected,
                            atol=1e-4, rtol=0)


def _small_cnn():
    x = inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(16, 3, padding="same", name="conv")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.DepthwiseConv2D(3, name="depthwise")(x)  # 'valid': 8x8 -> 6x6
    x = L.Conv2D(32, 1, name="pointwise")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, L.Dense(10, name="logits")(x))


class CountsMatchHandComputationTest(tf.test.TestCase):

    def test_params_and_macs_before_and_after_halving(self):
        model = _randomize(_small_cnn())
        result = shrink.shrink(model, fraction=0.5)  # 16 -> 8 and 32 -> 16 channels
        # name: (params before, params after, MACs before, MACs after); a
        # convolution's MACs are output positions x kernel size.
        expected = {
            "conv": (3 * 3 * 3 * 16 + 16, 3 * 3 * 3 * 8 + 8,
                     8 * 8 * (3 * 3 * 3 * 16), 8 * 8 * (3 * 3 * 3 * 8)),
            "bn": (4 * 16, 4 * 8, 0, 0),  # gamma, beta, moving mean and variance
            "depthwise": (3 * 3 * 16 + 16, 3 * 3 * 8 + 8,
                          6 * 6 * (3 * 3 * 16), 6 * 6 * (3 * 3 * 8)),
            "pointwise": (16 * 32 + 32, 8 * 16 + 16, 6 * 6 * (16 * 32), 6 * 6 * (8 * 16)),
            "logits": (32 * 10 + 10, 16 * 10 + 10, 32 * 10, 16 * 10),
        }
        rows = {row["name"]: (row["params_before"], row["params_after"], row["macs_before"],
                              row["macs_after"])
                for row in result.layers if row["params_before"] or row["macs_before"]}
        self.assertEqual(rows, expected)
        params = [sum(counts[i] for counts in expected.values()) for i in range(4)]
        self.assertEqual(params, [1546, 650, 51584, 21184])  # the sums, spelled out
        self.assertEqual(result.params, {"before": params[0], "after": params[1]})
        self.assertEqual(result.macs, {"before": params[2], "after": params[3]})
        self.assertEqual(result.model.count_params(), params[1])
        self.assertEqual(count_macs(model)["total"], params[2])
        self.assertEqual(count_macs(result.model)["total"], params[3])
        self.assertEqual({row["name"]: row["macs"] for row in count_macs(result.model)["layers"]
                          if row["macs"]},
                         {name: counts[3] for name, counts in expected.items() if counts[3]})


class PinnedLayersAreUntouchedTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("small_cnn", _small_cnn, "conv", ["conv", "bn", "depthwise"]),
        # Pinning one branch of the residual Add keeps the other branch too.
        ("residual_cnn", MODELS["residual_cnn"], 1, [1, 2]),
    )
    def test_pinned_layer_reading_unshrunk_inputs_keeps_weights_bit_identical(
            self, make, pinned, untouched):
        model = _randomize(make())

        def name_of(key):  # an index for a pattern model, whose names are generated
            return model.layers[key].name if isinstance(key, int) else key

        result = shrink.shrink(model, fraction=0.5, pinned=[name_of(pinned)])
        self.assertTrue(any(g.after < g.before for g in result.groups))
        for key in untouched:  # these read the model input or the pinned layer only
            original = model.get_layer(name_of(key)).get_weights()
            kept = result.model.get_layer(name_of(key)).get_weights()
            self.assertLen(kept, len(original))
            for before, after in zip(original, kept):
                self.assertEqual(before.shape, after.shape, name_of(key))
                self.assertTrue(np.array_equal(before, after), name_of(key))
        # The output layer keeps its units and their biases.
        output = model.layers[-1].name
        self.assertEqual(result.model.output_shape, model.output_shape)
        self.assertTrue(np.array_equal(model.get_layer(output).get_weights()[-1],
                                       result.model.get_layer(output).get_weights()[-1]))
