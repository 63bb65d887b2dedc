"""A dataset of files in class folders (`--dataset=dir:PATH`): images, or audio.

Layout: one folder per split, each holding one folder per class:

    PATH/train/<class>/<file>      required; its class folders are the classes
    PATH/test/<class>/<file>       split "test"
    PATH/val/<class>/<file>        optional; any other subfolder is a split too

As `keras.utils.image_dataset_from_directory` (and `audio_dataset_from_directory`)
read them: the classes are train/'s class folder names sorted alphabetically
and a label is its class's index; examples are the .bmp, .gif, .jpeg, .jpg and
.png files (or the .wav files: an audio dataset, see data/audio.py) anywhere
under a class folder (other files, and hidden folders such as
.ipynb_checkpoints, are skipped). A folder holding both images and .wav files
is refused. This module lists the files (`list_folder`) and reads images.

Every image is decoded once, when the dataset is opened, so a damaged file is
reported before any work, and kept decoded on disk for the next open
(data/decoded_cache.py). Images are decoded with the model's channels
(grayscale to RGB converts; RGBA loses its alpha) and resized, bilinear, to
the model's height and width. Without a model (a job that builds its own),
the size is the most common one among train/'s images and the channels are 3
if any image has colour, else 1.

Hold-out (`hold_out`, the `?hold_out=PATTERNS` of dir:PATH): files whose name
(with or without its extension) matches a pattern (fnmatch, e.g. "jackson_*")
leave every split for the split "held_out", the default test split (a
speaker-held-out test).

Each split's files are in a fixed shuffled order, the same every run, so that
slices such as "train[:10%]" hold every class. Unless told, a job trains on
"train[10%:]" and validates on "train[:10%]" (or on val/ when there is one),
and tests on "test" (or "held_out").
"""

import collections
import fnmatch
import functools
import os
import sys
import time

import numpy as np
import tensorflow as tf

from tfcompress.data import decoded_cache
from tfcompress.data import shapes
from tfcompress.data import splits

PREFIX = "dir:"
TRAIN = "train"
HELD_OUT = "held_out"
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
AUDIO_EXTENSIONS = (".wav",)
_LAYOUT = ("Lay it out as PATH/train/<class>/<image> and PATH/test/<class>/<image> "
           "(optional PATH/val/...), one folder of images (or of .wav clips) per class.")
# Bad files named in an error, at most.
_SHOWN = 5
# How images are decoded, part of the decoded-image cache's key: each at its
# own channels (the model's are made from them in `raw_examples`), first
# frame of a GIF; TF's version since its decoders (libjpeg...) may change.
_DECODING = {"decoder": "tf.io.decode_image", "channels": "own",
             "expand_animations": False, "tensorflow": tf.__version__}
# Decoding progress is shown once it has taken this long (small folders are
# quiet), then at every tenth of the images or after _PROGRESS_EVERY_SECONDS.
_PROGRESS_AFTER_SECONDS = 2.0
_PROGRESS_EVERY_SECONDS = 5.0
# Images decoded per step of the decoding's Python loop.
_DECODE_BATCH = 256


def _fail(name, message, error=ValueError):
    raise error(f"`dataset` {name!r}: {message}")


def shown(names):
    """The first few of `names` for an error message, then "..." if there are more."""
    return f"{names[:_SHOWN]}{' ...' if len(names) > _SHOWN else ''}"


def _subfolders(folder):
    """Names of the folders in `folder`, sorted; hidden ones (".cache") skipped."""
    return sorted(e.name for e in os.scandir(folder)
                  if e.is_dir() and not e.name.startswith("."))


def _files_under(folder, extensions):
    """Paths of the files anywhere under `folder` ending in `extensions`, sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files)
                     if f.lower().endswith(extensions))
    return found


# What `list_folder` finds: the folder, its classes, {split: [(path, label)]}
# and whether the files are audio (.wav) rather than images.
Listing = collections.namedtuple("Listing", "root classes files is_audio")


def list_folder(path, name, hold_out=()):
    """The files of the class folders at `path`, checked, with `hold_out` applied.

    Args:
      path: the dataset's folder.
      name: the dataset as the user gave it ("dir:PATH"), quoted in errors.
      hold_out: filename patterns (fnmatch) whose files go to split "held_out".

    Raises:
      FileNotFoundError: no folder at `path`.
      ValueError: the folder is empty, has no train/, fewer than 2 classes, a
        split whose classes train/ lacks, no files, both images and .wav
        files, or a `hold_out` pattern matching no file or every training file.
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
    found = {IMAGE_EXTENSIONS: {}, AUDIO_EXTENSIONS: {}}
    for split in split_names:
        own = _subfolders(os.path.join(root, split))
        unknown = sorted(set(own) - set(classes))
        if unknown:
            _fail(name, f"{split}/ has class folders that train/ lacks: {unknown}; every "
                        f"split's classes must be among train/'s {classes}.")
        for extensions, files in found.items():
            files[split] = [(file, index) for index, label in enumerate(classes)
                            if label in own
                            for file in _files_under(os.path.join(root, split, label),
                                                     extensions)]
    images, clips = ([path for pairs in found[kind].values() for path, _ in pairs]
                     for kind in (IMAGE_EXTENSIONS, AUDIO_EXTENSIONS))
    if images and clips:
        _fail(name, f"the folder mixes images ({len(images)}, e.g. "
                    f"{os.path.relpath(images[0], root)!r}) and .wav audio clips "
                    f"({len(clips)}, e.g. {os.path.relpath(clips[0], root)!r}): a dataset "
                    "is one or the other. Move one kind out.")
    is_audio = bool(clips)
    files = found[AUDIO_EXTENSIONS if is_audio else IMAGE_EXTENSIONS]
    if not files[TRAIN]:
        _fail(name, f"train/'s class folders hold no images (files ending in "
                    f"{', '.join(IMAGE_EXTENSIONS)}) and no .wav audio clips.")
    if hold_out:
        files = _held_out(files, tuple(hold_out), name, root)
    return Listing(root, classes, files, is_audio)


def _held_out(files, patterns, name, root):
    """`files` with those whose name matches one of `patterns` moved to "held_out"."""
    if HELD_OUT in files:
        _fail(name, f"`hold_out` puts files in a split named {HELD_OUT!r}, but the folder "
                    f"already has a {HELD_OUT}/ subfolder: rename it, or drop `hold_out`.")

    def matches(path, pattern):  # the name, or the name without its extension
        base = os.path.basename(path)
        return (fnmatch.fnmatch(base, pattern)
                or fnmatch.fnmatch(os.path.splitext(base)[0], pattern))

    unused = [p for p in patterns
              if not any(matches(path, p) for pairs in files.values() for path, _ in pairs)]
    if unused:
        example = os.path.basename(files[TRAIN][0][0])
        _fail(name, f"`hold_out` pattern(s) {unused} match no file's name (names such as "
                    f"{example!r}): fix the pattern (fnmatch: * any characters, ? one).")
    held = {path for pairs in files.values() for path, _ in pairs
            if any(matches(path, p) for p in patterns)}
    kept = {split: [pair for pair in pairs if pair[0] not in held]
            for split, pairs in files.items()}
    if not kept[TRAIN]:
        _fail(name, f"`hold_out` {','.join(patterns)!r} matches every file of train/ "
                    f"({len(files[TRAIN])}): nothing would be left to train on; hold out "
                    "fewer names.")
    kept[HELD_OUT] = [pair for pairs in files.values() for pair in pairs if pair[0] in held]
    return kept


def default_splits(split_names):
    """{"train", "val", "test"} a job reads of a folder with splits `split_names`.

    A tenth of train/ validates (CIFAR-10's 50,000 give the 5,000 TFDS datasets
    hold out), unless there is a val/; "held_out" tests when there is one.
    """
    has_val = "val" in split_names
    return {"train": TRAIN if has_val else "train[10%:]",
            "val": "val" if has_val else "train[:10%]",
            "test": HELD_OUT if HELD_OUT in split_names else "test"}


def stamps(listing):
    """((path, mtime_ns, size), ...) of every listed file: the key of its decoding."""
    stats = {path: os.stat(path) for pairs in listing.files.values() for path, _ in pairs}
    return tuple((path, stat.st_mtime_ns, stat.st_size) for path, stat in stats.items())


def open_folder(listing, name):
    """The `FolderSource` of a folder of images (`list_folder`), every image decoded.

    Decoding happens once for the same files (sizes and times), see
    `_decoded_shapes`.

    Args:
      listing: the folder's `Listing`, of images.
      name: the dataset as the user gave it ("dir:PATH"), quoted in errors.

    Raises:
      ValueError: images that cannot be decoded.
    """
    shapes_of = _decoded_shapes(stamps(listing), name, listing.root)
    return FolderSource(name, listing.classes, listing.files, shapes_of)


@functools.lru_cache(maxsize=4)
def _decoded_shapes(stamps, name, root):
    """Every file decoded (`decoded_cache.DecodedImages`: {path: (height, width, channels)}).

    Read from the decoded-image cache when it holds these files (sizes and
    times), else decoded and stored there. Raises, naming them, for any
    file that fails to decode; nothing is stored then.
    """
    paths = [path for path, _, _ in stamps]
    return decoded_cache.load(root, stamps, _DECODING,
                              lambda: _decode_all(paths, name, root))


def _decode_all(paths, name, root):
    """`DecodedImages` of `paths`, decoded in parallel, with progress for long folders."""

    def decode(path):
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        return path, tf.reshape(image, [-1]), tf.shape(image)

    # In ragged batches: one Python step per image would cost more than decoding.
    decoded = (tf.data.Dataset.from_tensor_slices(paths)
               .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
               .ignore_errors()
               .ragged_batch(_DECODE_BATCH))
    progress = _Progress(name, len(paths))
    found, shapes_found, pixels = [], [], []
    for batch_paths, batch_pixels, batch_shapes in decoded:
        found.extend(path.decode() for path in batch_paths.numpy())
        shapes_found.append(batch_shapes.numpy())
        pixels.append(batch_pixels.flat_values.numpy())
        progress.update(len(found))
    missing = set(paths) - set(found)
    bad = [os.path.relpath(path, root) for path in paths if path in missing]
    if bad:
        _fail(name, f"{len(bad)} of {len(paths)} images cannot be decoded: "
                    f"{bad[:_SHOWN]}{' ...' if len(bad) > _SHOWN else ''}. Remove or "
                    "replace them (bmp, gif, jpeg and png files are read).")
    progress.done()
    return decoded_cache.DecodedImages(found, np.concatenate(shapes_found),
                                       np.concatenate(pixels))


class _Progress:
    """Lines on stderr while a long decoding runs: count, rate and time left."""

    def __init__(self, name, total):
        self.name, self.total = name, total
        self.started = self.last = time.monotonic()
        self.shown_tenth = 0
        self.shown = False

    def update(self, count):
        now = time.monotonic()
        if now - self.started < _PROGRESS_AFTER_SECONDS:
            return
        tenth = count * 10 // max(self.total, 1)
        if tenth > self.shown_tenth or now - self.last >= _PROGRESS_EVERY_SECONDS:
            rate = count / (now - self.started)
            left = (self.total - count) / rate if rate else float("inf")
            self._print(f"decoded {count:,} of {self.total:,} images ({rate:,.0f}/s, "
                        f"{left:.0f} s left)")
            self.shown_tenth, self.last = tenth, now

    def done(self):
        if self.shown:
            self._print(f"all {self.total:,} images decoded in "
                        f"{time.monotonic() - self.started:.1f} s; cached for the next "
                        f"open (in {decoded_cache.cache_dir()})")

    def _print(self, text):
        self.shown = True
        print(f"{self.name}: {text}", file=sys.stderr, flush=True)


class FolderSource:
    """Image files in class folders: splits, image shape, classes and examples."""

    is_text = False
    is_audio = False
    resizable = True
    already_scaled = False

    def __init__(self, name, class_names, files, shapes_of):
        self.name = name
        self.class_names = list(class_names)
        self.num_classes = len(class_names)
        self._decoded = shapes_of  # pixels too: see `raw_examples`
        # A fixed order that mixes the classes (see the module docstring).
        self._files = {split: [pairs[i] for i in np.random.default_rng(0).permutation(
            len(pairs))] for split, pairs in files.items()}
        sizes = collections.Counter(shapes_of[path][:2] for path, _ in files[TRAIN])
        colour = any(shape[2] >= 3 for shape in shapes_of.values())
        self.image_shape = (*sizes.most_common(1)[0][0], 3 if colour else 1)

    @property
    def split_sizes(self):
        return {split: len(pairs) for split, pairs in self._files.items()}

    @property
    def default_splits(self):
        return default_splits(self._files)

    def num_examples(self, split):
        return splits.count(split, self.split_sizes)

    def raw_examples(self, split, image_shape):
        """(float32 image, label) pairs of `split`, resized to `image_shape`.

        The images come from the decoding done when the folder was opened
        (`decoded_cache`), converted to the channels of `image_shape` as
        `tf.io.decode_image(channels=...)` would decode them.
        """
        pairs = [pair for part, start, stop in splits.ranges(split, self.split_sizes)
                 for pair in self._files[part][start:stop]]
        height, width, channels = (*image_shape, 1) if len(image_shape) == 2 else image_shape
        decoded = self._decoded
        rows = decoded.rows([p for p, _ in pairs])
        own_shapes = decoded.shapes[rows]
        if channels == 1 and (own_shapes[:, 2] >= 3).any():
            raise ValueError(f"`image_shape` {tuple(image_shape)}: {self.name!r} has colour "
                             "images, which are never made grayscale; ask for 3 channels.")
        labels = np.asarray([label for _, label in pairs], np.int64)

        def converted(image):
            image = shapes.resize_to(_with_channels(image, channels), height, width)
            return tf.reshape(image, image_shape)

        if decoded.same_shape() is not None:
            # Images of one size (CIFAR-10): the split as one array, each image's
            # shape static; a pass is several times faster than slicing below.
            return tf.data.Dataset.from_tensor_slices((decoded.images(rows), labels)).map(
                lambda image, label: (converted(image), label),
                num_parallel_calls=tf.data.AUTOTUNE)
        pixels = decoded.tensor()

        def load(offset, shape, label):
            return converted(tf.reshape(
                tf.slice(pixels, [offset], [tf.reduce_prod(shape)]), shape)), label

        return tf.data.Dataset.from_tensor_slices(
            (decoded.offsets[rows], own_shapes, labels)).map(
                load, num_parallel_calls=tf.data.AUTOTUNE)


def _with_channels(image, channels):
    """A decoded image with `channels` (1 or 3), as `decode_image(channels=...)` gives.

    Checked against it for grayscale, grayscale+alpha, RGB and RGBA files
    (tests/test_decoded_cache.py): grey is copied into RGB, alpha dropped.
    """
    if channels == 1:
        return image[..., :1]
    if channels != 3:
        return image
    if image.shape[2] is not None:
        return tf.tile(image[..., :1], [1, 1, 3]) if image.shape[2] < 3 else image[..., :3]
    return tf.cond(tf.shape(image)[2] < 3, lambda: tf.tile(image[..., :1], [1, 1, 3]),
                   lambda: image[..., :3])
