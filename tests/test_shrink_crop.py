"""Cropping what a Flatten hands to Dense layers: exact where the input is blank."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import job_helpers
from tfcompress import data
from tfcompress import export
from tfcompress import runtime
from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.jobs import artifacts
from tfcompress.jobs import runner
from tfcompress.jobs import shrink as shrink_job

L = keras.layers


def _mlp(shape=(8, 8, 1), seed=0, dropout=True):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape)
    x = L.Flatten(name="flatten")(inputs)
    if dropout:
        x = L.Dropout(0.1)(x)
    x = L.Dense(6, activation="relu", name="hidden")(x)
    return keras.Model(inputs, L.Dense(3, name="logits")(x))


def _blank_border_images(n=32, seed=0):
    """8x8x2 maps with content in rows 2..6 and columns 1..5 only."""
    images = np.zeros((n, 8, 8, 2), np.float32)
    images[:, 2:7, 1:6] = np.random.default_rng(seed).random((n, 5, 5, 2))
    return images


class CropTest(tf.test.TestCase):

    def test_cropping_blank_borders_keeps_outputs_in_keras_and_tflite(self):
        model = _mlp((8, 8, 2))
        images = _blank_border_images()
        result = shrink.shrink(model, crop_inputs=0.01, data=(images, np.zeros(32)),
                               widths={"hidden": 6})
        self.assertEqual(result.crops, {"flatten": ((2, 1), (1, 2))})
        smaller = result.model
        self.assertEqual(smaller.get_layer("flatten_crop").output_shape, (None, 5, 5, 2))
        self.assertEqual(smaller.get_layer("hidden").kernel.shape, (50, 6))
        # Hand count: 5x5x2 inputs x 6 units + 6 x 3 logits.
        self.assertEqual(result.macs, {"before": 128 * 6 + 18, "after": 50 * 6 + 18})
        self.assertAllClose(smaller(images), model(images), atol=1e-5)
        path = os.path.join(self.create_tempdir().full_path, "m.tflite")
        export.export_tflite(smaller, path)
        self.assertAllClose(runtime.TFLiteRunner(path)(images), model(images), atol=1e-5)

    def test_crop_keeps_the_kernel_rows_of_the_kept_pixels_and_counts_with_widths(self):
        model = _mlp(dropout=False)
        crops = {"flatten": ((1, 1), (2, 0))}  # 6 x 6 positions stay
        cropped = shrink.shrink(model, widths={"hidden": 6}, crop_inputs=crops).model
        kept_rows = (np.arange(1, 7)[:, None] * 8 + np.arange(2, 8)[None, :]).ravel()
        self.assertAllEqual(cropped.get_layer("hidden").kernel.numpy(),
                            model.get_layer("hidden").kernel.numpy()[kept_rows])
        both = shrink.shrink(model, widths={"hidden": 4}, crop_inputs=crops)
        self.assertEqual(both.model.get_layer("hidden").kernel.shape, (36, 4))
        self.assertEqual(both.macs["after"], 36 * 4 + 4 * 3)

    def test_choose_strips_the_cheapest_lines_within_tolerance(self):
        scores = np.zeros((6, 6))
        scores[1:5, 2:5] = 1.0
        scores[0, 0] = 0.1  # of 12.1 in all: the top row and left column cost 0.1
        # Under 0.0121 only the blank bottom row and right column can go.
        self.assertEqual(shrink.crop.choose(scores, 0.001), ((0, 1), (0, 1)))
        # 0.121 pays for the top row; then the two left columns are blank.
        self.assertEqual(shrink.crop.choose(scores, 0.01), ((1, 1), (2, 1)))
        # A tolerance near 1 still leaves one position.
        (top, bottom), (left, right) = shrink.crop.choose(scores, 0.999)
        self.assertEqual((6 - top - bottom) * (6 - left - right), 1)

    def test_bad_crop_arguments_are_refused(self):
        model = _mlp()
        images = _blank_border_images()[..., :1]
        cases = [
            (dict(crop_inputs=1.5, data=(images, np.zeros(32))),
             r"`crop_inputs` must be a share in \(0, 1\) .*got 1.5"),
            (dict(crop_inputs=0.01),
             r"`crop_inputs` as a tolerance needs `data`"),
            (dict(crop_inputs={"hidden": ((1, 1), (1, 1))}),
             r"`crop_inputs` names 'hidden', which is not a Flatten of .* read only by "
             r"Dense layers; those are \['flatten'\]"),
            (dict(crop_inputs={"flatten": ((4, 4), (0, 0))}),
             r"`crop_inputs\['flatten'\]`=\(\(4, 4\), \(0, 0\)\) leaves nothing of its "
             r"8x8 map"),
            (dict(crop_inputs={"flatten": (1, 2)}),
             r"must be \(\(top, bottom\), \(left, right\)\) of ints >= 0, got \(1, 2\)"),
        ]
        for kwargs, message in cases:
            with self.assertRaisesRegex(ValueError, message):
                shrink.shrink(model, fraction=0.5, **kwargs)

    def test_a_model_without_flatten_to_dense_cannot_be_cropped(self):
        inputs = keras.Input((8, 8, 1))
        x = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, name="conv")(inputs))
        model = keras.Model(inputs, L.Dense(3)(L.Dense(5, name="hidden")(x)))
        with self.assertRaisesRegex(ValueError, r"has no Flatten of a \(height, width, "
                                    r"channels\) map read only by Dense layers"):
            shrink.shrink(model, fraction=0.5, crop_inputs=0.01,
                          data=(np.zeros((4, 8, 8, 1)), np.zeros(4)))

    def test_flatten_read_by_other_layers_is_not_croppable(self):
        inputs = keras.Input((4, 4, 1))
        flat = L.Flatten(name="flatten")(inputs)
        x = L.Concatenate()([L.Dense(3, name="a")(flat), flat])
        model = keras.Model(inputs, L.Dense(2)(x))
        self.assertEqual(shrink.crop.croppable(shrink.dependency_graph(model)), {})


@pytest.mark.mnist
class CropJobTest(tf.test.TestCase):

    def test_mlp_job_crops_mnist_borders_in_round_one(self):
        root = self.create_tempdir().full_path
        source = os.path.join(root, "mlp.keras")
        keras.utils.set_random_seed(0)
        inputs = keras.Input((28, 28, 1))
        x = L.Dense(32, activation="relu", name="hidden")(L.Flatten(name="flatten")(inputs))
        keras.Model(inputs, L.Dense(10, name="logits")(x)).save(source)
        out = os.path.join(root, "out")
        summary = runner.run(
            shrink_job.ShrinkJob(model=source, fraction=0.5, crop_inputs=0.02, rounds=2),
            job_helpers.mnist_training(out), log=lambda *_: None)
        (top, bottom), (left, right) = summary["shrink"]["crops"]["flatten"]
        self.assertGreater(top + bottom + left + right, 0)  # MNIST's borders are blank
        positions = (28 - top - bottom) * (28 - left - right)
        model = export.load_keras_model(os.path.join(out, artifacts.KERAS_FILE))
        self.assertEqual(model.get_layer("hidden").kernel.shape, (positions, 16))
        self.assertEqual(summary["shrink"]["macs"]["after"], positions * 16 + 16 * 10)
        with open(os.path.join(out, shrink_job.PLAN_FILE), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["crops"], summary["shrink"]["crops"])
        batch = data.first_examples("mnist", "test[:32]", 32)
        tflite = runtime.TFLiteRunner(os.path.join(out, artifacts.TFLITE_FILE))(batch)
        self.assertAllClose(model(batch, training=False), tflite, atol=1e-4)


if __name__ == "__main__":
    tf.test.main()
