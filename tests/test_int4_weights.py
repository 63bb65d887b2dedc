"""int4 Dense weights (`export.int4_weights`, through ai-edge-quantizer) and
their bytes predicted from the int8 table (`budget.Int4Bytes`).

What users rely on: an "int4" export stores every Dense kernel as int4 and
the convolutions as int8 (XNNPACK has no int4 convolution), runs in LiteRT
with float input and output, answers close to Keras, and takes about half
an int8 file's bytes for its Dense weights; the size search predicts a
narrower model's int4 file from the int8 table.
"""

import os

import numpy as np
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from tfcompress import budget
from tfcompress import export
from tfcompress._keras import keras
from tfcompress.export import int4_weights


def _cnn(dense=64):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(dense, activation="relu", name="hidden")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))


def _weight_types(path):
    """{op's weight tensor name: schema TensorType} of every conv and Dense op."""
    with open(path, "rb") as f:
        model = schema.Model.GetRootAsModel(f.read(), 0)
    graph = model.Subgraphs(0)
    types = {}
    for j in range(graph.OperatorsLength()):
        op = graph.Operators(j)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin in (schema.BuiltinOperator.FULLY_CONNECTED,
                       schema.BuiltinOperator.CONV_2D):
            weights = graph.Tensors(op.Inputs(1))
            types[weights.Name().decode()] = (builtin, weights.Type())
    return types


class Int4ExportTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.model = _cnn()
        self.inputs = np.random.default_rng(0).random((64, 12, 12, 3), dtype=np.float32)
        self.folder = self.create_tempdir().full_path

    def _export(self, quantization, **options):
        path = os.path.join(self.folder, f"{quantization}.tflite")
        # A random model's logits are close together: int4 flips some top-1s.
        return export.export_tflite(self.model, path, quantization=quantization,
                                    check_inputs=self.inputs, min_agreement=0.5, **options)

    def test_dense_weights_are_int4_and_convolutions_int8(self):
        result = self._export("int4")
        with open(result.path, "rb") as f:
            self.assertEqual(int4_weights.dense_weights_not_int4(f.read()), [])
        types = _weight_types(result.path)
        dense = [t for op, t in types.values() if op == schema.BuiltinOperator.FULLY_CONNECTED]
        conv = [t for op, t in types.values() if op == schema.BuiltinOperator.CONV_2D]
        self.assertEqual(dense, [schema.TensorType.INT4] * 2)
        self.assertEqual(conv, [schema.TensorType.INT8])
        # Close to Keras: the logits move by a small share of their spread.
        expected = self.model(self.inputs[:result.num_checked]).numpy()
        self.assertLess(result.max_abs_diff, 0.2 * float(np.ptp(expected)))

    def test_dense_weights_take_half_a_byte_each(self):
        with open(self._export("int4").path, "rb") as f:
            model = schema.Model.GetRootAsModel(f.read(), 0)
        graph = model.Subgraphs(0)
        stored = sum(model.Buffers(graph.Tensors(i).Buffer()).DataLength()
                     for i in range(graph.TensorsLength())
                     if graph.Tensors(i).Type() == schema.TensorType.INT4)
        self.assertEqual(stored, budget.int4_bytes.dense_weights(self.model) // 2)

    def test_a_file_with_unnamed_tensors_is_written(self):
        # A Keras Reshape's shape becomes an unnamed constant in the file
        # (`static_reshapes`); ai-edge-quantizer crashed on it (FSDD's DS-CNN).
        keras.utils.set_random_seed(0)
        inputs = keras.Input((12, 12, 3))
        x = keras.layers.Reshape((12, 36))(inputs)
        x = keras.layers.Conv1D(8, 3, name="conv")(x)
        x = keras.layers.Reshape((80,))(x)
        self.model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))
        float_file = export.tflite.convert(self.model)
        unnamed = [t for t in flatbuffer_utils.read_model_from_bytearray(
            bytearray(float_file)).subgraphs[0].tensors if not t.name]
        self.assertNotEmpty(unnamed)
        with open(self._export("int4").path, "rb") as f:
            self.assertEqual(int4_weights.dense_weights_not_int4(f.read()), [])

    def test_a_float_file_is_seen_as_not_int4(self):
        path = self._export("none").path
        with open(path, "rb") as f:
            self.assertLen(int4_weights.dense_weights_not_int4(f.read()), 2)

    def test_sparse_int4_is_refused_before_writing(self):
        with self.assertRaisesRegex(ValueError, r"`sparse`: the int4 weights "
                                                r"ai-edge-quantizer writes have no sparse"):
            self._export("int4", sparse=True)
        self.assertFalse(os.path.exists(os.path.join(self.folder, "int4.tflite")))


class Int4BytesTest(tf.test.TestCase):

    def test_a_narrower_models_int4_file_is_predicted_from_the_int8_table(self):
        folder = self.create_tempdir().full_path
        models = {"wide": _cnn(64), "half": _cnn(32), "narrow": _cnn(24)}
        table = budget.LatencyTable(latency_format="int8",
                                    timer=lambda files, fmt, threads: dict.fromkeys(files, 0.0))
        table.calibrate(models["wide"])
        inputs = np.random.default_rng(0).random((32, 12, 12, 3), dtype=np.float32)
        sizes = {}
        for name, model in models.items():
            path = os.path.join(folder, f"{name}.tflite")
            export.export_tflite(model, path, quantization="int4", check_inputs=inputs,
                                 min_agreement=0.5)
            sizes[name] = os.path.getsize(path)
        predictor = budget.Int4Bytes(table)
        predictor.calibrate([(models[name], sizes[name]) for name in ("wide", "half")])
        self.assertAllClose(predictor.predict_bytes(models["wide"]), sizes["wide"], rtol=0.005)
        self.assertAllClose(predictor.predict_bytes(models["narrow"]), sizes["narrow"],
                            rtol=0.02)
        self.assertEqual(predictor.predict(models["narrow"]), 0.0)
        restored = budget.Int4Bytes(table, **predictor.to_json())
        self.assertEqual(restored.predict_bytes(models["narrow"]),
                         predictor.predict_bytes(models["narrow"]))


if __name__ == "__main__":
    tf.test.main()
