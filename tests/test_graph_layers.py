"""The one layer walker: every layer once, in order, through nested models and wrappers."""

import keras as keras3  # Keras 3, on purpose: the walker reads both Keras
import tensorflow as tf
import tensorflow_model_optimization as tfmot

from tfcompress import graph
from tfcompress._keras import keras

L = keras.layers


def _paths(model, **kwargs):
    return [(path, type(layer).__name__) for path, layer in graph.walk(model, **kwargs)]


def _nested():
    """functional("outer") > Sequential("middle") > functional("inner")."""
    inner_in = keras.Input((4,), name="inner_in")
    inner = keras.Model(inner_in, L.Dense(3, name="inner_dense")(inner_in), name="inner")
    middle = keras.Sequential([keras.Input((4,)), inner, L.Dense(2, name="middle_dense")],
                              name="middle")
    x = keras.Input((4,), name="x")
    return keras.Model(x, L.Dense(1, name="head")(middle(x)), name="outer")


class _Subclassed(keras.Model):

    def __init__(self):
        super().__init__(name="subclassed")
        self.dense = L.Dense(2, name="hidden")

    def call(self, inputs):
        return self.dense(inputs)


class WalkTest(tf.test.TestCase):

    def test_nested_functional_in_sequential_in_functional(self):
        model = _nested()
        expected = [("x", "InputLayer"), ("middle", "Sequential"),
                    ("middle/inner", "Functional"), ("middle/inner/inner_in", "InputLayer"),
                    ("middle/inner/inner_dense", "Dense"), ("middle/middle_dense", "Dense"),
                    ("head", "Dense")]
        self.assertEqual(_paths(model), expected)
        self.assertEqual(_paths(model, models_only=True), expected)
        self.assertEqual([layer.name for layer in graph.layers(model)],
                         [path.rpartition("/")[2] for path, _ in expected])

    def test_pruning_wrappers_come_before_their_layer(self):
        model = tfmot.sparsity.keras.prune_low_magnitude(keras.Sequential(
            [keras.Input((4,)), L.Dense(3, name="a"), L.Dense(2, name="b")]))
        self.assertEqual(_paths(model), [
            ("prune_low_magnitude_a", "PruneLowMagnitude"),
            ("prune_low_magnitude_a/a", "Dense"),
            ("prune_low_magnitude_b", "PruneLowMagnitude"),
            ("prune_low_magnitude_b/b", "Dense")])
        self.assertEqual(_paths(model, models_only=True), [
            ("prune_low_magnitude_a", "PruneLowMagnitude"),
            ("prune_low_magnitude_b", "PruneLowMagnitude")])

    def test_bidirectional_lstm_halves_and_cells_each_once(self):
        x = keras.Input((5, 3), name="x")
        bi = L.Bidirectional(L.LSTM(2, name="lstm"), name="bi")
        time = L.TimeDistributed(L.Dense(2, name="per_step"), name="time")
        model = keras.Model(x, bi(time(x)))
        self.assertEqual(_paths(model), [
            ("x", "InputLayer"), ("time", "TimeDistributed"), ("time/per_step", "Dense"),
            ("bi", "Bidirectional"), ("bi/forward_lstm", "LSTM"),
            ("bi/forward_lstm/lstm_cell", "LSTMCell"), ("bi/backward_lstm", "LSTM"),
            ("bi/backward_lstm/lstm_cell", "LSTMCell")])
        found = graph.layers(model)
        self.assertLen({id(layer) for layer in found}, len(found))
        self.assertIs(found[4], bi.forward_layer)  # the half that runs, not the template

    def test_a_layer_used_twice_is_listed_once(self):
        shared = L.Dense(4, name="shared")
        first_in, second_in = keras.Input((4,)), keras.Input((4,))
        first = keras.Model(first_in, shared(first_in), name="first")
        second = keras.Model(second_in, shared(second_in), name="second")
        x = keras.Input((4,), name="x")
        model = keras.Model(x, second(first(x)))
        self.assertEqual([path for path, _ in graph.walk(model)],
                         ["x", "first", f"first/{first_in.node.layer.name}", "first/shared",
                          "second", f"second/{second_in.node.layer.name}"])

    def test_subclassed_model_is_one_layer_unless_everything_is_asked(self):
        x = keras.Input((4,), name="x")
        model = keras.Model(x, _Subclassed()(x))
        self.assertFalse(graph.is_nested_model(model.layers[1]))
        self.assertEqual(_paths(model, models_only=True),
                         [("x", "InputLayer"), ("subclassed", "_Subclassed")])
        self.assertEqual(_paths(model)[-1], ("subclassed/hidden", "Dense"))


class Keras3Test(tf.test.TestCase):

    def test_keras3_nested_model_and_its_ops(self):
        inner = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2, name="inner_dense")],
                                  name="inner")
        x = keras3.Input((4,), name="x")
        y = keras3.layers.Dense(3, name="dense")(x) + 3.0
        model = keras3.Model(x, inner(y), name="outer")
        paths = _paths(model)
        self.assertEqual([path for path, _ in paths],
                         ["x", "dense", paths[2][0], "inner", "inner/inner_dense"])
        self.assertEqual(paths[2][1], "Add")  # the `+ 3.0`: a graph node of its own
        self.assertTrue(graph.is_nested_model(model))
        self.assertTrue(graph.is_nested_model(inner))  # Keras 3's Sequential is no Functional
        self.assertFalse(graph.is_nested_model(model.get_layer("dense")))

    def test_nested_model_test_is_the_same_for_both_keras(self):
        self.assertTrue(graph.is_nested_model(_nested()))
        self.assertTrue(graph.is_nested_model(keras.Sequential([L.Dense(1)])))  # unbuilt too
        self.assertFalse(graph.is_nested_model(_Subclassed()))
        self.assertFalse(graph.is_nested_model(L.Dense(1)))


if __name__ == "__main__":
    tf.test.main()
