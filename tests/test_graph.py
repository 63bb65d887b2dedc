"""The one graph of a functional model: reading both Keras formats, rebuilding, flattening."""

import numpy as np
import tensorflow as tf

from tfcompress import graph
from tfcompress import quantize
from tfcompress._keras import keras

L = keras.layers


def _nested():
    inner_in = keras.Input((6,))
    inner = keras.Model(inner_in, L.Dense(4, activation="relu", name="inner_dense")(inner_in),
                        name="inner")
    x = inputs = keras.Input((3,), name="x")
    first = inner(L.Concatenate(name="twice")([x, x]))
    second = inner(L.Concatenate(name="mixed")([x, L.Dense(3, name="pre")(x)]))
    return keras.Model(inputs, [first, L.Dense(2, name="head")(second)], name="outer")


def _rebuilt(model):
    """`model` rebuilt from its graph with the same layer objects."""
    layers = {layer.name: layer for layer in model.layers}
    g = graph.Graph.from_model(model)
    return graph.rebuild(
        g, make_input=lambda node: keras.Input(
            batch_shape=node.config["batch_input_shape"], name=node.name),
        make_layer=lambda node: (lambda args, kwargs: layers[node.name](*args, **kwargs)),
        make_model=lambda i, o, n: keras.Model(i, o, name=n))


class GraphTest(tf.test.TestCase):

    def test_tf_keras_nested_calls_are_numbered_from_zero(self):
        g = graph.Graph.from_model(_nested())
        self.assertEqual(g.outputs, [graph.TensorRef("inner", 0, 0), graph.TensorRef("head")])
        head = g.layer("head")
        self.assertEqual(head.calls[0].tensors(), [graph.TensorRef("inner", 1, 0)])
        self.assertCountEqual([node.name for node, _ in g.consumers("x")], ["twice", "mixed", "pre"])

    def test_rebuild_keeps_every_call_and_output(self):
        model = _nested()
        batch = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
        for expected, actual in zip(model(batch), _rebuilt(model)(batch)):
            self.assertAllClose(expected, actual)

    def test_tf_op_layer_node_format_is_read(self):
        x = inputs = keras.Input((4,))
        model = keras.Model(inputs, L.Dense(2, name="d")(x) + 3.0)
        g = graph.Graph.from_model(model)
        op = g.layers[-1]
        self.assertEqual(op.class_name, "TFOpLambda")
        self.assertEqual(op.calls[0].tensors(), [graph.TensorRef("d")])
        self.assertEqual(op.calls[0].kwargs["y"], 3.0)

    def test_rebuild_names_a_missing_tensor(self):
        g = graph.Graph.from_model(_nested())
        g.layer("head").calls[0].args = [graph.TensorRef("nowhere")]
        with self.assertRaisesRegex(ValueError, "layer 'head' reads TensorRef"):
            graph.rebuild(g, make_input=lambda node: keras.Input((3,)),
                          make_layer=lambda node: (lambda args, kwargs: args[0]),
                          make_model=lambda i, o, n: None)

    def test_subclassed_model_is_refused(self):
        with self.assertRaisesRegex(ValueError, "subclassed model cannot be walked"):
            graph.Graph.from_config({"name": "sub"})


class FlattenTest(tf.test.TestCase):

    def test_flattened_model_has_no_nested_model_and_equal_outputs(self):
        model = _nested()
        flat = graph.flatten(model, keras.Model)
        self.assertFalse(graph.has_nested_models(flat))
        self.assertTrue(graph.has_nested_models(model))
        batch = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
        for expected, actual in zip(model(batch), flat(batch)):
            self.assertAllClose(expected, actual)

    def test_clashing_names_are_listed(self):
        inner_in = keras.Input((3,))
        inner = keras.Model(inner_in, L.Dense(3, name="dense")(inner_in), name="inner")
        x = inputs = keras.Input((3,))
        model = keras.Model(inputs, L.Dense(2, name="dense")(inner(x)))
        with self.assertRaisesRegex(ValueError, r"share names \('dense' at inner/dense, dense\)"):
            graph.flatten(model, keras.Model)

    def test_nested_model_is_made_quantization_aware_and_back(self):
        model = _nested()
        aware = quantize.quantize_aware(model)  # TFMOT alone refuses a nested model
        self.assertTrue(quantize.is_quantization_aware(aware))
        back = quantize.float_model(aware, model)
        batch = np.ones((2, 3), np.float32)
        for expected, actual in zip(model(batch), back(batch)):
            self.assertAllClose(expected, actual)


if __name__ == "__main__":
    tf.test.main()
