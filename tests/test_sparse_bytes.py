"""`budget.sparse_bytes`: the bytes TFLite's sparse encoding gives a pruned kernel.

What the size search relies on: the predicted saving of every pruned
kernel adds up to what the converter's files really save, in float and
int8, for Dense, Conv2D and DepthwiseConv2D kernels.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfcompress import evaluate
from tfcompress import export
from tfcompress._keras import keras
from tfcompress.budget import sparse_bytes
from tfcompress.budget import sparse_plan


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(32, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, activation="relu", name="depthwise")(x)
    x = keras.layers.Conv2D(48, 1, activation="relu", name="pointwise")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(300, activation="relu", name="wide")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))


def _zeroed(model, sparsities):
    """`model` with each named layer's smallest kernel weights zeroed."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.name in sparsities:
            kernel, bias = layer.get_weights()
            count = int(round(sparsities[layer.name] * kernel.size))
            order = np.argsort(np.abs(kernel), axis=None)
            flat = kernel.ravel().copy()
            flat[order[:count]] = 0.0
            layer.set_weights([flat.reshape(kernel.shape),
                               rng.normal(size=bias.shape).astype(np.float32)])
    return model


class SparseBytesTest(tf.test.TestCase):

    def test_index_types_widen_with_the_largest_value(self):
        self.assertEqual([sparse_bytes.index_bytes(v) for v in (0, 255, 256, 65535, 65536)],
                         [1, 1, 2, 2, 4])

    def test_an_int8_kernel_at_half_zeros_costs_bytes(self):
        self.assertLess(sparse_bytes.saved(784 * 300, 784, 0.5, 1), 0)
        self.assertGreater(sparse_bytes.saved(784 * 300, 784, 0.9, 1), 0)
        self.assertEqual(sparse_bytes.saved(784 * 300, 784, 0.0, 1), 0)

    def test_bad_sizes_are_refused(self):
        with self.assertRaisesRegex(ValueError, "`last_axis`"):
            sparse_bytes.encoded_bytes(10, 0, 0.5, 4)


@pytest.mark.parametrize("quantization,value_bytes", [("none", 4), ("int8", 1)])
def test_predicted_saving_matches_the_converted_files(tmp_path, quantization, value_bytes):
    sparsities = {"conv": 0.8, "depthwise": 0.7, "pointwise": 0.9, "wide": 0.95,
                  "logits": 0.8}
    model = _zeroed(_model(), sparsities)
    data = np.random.default_rng(1).random((32, 12, 12, 3), dtype=np.float32)
    sizes = {}
    for sparse in (False, True):
        path = os.path.join(tmp_path, f"{sparse}.tflite")
        export.export_tflite(model, path, quantization=quantization,
                             representative_data=data, sparse=sparse,
                             xnnpack=not (sparse and quantization == "int8"))
        sizes[sparse] = os.path.getsize(path)
    shapes = sparse_plan.kernels(model)
    predicted = sum(
        sparse_bytes.saved(count, last, sparsities[name], value_bytes,
                           channels if quantization == "int8" else 0)
        for name, kernels in shapes.items() for count, last, channels in kernels)
    measured = sizes[False] - sizes[True]
    # `evaluate.weight_stats` reads the encoded kernels' zeros as the dense ones'.
    dense, sparse = (evaluate.weight_stats(os.path.join(tmp_path, f"{flag}.tflite"))
                     for flag in (False, True))
    assert any(w.get("sparse_encoding") for w in sparse.values())
    assert (sorted((w["size"], w["zeros"]) for w in sparse.values())
            == sorted((w["size"], w["zeros"]) for w in dense.values()))
    assert measured > 0
    # Within 0.2%: alignment padding, names and 4-D dimension tables.
    assert abs(predicted - measured) <= 0.002 * measured, (predicted, measured, sizes)
