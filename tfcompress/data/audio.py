"""A dataset of audio clips in class folders (`--dataset=dir:PATH` of .wav files).

The layout, classes, labels, splits and hold-out are those of image folders
(data/folders.py); the files are .wav clips, read as
`keras.utils.audio_dataset_from_directory` reads them: decoded by
`tf.audio.decode_wav` into float32 samples in [-1, 1], shape (samples,
channels), and padded with zeros at the end or cropped (keeping the start)
to one length. Every clip is decoded once per process for the same files
(names, sizes and times), when the dataset is opened, so a bad file is
reported before any work.

The length, in samples (`image_shape` is (length, channels)):
  * `audio_length` (dir:PATH?audio_length=N, or the --audio_length flag)
    when given; a model must then take that length;
  * else the model's input length, when a model with a fixed one is given
    (the clips are padded or cropped to it, as images are resized);
  * else the longest training clip (nothing is cut).

A model taking (length,) gets mono clips without the channel axis. Clips
with more channels than the model takes are refused, by name; mono clips
are copied into every channel a model takes. All clips must have one sample
rate: resampling is not supported.
"""

import collections
import functools
import os

import numpy as np
import tensorflow as tf

from tfcompress.data import folders
from tfcompress.data import shapes
from tfcompress.data import splits

_WAV = "WAV files of 16-bit PCM samples (what tf.audio.decode_wav reads)"


def _fail(name, message):
    raise ValueError(f"`dataset` {name!r}: {message}")


def open_audio_folder(listing, name, audio_length=None):
    """The `AudioFolderSource` of a folder of .wav clips (`folders.list_folder`).

    Args:
      listing: the folder's `folders.Listing`, of audio.
      name: the dataset as the user gave it ("dir:PATH"), quoted in errors.
      audio_length: samples per clip; None: from the model or the data (see
        the module docstring).

    Raises:
      ValueError: files that are not WAV or are empty, or clips of different
        sample rates, each named.
    """
    root = listing.root
    clips, rates, not_wav, empty = _decoded_clips(tuple(sorted(folders.stamps(listing))),
                                                  root)
    problems = []
    if not_wav:
        problems.append(f"{len(not_wav)} file(s) cannot be decoded as {_WAV}: "
                        f"{folders.shown(not_wav)}")
    if empty:
        problems.append(f"{len(empty)} file(s) are empty (0 bytes or 0 samples): "
                        f"{folders.shown(empty)}")
    if problems:
        _fail(name, f"{'; '.join(problems)}. Remove or replace them.")
    by_rate = collections.Counter(rates.values())
    if len(by_rate) > 1:
        example = {}
        for path, rate in rates.items():
            example.setdefault(rate, os.path.relpath(path, root))
        found = ", ".join(f"{rate} Hz ({count:,} file(s), e.g. {example[rate]!r})"
                          for rate, count in by_rate.most_common())
        _fail(name, f"its clips have different sample rates: {found}. Resampling is not "
                    "supported: convert them to one rate first (e.g. sox or librosa).")
    return AudioFolderSource(name, listing, clips, next(iter(by_rate)), audio_length)


@functools.lru_cache(maxsize=4)
def _decoded_clips(stamps, root):
    """Every file decoded: ({path: float32 [samples, channels]}, {path: sample rate},
    files that are not WAV, empty files), the last two relative to `root`.

    Keyed by the files' names, sizes and times, whatever the hold-out.
    """
    clips, rates, not_wav, empty = {}, {}, [], []
    for path, _, size in stamps:
        shown = os.path.relpath(path, root)
        if size == 0:
            empty.append(shown)
            continue
        try:
            samples, rate = tf.audio.decode_wav(tf.io.read_file(path))
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError):
            not_wav.append(shown)
            continue
        if samples.shape[0] == 0:
            empty.append(shown)
            continue
        clips[path], rates[path] = samples.numpy(), int(rate)
    return clips, rates, not_wav, empty


class AudioFolderSource:
    """Audio clips in class folders: splits, clip shape, sample rate, classes, examples."""

    is_text = False
    is_audio = True
    already_scaled = False

    def __init__(self, name, listing, clips, sample_rate, audio_length=None):
        self.name = name
        self.class_names = list(listing.classes)
        self.num_classes = len(self.class_names)
        self.sample_rate = sample_rate
        self._root = listing.root
        self._clips = clips
        # A fixed order that mixes the classes, as image folders have.
        self._files = {split: [pairs[i] for i in np.random.default_rng(0).permutation(
            len(pairs))] for split, pairs in listing.files.items()}
        self._train_lengths = [len(clips[path]) for path, _ in listing.files[folders.TRAIN]]
        self.length_from_flag = audio_length is not None
        # A length given by the user is kept; else clips fit the model's.
        self.resizable = not self.length_from_flag
        self.clip_samples = audio_length or max(self._train_lengths)
        self.channels = max(clip.shape[1] for clip in clips.values())
        self.image_shape = (self.clip_samples, self.channels)

    @property
    def split_sizes(self):
        return {split: len(pairs) for split, pairs in self._files.items()}

    @property
    def default_splits(self):
        return folders.default_splits(self._files)

    def num_examples(self, split):
        return splits.count(split, self.split_sizes)

    def mismatch(self, shape):
        """Why the clips cannot be given as inputs of `shape`, else None.

        Clips with more channels than `shape` takes are named.
        """
        want = shapes.fill_unknown(self.image_shape, shape)
        takes = shapes.audio_channels(want)
        if takes is not None:
            more = [os.path.relpath(path, self._root) for path, clip in self._clips.items()
                    if clip.shape[1] > takes]
            if more:
                return (f"{len(more)} clip(s) have more channels than the {takes} it takes: "
                        f"{folders.shown(more)}; mix them down or remove them")
        return shapes.mismatch(self.image_shape, want, self.resizable, audio=True)

    def raw_examples(self, split, image_shape):
        """(float32 clip, label) pairs of `split`, padded or cropped to `image_shape`."""
        reason = self.mismatch(image_shape)
        if reason:
            raise ValueError(f"`image_shape` {tuple(image_shape)} does not fit dataset "
                             f"{self.name!r}: {reason}.")
        want = shapes.fill_unknown(self.image_shape, image_shape)
        pairs = [pair for part, start, stop in splits.ranges(split, self.split_sizes)
                 for pair in self._files[part][start:stop]]
        clips = np.zeros((len(pairs), want[0], shapes.audio_channels(want)), np.float32)
        for row, (path, _) in enumerate(pairs):
            clip = self._clips[path][:want[0]]
            clips[row, :len(clip)] = clip  # a mono clip fills every channel
        labels = np.array([label for _, label in pairs], np.int64)
        return tf.data.Dataset.from_tensor_slices((clips.reshape((len(pairs), *want)),
                                                   labels))

    def length_from(self, fixed_by_model):
        """Where the clips' length comes from: "flag", "model" or "data"."""
        if self.length_from_flag:
            return "flag"
        return "model" if fixed_by_model else "data"

    def _padded_cropped(self, clip_samples):
        lengths = [len(clip) for clip in self._clips.values()]
        return (sum(n < clip_samples for n in lengths),
                sum(n > clip_samples for n in lengths))

    def record(self, clip_samples, length_from):
        """How clips became inputs, for a job's summary: a deployment must match it."""
        padded, cropped = self._padded_cropped(clip_samples)
        return {"sample_rate": self.sample_rate, "clip_samples": int(clip_samples),
                "channels": self.channels, "length_from": length_from,
                "clips_padded": padded, "clips_cropped": cropped}

    def describe(self, clip_samples, length_from):
        """One line for the log: the clips' length, where from, and what it cut."""
        padded, cropped = self._padded_cropped(clip_samples)
        source = {"flag": "audio_length", "model": "the model's input length",
                  "data": "the longest training clip"}[length_from]
        median = int(np.median(self._train_lengths))
        line = (f"{self.name}: clips of {clip_samples:,} samples "
                f"({clip_samples / self.sample_rate:.2f} s at {self.sample_rate:,} Hz, from "
                f"{source}): {padded:,} of {len(self._clips):,} padded with zeros, "
                f"{cropped:,} cropped; the median training clip has {median:,} samples.")
        if length_from == "data" and clip_samples > 2 * median:
            keep = int(np.percentile(self._train_lengths, 95))
            line += (f" Most clips are far shorter than the longest: --audio_length={keep} "
                     "keeps 95% of them whole with less padding.")
        return line
