"""Users' own data: npz:PATH and dir:PATH datasets, --normalize, and NumPy or
tf.data inputs to the library functions.

Every dataset here is a few hundred 8x8 images written to a temporary folder:
class c has a bright 2x2 patch at its own place, so a tiny MLP learns it in
one epoch.
"""

import json
import os
import tempfile

import helpers
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfcompress import data
from tfcompress import evaluate
from tfcompress import export
from tfcompress import pipeline
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.jobs import evaluate_tflite
from tfcompress.jobs import prune
from tfcompress.jobs import quantize
from tfcompress.jobs import run_dir
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import train
from tfcompress.prune import sensitivity

_CLASSES = ("cat", "dog", "emu")
_QUIET = {"log": lambda *_: None}


def _images(n, seed=0, shape=(8, 8)):
    """(uint8 images of `shape`, int64 labels): class c is bright at (2c, 2c)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(_CLASSES)
    rng.shuffle(labels)
    images = rng.integers(0, 60, (n, *shape)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label:2 * label + 2, 2 * label:2 * label + 2] = 250
    return images, labels.astype(np.int64)


def _write_npz(folder, name="data.npz", n_train=256, n_test=64, **arrays):
    """An npz dataset; `arrays` replace (or, set to None, drop) the default arrays."""
    x_train, y_train = _images(n_train, seed=1)
    x_test, y_test = _images(n_test, seed=2)
    content = {"x_train": x_train, "y_train": y_train, "x_test": x_test,
               "y_test": y_test, **arrays}
    path = os.path.join(folder, name)
    np.savez(path, **{k: v for k, v in content.items() if v is not None})
    return path


def _write_folder(root, splits=(("train", 256), ("test", 64)), classes=_CLASSES,
                  channels=1):
    """A dir: dataset of PNGs, root/<split>/<class>/<i>.png."""
    for seed, (split, n) in enumerate(splits):
        images, labels = _images(n, seed=seed + 1)
        for i, (image, label) in enumerate(zip(images, labels)):
            folder = os.path.join(root, split, classes[label % len(classes)])
            os.makedirs(folder, exist_ok=True)
            pixels = np.repeat(image[..., None], channels, axis=-1)
            tf.io.write_file(os.path.join(folder, f"{i:04d}.png"),
                             tf.io.encode_png(pixels))
    return root


def _collect(dataset):
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in dataset))
    return np.concatenate(xs), np.concatenate(ys)


def _training(output_dir, dataset, **changes):
    return settings.Training(**{
        "output_dir": output_dir, "dataset": dataset, "train_split": "train",
        "val_split": "train[:64]", "test_split": "test", "epochs": 1, "batch_size": 32,
        "verbose": 0, **changes})


def _save_model(folder, name, input_shape, num_classes=3):
    path = os.path.join(folder, name)
    export.save_keras_model(helpers.tiny_mlp(input_shape, num_classes), path)
    return path


class NpzDatasetTest(parameterized.TestCase, tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path

    def test_load_gives_the_arrays_rows_in_order_with_a_channel_axis(self):
        x_val, y_val = _images(32, seed=9)
        name = "npz:" + _write_npz(self.root, x_val=x_val, y_val=y_val)
        x, y = _collect(data.load(name, "train[:100]", batch_size=32))
        want_x, want_y = _images(256, seed=1)
        self.assertEqual(x.shape, (100, 8, 8, 1))
        self.assertAllClose(x[..., 0], want_x[:100] / 255.0)
        self.assertAllEqual(y, want_y[:100])
        self.assertAllEqual(_collect(data.load(name, "val"))[1], y_val)

    @parameterized.parameters(("train", 256), ("train[:10%]", 26), ("train[:100]", 100),
                              ("train[100:]", 156), ("train[-6:]", 6), ("test", 64),
                              ("train[:64]+test", 128))
    def test_splits_count_as_in_tfds(self, split, expected):
        name = "npz:" + _write_npz(self.root)
        self.assertEqual(data.num_examples(name, split), expected)
        self.assertLen(_collect(data.load(name, split))[1], expected)

    def test_source_knows_shape_classes_and_class_names(self):
        source = data.open_source("npz:" + _write_npz(
            self.root, class_names=np.array(["a", "b", "c", "d"])))
        self.assertEqual(source.image_shape, (8, 8, 1))
        self.assertEqual(source.num_classes, 4)
        self.assertEqual(source.class_names, ["a", "b", "c", "d"])
        self.assertEqual(source.split_sizes, {"train": 256, "test": 64})

    def test_images_convert_to_a_model_without_channel_axis_or_with_rgb(self):
        name = "npz:" + _write_npz(self.root)
        gray = _collect(data.load(name, "test"))[0]
        flat = _collect(data.load(name, "test", image_shape=(8, 8)))[0]
        rgb = _collect(data.load(name, "test", image_shape=(None, None, 3)))[0]
        self.assertEqual(flat.shape, (64, 8, 8))
        self.assertAllEqual(flat, gray[..., 0])
        self.assertEqual(rgb.shape, (64, 8, 8, 3))
        for channel in range(3):
            self.assertAllEqual(rgb[..., channel], gray[..., 0])

    def test_image_shape_that_does_not_convert_is_refused(self):
        name = "npz:" + _write_npz(self.root)
        with self.assertRaisesRegex(ValueError, r"`image_shape` \(10, 10, 1\) does not fit "
                                    r"dataset .* only images read from a folder"):
            data.load(name, "test", image_shape=(10, 10, 1))

    def test_rewritten_file_is_read_again(self):
        path = _write_npz(self.root)
        self.assertEqual(data.num_examples("npz:" + path, "train"), 256)
        os.remove(path)
        _write_npz(self.root, n_train=128)
        self.assertEqual(data.num_examples("npz:" + path, "train"), 128)


class FolderDatasetTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._tmp = tempfile.TemporaryDirectory()
        # Class folders named out of order: labels still follow sorted names.
        cls.root = _write_folder(os.path.join(cls._tmp.name, "images"),
                                 splits=(("train", 90), ("test", 30), ("val", 15)),
                                 classes=("emu", "cat", "dog"))
        cls.name = "dir:" + cls.root

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()
        super().tearDownClass()

    def test_classes_are_sorted_folder_names_and_labels_their_indices(self):
        os.makedirs(os.path.join(self.root, "train", ".ipynb_checkpoints"), exist_ok=True)
        source = data.open_source(self.name)
        self.assertEqual(source.class_names, ["cat", "dog", "emu"])
        self.assertEqual(source.image_shape, (8, 8, 1))
        self.assertEqual(source.split_sizes, {"train": 90, "test": 30, "val": 15})
        x, y = _collect(data.load(self.name, "train", normalize="none"))
        # _images put class c's patch at (2c, 2c); folders ("emu", "cat", "dog")
        # hold classes 0, 1, 2, so the patch says which folder an image came from.
        folder_of = {0: "emu", 1: "cat", 2: "dog"}
        for image, label in zip(x, y):
            patch = int(np.argmax([image[2 * c, 2 * c, 0] for c in range(3)]))
            self.assertEqual(source.class_names[label], folder_of[patch])

    def test_slices_hold_every_class_and_the_order_is_the_same_each_time(self):
        first = _collect(data.load(self.name, "train[:10%]"))[1]
        self.assertLen(first, 9)
        self.assertEqual(set(first.tolist()), {0, 1, 2})
        self.assertAllEqual(_collect(data.load(self.name, "train"))[1][:9], first)

    def test_images_are_resized_and_made_rgb_for_the_model(self):
        x, _ = _collect(data.load(self.name, "test", image_shape=(12, 12, 3)))
        self.assertEqual(x.shape, (30, 12, 12, 3))
        self.assertAllClose(x[..., 0], x[..., 2])
        self.assertBetween(float(x.min()), 0.0, 1.0)
        self.assertBetween(float(x.max()), 0.5, 1.0)

    def test_colour_images_are_not_made_grayscale(self):
        rgb = "dir:" + _write_folder(os.path.join(self._tmp.name, "rgb"),
                                     splits=(("train", 6),), channels=3)
        self.assertEqual(data.open_source(rgb).image_shape, (8, 8, 3))
        with self.assertRaisesRegex(ValueError, "3-channel images do not convert to 1 "
                                    "channels"):
            data.load(rgb, "train", image_shape=(8, 8, 1))


class NormalizeTest(parameterized.TestCase, tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path
        self.name = "npz:" + _write_npz(self.root)
        self.raw = _images(256, seed=1)[0][..., None].astype(np.float32)

    def _train_images(self, normalize):
        options = data.normalization(self.name, "train", normalize)
        return _collect(data.load(self.name, "train", **options))[0], options

    def test_unit_divides_by_255(self):
        x, options = self._train_images("unit")
        self.assertEqual(options, {"normalize": "unit", "mean": None, "std": None})
        self.assertAllClose(x, self.raw / 255.0)

    def test_none_keeps_the_stored_values(self):
        x, _ = self._train_images("none")
        self.assertAllEqual(x, self.raw)

    def test_standard_uses_the_training_split_mean_and_std(self):
        x, options = self._train_images("standard")
        self.assertAllClose(options["mean"], [np.mean(self.raw / 255.0)], atol=1e-6)
        self.assertAllClose(options["std"], [np.std(self.raw / 255.0)], atol=1e-6)
        self.assertAllClose(x.mean(), 0.0, atol=1e-5)
        self.assertAllClose(x.std(), 1.0, atol=1e-5)

    def test_standard_is_per_channel(self):
        rgb = np.concatenate([self.raw, self.raw / 2, self.raw / 4], axis=-1)
        name = "npz:" + _write_npz(self.root, name="rgb.npz",
                                   x_train=rgb.astype(np.uint8),
                                   x_test=rgb[:64].astype(np.uint8))
        options = data.normalization(name, "train", "standard")
        self.assertLen(options["mean"], 3)
        self.assertGreater(options["mean"][0], options["mean"][1])
        x = _collect(data.load(name, "train", **options))[0]
        self.assertAllClose(x.reshape(-1, 3).mean(axis=0), [0.0] * 3, atol=1e-5)
        self.assertAllClose(x.reshape(-1, 3).std(axis=0), [1.0] * 3, atol=1e-5)

    def test_unit_refuses_float_images_already_in_0_1(self):
        name = "npz:" + _write_npz(self.root, name="scaled.npz",
                                   x_train=self.raw / 255.0,
                                   x_test=self.raw[:64] / 255.0)
        with self.assertRaisesRegex(ValueError, r"`normalize` 'unit' divides pixel values "
                                    r"by 255, but dataset .* holds float images already "
                                    r"in \[0, 1\]: pass normalize='none'"):
            data.normalization(name, "train", "unit")
        self.assertEqual(data.normalization(name, "train", "none")["normalize"], "none")

    def test_default_keeps_unit_scaling(self):
        self.assertEqual(settings.Training(output_dir="x").normalize, "unit")
        self.assertEqual(data.load.__kwdefaults__["normalize"], "unit")

    @parameterized.parameters("unit", "standard", "none")
    def test_train_job_records_normalize_and_its_statistics(self, normalize):
        out = os.path.join(self.root, normalize)
        summary = runner.run(train.TrainJob("mlp:16"),
                             _training(out, self.name, normalize=normalize), **_QUIET)
        self.assertEqual(summary["config"]["normalize"], normalize)
        self.assertEqual(summary["data"]["normalize"], normalize)
        self.assertEqual(summary["data"]["image_shape"], [8, 8, 1])
        self.assertEqual(summary["keras"]["test_examples"], 64)
        if normalize == "standard":
            self.assertAllClose(summary["data"]["mean"], [np.mean(self.raw / 255.0)],
                                atol=1e-6)
        else:
            self.assertIsNone(summary["data"]["mean"])

    def test_resume_with_another_normalize_is_refused(self):
        out = os.path.join(self.root, "run")
        started = runner.prepare(train.TrainJob("mlp:16"), _training(out, self.name),
                                 **_QUIET)
        run_dir.start(out, started.config)  # as a run killed after starting leaves it
        with self.assertRaisesRegex(ValueError, r"`resume`: the unfinished run at .* was "
                                    r"started with normalize='unit', not "
                                    r"normalize='none'"):
            runner.prepare(train.TrainJob("mlp:16"),
                           _training(out, self.name, normalize="none", resume=True),
                           **_QUIET)


class JobsOnOwnDataTest(parameterized.TestCase, tf.test.TestCase):
    """Train, prune, quantize and evaluate, each through the one runner."""

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path

    def _dataset(self, kind):
        if kind == "npz":
            return "npz:" + _write_npz(self.root)
        return "dir:" + _write_folder(os.path.join(self.root, "images"))

    @parameterized.parameters("npz", "dir")
    def test_train_prune_quantize_and_evaluate_run_on_own_data(self, kind):
        dataset = self._dataset(kind)
        out = lambda stage: os.path.join(self.root, stage)  # noqa: E731
        trained = runner.run(train.TrainJob("mlp:32"), _training(out("train"), dataset),
                             **_QUIET)
        self.assertEqual(trained["config"]["dataset"], data.canonical_name(dataset))
        self.assertEqual(trained["keras"]["test_examples"], 64)
        self.assertGreater(trained["keras"]["test_accuracy"], 0.6)  # chance: 1/3
        pruned = runner.run(prune.PruneJob(model=out("train"), sparsity=0.5),
                            _training(out("prune"), dataset), **_QUIET)
        self.assertAllClose(pruned["sparsity"]["sparsity"], 0.5, atol=0.02)
        quantized = runner.run(quantize.QuantizeJob(model=out("prune"), mode="int8"),
                               _training(out("quantize"), dataset), **_QUIET)
        self.assertEqual(quantized["config"]["num_samples"], 256)
        evaluated = runner.run(
            evaluate_tflite.EvaluateJob(os.path.join(out("quantize"), "model.tflite"),
                                        batch_sizes=(1,), repeats=1),
            settings.Training(None, dataset=dataset), **_QUIET)
        self.assertEqual(evaluated["num_examples"], 64)
        self.assertAllClose(evaluated["accuracy"], quantized["tflite"]["test_accuracy"])

    def test_pipeline_with_standard_normalization_evaluates_its_file_as_trained(self):
        out = os.path.join(self.root, "pipeline")
        options = pipeline.Options(
            training=_training(out, self._dataset("npz"), normalize="standard"),
            stages=("baseline", "quantize", "export", "evaluate"), model="mlp:32",
            baseline_epochs=1, quantization="int8")
        report = pipeline.run(options, **_QUIET)
        with open(os.path.join(out, "quantize", "summary.json"), encoding="utf-8") as f:
            quantized = json.load(f)
        self.assertEqual(quantized["data"]["normalize"], "standard")
        self.assertEqual(report["exported"]["test_examples"], 64)
        # The evaluate stage normalized the test images as the stages did.
        self.assertAllClose(report["exported"]["test_accuracy"],
                            quantized["tflite"]["test_accuracy"])

    def test_command_line_takes_own_data_and_normalize(self):
        dataset = self._dataset("npz")
        out = os.path.join(self.root, "cli")
        flags = ["--train_split=train", "--val_split=train[:64]", "--test_split=test",
                 "--epochs=1", "--batch_size=32", "--verbose=0"]
        result = helpers.run_cli("train", "--model=mlp:16", f"--dataset={dataset}",
                                 "--normalize=none", f"--output_dir={out}", *flags)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
            summary = json.load(f)
        self.assertEqual(summary["config"]["normalize"], "none")
        self.assertEqual(summary["config"]["dataset"], dataset)
        missing = helpers.run_cli_in_process("train", "--model=mlp:16",
                                             f"--dataset=npz:{self.root}/none.npz", *flags)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("no .npz file at", missing.stderr)
        self.assertNotIn("Traceback", missing.stderr)

    def test_folder_images_come_in_the_size_and_channels_of_the_model(self):
        dataset = self._dataset("dir")
        model = _save_model(self.root, "rgb12.keras", (12, 12, 3))
        run = runner.prepare(quantize.QuantizeJob(model=model, mode="dynamic"),
                             _training(os.path.join(self.root, "out"), dataset), **_QUIET)
        self.assertEqual(run.input_shape, (12, 12, 3))
        x, _ = next(iter(run.test()))
        self.assertEqual(x.shape[1:], (12, 12, 3))
        self.assertEqual(run.check_batch()[0].shape[1:], (12, 12, 3))

    def test_npz_images_go_to_a_model_without_channel_axis(self):
        dataset = self._dataset("npz")
        model = _save_model(self.root, "flat.keras", (8, 8))
        run = runner.prepare(quantize.QuantizeJob(model=model, mode="dynamic"),
                             _training(os.path.join(self.root, "out"), dataset), **_QUIET)
        self.assertEqual(run.input_shape, (8, 8))
        self.assertEqual(next(iter(run.train_batches()))[0].shape[1:], (8, 8))


def _bad_npz(root, **arrays):
    return {"dataset": "npz:" + _write_npz(root, name="bad.npz", **arrays)}


def _bad_folder(root, make):
    folder = os.path.join(root, "bad_dir")
    make(folder)
    return {"dataset": "dir:" + folder}


def _junk_file(root, name):
    path = os.path.join(root, name)
    with open(path, "wb") as f:
        f.write(b"not a zip archive")
    return path


def _one_class(folder):
    _write_folder(folder, splits=(("train", 6), ("test", 3)), classes=("cat",))


def _no_train(folder):
    for name in ("cat", "dog"):
        os.makedirs(os.path.join(folder, name))


def _undecodable(folder):
    _write_folder(folder, splits=(("train", 6), ("test", 3)))
    with open(os.path.join(folder, "train", "cat", "broken.png"), "wb") as f:
        f.write(b"\x89PNG not really")


def _unknown_test_class(folder):
    _write_folder(folder, splits=(("train", 6), ("test", 3)))
    os.makedirs(os.path.join(folder, "test", "yak"))


def _no_images(folder):
    for name in ("cat", "dog"):
        os.makedirs(os.path.join(folder, "train", name))
        with open(os.path.join(folder, "train", name, "notes.txt"), "w") as f:
            f.write("no images here")


_X, _Y = _images(256, seed=1)

# (id, settings changes made from the test folder, error, regex of the message).
BAD_INPUTS = [
    ("npz_missing_file", lambda root: {"dataset": f"npz:{root}/none.npz"},
     FileNotFoundError, r"`dataset` 'npz:.*none\.npz': no \.npz file at '.*none\.npz'\. "
     r"Save it with np\.savez"),
    ("npz_not_a_zip", lambda root: {"dataset": "npz:" + _junk_file(root, "x.npz")},
     ValueError, r"`dataset` 'npz:.*x\.npz': '.*x\.npz' is not a readable \.npz file"),
    ("npz_missing_arrays", lambda root: _bad_npz(root, x_test=None, y_test=None),
     ValueError, r"the file has no array 'x_test', 'y_test' \(it holds \['x_train', "
     r"'y_train'\]\)\. Save it with np\.savez"),
    ("npz_val_without_labels", lambda root: _bad_npz(root, x_val=_X[:8]), ValueError,
     r"the file has only one of `x_val` and `y_val`: save both"),
    ("npz_lengths_differ", lambda root: _bad_npz(root, y_train=_Y[:255]), ValueError,
     r"`x_train` holds 256 images but `y_train` 255 labels: save one label per image"),
    ("npz_float_labels", lambda root: _bad_npz(root, y_train=_Y.astype(np.float32)),
     ValueError, r"`y_train` has dtype float32: labels must be integer class indices"),
    ("npz_one_hot_labels", lambda root: _bad_npz(root, y_train=np.eye(3)[_Y]),
     ValueError, r"`y_train` has shape \(256, 3\): labels must be class indices, shape "
     r"\(n,\) \(one-hot labels\? save y\.argmax\(axis=1\)\)"),
    ("npz_test_label_out_of_range",
     lambda root: _bad_npz(root, y_test=np.full(64, 3)), ValueError,
     r"`y_test` holds 64 labels outside \[0, 3\) \(e\.g\. 3\): labels must be class "
     r"indices 0 to classes - 1 \(the classes come from the largest label of `y_train`"),
    ("npz_negative_label",
     lambda root: _bad_npz(root, y_train=np.where(np.arange(256) == 5, -1, _Y)),
     ValueError, r"`y_train` holds 1 labels outside \[0, 3\) \(e\.g\. -1\)"),
    ("npz_label_beyond_class_names",
     lambda root: _bad_npz(root, class_names=np.array(["a", "b"])), ValueError,
     r"`y_train` holds \d+ labels outside \[0, 2\) .*the classes come from `class_names`"),
    ("npz_one_class", lambda root: _bad_npz(root, y_train=np.zeros(256, np.int64),
                                            y_test=np.zeros(64, np.int64)),
     ValueError, r"there are 1 classes \(labels in `y_train`: \[0\]\): a classifier needs "
     r"at least 2"),
    ("npz_test_images_of_other_shape",
     lambda root: _bad_npz(root, x_test=np.zeros((64, 9, 9), np.uint8)), ValueError,
     r"`x_test` holds images of shape \(9, 9, 1\) but `x_train` of shape \(8, 8, 1\)"),
    ("npz_nan_images",
     lambda root: _bad_npz(root, x_train=np.where(_X == 250, np.nan, _X / 255.0)),
     ValueError, r"`x_train` holds \d+ NaN or inf values: pass finite images"),
    ("npz_text_images", lambda root: _bad_npz(root, x_test=np.array(["a"] * 64)),
     ValueError, r"`x_test` has dtype <U1: images must be numbers"),
    ("npz_split_too_long", lambda root: {**_bad_npz(root), "train_split": "train[5000:]"},
     ValueError, r"`train_split` 'train\[5000:\]' is not a usable split of 'npz:.*': "
     r"Requested slice \[5000:256\] incompatible with 256 examples\. Pass a split"),
    ("npz_unknown_split", lambda root: {**_bad_npz(root), "val_split": "val"},
     ValueError, r"`val_split` 'val' is not a usable split of 'npz:.*': Unknown split "
     r"'val'\. Should be one of \['train', 'test'\]"),
    ("dir_missing", lambda root: {"dataset": f"dir:{root}/nowhere"}, FileNotFoundError,
     r"`dataset` 'dir:.*nowhere': no folder at '.*nowhere'\. Lay it out as "
     r"PATH/train/<class>/<image>"),
    ("dir_empty", lambda root: _bad_folder(root, os.makedirs), ValueError,
     r"the folder '.*bad_dir' holds no subfolders\. Lay it out as"),
    ("dir_without_train", lambda root: _bad_folder(root, _no_train), ValueError,
     r"the folder '.*bad_dir' has no train/ subfolder \(it holds \['cat', 'dog'\]\)"),
    ("dir_one_class", lambda root: _bad_folder(root, _one_class), ValueError,
     r"train/ holds 1 class folder\(s\) \['cat'\]: a classifier needs at least 2"),
    ("dir_no_images", lambda root: _bad_folder(root, _no_images), ValueError,
     r"train/'s class folders hold no images \(files ending in \.bmp, \.gif"),
    ("dir_undecodable_image", lambda root: _bad_folder(root, _undecodable), ValueError,
     r"1 of 10 images cannot be decoded: \['train/cat/broken\.png'\]\. Remove or "
     r"replace them"),
    ("dir_test_class_not_in_train", lambda root: _bad_folder(root, _unknown_test_class),
     ValueError, r"test/ has class folders that train/ lacks: \['yak'\]"),
    ("normalize_unknown", lambda root: {**_bad_npz(root), "normalize": "zscore"},
     ValueError, r"`normalize` must be one of \('unit', 'standard', 'none'\), got "
     r"'zscore'"),
    ("standard_on_constant_images",
     lambda root: {**_bad_npz(root, x_train=np.full((256, 8, 8), 7, np.uint8)),
                   "normalize": "standard"},
     ValueError, r"`normalize` 'standard': dataset 'npz:.*', split 'train' has constant "
     r"pixel values \(in channel \[0\]\), so there is no std to divide by"),
]


class BadOwnDataTest(parameterized.TestCase, tf.test.TestCase):
    """Each bad dataset is refused by `runner.prepare`, before any work."""

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path

    @parameterized.named_parameters(*BAD_INPUTS)
    def test_bad_dataset_is_refused_before_any_work(self, changes, error, message):
        out = os.path.join(self.root, "out")
        job_settings = _training(out, None).replace(**changes(self.root))
        with self.assertRaisesRegex(error, message) as caught:
            runner.prepare(train.TrainJob("mlp:8"), job_settings, **_QUIET)
        self.assertIs(type(caught.exception), error)
        self.assertNotIn("\n", str(caught.exception))
        self.assertFalse(os.path.exists(out) or os.path.exists(out + ".partial"))

    @parameterized.named_parameters(
        ("npz_other_size", "npz", (10, 10, 1),
         r"takes inputs of shape \(10, 10, 1\), but dataset 'npz:.*' has images of shape "
         r"\(8, 8, 1\) \(only images read from a folder \(dir:PATH\) are resized"),
        ("npz_rgb_into_gray", "npz_rgb", (8, 8, 1),
         r"takes inputs of shape \(8, 8, 1\), but dataset 'npz:.*' has images of shape "
         r"\(8, 8, 3\) \(3-channel images do not convert to 1 channels \(only grayscale "
         r"converts, to RGB\)\): pass a model built for"),
        ("dir_rank_1_model", "dir", (64,),
         r"takes inputs of shape \(64,\), but dataset 'dir:.*' has images of shape "
         r"\(8, 8, 1\) \(the shapes differ and only images"),
    )
    def test_model_that_cannot_take_the_images_is_refused(self, kind, shape, message):
        if kind == "npz_rgb":
            rgb = np.repeat(_X[..., None], 3, axis=-1)
            dataset = _bad_npz(self.root, x_train=rgb, x_test=rgb[:64])["dataset"]
        elif kind == "npz":
            dataset = "npz:" + _write_npz(self.root)
        else:
            dataset = "dir:" + _write_folder(os.path.join(self.root, "images"),
                                             splits=(("train", 6), ("test", 3)))
        model = _save_model(self.root, "model.keras", shape)
        with self.assertRaisesRegex(ValueError, r"`model` '.*model\.keras' " + message):
            runner.prepare(prune.PruneJob(model=model),
                           _training(os.path.join(self.root, "out"), dataset,
                                     val_split="train[:2]"), **_QUIET)

    def test_teacher_of_another_input_shape_than_the_model_is_refused(self):
        dataset = "dir:" + _write_folder(os.path.join(self.root, "images"),
                                         splits=(("train", 6), ("test", 3)))
        model = _save_model(self.root, "model.keras", (12, 12, 1))
        teacher = _save_model(self.root, "teacher.keras", (10, 10, 1))
        with self.assertRaisesRegex(ValueError, r"`teacher` takes inputs of shape "
                                    r"\(10, 10, 1\), but `model` takes \(12, 12, 1\): both "
                                    r"read the same images"):
            runner.prepare(prune.PruneJob(model=model, teacher=teacher),
                           _training(os.path.join(self.root, "out"), dataset,
                                     val_split="train[:2]"), **_QUIET)


class LibraryInputsTest(parameterized.TestCase, tf.test.TestCase):
    """NumPy (x, y) tuples and tf.data datasets, wherever the library takes data."""

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path
        x, y = _images(96, seed=3)
        self.x = (x[..., None] / 255.0).astype(np.float32)
        self.y = y
        self.batches = tf.data.Dataset.from_tensor_slices((self.x, self.y)).batch(32)
        self.model = helpers.tiny_mlp((8, 8, 1), 3)

    def test_evaluate_classifier_gives_the_same_for_arrays_and_dataset(self):
        from_arrays = evaluate.evaluate_classifier(self.model, (self.x, self.y))
        self.assertEqual(from_arrays["num_examples"], 96)
        self.assertAllClose(from_arrays,
                            evaluate.evaluate_classifier(self.model, self.batches))
        self.assertAllClose(from_arrays,
                            evaluate.evaluate_classifier(self.model, [self.x, self.y]))

    def test_evaluate_tflite_gives_the_same_for_arrays_and_dataset(self):
        path = os.path.join(self.root, "m.tflite")
        export.export_tflite(self.model, path)
        self.assertAllClose(evaluate.evaluate_tflite(path, (self.x, self.y)),
                            evaluate.evaluate_tflite(path, self.batches))

    def test_train_classifier_takes_arrays_for_training_and_validation(self):
        before = self.model.get_weights()[0].copy()
        history = training.train_classifier(
            self.model, (self.x, self.y), epochs=2, validation_data=(self.x, self.y),
            batch_size=16, keep_best=False, verbose=0)
        self.assertLen(history.history["val_accuracy"], 2)
        self.assertFalse(np.array_equal(before, self.model.get_weights()[0]))

    def test_sensitivity_analysis_takes_arrays(self):
        from_arrays = sensitivity.analyze(self.model, (self.x, self.y),
                                          sparsities=(0.5, 0.9), verbose=0)
        from_dataset = sensitivity.analyze(self.model, self.batches,
                                           sparsities=(0.5, 0.9), verbose=0)
        self.assertEqual(from_arrays, from_dataset)

    @parameterized.named_parameters(("array", "x"), ("pair", "xy"), ("dataset", "ds"))
    def test_int8_calibration_takes_arrays_pairs_and_datasets(self, kind):
        given = {"x": self.x, "xy": (self.x, self.y), "ds": self.batches}[kind]
        path = os.path.join(self.root, f"{kind}.tflite")
        result = export.export_tflite(self.model, path, quantization="int8",
                                      representative_data=given, num_samples=64,
                                      check_inputs=given)
        reference = os.path.join(self.root, "reference.tflite")
        export.export_tflite(self.model, reference, quantization="int8",
                             representative_data=self.x[:64], check_inputs=self.x)
        with open(path, "rb") as f, open(reference, "rb") as g:
            self.assertEqual(f.read(), g.read())  # calibrated on the same 64 images
        # Labelled examples: up to 16 of each class, read across batches.
        per_class = np.minimum(np.bincount(self.y), 16).sum()
        self.assertEqual(result.num_checked, 96 if kind == "x" else per_class)

    def test_export_checks_on_the_inputs_of_a_pair(self):
        result = export.export_saved_model(self.model, os.path.join(self.root, "sm"),
                                           check_inputs=(self.x[:5], self.y[:5]))
        self.assertEqual(result.num_checked, 5)

    def test_arrays_of_other_lengths_are_refused(self):
        with self.assertRaisesRegex(ValueError, r"`data`: x has shape \(96, 8, 8, 1\) and "
                                    r"y \(95,\): pass one label per example"):
            evaluate.evaluate_classifier(self.model, (self.x, self.y[:95]))
        with self.assertRaisesRegex(ValueError, r"`train_data`: x has shape"):
            training.train_classifier(self.model, (self.x, self.y[:95]), epochs=1)

    def test_inputs_without_labels_are_refused_where_labels_are_needed(self):
        with self.assertRaisesRegex(TypeError, r"`data` must be a tf\.data\.Dataset of "
                                    r"\(x, y\) batches or an \(x, y\) tuple of NumPy "
                                    r"arrays, got ndarray: pass the labels too"):
            evaluate.evaluate_classifier(self.model, self.x)

    def test_as_batches_shuffles_arrays_only_when_asked(self):
        in_order = _collect(data.as_batches((self.x, self.y), batch_size=10))[1]
        self.assertAllEqual(in_order, self.y)
        shuffled = _collect(data.as_batches((self.x, self.y), shuffle=True, seed=0))[1]
        self.assertCountEqual(shuffled.tolist(), self.y.tolist())
        self.assertFalse(np.array_equal(shuffled, self.y))


if __name__ == "__main__":
    tf.test.main()
