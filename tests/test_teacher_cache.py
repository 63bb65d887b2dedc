"""Tests of the teacher cache: same training as uncached, pairing always kept."""

import numpy as np
import pytest
import tensorflow as tf

import helpers
from tfcompress import data
from tfcompress import distill
from tfcompress.distill import distiller as distiller_lib


def _batches(x, y, batch_size=16):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def _reordered_on_second_pass(x, y, second_order):
    """Batches of (x, y) in order first, then in `second_order` on later passes.

    A generator, so the graph check cannot see the reordering coming.
    """
    passes = []

    def generator():
        passes.append(1)
        for i in (np.arange(len(x)) if len(passes) == 1 else second_order):
            yield x[i], y[i]

    return tf.data.Dataset.from_generator(
        generator, output_signature=(tf.TensorSpec((6,), tf.float32),
                                     tf.TensorSpec((), tf.int32))).batch(8)


class CacheTestCase(tf.test.TestCase):

    def assertPairingBreaks(self, ds):
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher())
        cached = distill.with_teacher_outputs(distiller, ds, batch_size=8, shuffle=False,
                                              verbose=0)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                    "example order changed since the teacher pass"):
            list(cached)


class TeacherCacheTest(CacheTestCase):

    def test_cached_training_equals_uncached_on_deterministic_pipeline(self):
        x, y = helpers.labelled_data()
        runs = []
        for cached in (False, True):
            distiller = helpers.compile_distiller(distill.Distiller(helpers.small_student(), helpers.small_teacher()))
            ds = _batches(x, y)
            if cached:
                ds = distill.with_teacher_outputs(distiller, ds, batch_size=16,
                                                  shuffle=False, verbose=0)
            history = distiller.fit(ds, epochs=3, verbose=0)
            runs.append((history.history, [w.numpy() for w in distiller.student.weights]))
        for key in ("loss", "hard_loss", "soft_loss"):
            self.assertAllClose(runs[0][0][key], runs[1][0][key], rtol=1e-5)
        for a, b in zip(runs[0][1], runs[1][1]):
            self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)

    def test_shuffled_batches_keep_each_example_with_its_teacher_logits(self):
        x, y = helpers.labelled_data()
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher())
        ds = distill.with_teacher_outputs(distiller, _batches(x, y), batch_size=10,
                                          shuffle=True, seed=3, verbose=0)
        epochs = [list(ds) for _ in range(2)]
        first_labels = np.concatenate([b[1].numpy() for b in epochs[0]])
        second_labels = np.concatenate([b[1].numpy() for b in epochs[1]])
        self.assertNotAllEqual(first_labels, second_labels)  # reshuffled
        for inputs, labels in epochs[0] + epochs[1]:
            student_x = inputs[distiller_lib.STUDENT_INPUTS]
            cached = inputs[distiller_lib.TEACHER_OUTPUTS]["logits"]
            self.assertAllClose(cached, distiller.teacher(student_x), atol=1e-5)
        self.assertEqual(sorted(first_labels.tolist()), sorted(y.tolist()))

    def test_sample_weights_pass_through(self):
        x, y = helpers.labelled_data(n=8)
        w = np.arange(8, dtype=np.float32)
        ds = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(4)
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher())
        cached = distill.with_teacher_outputs(distiller, ds, batch_size=8, shuffle=False,
                                              verbose=0)
        _, _, weights = next(iter(cached))
        self.assertAllEqual(weights, w)

    def test_feature_hints_are_cached_too(self):
        x, y = helpers.labelled_data(n=8)
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher(),
                                      extra_losses=[distill.FeatureHint("hidden", "hidden")])
        ds = distill.with_teacher_outputs(distiller, _batches(x, y), batch_size=8,
                                          shuffle=False, verbose=0)
        teacher = next(iter(ds))[0][distiller_lib.TEACHER_OUTPUTS]
        self.assertEqual(sorted(teacher), ["hint_0", "logits"])
        self.assertEqual(teacher["hint_0"].shape, (8, 16))

    def test_shuffled_dataset_is_refused(self):
        x, y = helpers.labelled_data()
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher())
        with self.assertRaisesRegex(ValueError, r"needs a deterministic `dataset`, but its "
                                                r"pipeline has \['ShuffleDataset"):
            distill.with_teacher_outputs(
                distiller, _batches(x, y).shuffle(8, seed=1), batch_size=16)

    def test_random_augmentation_is_refused(self):
        x, y = helpers.labelled_data()
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher())
        jittered = _batches(x, y).map(
            lambda a, b: (a + tf.random.uniform(tf.shape(a), maxval=0.1), b))
        with self.assertRaisesRegex(ValueError, r"pipeline has \[.*Random"):
            distill.with_teacher_outputs(distiller, jittered, batch_size=16)

    def test_order_change_the_graph_check_misses_fails_loudly(self):
        x, y = helpers.labelled_data(n=32)
        self.assertPairingBreaks(_reordered_on_second_pass(x, y, np.arange(32)[::-1]))

    def test_bad_batch_size_and_empty_dataset(self):
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher())
        x, y = helpers.labelled_data()
        with self.assertRaisesRegex(ValueError, "`batch_size` must be a positive int"):
            distill.with_teacher_outputs(distiller, _batches(x, y), batch_size=0)
        with self.assertRaisesRegex(ValueError, "`dataset` is empty"):
            distill.with_teacher_outputs(distiller, _batches(x[:0], y[:0]), batch_size=4,
                                         verbose=0)

    @pytest.mark.mnist
    def test_tfcompress_mnist_pipeline_is_accepted_when_unshuffled(self):
        self.assertEqual(distill.teacher_cache.nondeterministic_ops(
            data.load("mnist", "test[:100]")), [])
        self.assertNotEmpty(distill.teacher_cache.nondeterministic_ops(
            data.load("mnist", "test[:100]", shuffle=True)))


class TeacherCacheGuardTest(CacheTestCase):

    def test_reorder_within_a_label_is_caught_by_the_input_fingerprint(self):
        x, _ = helpers.labelled_data(n=16)
        y = np.zeros(16, np.int32)  # one label: only the inputs tell examples apart
        self.assertPairingBreaks(_reordered_on_second_pass(x, y, np.roll(np.arange(16), 1)))

    def test_nondeterministic_map_is_refused(self):
        x, y = helpers.labelled_data()
        ds = tf.data.Dataset.from_tensor_slices((x, y)).map(
            lambda a, b: (a * 2, b), num_parallel_calls=2, deterministic=False).batch(8)
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher())
        with self.assertRaisesRegex(ValueError, r"deterministic=False"):
            distill.with_teacher_outputs(distiller, ds, batch_size=8)

    def test_infinite_dataset_and_non_distiller_are_refused(self):
        x, y = helpers.labelled_data()
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher())
        with self.assertRaisesRegex(ValueError, r"`dataset` is infinite"):
            distill.with_teacher_outputs(distiller, ds.repeat(), batch_size=8)
        with self.assertRaisesRegex(ValueError, "`dataset` must yield batches of"):
            distill.with_teacher_outputs(distiller, ds.unbatch(), batch_size=8)
        with self.assertRaisesRegex(TypeError, "`distiller` must be a tfcompress Distiller"):
            distill.with_teacher_outputs(helpers.small_teacher(), ds, batch_size=8)
