"""Magnitude pruning of recurrent and text layers: each weight reaches its target.

LSTM, GRU, SimpleRNN (TFMOT lists them apart from other layers), a
Bidirectional LSTM (beyond TFMOT's registry), Embedding and Conv1D. Most
models train eagerly: tracing recurrent layers costs far more than the steps.
"""

import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfcompress import export
from tfcompress import prune
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.evaluate import weight_stats
from tfcompress.evaluate.tflite_ops import op_names

layers = keras.layers
_TARGET = 0.75


def _sequence_model(make_recurrent, seed=0):
    """Input(8, 6) -> the recurrent layer ("rnn") -> Dense(3) ("out")."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 6))
    return keras.Model(inputs, layers.Dense(3, name="out")(make_recurrent()(inputs)))


def _text_model(seed=0):
    """Token ids (8,) -> Embedding(50, 8) -> Conv1D -> global max pool -> Dense(3)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8,), dtype="int32")
    x = layers.Embedding(50, 8, name="emb")(inputs)
    x = layers.Conv1D(16, 3, name="conv")(x)
    x = layers.GlobalMaxPooling1D()(x)
    return keras.Model(inputs, layers.Dense(3, name="out")(x))


_MODELS = {
    "lstm": lambda: _sequence_model(lambda: layers.LSTM(16, name="rnn")),
    "gru": lambda: _sequence_model(lambda: layers.GRU(16, name="rnn")),
    "simple_rnn": lambda: _sequence_model(lambda: layers.SimpleRNN(16, name="rnn")),
    "bidirectional_lstm": lambda: _sequence_model(
        lambda: layers.Bidirectional(layers.LSTM(8), name="rnn")),
    "embedding_conv1d": _text_model,
}


def _data(model, n=16, seed=0):
    rng = np.random.default_rng(seed)
    if model.input.dtype == tf.int32:
        x = rng.integers(0, 50, size=(n, 8)).astype(np.int32)
    else:
        x = rng.normal(size=(n, 8, 6)).astype(np.float32)
    return x, rng.integers(0, 3, size=n).astype(np.int32)


def _fit_eagerly(model, x, y):
    model.compile(keras.optimizers.SGD(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=prune.callbacks())
    return model


def _sparsity(weight):
    value = weight.numpy()
    return 1.0 - np.count_nonzero(value) / value.size


def _connection_weights(model):
    """Every weight but the biases: kernels, recurrent kernels, embeddings."""
    return [w for w in model.weights if not w.name.endswith("bias:0")]


class PruneRecurrentTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(*_MODELS.items())
    def test_each_weight_reaches_target_and_strips_to_plain_layers(self, make_model):
        model = make_model()
        result = prune.prune(model, sparsity=_TARGET, schedule="constant", frequency=1)
        self.assertEqual(result.skipped, {})
        expected = [layer.name for layer in model.layers if layer.weights]
        self.assertEqual(sorted(result.targets), sorted(expected))
        x, y = _data(model)
        pruned = _fit_eagerly(result.model, x, y)
        stripped = prune.strip(pruned)

        self.assertFalse(prune.has_pruning_wrappers(stripped))
        self.assertEqual([type(layer) for layer in stripped.layers],
                         [type(layer) for layer in model.layers])
        weights = _connection_weights(stripped)
        self.assertLen(weights, len(_connection_weights(model)))
        for weight in weights:
            self.assertAllClose(_sparsity(weight), _TARGET, atol=0.01, msg=weight.name)
        for row in prune.sparsity_report(stripped)["layers"]:
            self.assertAllClose(row["kernel_sparsity"], _TARGET, atol=0.01, msg=row["name"])
        self.assertAllClose(stripped.predict(x, verbose=0), pruned.predict(x, verbose=0),
                            atol=1e-6)

    def test_lstm_trained_in_graph_mode_reaches_polynomial_target(self):
        model = _MODELS["lstm"]()
        result = prune.prune(model, sparsity=0.5, end_step=4, frequency=1)
        training.compile_classifier(result.model, learning_rate=1e-2)
        x, y = _data(model, n=32)
        result.model.fit(x, y, batch_size=8, epochs=1, verbose=0,
                         callbacks=prune.callbacks())
        lstm = prune.strip(result.model).get_layer("rnn")
        self.assertIsInstance(lstm, layers.LSTM)
        self.assertAllClose(_sparsity(lstm.cell.kernel), 0.5, atol=0.01)
        self.assertAllClose(_sparsity(lstm.cell.recurrent_kernel), 0.5, atol=0.01)
        self.assertEqual(_sparsity(lstm.cell.bias), 0.0)

    def test_pruned_masked_embedding_keeps_the_padding_mask(self):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((8,), dtype="int32")
        x = layers.Embedding(50, 8, mask_zero=True)(inputs)
        x = layers.LSTM(8, return_sequences=True)(x)
        x = layers.Dense(8)(x)  # its `call` takes no mask: Keras carries it past
        x = layers.GlobalAveragePooling1D()(x)  # the mean over unmasked steps
        model = keras.Model(inputs, layers.Dense(3)(x))
        tokens = _data(model)[0]
        tokens[:, 5:] = 0  # padding the mask hides from the recurrent layers
        pruned = prune.prune(model, sparsity=0.0, schedule="constant").model
        self.assertAllClose(pruned(tokens), model(tokens), atol=1e-6)

    def test_sensitivity_thins_input_and_recurrent_kernels_and_restores_them(self):
        model = _MODELS["lstm"]()
        x, y = _data(model)
        before = [w.numpy().copy() for w in model.weights]
        result = prune.sensitivity.analyze(
            model, tf.data.Dataset.from_tensor_slices((x, y)).batch(8),
            sparsities=(0.5, 0.9), verbose=0)
        self.assertEqual(result.params, {"rnn": 6 * 64 + 16 * 64, "out": 16 * 3})
        self.assertEqual(sorted(result.accuracy["rnn"]), [0.5, 0.9])
        for b, a in zip(before, model.weights):
            self.assertAllEqual(b, a.numpy())
        plan = prune.sensitivity.plan(result, 0.6)
        self.assertEqual(sorted(prune.prune(model, sparsity=plan, schedule="constant")
                                .targets), ["out", "rnn"])

    def test_bidirectional_over_a_cell_tfmot_cannot_prune_is_skipped(self):
        class Cell(layers.Layer):
            state_size = 4

            def build(self, shape):
                self.kernel = self.add_weight("kernel", (shape[-1], 4))

            def call(self, inputs, states):
                return tf.matmul(inputs, self.kernel), states

        with keras.utils.custom_object_scope({"Cell": Cell}):  # Bidirectional copies it
            model = _sequence_model(lambda: layers.Bidirectional(layers.RNN(Cell()),
                                                                 name="rnn"))
            result = prune.prune(model, sparsity=0.5, schedule="constant")
        self.assertEqual(result.targets, {"out": 0.5})
        self.assertEqual(result.skipped,
                         {"rnn": "TFMOT cannot prune RNN layers of Cell cells"})


if __name__ == "__main__":
    tf.test.main()


class PrunedRecurrentExportTest(tf.test.TestCase, parameterized.TestCase):
    """What ships: the pruned LSTM or GRU as TFLite, float and int8."""

    # A stateless WHILE loop in float and dynamic range, unrolled for int8.
    @parameterized.named_parameters(("lstm", "lstm", "WHILE"), ("gru", "gru", "WHILE"))
    def test_pruned_model_exports_agreeing_float_and_int8_files(self, name, float_op):
        model = _MODELS[name]()
        x, y = _data(model, n=64)
        pruned = _fit_eagerly(prune.prune(model, sparsity=_TARGET, schedule="constant",
                                          frequency=1).model, x, y)
        stripped = prune.strip(pruned)
        folder = self.create_tempdir().full_path

        float_path = os.path.join(folder, "float.tflite")
        result = export.export_tflite(stripped, float_path, check_inputs=x)
        self.assertLessEqual(result.max_abs_diff, 1e-4)
        self.assertIn(float_op, op_names(float_path))

        # Dynamic range: int8 weights, float activations; TFLite's hybrid
        # kernels run it without calibration.
        dynamic_path = os.path.join(folder, "dynamic.tflite")
        result = export.export_tflite(stripped, dynamic_path, quantization="dynamic",
                                      check_inputs=x, min_agreement=0.9)
        self.assertGreaterEqual(result.top1_agreement, 0.9)
        self.assertIn(float_op, op_names(dynamic_path))

        int8_path = os.path.join(folder, "int8.tflite")
        result = export.export_tflite(stripped, int8_path, quantization="int8",
                                      representative_data=x, check_inputs=x,
                                      min_agreement=0.9)
        self.assertGreaterEqual(result.top1_agreement, 0.9)
        ops = op_names(int8_path)
        self.assertNotIn("UNIDIRECTIONAL_SEQUENCE_LSTM", ops)
        self.assertNotIn("WHILE", ops)
        # The int8 kernels keep the pruned zeros (the head is 16x3: too few to count).
        kernels = {k: w for k, w in weight_stats(int8_path).items() if w["size"] >= 96}
        self.assertNotEmpty(kernels)
        zeros = sum(w["zeros"] for w in kernels.values())
        self.assertGreaterEqual(zeros / sum(w["size"] for w in kernels.values()),
                                _TARGET - 0.02)
