"""Structured pruning: channel groups, the smaller model, targets and errors.

The central check: zero, in the original model, every weight that reads a
removed channel; the original then no longer depends on those channels, so
the smaller model must compute exactly what it computes. A weight sliced
from the wrong axis, a residual branch cut apart or a Flatten mapped wrong
breaks the equality.
"""

import keras as keras3  # Keras 3, on purpose: a user's application
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfcompress import runtime
from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.evaluate.macs import count_macs
from tfcompress.export import tflite
from tfcompress.shrink import dependency
from tfcompress.shrink import structured

L = keras.layers


def _mlp():
    return keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(30, activation="relu"),
                             L.Dense(20, activation="relu"), L.Dense(10)])


def _residual_cnn():
    """Batch norm, a depthwise conv with multiplier 2, a residual Add, a
    separable conv, a Concatenate, Flatten -> Dense and global pooling."""
    x = inputs = keras.Input((12, 12, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(x)))
    y = L.Conv2D(16, 1)(x)
    y = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(y)
    y = L.ReLU(6.0)(L.BatchNormalization()(y))
    y = L.Conv2D(8, 1, name="project")(y)
    x = L.Add()([x, y])
    z = L.SeparableConv2D(12, 3, padding="same", depth_multiplier=2)(x)
    c = L.MaxPooling2D()(L.Concatenate()([x, L.Dropout(0.1)(z)]))
    flat = L.Dense(7, activation="relu")(L.Flatten()(L.ZeroPadding2D(1)(c)))
    pooled = L.GlobalAveragePooling2D()(c)
    return keras.Model(inputs, L.Dense(5)(L.Concatenate()([flat, pooled])))


def _squeeze_excite():
    """MobileNetV3's gate: Multiply of a map by its pooled, re-expanded self."""
    x = inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(12, 3, padding="same", activation="relu")(x)
    gate = L.GlobalAveragePooling2D(keepdims=True)(x)
    gate = L.Conv2D(4, 1, activation="relu")(gate)
    gate = L.Conv2D(12, 1, activation="sigmoid")(gate)
    x = L.Multiply()([x, gate])
    return keras.Model(inputs, L.Dense(3)(L.GlobalMaxPooling2D()(x)))


def _transposed_and_1d():
    x = inputs = keras.Input((6, 6, 2))
    x = L.Conv2DTranspose(6, 3, strides=2, padding="same")(x)
    x = L.Conv2D(5, 3, strides=2)(x)
    x = L.Reshape((-1, 5))(x)
    x = L.Conv1D(9, 2, activation="relu")(x)
    x = L.UpSampling1D(2)(L.AveragePooling1D()(x))
    return keras.Model(inputs, L.Dense(2)(L.GlobalAveragePooling1D()(x)))


def _nested_and_shared():
    inner_in = keras.Input((10,))
    inner = keras.Model(inner_in, L.Dense(12, activation="relu", name="inner_dense")(inner_in),
                        name="inner")
    shared = L.Dense(10, name="shared")
    x = inputs = keras.Input((10,))
    a = shared(L.Dense(10, name="first")(x))
    b = shared(a)
    return keras.Model(inputs, L.Dense(4)(inner(L.Add()([a, b]))))


MODELS = {fn.__name__[1:]: fn for fn in (_mlp, _residual_cnn, _squeeze_excite,
                                          _transposed_and_1d, _nested_and_shared)}


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if "moving_variance" in w.name:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
        else:
            w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    return model


def _inputs(model, n=4, seed=1):
    return np.random.default_rng(seed).normal(size=(n, *model.input_shape[1:])).astype("float32")


# Layers whose output is a space of their own: where removed channels stop.
_READERS = {"Dense": (0, 0), "Conv1D": (0, -2), "Conv2D": (0, -2), "Conv2DTranspose": (0, -1),
            "SeparableConv2D": (0, -2)}


def _without_removed_inputs(graph, kept):
    """The graph's model with every weight that reads a removed channel zeroed."""
    model = graph.model
    for layer in model.layers:
        reader = _READERS.get(type(layer).__name__)
        if reader is None:
            continue
        layout = graph.inputs[layer.name][0]
        removed = np.setdiff1d(np.arange(layout.width), layout.kept_positions(kept))
        weights = layer.get_weights()
        index, axis = reader
        moved = np.moveaxis(weights[index], axis, 0).copy()
        moved[removed] = 0
        weights[index] = np.moveaxis(moved, 0, axis)
        layer.set_weights(weights)
    return model


class ShrunkModelComputesTheSameTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(*MODELS.items())
    def test_shrunk_model_equals_original_without_removed_channels(self, make):
        model = _randomize(make())
        result = shrink.shrink(model, fraction=0.5)
        graph = dependency.build(model)
        self.assertNotEmpty(graph.prunable_groups())
        # The channels shrink kept, read back from the smaller model's widths
        # is not possible: recompute them the same way, then compare outputs.
        ranking = structured._ranking(graph, graph.prunable_groups(), "l2", None)
        widths = structured._widths(graph.prunable_groups(), 0.5, 1, 1)
        kept = structured._kept(graph.prunable_groups(), ranking, widths)
        expected = _without_removed_inputs(graph, kept)(_inputs(model), training=False)
        actual = result.model(_inputs(model), training=False)
        self.assertAllClose(expected, actual, atol=1e-5, rtol=1e-5)
        # And the smaller model's TFLite file, run in LiteRT.
        in_litert = runtime.TFLiteRunner(tflite.convert(result.model))(_inputs(model))
        self.assertAllClose(expected, in_litert, atol=1e-5, rtol=1e-5)
        self.assertLess(result.params["after"], result.params["before"])
        self.assertLess(result.macs["after"], result.macs["before"])
        self.assertEqual(result.model.output_shape, model.output_shape)
        self.assertEqual(result.model.input_shape, model.input_shape)

    def test_mobilenet_v2_shrinks_with_residuals_consistent(self):
        keras3.utils.set_random_seed(0)
        application = keras3.applications.MobileNetV2(
            input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10,
            classifier_activation=None)
        result = shrink.shrink(application, target_macs=0.5, round_to=4,
                               search="uniform")  # grow-back: test_shrink_growback
        self.assertLessEqual(result.macs["after"], 0.5 * result.macs["before"])
        self.assertGreater(result.macs["after"], 0.4 * result.macs["before"])
        model = result.model
        for layer in model.layers:
            if isinstance(layer, L.Add):
                widths = {int(t.shape[-1]) for t in layer.input}
                self.assertLen(widths, 1, layer.name)
        for group in result.groups:
            self.assertTrue(group.after % 4 == 0 or group.after == group.before, group)
        x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
        self.assertEqual(model(x).shape, (2, 10))


class GroupsTest(tf.test.TestCase):

    def test_residual_branches_and_their_trunk_form_one_group(self):
        graph = dependency.build(_residual_cnn())
        producers = [group.producers for group in graph.prunable_groups()]
        self.assertIn(["conv2d", "project"], [sorted(p) for p in producers])

    def test_outputs_inputs_and_pinned_layers_keep_their_width(self):
        model = _mlp()
        result = shrink.shrink(model, fraction=0.5, pinned=["dense_1"])
        widths = {layer.name: layer.output_shape[-1] for layer in result.model.layers}
        self.assertEqual(widths["dense_1"], 20)
        self.assertEqual(widths["dense_2"], 10)
        self.assertEqual(widths["dense"], 15)
        reasons = {tuple(p["producers"]): p["reason"] for p in result.pinned}
        self.assertEqual(reasons[("dense_1",)], "pinned: 'dense_1'")
        self.assertEqual(reasons[("dense_2",)], "model output")

    def test_softmax_and_layer_norm_pin_what_they_read(self):
        x = inputs = keras.Input((6,))
        a = L.LayerNormalization()(L.Dense(8, name="normed")(x))
        b = L.Dense(8, name="free")(x)
        model = keras.Model(inputs, L.Dense(3)(L.Concatenate()([a, b])))
        graph = dependency.build(model)
        by_producer = {tuple(g.producers): g for g in graph.groups}
        self.assertIn("LayerNormalization", by_producer[("normed",)].pinned_by)
        self.assertTrue(by_producer[("free",)].prunable)

    def test_merge_of_misaligned_channels_pins_them(self):
        x = inputs = keras.Input((6,))
        joined = L.Concatenate()([L.Dense(4, name="a")(x), L.Dense(4, name="b")(x)])
        model = keras.Model(inputs, L.Dense(2)(L.Add()([joined, L.Dense(8, name="c")(x)])))
        graph = dependency.build(model)
        self.assertEmpty(graph.prunable_groups())

    def test_unknown_layers_are_listed_or_pinned_on_request(self):
        class Custom(L.Layer):
            def call(self, x):
                return x * 2.0

        x = inputs = keras.Input((6,))
        a = Custom(name="custom_a")(L.Dense(8, name="d1")(x))
        b = Custom(name="custom_b")(L.Dense(8, name="d2")(x))
        model = keras.Model(inputs, L.Dense(2)(L.Add()([a, b])))
        with self.assertRaisesRegex(shrink.UnfollowableLayersError,
                                    r"cannot follow channels through 2 layer\(s\) of "
                                    r"'model.*': 'custom_a' \(Custom\), 'custom_b' \(Custom\)\. "
                                    r"Pass on_unknown='pin'"):
            shrink.shrink(model, fraction=0.5)
        with self.assertWarnsRegex(UserWarning, "'custom_a' \\(Custom\\) is not known"):
            graph = dependency.build(model, on_unknown="pin")
        self.assertEmpty(graph.prunable_groups())


class TargetsTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(("target_params", 0.3), ("target_macs", 0.5))
    def test_budget_is_met_closely(self, arg_name, goal):
        model = _randomize(_residual_cnn())
        result = shrink.shrink(model, **{arg_name: goal})
        counts = result.params if arg_name == "target_params" else result.macs
        self.assertLessEqual(counts["after"], goal * counts["before"])
        self.assertGreater(counts["after"], (goal - 0.1) * counts["before"])

    def test_round_to_and_min_width(self):
        result = shrink.shrink(_mlp(), fraction=0.6, round_to=8, min_width={"dense_1": 16})
        widths = {g.producers[0]: g.after for g in result.groups}
        self.assertEqual(widths, {"dense": 16, "dense_1": 16})  # 12 -> 16; 8 < 16

    def test_dropout_after_narrowed_channels_drops_fewer(self):
        x = inputs = keras.Input((10,))
        x = L.Dropout(0.4, name="wide")(L.Dense(20, name="a")(x))
        x = L.Dropout(0.4, name="narrow")(L.Dense(20, name="b")(x))
        x = L.Dropout(0.4, name="kept")(L.Dense(20, name="c")(x))
        model = keras.Model(inputs, L.Dense(3)(x))
        result = shrink.shrink(model, widths={"a": 15, "b": 8})
        rates = {layer.name: layer.rate for layer in result.model.layers
                 if isinstance(layer, L.Dropout)}
        # The units at work kept: 0.6 x 20 = 12 of 15 retained, none of 8 dropped.
        self.assertAllClose(rates, {"wide": 0.2, "narrow": 0.0, "kept": 0.4})
        self.assertEqual(shrink.surgery.narrowed_rate(0.5, 64, 64), 0.5)
        self.assertAllClose(shrink.surgery.narrowed_rate(0.5, 64, 48), 1 - 0.5 * 64 / 48)
        self.assertEqual(shrink.surgery.narrowed_rate(0.2, 64, 48), 0.0)

    def test_macs_per_layer_are_counted_before_and_after(self):
        result = shrink.shrink(_mlp(), fraction=0.5)
        rows = {row["name"]: row for row in result.layers}
        self.assertEqual(rows["dense"]["macs_before"], 784 * 30)
        self.assertEqual(rows["dense"]["macs_after"], 784 * 15)
        self.assertEqual(rows["dense_1"]["macs_after"], 15 * 10)
        self.assertEqual(result.macs["after"], count_macs(result.model)["total"])

    def test_conv_params_and_macs_match_a_hand_count(self):
        x = inputs = keras.Input((8, 8, 3))
        x = L.BatchNormalization(name="bn")(L.Conv2D(16, 3, padding="same", name="c1")(x))
        x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
        x = L.Conv2D(8, 1, name="c2")(x)
        model = keras.Model(inputs, L.Dense(4, name="out")(L.GlobalAveragePooling2D()(x)))
        result = shrink.shrink(model, widths={"c1": 8, "c2": 4})
        rows = {row["name"]: row for row in result.layers}
        hand = {  # (params before, after, MACs before, after); 8x8 positions throughout
            "c1": (3 * 3 * 3 * 16 + 16, 3 * 3 * 3 * 8 + 8, 64 * 3 * 3 * 3 * 16,
                   64 * 3 * 3 * 3 * 8),
            "bn": (4 * 16, 4 * 8, 0, 0),
            "dw": (3 * 3 * 16 + 16, 3 * 3 * 8 + 8, 64 * 3 * 3 * 16, 64 * 3 * 3 * 8),
            "c2": (16 * 8 + 8, 8 * 4 + 4, 64 * 16 * 8, 64 * 8 * 4),
            "out": (8 * 4 + 4, 4 * 4 + 4, 8 * 4, 4 * 4),
        }
        for name, (p0, p1, m0, m1) in hand.items():
            self.assertEqual((rows[name]["params_before"], rows[name]["params_after"],
                              rows[name]["macs_before"], rows[name]["macs_after"]),
                             (p0, p1, m0, m1), name)
        self.assertEqual(result.params, {"before": sum(v[0] for v in hand.values()),
                                         "after": sum(v[1] for v in hand.values())})
        self.assertEqual(result.macs, {"before": sum(v[2] for v in hand.values()),
                                       "after": sum(v[3] for v in hand.values())})

    @parameterized.parameters(("l1",), ("l2",), ("bn",), ("taylor",))
    def test_each_criterion_keeps_a_channel_that_matters_over_a_dead_one(self, criterion):
        x = inputs = keras.Input((4,))
        hidden = L.Dense(2, name="hidden")(x)
        model = keras.Model(inputs, L.Dense(2)(L.BatchNormalization()(hidden)))
        model = _randomize(model)
        kernel, bias = model.get_layer("hidden").get_weights()
        kernel[:, 1] *= 1e-3  # channel 1: tiny weights, tiny scale, tiny effect
        model.get_layer("hidden").set_weights([kernel, bias * 0])
        bn = model.layers[2]
        gamma, beta, mean, var = bn.get_weights()
        bn.set_weights([np.array([1.0, 1e-3], "float32"), beta * 0, mean * 0, var * 0 + 1])
        data = (np.random.default_rng(0).normal(size=(16, 4)).astype("float32"),
                np.zeros(16, "int64"))
        result = shrink.shrink(model, fraction=0.5, criterion=criterion, data=data)
        kept_kernel = result.model.get_layer("hidden").get_weights()[0]
        self.assertAllClose(kept_kernel[:, 0], kernel[:, 0])


class PenaltiesTest(tf.test.TestCase):

    def test_group_lasso_sums_each_tied_channels_norm(self):
        x = inputs = keras.Input((3,))
        a = L.Dense(2, name="a")(x)
        b = L.Dense(2, name="b")(x)
        model = keras.Model(inputs, L.Dense(1)(L.Add()([a, b])))
        for name, kernel, bias in (("a", [[1, 0], [2, 0], [2, 0]], [0, 1]),
                                   ("b", [[0, 0], [0, 0], [0, 0]], [0, 2])):
            model.get_layer(name).set_weights([np.float32(kernel), np.float32(bias)])
        penalty = shrink.penalties.make("group_lasso", model, 0.5)
        # channel 0: sqrt(1 + 4 + 4) = 3; channel 1: sqrt(1 + 4) (a's bias, b's bias)
        self.assertAllClose(penalty(), 0.5 * (3 + np.sqrt(5)))

    def test_bn_l1_sums_the_scales_after_prunable_channels(self):
        x = inputs = keras.Input((3,))
        hidden = L.BatchNormalization(name="bn")(L.Dense(4)(x))
        model = keras.Model(inputs, L.Dense(2)(hidden))
        model.get_layer("bn").gamma.assign([1.0, -2.0, 3.0, 0.5])
        self.assertAllClose(shrink.penalties.make("bn_l1", model, 0.1)(), 0.65)
        with self.assertRaisesRegex(ValueError, r"`penalty` 'bn_l1' needs batch norms"):
            shrink.penalties.make("bn_l1", _mlp(), 0.1)
        with self.assertRaisesRegex(ValueError, r"`penalty` must be one of "):
            shrink.penalties.make("l0", model, 0.1)
        with self.assertRaisesRegex(ValueError, r"`penalty_weight` must be a positive"):
            shrink.penalties.make("bn_l1", model, 0)


class BadArgumentsTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(
        (dict(), r"Give exactly one of `fraction`, `target_params`, `target_macs`, "
                 r"`target_latency_ms` and `widths`, got none"),
        (dict(fraction=0.5, target_macs=0.5), r"got \['fraction', 'target_macs'\]"),
        (dict(fraction=1.5), r"`fraction` must be a number in \(0, 1\), got 1.5"),
        (dict(fraction=0.5, criterion="l3"), r"`criterion` must be one of \('l1', 'l2', "
                                             r"'bn', 'taylor'\) or a callable, got 'l3'"),
        (dict(fraction=0.5, criterion="taylor"), r"criterion='taylor' needs `data`"),
        (dict(fraction=0.5, round_to=0), r"`round_to` must be a positive int or 'auto' "
                                         r"\(the channel tile of this machine's kernels\), "
                                         r"got 0"),
        (dict(fraction=0.5, latency_format="fp16"), r"`latency_format` must be 'float' or "
                                                    r"'int8', got 'fp16'"),
        (dict(fraction=0.5, pinned=["nope"]), r"`pinned` names layers \['nope'\]"),
        (dict(fraction=0.5, on_unknown="skip"), r"`on_unknown` must be 'error' or 'pin', "
                                                r"got 'skip'"),
    )
    def test_bad_argument_is_named(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            shrink.shrink(_mlp(), **kwargs)

    def test_model_with_nothing_to_shrink(self):
        model = keras.Sequential([keras.Input((4,)), L.Dense(3)])
        with self.assertRaisesRegex(ValueError, r"Nothing of 'sequential.*' can shrink"):
            shrink.shrink(model, fraction=0.5)

    def test_unreachable_budget(self):
        with self.assertRaisesRegex(ValueError, r"`target_params`=0.01 cannot be reached"):
            shrink.shrink(_mlp(), target_params=0.01, min_width=8)
