"""Where a dataset comes from: a TFDS name, `npz:PATH`, `dir:PATH` or `tsv:PATH`.

Every `tfcompress.data` function takes the dataset as one string and opens
it here, so the jobs and the command line take the user's own data wherever
they take a TFDS name. A source has:

  name           the string as given (quoted in errors)
  is_text        examples are int32 token ids, not images (tsv:): never scaled
  is_audio       examples are audio clips (dir: of .wav files, data/audio.py):
                 float samples in [-1, 1], never scaled (optional, False)
  image_shape    shape of one image as stored (for dir:, see data/folders.py);
                 for text, (sequence_length,); for audio, (samples, channels)
  num_classes, class_names (None when unknown)
  split_sizes    {split name: examples}
  resizable      images can be resized to a model's height and width (audio:
                 clips padded or cropped to a model's length)
  already_scaled float images already in [0, 1] (wrong for normalize="unit")
  num_examples(split), raw_examples(split, image_shape)
  default_splits (optional) {"train", "val", "test"}: the splits a job
                 reads unless told (`default_splits` below)

Text sources also have `vocabulary`, `vocabulary_size`, `sequence_length`,
`record()` (for a job's summary) and `write_vocabulary(folder)`; see
data/text.py. Audio sources also have `sample_rate`, `mismatch(shape)` and
`record(...)`; see data/audio.py.

Folder datasets take options after the path, `dir:PATH?audio_length=8000&hold_out=jackson_*`
(`OPTIONS`): the dataset string stays the one thing every data call passes.
"""

import os

from tfcompress.data import arrays
from tfcompress.data import audio
from tfcompress.data import folders
from tfcompress.data import text
from tfcompress.data import tfds_source

# The options of dir:PATH?KEY=VALUE&...: what each means is in data/folders.py
# (hold_out) and data/audio.py (audio_length).
OPTIONS = ("audio_length", "hold_out")


def _open_folder(_, name):
    """The source of the class folders of dir:PATH[?OPTIONS] `name`: images, or .wav clips."""
    base, chosen = split_options(name)
    path = base[len(folders.PREFIX):]
    listing = folders.list_folder(path, name, hold_out=chosen.get("hold_out", ()))
    if listing.is_audio:
        return audio.open_audio_folder(listing, name,
                                       audio_length=chosen.get("audio_length"))
    if "audio_length" in chosen:
        raise ValueError(f"`dataset` {name!r}: `audio_length` is for folders of .wav clips, "
                         "but this one holds images: drop it.")
    return folders.open_folder(listing, name)


_OPENERS = ((arrays.PREFIX, arrays.open_npz), (folders.PREFIX, _open_folder),
            (text.PREFIX, text.open_tsv))


def open_source(name, data_dir=None):
    """The source of dataset `name`; `data_dir` is TFDS's (unused by npz:, dir:, tsv:).

    Raises:
      ValueError, FileNotFoundError: the dataset cannot be used, naming it,
        what is wrong and what to do.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`dataset` must be a TFDS name, npz:PATH, dir:PATH or "
                         f"tsv:PATH, got {name!r}.")
    for prefix, opener in _OPENERS:
        if name.startswith(prefix):
            if not split_options(name)[0][len(prefix):]:
                raise ValueError(f"`dataset` {name!r} names no path: pass {prefix}PATH.")
            return opener(name[len(prefix):], name)
    return tfds_source.TfdsSource(name, data_dir)


# What a job reads unless told: TFDS datasets and arrays hold out the first
# 5,000 training examples for validation (MNIST's usual cut); a source with
# its own validation split (tsv:, dir:) says so.
HELD_OUT_SPLITS = {"train": "train[5000:]", "val": "train[:5000]", "test": "test"}


def default_splits(name, data_dir=None):
    """{"train", "val", "test"}: the splits dataset `name` is read by unless told."""
    return getattr(open_source(name, data_dir), "default_splits", HELD_OUT_SPLITS)


def split_options(name):
    """(dataset without options, {option: value}) of a dir:PATH?KEY=VALUE&... string.

    Values come checked: "audio_length" a positive int, "hold_out" a tuple of
    filename patterns (comma-separated). Other datasets take no options:
    `name` comes back whole, with {}.

    Raises:
      ValueError: an unknown or repeated option, or a bad value, named.
    """
    if not isinstance(name, str) or not name.startswith(folders.PREFIX) or "?" not in name:
        return name, {}
    base, _, query = name.rpartition("?")
    chosen = {}
    for item in query.split("&"):
        key, equals, value = item.partition("=")
        if key in OPTIONS and not equals:
            raise ValueError(f"`dataset` {name!r}: option {key!r} has no value: write "
                             f"{key}=VALUE.")
        if key not in OPTIONS:
            raise ValueError(f"`dataset` {name!r}: unknown option {key!r} after '?'; "
                             f"dir:PATH takes {', '.join(k + '=...' for k in OPTIONS)}, "
                             "joined by '&'.")
        if key in chosen:
            raise ValueError(f"`dataset` {name!r}: option {key!r} is given twice.")
        chosen[key] = check_option(key, value, f"`dataset` {name!r}: option {key!r}")
    return base, chosen


def check_option(key, value, what):
    """`value` of option `key` checked and made canonical; `what` starts the error.

    Raises:
      ValueError: a value `key` does not take.
    """
    if key == "audio_length":
        try:
            length = int(value)
        except (TypeError, ValueError):
            length = 0
        if isinstance(value, bool) or length <= 0 or str(length) != str(value).strip():
            raise ValueError(f"{what} must be a positive number of samples, got {value!r}.")
        return length
    patterns = value.split(",") if isinstance(value, str) else list(value or ())
    if all(isinstance(p, str) for p in patterns):
        patterns = tuple(p.strip() for p in patterns if p.strip())
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"{what} must be comma-separated filename patterns such as "
                         f"'jackson_*' or 'jackson_*,theo_*', got {value!r}.")
    return patterns


def with_options(name, **chosen):
    """Dataset `name` with the options `chosen` (those not None) added after '?'.

    Raises:
      ValueError: `name` is not a dir: dataset, or already has an option with
        another value (naming both).
    """
    chosen = {k: v for k, v in chosen.items() if v is not None}
    if not chosen:
        return name
    if not isinstance(name, str) or not name.startswith(folders.PREFIX):
        both = len(chosen) > 1
        raise ValueError(f"`{'` and `'.join(chosen)}` {'are' if both else 'is'} for "
                         f"folder datasets (dir:PATH), but `dataset` is {name!r}: drop "
                         f"{'them' if both else 'it'}.")
    base, have = split_options(name)
    for key, value in chosen.items():
        value = check_option(key, value, f"`{key}`")
        if key in have and have[key] != value:
            raise ValueError(f"`{key}` {_text(value)} conflicts with `dataset` {name!r}, "
                             f"which says {key}={_text(have[key])}: give it once.")
        have[key] = value
    return _joined(base, have)


def _text(value):
    return ",".join(value) if isinstance(value, tuple) else str(value)


def _joined(base, chosen):
    """dir:PATH?KEY=VALUE&... with the options in `OPTIONS` order."""
    query = "&".join(f"{key}={_text(chosen[key])}" for key in OPTIONS if key in chosen)
    return f"{base}?{query}" if query else base


def canonical_name(name):
    """`name` with the path of npz:, dir: and tsv: made absolute (as run configs record it).

    A dir: dataset keeps its options, in a fixed order.
    """
    for prefix, _ in _OPENERS:
        if isinstance(name, str) and name.startswith(prefix) and name[len(prefix):]:
            base, chosen = split_options(name)
            return _joined(prefix + os.path.abspath(os.path.expanduser(base[len(prefix):])),
                           chosen)
    return name
