"""--augment=crop_flip: real crops and flips, seeded per example, resumed exactly.

The jobs here train a tiny MLP for 2 epochs on a folder of 64 16x16 RGB
images written to a temporary folder (4 batches an epoch).
"""

import importlib
import os
import tempfile
from unittest import mock

import numpy as np
import tensorflow as tf

import job_helpers
from tfcompress import data
from tfcompress._keras import keras
from tfcompress.data import augment
from tfcompress.data import decoded_cache
from tfcompress.jobs import distill
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import train
from tfcompress.pipeline import stages

# The module, not the `pipeline.run` function of the same name.
pipeline_run = importlib.import_module("tfcompress.pipeline.run")

_SPEC = "mlp:16"
_CLASSES = ("cat", "dog", "emu")


def _write_folder(root, n_train=64, n_test=24, size=16):
    """root/{train,test}/<class>/<i>.png: class c is bright in its own corner."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            label = i % len(_CLASSES)
            image = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            image[4 * label:4 * label + 4, :4] = 250
            folder = os.path.join(root, split, _CLASSES[label])
            os.makedirs(folder, exist_ok=True)
            tf.io.write_file(os.path.join(folder, f"{i:03d}.png"), tf.io.encode_png(image))
    return "dir:" + root


def _training(output_dir, dataset, **changes):
    return settings.Training(**{
        "output_dir": output_dir, "dataset": dataset, "train_split": "train",
        "val_split": "", "test_split": "test", "epochs": 2, "batch_size": 16, "verbose": 0,
        "augment": augment.CROP_FLIP, **changes})


def _train(output_dir, dataset, job=None, **changes):
    return runner.run(job or train.TrainJob(_SPEC), _training(output_dir, dataset, **changes),
                      log=lambda *_: None)


class _StopAtStep(keras.callbacks.Callback):
    """Raises after training step `step` of epoch `epoch`, as a kill would stop the run."""

    def __init__(self, epoch, step):
        super().__init__()
        self.epoch, self.step, self._epoch = epoch, step, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._epoch == self.epoch and batch + 1 == self.step:
            raise KeyboardInterrupt(f"stopped at epoch {self.epoch}, step {self.step}")


class _StoppingTrainJob(train.TrainJob):
    def build(self, run, phase):
        trainee = super().build(run, phase)
        trainee.callbacks = (_StopAtStep(epoch=1, step=3),)
        return trainee


def _cached_folder_test_case(test_case):
    """Keeps the decoded-image cache of `test_case`'s folders in its own temp dir."""
    cache = test_case.create_tempdir().full_path
    test_case.enter_context(mock.patch.dict(os.environ,
                                            {decoded_cache.CACHE_DIR_VARIABLE: cache}))


class CropFlipTest(tf.test.TestCase):

    def _augmented(self, images, seed):
        batches = tf.data.Dataset.from_tensor_slices((images, np.zeros(len(images)))).batch(16)
        return np.concatenate([x for x, _ in augment.augmented(
            batches, augment.CROP_FLIP, seed).as_numpy_iterator()])

    def test_every_output_is_a_padded_crop_maybe_flipped_and_both_occur(self):
        rng = np.random.default_rng(0)
        images = rng.uniform(1, 2, (64, 8, 8, 3)).astype(np.float32)  # no zeros of their own
        out = self._augmented(images, seed=5)
        pad = augment.PAD
        flipped = shifted = 0
        for image, result in zip(images, out):
            padded = np.pad(image, [(pad, pad), (pad, pad), (0, 0)])
            found = [(dy, dx, flip) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                     for flip in (False, True)
                     if np.array_equal(result, (lambda c: c[:, ::-1] if flip else c)(
                         padded[dy:dy + 8, dx:dx + 8]))]
            self.assertNotEmpty(found, "an output that is no crop of the padded image")
            dy, dx, flip = found[0]
            flipped += flip
            shifted += (dy, dx) != (pad, pad)
            if (dy, dx) != (pad, pad):  # zeros of the padding at a border
                self.assertTrue((result == 0).all(axis=-1).any())
        self.assertBetween(flipped, 16, 48)  # about half
        self.assertGreater(shifted, 48)  # 80 of 81 offsets move the image

    def test_a_centred_flipped_crop_is_the_image_reversed(self):
        image = np.arange(8 * 8, dtype=np.float32).reshape(8, 8, 1) + 1
        # 1 in 81 crops is centred, half of them flipped: 800 copies show both.
        out = self._augmented(np.repeat(image[np.newaxis], 800, axis=0), seed=0)
        flipped = [np.array_equal(result, image[:, ::-1]) for result in out]
        same = [np.array_equal(result, image) for result in out]
        self.assertTrue(any(flipped) and any(same), (sum(flipped), sum(same)))

    def test_same_seed_same_images_other_seed_other_images(self):
        images = np.random.default_rng(1).uniform(size=(16, 12, 12, 3)).astype(np.float32)
        self.assertAllEqual(self._augmented(images, 3), self._augmented(images, 3))
        self.assertNotAllEqual(self._augmented(images, 3), self._augmented(images, 4))

    def test_images_without_channel_axis_keep_their_shape(self):
        images = np.ones((4, 10, 10), np.float32)
        self.assertEqual(self._augmented(images, 0).shape, (4, 10, 10))

    def test_teacher_outputs_paired_with_inputs_are_refused(self):
        paired = tf.data.Dataset.from_tensor_slices(
            ({"x": np.ones((2, 8, 8, 1))}, [0, 1])).batch(2)
        with self.assertRaisesRegex(TypeError, "cannot be augmented"):
            augment.augmented(paired, augment.CROP_FLIP, 0)


class EpochBatchesTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        images = np.random.default_rng(2).uniform(size=(40, 8, 8, 1)).astype(np.float32)
        self.examples = tf.data.Dataset.from_tensor_slices((images, np.arange(40)))
        self.examples_bytes = images.nbytes

    def _batches(self, **kwargs):
        args = {"num_examples": 40, "batch_size": 8, "seed": 1, "start_epoch": 0,
                "end_epoch": 2, "augment": augment.CROP_FLIP, **kwargs}
        return [(x.numpy(), y.numpy()) for x, y in data.epoch_batches(self.examples, **args)]

    def test_resumed_batches_are_the_uninterrupted_runs(self):
        whole = self._batches()
        self.assertLen(whole, 10)
        rest = self._batches(start_epoch=1, skip_batches=2)
        self.assertLen(rest, 3)
        for (x, y), (x2, y2) in zip(whole[7:], rest):
            self.assertAllEqual(x, x2)
            self.assertAllEqual(y, y2)

    def test_many_epochs_hold_the_examples_once(self):
        # A chain of per-epoch datasets copied an image folder's arrays into
        # each epoch: 150 CIFAR-10 epochs took 22 GB before the first step.
        def graph_bytes(epochs):
            batches = data.epoch_batches(self.examples, **{
                "num_examples": 40, "batch_size": 8, "seed": 1, "start_epoch": 0,
                "end_epoch": epochs, "augment": augment.CROP_FLIP})
            return len(batches._as_serialized_graph().numpy())  # pylint: disable=protected-access

        one, many = graph_bytes(1), graph_bytes(150)
        self.assertGreater(one, self.examples_bytes)
        self.assertLess(many, one + self.examples_bytes)

    def test_the_order_is_the_seeds_whatever_the_global_seed(self):
        orders = []
        for global_seed in (0, 5):
            tf.keras.utils.set_random_seed(global_seed)
            orders.append([y for _, y in self._batches(augment=augment.NONE)])
        self.assertAllEqual(orders[0], orders[1])
        self.assertNotAllEqual(orders[0][0], np.arange(8))

    def test_each_epoch_augments_anew_and_none_augments_nothing(self):
        first, second = self._batches()[:5], self._batches()[5:]
        by_label = [{int(label): image for x, y in epoch for image, label in zip(x, y)}
                    for epoch in (first, second)]
        self.assertNotAllEqual(by_label[0][0], by_label[1][0])
        plain = self._batches(augment=augment.NONE)
        originals = dict(zip(range(40), self.examples.map(lambda x, _: x)
                             .as_numpy_iterator()))
        for x, y in plain:
            for image, label in zip(x, y):
                self.assertAllEqual(image, originals[int(label)])


class AugmentedJobTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._tmp = tempfile.TemporaryDirectory()
        with mock.patch.dict(os.environ, {decoded_cache.CACHE_DIR_VARIABLE: cls._tmp.name}):
            cls.dataset = _write_folder(os.path.join(cls._tmp.name, "images"))
            cls.whole = os.path.join(cls._tmp.name, "whole")
            cls.summary = _train(cls.whole, cls.dataset)  # uninterrupted, augmented

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        _cached_folder_test_case(self)
        self.root = self.create_tempdir().full_path

    def _out(self, name):
        return os.path.join(self.root, name)

    def test_same_seed_same_weights_and_augmenting_changes_them(self):
        _train(self._out("again"), self.dataset)
        _train(self._out("none"), self.dataset, augment=augment.NONE)
        whole = job_helpers.saved_weights(self.whole)
        job_helpers.assert_bitwise_equal(self, whole,
                                         job_helpers.saved_weights(self._out("again")))
        self.assertFalse(np.array_equal(whole[0],
                                        job_helpers.saved_weights(self._out("none"))[0]))
        self.assertEqual(self.summary["config"]["augment"], "crop_flip")

    def test_run_stopped_mid_epoch_and_resumed_equals_the_uninterrupted_run(self):
        killed = self._out("killed")
        with self.assertRaises(KeyboardInterrupt):
            _train(killed, self.dataset, job=_StoppingTrainJob(_SPEC), checkpoint_every=2)
        logs = []
        runner.run(train.TrainJob(_SPEC), _training(killed, self.dataset, resume=True,
                                                    checkpoint_every=2), log=logs.append)
        self.assertIn("train: resuming at epoch 2, step 2 of 4.", logs)
        job_helpers.assert_bitwise_equal(self, job_helpers.saved_weights(self.whole),
                                         job_helpers.saved_weights(killed))

    def test_distillation_turns_the_teacher_cache_off_and_says_so(self):
        logs = []
        runner.run(distill.DistillJob(teacher=self.whole, student_spec="mlp:8"),
                   _training(self._out("student"), self.dataset, epochs=1), log=logs.append)
        said = [line for line in logs if "eacher cache" in str(line)]
        self.assertEqual(said, ["Teacher cache off: --augment=crop_flip changes the training "
                                "images every epoch, so the teacher runs on each augmented "
                                "batch."])

    def test_pipeline_stages_train_with_the_runs_augment(self):
        options = stages.Options(training=_training(self._out("pipe"), self.dataset))
        model_stages = [(stage, inputs) for stage, inputs in stages.plan(options).items()
                        if stage in stages.MODEL_STAGES]
        self.assertLen(model_stages, 6)
        for stage, inputs in model_stages:
            self.assertEqual(pipeline_run._job(options, stage, inputs)[1].augment,
                             "crop_flip", stage)


class RefusedTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        _cached_folder_test_case(self)
        self.root = self.create_tempdir().full_path

    def _prepare(self, dataset, spec=_SPEC, **changes):
        return runner.prepare(train.TrainJob(spec), _training(
            os.path.join(self.root, "out"), dataset, **changes), log=lambda *_: None)

    def test_text_is_refused_by_name(self):
        path = os.path.join(self.root, "texts.tsv")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(f"{('ham', 'spam')[i % 2]}\tmessage number {i}\n" for i in range(40))
        with self.assertRaisesRegex(ValueError, rf"`augment` 'crop_flip' pads, crops and "
                                    rf"flips images, but dataset 'tsv:{path}' is text \(token "
                                    r"ids\): train it with --augment=none\."):
            self._prepare("tsv:" + path, spec="text_cnn", train_split="train",
                          val_split="", test_split="test")

    def test_images_too_small_to_crop_are_refused(self):
        dataset = _write_folder(os.path.join(self.root, "tiny"), n_train=6, n_test=3, size=6)
        with self.assertRaisesRegex(ValueError, r"gives the model images of 6x6 pixels; "
                                    r"crop_flip needs at least 8x8: train it with "
                                    r"--augment=none"):
            self._prepare(dataset)

    def test_inputs_that_are_not_images_are_refused(self):
        source = mock.Mock(is_text=False, is_audio=False)
        source.name = "npz:flat.npz"
        with self.assertRaisesRegex(ValueError, r"dataset 'npz:flat.npz' gives the model "
                                    r"inputs of shape \(784,\), not images"):
            augment.check(augment.CROP_FLIP, source, (784,))
        source.is_audio = True
        with self.assertRaisesRegex(ValueError, "holds audio clips"):
            augment.check(augment.CROP_FLIP, source, (16000, 1))

    def test_unknown_augment_is_refused_before_any_data(self):
        with self.assertRaisesRegex(ValueError, r"`augment` must be one of \('none', "
                                    r"'crop_flip'\), got 'flip'\."):
            _training(os.path.join(self.root, "out"), "mnist", augment="flip").check()
