"""A dataset of NumPy arrays in one .npz file (`--dataset=npz:PATH`).

The file holds `x_train`, `y_train`, `x_test`, `y_test` and optionally
`x_val`, `y_val` (splits "train", "test", "val") and `class_names`, as
`np.savez(PATH, x_train=..., ...)` writes them. Images are (n, height, width)
or (n, height, width, channels) arrays of numbers (uint8 0-255 for the
default --normalize=unit); (n, height, width) gets a channel axis of 1, as
TFDS gives MNIST. Labels are integer class indices in [0, classes), one per
image; the classes are `class_names`, else 0 to the largest training label.
Splits read rows in the arrays' order: "train[:5000]" is the first 5,000 rows.
"""

import functools
import os
import zipfile

import numpy as np
import tensorflow as tf

from tfcompress.data import shapes
from tfcompress.data import splits

PREFIX = "npz:"
SPLIT_ARRAYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test"),
                "val": ("x_val", "y_val")}
_REQUIRED = ("x_train", "y_train", "x_test", "y_test")
_HOW = ("Save it with np.savez(PATH, x_train=..., y_train=..., x_test=..., y_test=...) "
        "(optional x_val, y_val, class_names).")


def open_npz(path, name):
    """The `NpzSource` of the file at `path`, checked (read once per file version).

    Args:
      path: the .npz file.
      name: the dataset as the user gave it ("npz:PATH"), quoted in errors.

    Raises:
      FileNotFoundError: no file at `path`.
      ValueError: the file cannot be read, or its arrays are not a dataset
        (each message names the array, what is wrong and what to do).
    """
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`dataset` {name!r}: no .npz file at {path!r}. {_HOW}")
    stat = os.stat(path)
    return _open(path, stat.st_mtime_ns, stat.st_size, name)


@functools.lru_cache(maxsize=4)
def _open(path, mtime_ns, size, name):
    del mtime_ns, size  # part of the cache key only: a rewritten file is read again
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds one array, not named arrays")
        with loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"`dataset` {name!r}: {path!r} is not a readable .npz file "
                         f"({e}). {_HOW}") from None
    return NpzSource(name, arrays)


def _fail(name, message):
    raise ValueError(f"`dataset` {name!r}: {message}")


def _check_images(name, key, x):
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number):
        _fail(name, f"`{key}` has dtype {x.dtype}: images must be numbers (uint8 0-255, "
                    "or floats).")
    if x.ndim < 2:
        _fail(name, f"`{key}` has shape {x.shape}: it needs one row per image, e.g. "
                    "(n, height, width) or (n, height, width, channels).")
    if np.issubdtype(x.dtype, np.floating):
        bad = x.size - int(np.isfinite(x).sum())
        if bad:
            _fail(name, f"`{key}` holds {bad} NaN or inf values: pass finite images.")


def _check_labels(name, key, y, num_images, x_key):
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        _fail(name, f"`{key}` has shape {y.shape}: labels must be class indices, shape "
                    "(n,) (one-hot labels? save y.argmax(axis=1)).")
    if not np.issubdtype(y.dtype, np.integer):
        _fail(name, f"`{key}` has dtype {y.dtype}: labels must be integer class indices "
                    "(whole numbers? save y.astype(np.int64)).")
    if len(y) != num_images:
        _fail(name, f"`{x_key}` holds {num_images} images but `{key}` {len(y)} labels: "
                    "save one label per image.")
    return y


class NpzSource:
    """The arrays of one .npz file: splits, image shape, classes and examples."""

    is_text = False
    resizable = False

    def __init__(self, name, arrays):
        self.name = name
        missing = [key for key in _REQUIRED if key not in arrays]
        if missing:
            _fail(name, f"the file has no array {', '.join(map(repr, missing))} (it "
                        f"holds {sorted(arrays)}). {_HOW}")
        if ("x_val" in arrays) != ("y_val" in arrays):
            _fail(name, "the file has only one of `x_val` and `y_val`: save both (a "
                        "\"val\" split) or neither.")
        self._splits = {}
        for split, (x_key, y_key) in SPLIT_ARRAYS.items():
            if x_key not in arrays:
                continue
            x = arrays[x_key]
            _check_images(name, x_key, x)
            y = _check_labels(name, y_key, arrays[y_key], len(x), x_key)
            if x.ndim == 3:  # (n, height, width): one channel, as TFDS gives MNIST
                x = x[..., np.newaxis]
            self._splits[split] = (x, y)
        train_shape = self._splits["train"][0].shape[1:]
        for split, (x, _) in self._splits.items():
            if x.shape[1:] != train_shape:
                _fail(name, f"`{SPLIT_ARRAYS[split][0]}` holds images of shape "
                            f"{x.shape[1:]} but `x_train` of shape {train_shape}: every "
                            "split needs images of one shape.")
        self.class_names = self._class_names(arrays.get("class_names"))
        self._check_classes()

    def _class_names(self, names):
        if names is None:
            return None
        if names.ndim != 1 or not np.issubdtype(names.dtype, np.str_):
            _fail(self.name, f"`class_names` must be a 1-D array of strings, got dtype "
                             f"{names.dtype} and shape {names.shape}.")
        return [str(n) for n in names]

    def _check_classes(self):
        y_train = self._splits["train"][1]
        if self.class_names is not None:
            self.num_classes = len(self.class_names)
        elif len(y_train):
            self.num_classes = int(y_train.max()) + 1
        else:
            _fail(self.name, "`x_train` and `y_train` hold no examples.")
        where = ("`class_names`" if self.class_names is not None
                 else "the largest label of `y_train`, plus 1")
        for split, (_, y) in self._splits.items():
            bad = y[(y < 0) | (y >= self.num_classes)]
            if len(bad):
                _fail(self.name, f"`{SPLIT_ARRAYS[split][1]}` holds {len(bad)} labels "
                                 f"outside [0, {self.num_classes}) (e.g. {bad[0]}): "
                                 "labels must be class indices 0 to classes - 1 (the "
                                 f"classes come from {where}).")
        if self.num_classes < 2:
            _fail(self.name, f"there are {self.num_classes} classes (labels in "
                             f"`y_train`: {sorted(set(y_train.tolist()))}): a classifier "
                             "needs at least 2.")

    @property
    def image_shape(self):
        return tuple(self._splits["train"][0].shape[1:])

    @property
    def split_sizes(self):
        return {split: len(y) for split, (_, y) in self._splits.items()}

    @property
    def already_scaled(self):
        """Float images all in [0, 1]: dividing by 255 again would be a mistake."""
        xs = [x for x, _ in self._splits.values()]
        return all(np.issubdtype(x.dtype, np.floating) for x in xs) and all(
            x.size == 0 or (x.min() >= 0 and x.max() <= 1) for x in xs)

    def num_examples(self, split):
        return splits.count(split, self.split_sizes)

    def raw_examples(self, split, image_shape):
        """(image, label) pairs of `split` in the arrays' order, images as `image_shape`."""
        ranges = splits.ranges(split, self.split_sizes)
        x, y = (np.concatenate([self._splits[name][column][start:stop]
                                for name, start, stop in ranges]) for column in (0, 1))
        ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int64)))
        if tuple(image_shape) == self.image_shape:
            return ds
        convert = shapes.converter(self.image_shape, image_shape)
        return ds.map(lambda image, label: (convert(image), label))
