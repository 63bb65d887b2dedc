"""Audio folders (dir:PATH of .wav clips), hold-out by filename, and the options
of dir:PATH?audio_length=N&hold_out=PATTERNS and their flags.

Clips are tiny WAVs written with `tf.audio.encode_wav` into temporary folders;
their samples are multiples of 1/128, which 16-bit PCM keeps exactly.
"""

import json
import os
import re
import shutil

import helpers
import numpy as np
import tensorflow as tf
from absl.testing import flagsaver

from tfcompress import data
from tfcompress import export
from tfcompress._keras import keras
from tfcompress.cli import common
from tfcompress.jobs import evaluate_tflite
from tfcompress.jobs import quantize
from tfcompress.jobs import runner
from tfcompress.jobs import settings

_QUIET = {"log": lambda *_: None}
_FSDD = "/work/shared/data/fsdd"
_RATE = 8000


def _ramp(length, level=0.0, channels=1):
    """Samples that say where they are: (k % 64 - 32) / 128 + level."""
    ramp = ((np.arange(length) % 64 - 32) / 128 + level).astype(np.float32)
    return np.repeat(ramp[:, None], channels, axis=1)


def _write_wav(path, samples, rate=_RATE):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(tf.audio.encode_wav(np.asarray(samples, np.float32), rate).numpy())


def _audio_folder(root, lengths=None):
    """root/{train,test}/{yes,no}/{ann,bob}_<i>.wav; returns (root, {relpath: samples}).

    A clip's first sample says its class and speaker: -0.5 for no, -0.25 for
    yes, plus 0.5 for bob.
    """
    lengths = lengths or {"train": [40, 60, 80, 100, 50, 70, 90, 30],
                          "test": [20, 120, 45, 55]}
    written = {}
    for split, split_lengths in lengths.items():
        for i, length in enumerate(split_lengths):
            label, speaker = ("no", "yes")[i % 2], ("ann", "bob")[i % 4 // 2]
            level = 0.25 * (label == "yes") + 0.5 * (speaker == "bob")
            relpath = os.path.join(split, label, f"{speaker}_{i}.wav")
            written[relpath] = _ramp(length, level - 0.25)
            _write_wav(os.path.join(root, relpath), written[relpath])
    return root, written


def _training(output_dir, dataset, **changes):
    return settings.Training(**{
        "output_dir": output_dir, "dataset": dataset, "epochs": 1, "batch_size": 4,
        "val_split": "", "verbose": 0, **changes})


def _collect(ds):
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(xs), np.concatenate(ys)


class AudioFolderTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.root, self.clips = _audio_folder(self.create_tempdir().full_path)
        self.name = "dir:" + self.root

    def test_clips_labels_and_padding_as_keras_reads_them(self):
        source = data.open_source(self.name)
        self.assertTrue(source.is_audio)
        self.assertFalse(source.is_text)
        self.assertEqual(source.class_names, ["no", "yes"])
        self.assertEqual(source.sample_rate, _RATE)
        # The longest training clip sets the length: nothing of train/ is cut.
        self.assertEqual(source.image_shape, (100, 1))
        self.assertEqual(source.split_sizes, {"train": 8, "test": 4})
        self.assertEqual(source.default_splits,
                         {"train": "train[10%:]", "val": "train[:10%]", "test": "test"})
        # "unit" (the default) leaves the samples as decoded.
        x, y = _collect(data.load(self.name, "test"))
        self.assertEqual(x.shape, (4, 100, 1))
        expected = {}
        for relpath, clip in self.clips.items():
            if relpath.startswith("test"):
                padded = np.zeros((100, 1), np.float32)
                padded[:min(len(clip), 100)] = clip[:100]
                expected[relpath.split(os.sep)[1]] = expected.get(
                    relpath.split(os.sep)[1], []) + [padded]
        for clip, label in zip(x, y):
            matches = [np.array_equal(clip, e) for e in expected[source.class_names[label]]]
            self.assertTrue(any(matches), f"a {source.class_names[label]} clip that is "
                                          "none of its folder's, padded")

    def test_audio_length_crops_keeping_the_start_and_pads_with_zeros(self):
        name = self.name + "?audio_length=50"
        source = data.open_source(name)
        self.assertEqual(source.image_shape, (50, 1))
        x, _ = _collect(data.load(name, "test", normalize="none"))
        want = {tuple(c[:50, 0]) + (0.0,) * max(0, 50 - len(c))
                for rel, c in self.clips.items() if rel.startswith("test")}
        self.assertEqual({tuple(clip[:, 0]) for clip in x}, want)
        self.assertEqual(source.record(50, "flag"), {
            "sample_rate": _RATE, "clip_samples": 50, "channels": 1, "length_from": "flag",
            "clips_padded": 4, "clips_cropped": 7})

    def test_a_model_taking_samples_gets_mono_clips_of_its_length(self):
        x, _ = _collect(data.load(self.name, "test", image_shape=(64,)))
        self.assertEqual(x.shape, (4, 64))
        self.assertIn(tuple(self.clips[os.path.join("test", "no", "ann_0.wav")][:, 0])
                      + (0.0,) * 44, {tuple(clip) for clip in x})

    def test_standard_normalization_is_refused(self):
        with self.assertRaisesRegex(ValueError, r"`normalize` 'standard' scales pixel "
                                    r"values, but dataset 'dir:.*' holds audio clips"):
            data.load(self.name, "test", normalize="standard")
        with self.assertRaisesRegex(ValueError, "holds audio clips"):
            data.normalization(self.name, "train", "standard")

    def test_hold_out_moves_matching_files_of_every_split_to_held_out(self):
        name = self.name + "?hold_out=bob_*"
        source = data.open_source(name)
        self.assertEqual(source.split_sizes, {"train": 4, "test": 2, "held_out": 6})
        self.assertEqual(data.default_splits(name)["test"], "held_out")
        # bob's clips (first sample 0 or 0.25) are all held out, and only they are;
        # their labels still follow their class folders.
        for split in ("train", "test", "held_out"):
            x, y = _collect(data.load(name, split))
            bob = x[:, 0, 0] > -0.1
            self.assertEqual(set(bob.tolist()), {split == "held_out"}, split)
            self.assertAllEqual(x[:, 0, 0] - 0.5 * bob, -0.5 + 0.25 * y)

    def test_a_rewritten_clip_is_decoded_again(self):
        self.assertEqual(data.open_source(self.name).image_shape, (100, 1))
        _write_wav(os.path.join(self.root, "train", "no", "ann_0.wav"), _ramp(150))
        self.assertEqual(data.open_source(self.name).image_shape, (150, 1))

    def test_several_patterns(self):
        source = data.open_source(self.name + "?hold_out=ann_0, bob_2")
        self.assertEqual(source.split_sizes["held_out"], 4)  # each in train and test


class LengthRecordTest(tf.test.TestCase):
    """Where the length comes from, logged and recorded in summary.json."""

    def setUp(self):
        super().setUp()
        self.tmp = self.create_tempdir().full_path
        self.root, _ = _audio_folder(os.path.join(self.tmp, "clips"))
        self.name = "dir:" + self.root

    def _model(self, input_shape, name="model.keras"):
        path = os.path.join(self.tmp, name)
        if None in input_shape:  # any length: pooled over time
            inputs = keras.Input(input_shape)
            model = keras.Model(inputs, keras.layers.Dense(2)(
                keras.layers.GlobalAveragePooling1D()(inputs)))
        else:
            model = helpers.tiny_mlp(input_shape, 2)
        export.save_keras_model(model, path)
        return path

    def _prepare(self, model_shape, **changes):
        lines = []
        job = quantize.QuantizeJob(model=self._model(model_shape), mode="dynamic")
        run = runner.prepare(job, _training(os.path.join(self.tmp, "out"), self.name,
                                            **changes), log=lines.append)
        return run, lines

    def test_from_the_data_when_the_model_takes_any_length(self):
        run, lines = self._prepare((None, 1))
        self.assertEqual(run.data_record()["audio"], {
            "sample_rate": _RATE, "clip_samples": 100, "channels": 1, "length_from": "data",
            "clips_padded": 10, "clips_cropped": 1})
        self.assertEqual(lines[0], f"{self.name}: clips of 100 samples (0.01 s at 8,000 Hz, "
                                   "from the longest training clip): 10 of 12 padded with "
                                   "zeros, 1 cropped; the median training clip has 65 "
                                   "samples.")

    def test_from_the_model_it_is_given(self):
        run, lines = self._prepare((64,))
        self.assertEqual(run.data_options["image_shape"], (64,))
        record = run.data_record()
        self.assertEqual((record["audio"]["length_from"], record["audio"]["clip_samples"],
                          record["audio"]["clips_cropped"]), ("model", 64, 5))
        self.assertEqual(record["normalize"], "none")
        self.assertIn("from the model's input length", lines[0])
        x, _ = next(iter(run.train_batches()))
        self.assertEqual(x.shape[1:], (64,))

    def test_from_the_flag_and_a_model_of_another_length_is_refused(self):
        run, _ = self._prepare((None, 1), audio_length=30)
        self.assertEqual(run.training.dataset, self.name + "?audio_length=30")
        self.assertEqual(run.data_record()["audio"]["length_from"], "flag")
        self.assertEqual(run.data_options["image_shape"], (30, 1))
        with self.assertRaisesRegex(ValueError, re.escape(
                "takes inputs of shape (64,), but dataset '" + self.name
                + "?audio_length=30' has audio clips of shape (30, 1) (the clips are made "
                "30 samples long by `audio_length`, and the model takes 64: pass "
                "audio_length=64, or leave it out")):
            self._prepare((64,), audio_length=30)

    def test_a_clip_with_more_channels_than_the_model_takes_is_named(self):
        _write_wav(os.path.join(self.root, "train", "yes", "stereo.wav"), _ramp(10, 0, 2))
        with self.assertRaisesRegex(ValueError, re.escape(
                "(1 clip(s) have more channels than the 1 it takes: "
                "['train/yes/stereo.wav']; mix them down or remove them)")):
            self._prepare((64,))
        # A model taking two channels gets the mono clips copied into both.
        run, _ = self._prepare((64, 2))
        x, _ = next(iter(run.train_batches()))
        self.assertEqual(x.shape[1:], (64, 2))
        self.assertAllEqual(x[..., 0], x[..., 1])

    def test_a_run_writes_the_record_into_summary_json(self):
        out = os.path.join(self.tmp, "quantized")
        runner.run(quantize.QuantizeJob(model=self._model((64,)), mode="dynamic"),
                   _training(out, self.name, hold_out="bob_*", audio_length=64), **_QUIET)
        with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
            summary = json.load(f)
        self.assertEqual(summary["config"]["dataset"],
                         self.name + "?audio_length=64&hold_out=bob_*")
        self.assertEqual(summary["config"]["test_split"], "held_out")
        self.assertEqual(summary["data"]["audio"], {
            "sample_rate": _RATE, "clip_samples": 64, "channels": 1, "length_from": "flag",
            "clips_padded": 7, "clips_cropped": 5})
        self.assertEqual(summary["data"]["image_shape"], [64])
        # The exported file is measured on clips of its own length, on the
        # held-out split unless told.
        lines = []
        run = runner.prepare(evaluate_tflite.EvaluateJob(
            tflite=os.path.join(out, "model.tflite"), batch_sizes=(1,), repeats=1),
            settings.Training(None, dataset=self.name, hold_out="bob_*"), log=lines.append)
        self.assertEqual(run.data_options["image_shape"], (64,))
        self.assertIn("from the model's input length", lines[0])
        self.assertEqual(run.job.finish(run)["num_examples"], 6)
        self.assertIn(f"on {self.name}?hold_out=bob_* held_out (6 examples)",
                      "\n".join(lines))
        with self.assertRaisesRegex(ValueError, re.escape(
                f"takes inputs of shape (64,), but dataset '{self.name}?audio_length=30' has "
                "audio clips of shape (30, 1) (the clips are made 30 samples long by "
                "`audio_length`, and the model takes 64")):
            runner.prepare(evaluate_tflite.EvaluateJob(
                tflite=os.path.join(out, "model.tflite"), batch_sizes=(1,)),
                settings.Training(None, dataset=self.name, audio_length=30), **_QUIET)


class BadFilesTest(tf.test.TestCase):
    """Every bad file is named before any work."""

    def setUp(self):
        super().setUp()
        self.root, _ = _audio_folder(self.create_tempdir().full_path)
        self.name = "dir:" + self.root

    def _raises(self, text):
        return self.assertRaisesRegex(ValueError, re.escape(text))

    def test_not_a_wav_and_empty_files(self):
        with open(os.path.join(self.root, "train", "no", "junk.wav"), "wb") as f:
            f.write(b"RIFF, but not really")
        open(os.path.join(self.root, "test", "yes", "zero.wav"), "wb").close()
        _write_wav(os.path.join(self.root, "train", "yes", "silent.wav"), np.zeros((0, 1)))
        with self._raises(
                "1 file(s) cannot be decoded as WAV files of 16-bit PCM samples (what "
                "tf.audio.decode_wav reads): ['train/no/junk.wav']; 2 file(s) are empty "
                "(0 bytes or 0 samples): ['test/yes/zero.wav', 'train/yes/silent.wav']. "
                "Remove or replace them."):
            data.open_source(self.name)

    def test_at_most_five_names_then_dots(self):
        for i in range(7):
            open(os.path.join(self.root, "train", "no", f"z{i}.wav"), "wb").close()
        with self._raises("7 file(s) are empty (0 bytes or 0 samples): ['train/no/z0.wav', "
                          "'train/no/z1.wav', 'train/no/z2.wav', 'train/no/z3.wav', "
                          "'train/no/z4.wav'] ..."):
            data.open_source(self.name)

    def test_sample_rates_that_differ(self):
        _write_wav(os.path.join(self.root, "test", "no", "fast.wav"), _ramp(30), 16000)
        with self._raises(
                "its clips have different sample rates: 8000 Hz (12 file(s), e.g. "
                "'test/no/ann_0.wav'), 16000 Hz (1 file(s), e.g. 'test/no/fast.wav'). "
                "Resampling is not supported"):
            data.open_source(self.name)

    def test_a_folder_of_images_and_audio(self):
        path = os.path.join(self.root, "train", "yes", "photo.png")
        tf.io.write_file(path, tf.io.encode_png(tf.zeros((4, 4, 1), tf.uint8)))
        with self._raises("the folder mixes images (1, e.g. 'train/yes/photo.png') and .wav "
                          "audio clips (12, e.g. 'test/no/ann_0.wav'): a dataset is one or "
                          "the other."):
            data.open_source(self.name)

    def test_hold_out_patterns_matching_nothing_or_everything(self):
        with self._raises("`hold_out` pattern(s) ['carl_*'] match no file's name (names "
                          "such as 'ann_0.wav')"):
            data.open_source(self.name + "?hold_out=bob_*,carl_*")
        with self._raises("`hold_out` 'ann_*,bob_*' matches every file of train/ (8): "
                          "nothing would be left to train on"):
            data.open_source(self.name + "?hold_out=ann_*,bob_*")

    def test_options_of_the_dataset_string(self):
        with self._raises(f"`dataset` '{self.name}?length=3': unknown option 'length' "
                          "after '?'; dir:PATH takes audio_length=..., hold_out=..., joined "
                          "by '&'."):
            data.open_source(self.name + "?length=3")
        with self._raises("option 'audio_length' must be a positive number of samples, "
                          "got 'many'."):
            data.open_source(self.name + "?audio_length=many")
        with self._raises("option 'hold_out' is given twice."):
            data.open_source(self.name + "?hold_out=a*&hold_out=b*")

    def test_audio_length_on_images_is_refused(self):
        images = os.path.join(self.create_tempdir().full_path, "images")
        for label in ("cat", "dog"):
            for split in ("train", "test"):
                os.makedirs(os.path.join(images, split, label))
                tf.io.write_file(os.path.join(images, split, label, "a_1.png"),
                                 tf.io.encode_png(tf.zeros((4, 4, 1), tf.uint8)))
        with self._raises("`audio_length` is for folders of .wav clips, but this one holds "
                          "images: drop it."):
            data.open_source(f"dir:{images}?audio_length=5")


class ImageFolderHoldOutTest(tf.test.TestCase):

    def test_image_files_are_held_out_by_name_and_a_tenth_validates(self):
        root = self.create_tempdir().full_path
        for split, count in (("train", 20), ("test", 4)):
            for i in range(count):
                label = ("cat", "dog")[i % 2]
                path = os.path.join(root, split, label, f"{('sun', 'rain')[i % 3 == 0]}_{i}.png")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tf.io.write_file(path, tf.io.encode_png(tf.fill((4, 4, 1), tf.constant(255, tf.uint8))))
        name = f"dir:{root}?hold_out=rain_*"
        source = data.open_source(name)
        self.assertFalse(source.is_audio)
        self.assertEqual(source.split_sizes, {"train": 13, "test": 2, "held_out": 9})
        self.assertEqual(data.default_splits(name), {
            "train": "train[10%:]", "val": "train[:10%]", "test": "held_out"})
        self.assertEqual(data.default_splits("dir:" + root)["test"], "test")


class TrainingOptionsTest(tf.test.TestCase):

    def test_flags_fold_into_the_dataset_and_its_record(self):
        training = settings.Training(output_dir="o", dataset="dir:clips", audio_length=8000,
                                     hold_out="jackson_*, theo_*")
        self.assertEqual(training.dataset, "dir:clips?audio_length=8000&hold_out=jackson_*,"
                                           "theo_*")
        self.assertEqual(training.replace(epochs=2).dataset, training.dataset)
        self.assertEqual(training.recorded()["dataset"], "dir:" + os.path.abspath("clips")
                         + "?audio_length=8000&hold_out=jackson_*,theo_*")
        # Given twice alike is fine; the order of options does not matter.
        same = settings.Training(output_dir="o", audio_length=8000,
                                 dataset="dir:clips?hold_out=jackson_*,theo_*"
                                         "&audio_length=8000")
        self.assertEqual(same.check().recorded(), training.recorded())

    def test_conflicts_and_other_datasets_are_refused(self):
        with self.assertRaisesRegex(ValueError, re.escape(
                "`audio_length` 4000 conflicts with `dataset` 'dir:clips?audio_length=8000', "
                "which says audio_length=8000: give it once.")):
            settings.Training(output_dir="o", dataset="dir:clips?audio_length=8000",
                              audio_length=4000).check()
        with self.assertRaisesRegex(ValueError, re.escape(
                "`hold_out` is for folder datasets (dir:PATH), but `dataset` is 'mnist': "
                "drop it.")):
            settings.Training(output_dir="o", hold_out="a_*").check()

    def test_the_shared_flags(self):
        with flagsaver.flagsaver(dataset="dir:clips", audio_length=16000, hold_out="theo_*"):
            training = common.training("saved_models/x")
        self.assertEqual(training.dataset, "dir:clips?audio_length=16000&hold_out=theo_*")


class RealClipsTest(tf.test.TestCase):
    """A few FSDD files, as `tf.audio.decode_wav` reads them."""

    def test_fsdd_clips(self):
        if not os.path.isdir(_FSDD):
            self.skipTest(f"no FSDD at {_FSDD}")
        root = self.create_tempdir().full_path
        for split, index in (("train", 5), ("train", 6), ("test", 0)):
            for digit in ("0", "1"):
                for speaker in ("jackson", "theo"):
                    name = f"{speaker}_{index}.wav"
                    os.makedirs(os.path.join(root, split, digit), exist_ok=True)
                    shutil.copy(os.path.join(_FSDD, split, digit, name),
                                os.path.join(root, split, digit, name))
        name = f"dir:{root}?hold_out=theo_*"
        source = data.open_source(name)
        self.assertEqual((source.sample_rate, source.channels), (8000, 1))
        self.assertEqual(source.split_sizes, {"train": 4, "test": 2, "held_out": 6})
        x, y = _collect(data.load(name, "held_out", image_shape=(8000,)))
        self.assertEqual(x.shape, (6, 8000))
        self.assertEqual(sorted(y.tolist()), [0, 0, 0, 1, 1, 1])
        want = set()
        for split, index in (("train", 5), ("train", 6), ("test", 0)):
            for digit in ("0", "1"):
                clip = tf.audio.decode_wav(tf.io.read_file(os.path.join(
                    _FSDD, split, digit, f"theo_{index}.wav")))[0].numpy()[:8000, 0]
                want.add((digit, tuple(np.pad(clip, (0, 8000 - len(clip))))))
        self.assertEqual({(str(label), tuple(clip)) for clip, label in zip(x, y)}, want)


if __name__ == "__main__":
    tf.test.main()
