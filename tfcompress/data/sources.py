"""Where a dataset comes from: a TFDS name, `npz:PATH` or `dir:PATH`.

Every `tfcompress.data` function takes the dataset as one string and opens
it here, so the jobs and the command line take the user's own data wherever
they take a TFDS name. A source has:

  name           the string as given (quoted in errors)
  image_shape    shape of one image as stored (for dir:, see data/folders.py)
  num_classes, class_names (None when unknown)
  split_sizes    {split name: examples}
  resizable      images can be resized to a model's height and width
  already_scaled float images already in [0, 1] (wrong for normalize="unit")
  num_examples(split), raw_examples(split, image_shape)
"""

import os

from tfcompress.data import arrays
from tfcompress.data import folders
from tfcompress.data import tfds_source


def open_source(name, data_dir=None):
    """The source of dataset `name`; `data_dir` is TFDS's (unused by npz: and dir:).

    Raises:
      ValueError, FileNotFoundError: the dataset cannot be used, naming it,
        what is wrong and what to do.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`dataset` must be a TFDS name, npz:PATH or dir:PATH, got "
                         f"{name!r}.")
    for prefix, opener in ((arrays.PREFIX, arrays.open_npz),
                           (folders.PREFIX, folders.open_folder)):
        if name.startswith(prefix):
            if not name[len(prefix):]:
                raise ValueError(f"`dataset` {name!r} names no path: pass {prefix}PATH.")
            return opener(name[len(prefix):], name)
    return tfds_source.TfdsSource(name, data_dir)


def canonical_name(name):
    """`name` with the path of npz: and dir: made absolute (as run configs record it)."""
    for prefix in (arrays.PREFIX, folders.PREFIX):
        if isinstance(name, str) and name.startswith(prefix) and name[len(prefix):]:
            return prefix + os.path.abspath(os.path.expanduser(name[len(prefix):]))
    return name
