"""A dataset of image files, one folder per class (`--dataset=dir:PATH`).

Layout: one folder per split, each holding one folder per class:

    PATH/train/<class>/<image>     required; its class folders are the classes
    PATH/test/<class>/<image>      split "test"
    PATH/val/<class>/<image>       optional; any other subfolder is a split too

As `keras.utils.image_dataset_from_directory` reads them: the classes are
train/'s class folder names sorted alphabetically and a label is its class's
index; images are the .bmp, .gif, .jpeg, .jpg and .png files anywhere under a
class folder (other files, and hidden folders such as .ipynb_checkpoints, are
skipped). Every image is decoded once, when the dataset is opened, so a
damaged file is reported before any work. Images are decoded with the model's
channels (grayscale to RGB converts; RGBA loses its alpha) and resized,
bilinear, to the model's height and width. Without a model (a job that builds
its own), the size is the most common one among train/'s images and the
channels are 3 if any image has colour, else 1.

Each split's images are in a fixed shuffled order, the same every run, so
that slices such as "train[:10%]" hold every class.
"""

import collections
import functools
import os

import numpy as np
import tensorflow as tf

from tfcompress.data import shapes
from tfcompress.data import splits

PREFIX = "dir:"
TRAIN = "train"
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_LAYOUT = ("Lay it out as PATH/train/<class>/<image> and PATH/test/<class>/<image> "
           "(optional PATH/val/...), one folder of images per class.")
# Bad files named in an error, at most.
_SHOWN = 5


def _fail(name, message, error=ValueError):
    raise error(f"`dataset` {name!r}: {message}")


def _subfolders(folder):
    """Names of the folders in `folder`, sorted; hidden ones (".cache") skipped."""
    return sorted(e.name for e in os.scandir(folder)
                  if e.is_dir() and not e.name.startswith("."))


def _images_under(folder):
    """Paths of the image files anywhere under `folder`, sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files)
                     if f.lower().endswith(IMAGE_EXTENSIONS))
    return found


def open_folder(path, name):
    """The `FolderSource` of the folder at `path`, checked and every image decoded.

    Decoding happens once per process for the same files (sizes and times).

    Args:
      path: the dataset's folder.
      name: the dataset as the user gave it ("dir:PATH"), quoted in errors.

    Raises:
      FileNotFoundError: no folder at `path`.
      ValueError: the folder is empty, has no train/, fewer than 2 classes, a
        split whose classes train/ lacks, or images that cannot be decoded.
    """
    root = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(root):
        _fail(name, f"no folder at {root!r}. {_LAYOUT}", FileNotFoundError)
    split_names = _subfolders(root)
    if not split_names:
        _fail(name, f"the folder {root!r} holds no subfolders. {_LAYOUT}")
    if TRAIN not in split_names:
        _fail(name, f"the folder {root!r} has no train/ subfolder (it holds "
                    f"{split_names}). {_LAYOUT}")
    classes = _subfolders(os.path.join(root, TRAIN))
    if len(classes) < 2:
        _fail(name, f"train/ holds {len(classes)} class folder(s) {classes}: a classifier "
                    f"needs at least 2. {_LAYOUT}")
    files = {}
    for split in split_names:
        own = _subfolders(os.path.join(root, split))
        unknown = sorted(set(own) - set(classes))
        if unknown:
            _fail(name, f"{split}/ has class folders that train/ lacks: {unknown}; every "
                        f"split's classes must be among train/'s {classes}.")
        files[split] = [(image, index) for index, label in enumerate(classes)
                        if label in own
                        for image in _images_under(os.path.join(root, split, label))]
    if not files[TRAIN]:
        _fail(name, f"train/'s class folders hold no images (files ending in "
                    f"{', '.join(IMAGE_EXTENSIONS)}).")
    stats = {path: os.stat(path) for split in split_names for path, _ in files[split]}
    stamps = tuple((path, stat.st_mtime_ns, stat.st_size) for path, stat in stats.items())
    shapes_of = _decoded_shapes(stamps, name, root)
    return FolderSource(name, classes, files, shapes_of)


@functools.lru_cache(maxsize=4)
def _decoded_shapes(stamps, name, root):
    """{path: decoded (height, width, channels)} of every file; raises for any that fails."""
    paths = [path for path, _, _ in stamps]

    def decode(path):
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        return path, tf.shape(image)

    decoded = (tf.data.Dataset.from_tensor_slices(paths)
               .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
               .ignore_errors())
    found = {path.decode(): tuple(int(s) for s in shape)
             for path, shape in decoded.as_numpy_iterator()}
    bad = [os.path.relpath(path, root) for path in paths if path not in found]
    if bad:
        _fail(name, f"{len(bad)} of {len(paths)} images cannot be decoded: "
                    f"{bad[:_SHOWN]}{' ...' if len(bad) > _SHOWN else ''}. Remove or "
                    "replace them (bmp, gif, jpeg and png files are read).")
    return found


class FolderSource:
    """Image files in class folders: splits, image shape, classes and examples."""

    is_text = False
    resizable = True
    already_scaled = False

    def __init__(self, name, class_names, files, shapes_of):
        self.name = name
        self.class_names = list(class_names)
        self.num_classes = len(class_names)
        # A fixed order that mixes the classes (see the module docstring).
        self._files = {split: [pairs[i] for i in np.random.default_rng(0).permutation(
            len(pairs))] for split, pairs in files.items()}
        sizes = collections.Counter(shapes_of[path][:2] for path, _ in files[TRAIN])
        colour = any(shape[2] >= 3 for shape in shapes_of.values())
        self.image_shape = (*sizes.most_common(1)[0][0], 3 if colour else 1)

    @property
    def split_sizes(self):
        return {split: len(pairs) for split, pairs in self._files.items()}

    def num_examples(self, split):
        return splits.count(split, self.split_sizes)

    def raw_examples(self, split, image_shape):
        """(float32 image, label) pairs of `split`, decoded and resized to `image_shape`."""
        pairs = [pair for part, start, stop in splits.ranges(split, self.split_sizes)
                 for pair in self._files[part][start:stop]]
        height, width, channels = (*image_shape, 1) if len(image_shape) == 2 else image_shape
        paths = tf.constant([p for p, _ in pairs], tf.string)
        labels = tf.constant([label for _, label in pairs], tf.int64)

        def load(path, label):
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                       expand_animations=False)
            image = shapes.resize_to(image, height, width)
            return tf.reshape(image, image_shape), label

        return tf.data.Dataset.from_tensor_slices((paths, labels)).map(
            load, num_parallel_calls=tf.data.AUTOTUNE)
