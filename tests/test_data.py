"""Tests of tfcompress.data on the real, locally prepared MNIST."""

import os
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tfcompress import data

pytestmark = pytest.mark.mnist


def _collect(ds):
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(xs), np.concatenate(ys)


class LoadTest(tf.test.TestCase, parameterized.TestCase):

    def test_unit_scaled_images_have_shape_dtype_and_range(self):
        ds = data.load("mnist", "test[:300]", batch_size=128)
        x, y = _collect(ds)
        self.assertEqual(x.shape, (300, 28, 28, 1))
        self.assertEqual(x.dtype, np.float32)
        self.assertEqual(y.dtype, np.int32)
        self.assertGreaterEqual(x.min(), 0.0)
        self.assertLessEqual(x.max(), 1.0)
        self.assertAlmostEqual(x.max(), 1.0)
        self.assertEqual(set(np.unique(y)), set(range(10)))

    def test_batches_are_batch_size_with_last_partial(self):
        sizes = [len(y) for _, y in data.load("mnist", "test[:300]", batch_size=128)]
        self.assertEqual(sizes, [128, 128, 44])
        dropped = data.load("mnist", "test[:300]", batch_size=128, drop_remainder=True)
        self.assertEqual([len(y) for _, y in dropped], [128, 128])

    def test_standard_normalization_uses_mnist_statistics(self):
        x, _ = _collect(data.load("mnist", "train[:2000]", normalize="standard"))
        self.assertAllClose(x.mean(), 0.0, atol=0.05)
        self.assertAllClose(x.std(), 1.0, atol=0.05)

    def test_flatten_gives_vectors(self):
        x, _ = _collect(data.load("mnist", "test[:10]", flatten=True))
        self.assertEqual(x.shape, (10, 784))

    @parameterized.parameters(("train", 60000), ("test", 10000),
                              ("train[:10%]", 6000), ("train[5000:]", 55000))
    def test_split_sizes(self, split, expected):
        self.assertEqual(data.num_examples("mnist", split), expected)

    def test_slice_loads_exactly_its_examples(self):
        _, y = _collect(data.load("mnist", "train[:1%]", batch_size=256))
        self.assertLen(y, 600)

    def test_shuffle_is_seeded_and_reshuffles_each_epoch(self):
        def labels(seed):
            ds = data.load("mnist", "test[:500]", shuffle=True, seed=seed)
            return [_collect(ds)[1] for _ in range(2)]

        first, second = labels(1)
        again_first, _ = labels(1)
        other_first, _ = labels(2)
        self.assertAllEqual(first, again_first)
        self.assertNotAllEqual(first, second)
        self.assertNotAllEqual(first, other_first)
        unshuffled = _collect(data.load("mnist", "test[:500]"))[1]
        self.assertAllEqual(np.sort(first), np.sort(unshuffled))

    def test_data_dir_argument_overrides_environment(self):
        real_dir = data.resolve_data_dir()
        empty = self.create_tempdir().full_path
        with mock.patch.dict(os.environ, {"TFDS_DATA_DIR": empty}):
            self.assertEqual(data.resolve_data_dir(), empty)
            with self.assertRaises(FileNotFoundError):
                data.load("mnist", "test[:5]")
            ds = data.load("mnist", "test[:5]", data_dir=real_dir)
        self.assertLen(_collect(ds)[1], 5)

    def test_given_mean_is_kept_when_std_comes_from_the_table(self):
        x, _ = _collect(data.load("mnist", "test[:50]", normalize="standard", mean=0.0))
        unit, _ = _collect(data.load("mnist", "test[:50]"))
        self.assertAllClose(x, unit / 0.3081, rtol=1e-5)


class LoadErrorTest(tf.test.TestCase):

    def test_dataset_missing_from_data_dir_names_dataset_and_dir(self):
        empty = self.create_tempdir().full_path
        with self.assertRaisesRegex(FileNotFoundError,
                                    f"'mnist' is not prepared under '{empty}'"):
            data.load("mnist", "train", data_dir=empty)

    def test_unknown_dataset_name(self):
        with self.assertRaisesRegex(ValueError, "'no_such_set' is not a TFDS dataset"):
            data.load("no_such_set", "train")

    def test_unknown_split(self):
        with self.assertRaisesRegex(ValueError, "`split` 'validation' does not exist"):
            data.load("mnist", "validation")

    def test_bad_normalize(self):
        with self.assertRaisesRegex(ValueError, "`normalize` must be one of"):
            data.load("mnist", "test", normalize="zscore")

    def test_standard_needs_statistics_for_unknown_dataset(self):
        with self.assertRaisesRegex(ValueError, "needs `mean` and `std`"):
            data.make_preprocess_fn("standard")

    def test_bad_batch_size(self):
        with self.assertRaisesRegex(ValueError, "`batch_size` must be a positive int, got 0"):
            data.load("mnist", "test", batch_size=0)


@pytest.mark.mnist
class FirstExamplesTest(tf.test.TestCase):

    def test_first_examples_match_the_split_and_leave_its_pipeline_whole(self):
        test = data.load("mnist", "test[:300]", batch_size=128)
        first = data.first_examples("mnist", "test[:300]", 64)
        self.assertEqual(first.shape, (64, 28, 28, 1))
        batches = list(test)
        self.assertAllClose(first, batches[0][0].numpy()[:64])
        self.assertEqual(sum(len(y) for _, y in batches), 300)
