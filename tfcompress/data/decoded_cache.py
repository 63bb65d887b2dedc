"""Decoded images kept on disk, keyed by their files, so a folder is decoded once.

Decoding CIFAR-10's 60,000 JPEGs took 35-80 s here, and every job of a pipeline
opens its dataset again. The first open of an image folder (`dir:PATH`)
stores the decoded pixels, uint8 at each image's own size and channels,
in one entry (a folder of .npy files) under the cache folder:

    $TFCOMPRESS_CACHE_DIR, else $XDG_CACHE_HOME/tfcompress, else
    ~/.cache/tfcompress; entries in its decoded_images/ subfolder

An entry's name is a hash of the folder's path and a hash of every file's
path, size and modification time (ns) plus the decoding's parameters, so a
changed, added or removed file, or another TensorFlow, makes a new entry;
writing it removes the folder's older entry (one entry per folder, about
the decoded size: 180 MB for CIFAR-10's 60,000 32x32 RGB images), and the
entries of folders that no longer exist (a test's temporary ones). Entries
are written under a temporary name and renamed (`_atomic`): a killed run
never leaves a partial entry that a later run reads. A cache folder that
cannot be written (a read-only home) only costs the speed-up: a warning,
once per process, and the run goes on. The pixels are memory-mapped, so an
open reads only the file list and shapes; a pass over the images reads them.

Images of mixed sizes share one flat pixel buffer, each image at its
offset with its own (height, width, channels).
"""

import collections.abc
import hashlib
import json
import os
import shutil
import time
import warnings

import numpy as np
import tensorflow as tf

from tfcompress import _atomic

CACHE_DIR_VARIABLE = "TFCOMPRESS_CACHE_DIR"
_SUBFOLDER = "decoded_images"
# Bumped when what an entry holds changes: older entries are then not read.
_FORMAT = 4
# Between the stored paths (one utf-8 string: far faster to read back than
# an array of strings); no path holds it.
_SEPARATOR = "\0"
# In each entry: the folder whose images it holds (to drop entries of removed folders).
_FOLDER_FILE = "folder.txt"
# A temporary file older than this was left by a killed writer.
_STALE_TMP_SECONDS = 3600

_warned_unwritable = False


def cache_dir():
    """The folder that holds the entries (see the module docstring)."""
    root = os.environ.get(CACHE_DIR_VARIABLE)
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        root = os.path.join(base, "tfcompress")
    return os.path.join(os.path.abspath(os.path.expanduser(root)), _SUBFOLDER)


class DecodedImages(collections.abc.Mapping):
    """Every image of a folder decoded: {path: (height, width, channels)}, plus pixels.

    Attributes:
      paths: the image files, in the order of `shapes` and `offsets`.
      shapes: int64 [images, 3] array, (height, width, channels) of each.
      offsets: int64 [images] array, where each image starts in `pixels`.
      pixels: flat uint8 array, the images one after the other, row-major.
    """

    def __init__(self, paths, shapes, pixels):
        self.paths = list(paths)
        self.shapes = np.asarray(shapes, np.int64).reshape(len(self.paths), 3)
        sizes = np.prod(self.shapes, axis=1)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.pixels = np.asarray(pixels, np.uint8).reshape(-1)
        if int(sizes.sum()) != self.pixels.size:
            raise ValueError(f"{self.pixels.size} pixel values for images of "
                             f"{int(sizes.sum())}.")
        self._rows = {path: row for row, path in enumerate(self.paths)}
        self._shape_tuples = list(zip(*self.shapes.T.tolist()))  # 3x faster than tuple()
        self._tensor = None

    def __getitem__(self, path):
        return self._shape_tuples[self._rows[path]]

    def __iter__(self):
        return iter(self.paths)

    def __len__(self):
        return len(self.paths)

    def rows(self, paths):
        """int64 array of the rows of `paths`."""
        return np.asarray([self._rows[path] for path in paths], np.int64)

    def same_shape(self):
        """The one (height, width, channels) of every image, or None if they differ."""
        first = self._shape_tuples[0] if self._shape_tuples else None
        return first if (self.shapes == first).all() else None

    def images(self, rows):
        """uint8 [len(rows), height, width, channels] array; needs `same_shape()`."""
        shape = self.same_shape()
        return self.pixels.reshape(len(self.paths), *shape)[rows]

    def tensor(self):
        """`pixels` as one uint8 tensor, made once (pipelines slice images from it)."""
        if self._tensor is None:
            self._tensor = tf.constant(self.pixels)
        return self._tensor


def _hash(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()


def entry_path(root, stamps, params):
    """Where the entry of these files, decoded with `params`, is kept.

    Args:
      root: the dataset's folder (entries of one folder share a prefix).
      stamps: (path, mtime_ns, size) of every file.
      params: JSON-able dict of how they are decoded.
    """
    key = hashlib.sha256(_hash({"format": _FORMAT, "params": params}).encode("ascii"))
    # One line per file (JSON of 60,000 tuples takes twice as long).
    key.update("\n".join(f"{path}\0{mtime_ns}\0{size}"
                          for path, mtime_ns, size in sorted(stamps)).encode("utf-8"))
    key = key.hexdigest()
    return os.path.join(cache_dir(), f"{_hash(root)[:16]}-{key[:40]}")


def read(path, paths):
    """The entry at `path` if it holds exactly `paths`, else None (a miss).

    An entry that cannot be read (damaged, or of another format) is a miss.
    """
    try:
        names = np.load(os.path.join(path, "paths.npy"), allow_pickle=False)
        stored = names.tobytes().decode("utf-8").split(_SEPARATOR)
        if stored != list(paths) and set(stored) != set(paths):  # same order: no sets
            return None
        return DecodedImages(
            stored, np.load(os.path.join(path, "shapes.npy"), allow_pickle=False),
            np.load(os.path.join(path, "pixels.npy"), mmap_mode="r", allow_pickle=False))
    except (OSError, ValueError):
        return None


def write(path, decoded, root):
    """Stores `decoded`, the images of folder `root`, at `path`, atomically.

    Then removes the stale entries (`_remove_stale`).

    Returns:
      Whether it was written. A cache that cannot be written warns, once per
      process, and is otherwise ignored.
    """
    global _warned_unwritable
    try:
        with _atomic.atomic_output(path) as tmp:
            os.makedirs(tmp)
            np.save(os.path.join(tmp, "paths.npy"), np.frombuffer(
                _SEPARATOR.join(decoded.paths).encode("utf-8"), np.uint8))
            np.save(os.path.join(tmp, "shapes.npy"), decoded.shapes)
            np.save(os.path.join(tmp, "pixels.npy"), np.asarray(decoded.pixels))
            with open(os.path.join(tmp, _FOLDER_FILE), "w", encoding="utf-8") as f:
                f.write(root)
    except OSError as e:
        if not _warned_unwritable:
            _warned_unwritable = True
            warnings.warn(
                f"The decoded-image cache cannot be written at {os.path.dirname(path)} "
                f"({e.strerror or e}); going on without it, so image folders are "
                f"decoded anew by every process. Set ${CACHE_DIR_VARIABLE} to a "
                "writable folder to cache them.", stacklevel=2)
        return False
    _remove_stale(path)
    return True


def _remove_stale(path):
    """Removes the entries a new one at `path` makes stale.

    They are: the other entries of its folder (same name prefix); entries of
    folders that no longer exist, or that do not say their folder (an older
    format); and temporary entries a killed writer left.
    """
    cache, name = os.path.split(path)
    prefix = name.split("-", 1)[0]
    now = time.time()
    for entry in os.listdir(cache):
        full = os.path.join(cache, entry)
        if full == path:
            continue
        try:
            if entry.startswith("."):
                stale = now - os.path.getmtime(full) > _STALE_TMP_SECONDS
            elif entry.startswith(prefix + "-"):
                stale = True
            else:
                with open(os.path.join(full, _FOLDER_FILE), encoding="utf-8") as f:
                    stale = not os.path.isdir(f.read())
        except OSError:  # no folder file (an older format), or removed meanwhile
            stale = not entry.startswith(".")
        if stale:
            # A process reading a removed entry keeps its memory-mapped pixels.
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full, ignore_errors=True)
            else:
                try:
                    os.remove(full)
                except OSError:
                    pass  # removed meanwhile: it is only a cache


def load(root, stamps, params, decode):
    """The decoded images of `stamps`' files: from the cache, else `decode()`, stored.

    Args:
      root, stamps, params: as `entry_path`.
      decode: fn() -> `DecodedImages` of every file; it raises for a folder
        that cannot be decoded whole, so no partial folder is ever stored.
    """
    path = entry_path(root, stamps, params)
    found = read(path, [p for p, _, _ in stamps])
    if found is not None:
        return found
    decoded = decode()
    write(path, decoded, root)
    return decoded
