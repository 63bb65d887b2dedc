"""Variants of a trained zoo model (`models.variants`) and their sensitivity.

What users rely on: a DS-CNN trained from a spec offers cheaper settings
(a shorter window, a longer stride, fewer blocks) that start from its
trained weights; a model that is no longer what its spec builds offers
none; a variant's predicted loss is the sum of its measured settings'.
"""

import numpy as np
import tensorflow as tf

from tfcompress import budget
from tfcompress import models
from tfcompress._keras import keras
from tfcompress.models import variants

_RATE = 8000


def _ds_cnn(spec="ds_cnn:8", samples=4000):
    keras.utils.set_random_seed(0)
    return models.build(spec, input_shape=(samples, 1), sample_rate=_RATE, num_classes=3)


def _noise(count, samples=4000):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(count, samples, 1)) * 0.1).astype(np.float32)


class VariantsTest(tf.test.TestCase):

    def test_a_ds_cnn_offers_its_cheaper_settings(self):
        found = variants.of_model(_ds_cnn("ds_cnn:8,stride_ms=32"), "ds_cnn:8,stride_ms=32")
        self.assertEqual(found.own, {"window_ms": 30.0, "stride_ms": 32.0, "blocks": 4})
        self.assertEqual(found.data, {"input_shape": (4000, 1), "num_classes": 3,
                                      "sample_rate": _RATE})
        self.assertEqual(found.moves(), {"window_ms": (16.0,), "stride_ms": (40.0,),
                                         "blocks": (3, 2, 1)})
        combinations = found.combinations()
        self.assertLen(combinations, 2 * 2 * 4 - 1)  # the model itself left out
        self.assertNotIn({}, combinations)
        # Fewest changes first: the 5 single moves.
        self.assertEqual([len(v) for v in combinations[:6]], [1] * 5 + [2])
        self.assertEqual(found.cheapest(), {"window_ms": 16.0, "stride_ms": 40.0, "blocks": 1})
        self.assertEqual(found.spec_of({"blocks": 2, "window_ms": 16.0}),
                         "ds_cnn:8,stride_ms=32,blocks=2,window_ms=16")

    def test_a_variant_starts_from_the_trained_weights(self):
        trained = _ds_cnn()
        found = variants.of_model(trained, "ds_cnn:8")
        x = _noise(4)
        self.assertAllEqual(found.build_from({}, trained)(x), trained(x))
        fewer = found.build_from({"blocks": 2, "stride_ms": 40.0, "window_ms": 16.0}, trained)
        self.assertEqual(fewer(x).shape, (4, 3))
        names = [layer.name for layer in fewer.layers if layer.weights]
        self.assertNotIn("block_3_pointwise", names)
        for name in names:
            for mine, theirs in zip(fewer.get_layer(name).get_weights(),
                                    trained.get_layer(name).get_weights()):
                self.assertAllEqual(mine, theirs)
        frontend = fewer.get_layer("log_mel")
        self.assertEqual((frontend.sequence_length, frontend.sequence_stride),
                         (128, 320))  # 16 and 40 ms at 8 kHz

    def test_no_variants_without_a_matching_spec(self):
        trained = _ds_cnn("ds_cnn:16")
        self.assertIsNone(variants.of_model(trained, "ds_cnn:8"))  # shrunk or edited since
        self.assertIsNone(variants.of_model(trained, None))  # a bare .keras file
        self.assertIsNone(variants.of_model(trained, "resnet8"))  # no axes
        self.assertIsNone(variants.of_model(trained, "not_a_model"))
        self.assertTrue(variants.has_axes("ds_cnn:16"))
        self.assertFalse(variants.has_axes("resnet8"))

    def test_an_unknown_setting_is_refused_by_name(self):
        found = variants.of_model(_ds_cnn(), "ds_cnn:8")
        with self.assertRaisesRegex(ValueError, r"sets \['filters'\], not axes of 'ds_cnn:8'"):
            found.spec_of({"filters": 4})


class VariantSensitivityTest(tf.test.TestCase):

    def test_each_setting_is_measured_alone_and_losses_add_up(self):
        trained = _ds_cnn()
        found = variants.of_model(trained, "ds_cnn:8")
        x, y = _noise(24), np.arange(24) % 3
        tuned, lines = [], []
        drops = budget.sensitivity.measure_variants(
            found, trained, (x, y), tune=tuned.append, log=lines.append)
        self.assertEqual({k: sorted(v) for k, v in drops.items()},
                         {"window_ms": [16.0], "stride_ms": [32.0, 40.0],
                          "blocks": [1, 2, 3]})
        # The model at its own settings is tuned as the variants are, and
        # each drop is against it.
        self.assertLen(tuned, 7)
        self.assertLen(lines, 4)  # the reference's line, then one per setting
        for mine, theirs in zip(tuned[0].get_weights(), trained.get_weights()):
            self.assertAllEqual(mine, theirs)

        def accuracy(model):
            return float(np.mean(np.argmax(model(x), 1) == y))
        self.assertAlmostEqual(drops["blocks"][2],
                               100.0 * (accuracy(tuned[0]) - accuracy(tuned[-2])))
        # A variant's loss: its settings' drops summed, gains counting as 0.
        drops = {"blocks": {"2": 3.0}, "stride_ms": {"40.0": -1.0, "32.0": 0.5}}
        self.assertEqual(budget.sensitivity.variant_loss(drops, {"blocks": 2,
                                                                 "stride_ms": 32.0}), 3.5)
        self.assertEqual(budget.sensitivity.variant_loss(drops, {"stride_ms": 40.0}), 0.0)
        with self.assertRaisesRegex(ValueError, r"blocks=1 was not measured"):
            budget.sensitivity.variant_loss(drops, {"blocks": 1})


if __name__ == "__main__":
    tf.test.main()
