"""Tests of the recurrent and text zoo models and their TFLite export."""

import os
import re

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfcompress import evaluate
from tfcompress import export
from tfcompress import models
from tfcompress._keras import keras
from tfcompress.evaluate.tflite_ops import op_names
from tfcompress.export import tflite as tflite_module
from tfcompress.export import validation
from tfcompress.quantize import calibration
from tfcompress.runtime import TFLiteRunner

_TEXT = dict(vocab_size=50, sequence_length=12)


def _images(n=3, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 28, 28, 1)).astype(np.float32)


def _tokens(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, _TEXT["vocab_size"], size=(n, _TEXT["sequence_length"]),
                        dtype=np.int32)


def _export_agreeing(test_case, model, inputs):
    """Exports `model` as float TFLite; asserts it matches Keras example by
    example, run one per invoke with no reset, as a device runs it.

    Returns:
      The file's path and op names.
    """
    path = os.path.join(test_case.create_tempdir().full_path, "m.tflite")
    result = export.export_tflite(model, path, check_inputs=inputs)
    test_case.assertLessEqual(result.max_abs_diff, 1e-4)
    test_case.assertAllClose(TFLiteRunner(path).run_each(inputs), model(inputs).numpy(),
                             atol=1e-4, rtol=0)
    return path, op_names(path)


class RecurrentZooTest(tf.test.TestCase, parameterized.TestCase):

    # Parameters worked out by hand, e.g. lstm:8 on 28 steps of 28 pixels:
    # 4 gates * (28*8 + 8*8 + 8) + logits 8*10+10 = 1,274.
    @parameterized.named_parameters(
        ("lstm", "lstm:8", {}, _images, (3, 10), 1_274),
        # reset_after GRU: 3 gates * (28*8 + 8*8 + 2*8) + 90
        ("gru", "gru:8", {}, _images, (3, 10), 1_002),
        # embedding 50*8, conv 3*8*16+16, logits 16*4+4
        ("text_cnn", "text_cnn:8,16,kernel_size=3", dict(_TEXT, num_classes=4),
         _tokens, (3, 4), 868),
        # embedding 400, LSTM 4*(8*8 + 8*8 + 8), logits 8*2+2
        ("text_lstm", "text_lstm:8,8", _TEXT, _tokens, (3, 2), 962),
        # two LSTMs, logits on both: 16*2+2
        ("text_bilstm", "text_lstm:8,8,bidirectional=true", _TEXT, _tokens, (3, 2),
         1_522),
    )
    def test_spec_builds_model_that_predicts_logits(self, spec, data, inputs,
                                                    out_shape, params):
        model = models.build(spec, **data)
        self.assertEqual(model.count_params(), params)
        self.assertEqual(model(inputs()).shape, out_shape)
        self.assertIs(model.layers[-1].activation, keras.activations.linear)

    # Per example: an LSTM step multiplies its input and its state by its
    # kernels; an embedding lookup multiplies nothing.
    @parameterized.named_parameters(
        ("lstm", "lstm:8", {}, 28 * (28 * 32 + 8 * 32) + 8 * 10),
        ("text_bilstm", "text_lstm:8,8,bidirectional=true", _TEXT,
         2 * 12 * (8 * 32 + 8 * 32) + 16 * 2),
    )
    def test_macs_match_a_hand_count(self, spec, data, macs):
        model = models.build(spec, **data)
        self.assertEqual(evaluate.count_macs(model)["total"], macs)
        self.assertEqual(sum(row["params"] for row in evaluate.count_macs(model)["layers"]),
                         model.count_params())

    def test_text_models_embed_without_mask(self):
        for spec in ("text_cnn", "text_lstm:8,8,bidirectional=true"):
            model = models.build(spec, **_TEXT)
            self.assertFalse(model.get_layer("embedding").mask_zero)
            self.assertEqual(model.input.dtype, tf.int32)

    def test_text_spec_keywords_reach_the_model(self):
        model = models.build("text_cnn:16,32,kernel_size=3,dropout=0.25", **_TEXT)
        self.assertEqual(model.get_layer("embedding").output_dim, 16)
        self.assertEqual(model.get_layer("conv").filters, 32)
        self.assertEqual(model.get_layer("conv").kernel_size, (3,))
        self.assertEqual(model.get_layer("dropout").rate, 0.25)
        bilstm = models.build("text_lstm:8,4,bidirectional=TRUE", **_TEXT)
        self.assertIsInstance(bilstm.get_layer("bidirectional"),
                              keras.layers.Bidirectional)

    @parameterized.parameters(
        ("lstm:8,8", {}, re.escape(
            "Model 'lstm' takes at most 1 int(s) (units), got 2 in spec 'lstm:8,8'.")),
        ("text_cnn", {}, re.escape(
            "Model 'text_cnn' reads token ids: pass `vocab_size` and "
            "`sequence_length` (from the text job's vocabulary).")),
        ("text_lstm", dict(input_shape=(28, 28, 1)), re.escape(
            "Model 'text_lstm' reads token ids, not images: pass `vocab_size` and "
            "`sequence_length` (from the text job's vocabulary), not `input_shape` "
            "(28, 28, 1).")),
        ("gru", dict(vocab_size=50), re.escape(
            "Model 'gru' reads images and takes no `vocab_size` or `sequence_length`; "
            "for token ids use a text model (text_cnn, text_lstm).")),
        ("text_lstm:8,8,bidirectional=yes", _TEXT,
         r"Bad argument 'bidirectional=yes' .*\('yes' is not true or false\)"),
        ("text_cnn:8,8,kernel_size=20", _TEXT, re.escape(
            "`kernel_size` must be at most `sequence_length` (12), got 20.")),
        ("lstm:0", {}, re.escape("`units` must be a positive int, got 0.")),
    )
    def test_bad_spec_errors(self, spec, data, message):
        with self.assertRaisesRegex(ValueError, message):
            models.build(spec, **data)


class RecurrentExportTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(("lstm", "lstm:8"), ("gru", "gru:8"))
    def test_float_export_is_a_loop_that_matches_keras(self, spec):
        keras.utils.set_random_seed(0)
        path, ops = _export_agreeing(self, models.build(spec), _images(n=4))
        self.assertIn("WHILE", ops)
        # The fused op keeps its state between invokes (export.recurrent).
        self.assertNotIn("UNIDIRECTIONAL_SEQUENCE_LSTM", ops)
        # TFLite needs a static batch to lower the recurrent loop.
        self.assertAllEqual(
            TFLiteRunner(path).interpreter.get_input_details()[0]["shape_signature"],
            [1, 28, 28, 1])

    def test_bidirectional_text_lstm_exports_as_two_loops(self):
        keras.utils.set_random_seed(0)
        model = models.build("text_lstm:8,8,bidirectional=true", **_TEXT)
        _, ops = _export_agreeing(self, model, _tokens(n=4))
        self.assertEqual(ops.count("WHILE"), 2)

    def test_text_cnn_export_keeps_any_batch_size(self):
        model = models.build("text_cnn:8,8,kernel_size=3", **_TEXT)
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        export.export_tflite(model, path, check_inputs=_tokens(n=4))
        runner = TFLiteRunner(path)
        self.assertEqual(runner.interpreter.get_input_details()[0]["shape_signature"][0],
                         -1)
        self.assertAllClose(runner(_tokens(n=4)), model(_tokens(n=4)).numpy(),
                            atol=1e-4, rtol=0)


def _masked_embedding():
    inputs = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True, name="tokens_embedded")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.LSTM(3)(x)))


def _masking_layer():
    inputs = keras.Input((6, 4))
    x = keras.layers.Masking(name="skip_padding")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GRU(3)(x)))


def _stateful_inside_bidirectional():
    inputs = keras.Input((6, 4), batch_size=2)
    x = keras.layers.Bidirectional(keras.layers.LSTM(3, stateful=True, name="carry"))(
        inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


class TokenIdQuantizationTest(tf.test.TestCase):

    def test_calibration_keeps_token_ids_integer(self):
        ids = np.arange(24).reshape(2, 12)
        examples = calibration.calibration_examples(ids)
        self.assertEqual(examples.dtype, np.int32)
        self.assertAllEqual(examples, ids)

    def test_made_up_check_batch_of_a_text_model_is_token_ids_not_zeros(self):
        model = models.build("text_cnn:8,8", num_classes=2, **_TEXT)
        batch = validation.check_batch(model)
        self.assertEqual(batch.dtype, np.int32)
        self.assertEqual(batch.shape, (validation.MADE_UP_EXAMPLES,
                                       _TEXT["sequence_length"]))
        self.assertBetween(batch.min(), 0, _TEXT["vocab_size"] - 1)
        self.assertBetween(batch.max(), 1, _TEXT["vocab_size"] - 1)
        inputs = keras.Input((4,), dtype="int32")
        no_embedding = keras.Model(inputs, keras.layers.Dense(2)(
            keras.layers.Lambda(lambda x: tf.cast(x, tf.float32))(inputs)), name="ids")
        with self.assertRaisesRegex(ValueError, "^" + re.escape(
                "'ids' takes int32 inputs that no Embedding layer reads, so no check "
                "batch can be made up (noise cast to integers is all zeros): pass "
                "`check_inputs`, e.g. real test examples.") + "$"):
            validation.check_batch(no_embedding)

    def test_text_cnn_exports_to_int8_calibrated_on_token_ids(self):
        keras.utils.set_random_seed(0)
        model = models.build("text_cnn:8,8", num_classes=2, **_TEXT)
        ids = np.random.default_rng(0).integers(0, 50, (64, 12)).astype(np.int32)
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        result = export.export_tflite(model, path, quantization="int8",
                                      representative_data=ids, check_inputs=ids,
                                      min_agreement=0.9)
        self.assertGreaterEqual(result.top1_agreement, 0.9)
        self.assertIn("GATHER", op_names(path))


class RefusedRecurrentExportTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("mask_zero", _masked_embedding, (
            "Layer 'tokens_embedded' (Embedding) has mask_zero=True, and TFLite export "
            "supports no masks. Build the model with "
            "mask_zero=False, as the zoo's text models are, and train it again: "
            "padding (id 0) is then read like any token.")),
        ("masking", _masking_layer, (
            "Layer 'skip_padding' is a Masking layer, and TFLite export supports no "
            "masks. Build the model without it and "
            "train it again: padded steps are then read like any step.")),
        ("stateful", _stateful_inside_bidirectional, (
            "Layer 'forward_carry' (LSTM) has stateful=True, and an exported file "
            "answers every input from a zero state. Build the same model with "
            "stateful=False, "
            "copy the weights into it (`set_weights(model.get_weights())`) and export "
            "that one.")),
    )
    def test_export_refuses_and_writes_nothing(self, build, message):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "m.tflite")
        model = build()
        with self.assertRaisesRegex(ValueError, f"^{re.escape(message)}$"):
            export.export_tflite(model, path)
        with self.assertRaisesRegex(ValueError, f"^{re.escape(message)}$"):
            tflite_module.convert(model)
        self.assertEmpty(os.listdir(folder))

    def test_int8_calibration_of_a_gru_of_any_length_is_refused_before_it_crashes(
            self):
        inputs = keras.Input((None, 4))
        model = keras.Model(inputs, keras.layers.GRU(3, name="loop")(inputs))
        with self.assertRaisesRegex(ValueError, "^" + re.escape(
                "Layer 'loop' (GRU) reads sequences of any length, so it can only "
                "run as a WHILE loop, and calibrating a loop for quantization='int8' "
                "crashes the TFLite converter. Give the model's input a fixed number "
                "of steps")):
            tflite_module.convert(model, quantization="int8",
                                  representative_data=np.zeros((2, 5, 4), np.float32))


class UnrolledInt8Test(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("lstm", lambda: models.build("lstm:8"), _images),
        ("gru", lambda: models.build("gru:8"), _images),
        ("bidirectional_simple_rnn", lambda: keras.Sequential([
            keras.Input((12,), dtype="int32"), keras.layers.Embedding(50, 8),
            keras.layers.Bidirectional(keras.layers.SimpleRNN(8)),
            keras.layers.Dense(2)]), _tokens),
    )
    def test_loops_export_to_int8_unrolled_and_agree_with_keras(self, build, data):
        keras.utils.set_random_seed(0)
        model = build()
        examples = data(n=64)
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        result = export.export_tflite(model, path, quantization="int8",
                                      representative_data=examples,
                                      check_inputs=examples, min_agreement=0.9)
        self.assertGreaterEqual(result.top1_agreement, 0.9)
        self.assertNotIn("WHILE", op_names(path))
        # The model exported is the caller's, not its unrolled copy.
        self.assertFalse(any(getattr(layer, "unroll", False) for layer in model.layers))


class Keras3LstmExportTest(tf.test.TestCase):

    def test_keras3_lstm_goes_through_the_bridge_to_stateless_loops(self):
        import keras as keras3  # Keras 3, on purpose: the user's model
        keras3.utils.set_random_seed(0)
        inputs = keras3.Input((12,), dtype="int32")
        x = keras3.layers.Embedding(50, 8)(inputs)
        x = keras3.layers.LSTM(8, return_sequences=True)(x)
        x = keras3.layers.Bidirectional(keras3.layers.LSTM(4))(x)
        model = keras3.Model(inputs, keras3.layers.Dense(2)(x))
        _, ops = _export_agreeing(self, model, _tokens(n=4))
        self.assertEqual(ops.count("WHILE"), 3)
        self.assertNotIn("UNIDIRECTIONAL_SEQUENCE_LSTM", ops)
