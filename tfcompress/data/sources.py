"""Where a dataset comes from: a TFDS name, `npz:PATH`, `dir:PATH` or `tsv:PATH`.

Every `tfcompress.data` function takes the dataset as one string and opens
it here, so the jobs and the command line take the user's own data wherever
they take a TFDS name. A source has:

  name           the string as given (quoted in errors)
  is_text        examples are int32 token ids, not images (tsv:): never scaled
  image_shape    shape of one image as stored (for dir:, see data/folders.py);
                 for text, (sequence_length,)
  num_classes, class_names (None when unknown)
  split_sizes    {split name: examples}
  resizable      images can be resized to a model's height and width
  already_scaled float images already in [0, 1] (wrong for normalize="unit")
  num_examples(split), raw_examples(split, image_shape)
  default_splits (optional) {"train", "val", "test"}: the splits a job
                 reads unless told (`default_splits` below)

Text sources also have `vocabulary`, `vocabulary_size`, `sequence_length`,
`record()` (for a job's summary) and `write_vocabulary(folder)`; see
data/text.py.
"""

import os

from tfcompress.data import arrays
from tfcompress.data import folders
from tfcompress.data import text
from tfcompress.data import tfds_source

_OPENERS = ((arrays.PREFIX, arrays.open_npz), (folders.PREFIX, folders.open_folder),
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
            if not name[len(prefix):]:
                raise ValueError(f"`dataset` {name!r} names no path: pass {prefix}PATH.")
            return opener(name[len(prefix):], name)
    return tfds_source.TfdsSource(name, data_dir)


# What a job reads unless told: TFDS datasets and arrays hold out the first
# 5,000 training examples for validation (MNIST's usual cut); a source with
# its own validation split (tsv:) says so.
HELD_OUT_SPLITS = {"train": "train[5000:]", "val": "train[:5000]", "test": "test"}


def default_splits(name, data_dir=None):
    """{"train", "val", "test"}: the splits dataset `name` is read by unless told."""
    return getattr(open_source(name, data_dir), "default_splits", HELD_OUT_SPLITS)


def canonical_name(name):
    """`name` with the path of npz:, dir: and tsv: made absolute (as run configs record it)."""
    for prefix, _ in _OPENERS:
        if isinstance(name, str) and name.startswith(prefix) and name[len(prefix):]:
            return prefix + os.path.abspath(os.path.expanduser(name[len(prefix):]))
    return name
