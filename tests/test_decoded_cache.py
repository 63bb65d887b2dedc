"""The decoded-image cache of dir: datasets: read back, invalidated, written atomically.

Every folder here is a few dozen tiny images written to a temporary folder,
and the cache lives in another ($TFCOMPRESS_CACHE_DIR).
"""

import contextlib
import io
import os
import re
import shutil
import warnings
from unittest import mock

import numpy as np
import tensorflow as tf

from tfcompress import data
from tfcompress.data import decoded_cache
from tfcompress.data import folders

_CLASSES = ("ant", "bee")


def _write_image(path, pixels):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    encode = tf.io.encode_jpeg if path.endswith(".jpg") else tf.io.encode_png
    tf.io.write_file(path, encode(pixels))


def _write_folder(root, n=6, size=(8, 8), channels=3, seed=0):
    """root/{train,test}/<class>/<i>.png of random pixels; returns "dir:root"."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for label in _CLASSES:
            for i in range(n):
                _write_image(os.path.join(root, split, label, f"{i}.png"),
                             rng.integers(0, 256, (*size, channels), dtype=np.uint8))
    return "dir:" + root


def _pixels(name, split="train", image_shape=None):
    """The split's images as `data.examples` gives them, unscaled, and labels."""
    pairs = list(data.examples(name, split, normalize="none", cache=False,
                               image_shape=image_shape).as_numpy_iterator())
    return np.stack([x for x, _ in pairs]), np.array([y for _, y in pairs])


class DecodedCacheTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.cache = self.create_tempdir().full_path
        self.enter_context(mock.patch.dict(os.environ,
                                           {decoded_cache.CACHE_DIR_VARIABLE: self.cache}))
        self.enter_context(mock.patch.object(decoded_cache, "_warned_unwritable", False))
        folders._decoded_shapes.cache_clear()  # a new process, as far as the cache goes
        self.addCleanup(folders._decoded_shapes.cache_clear)
        self.root = os.path.join(self.create_tempdir().full_path, "images")

    def _reopen(self, name):
        """`data.open_source(name)` in a fresh process: the per-process memo cleared."""
        folders._decoded_shapes.cache_clear()
        return data.open_source(name)

    def _entries(self):
        folder = os.path.join(self.cache, "decoded_images")
        return sorted(os.listdir(folder)) if os.path.isdir(folder) else []

    def _no_decoding(self):
        return mock.patch.object(folders, "_decode_all",
                                 side_effect=AssertionError("decoded again"))

    def test_second_open_reads_the_cache_without_decoding(self):
        name = _write_folder(self.root)
        first = _pixels(name)
        self.assertLen(self._entries(), 1)
        with self._no_decoding():
            source = self._reopen(name)
            again = _pixels(name)
        self.assertEqual(source.image_shape, (8, 8, 3))
        self.assertAllEqual(first[0], again[0])
        self.assertAllEqual(first[1], again[1])

    def test_images_are_those_decode_image_gives_for_the_models_channels(self):
        # Mixed sizes and kinds: grey, grey+alpha, RGBA PNGs and RGB JPEGs.
        rng = np.random.default_rng(1)
        kinds = [((6, 8), 1, "png"), ((8, 8), 2, "png"), ((9, 7), 4, "png"),
                 ((8, 8), 3, "jpg")]
        for split in ("train", "test"):
            for label in _CLASSES:
                for i, (size, channels, ext) in enumerate(kinds):
                    _write_image(os.path.join(self.root, split, label, f"{i}.{ext}"),
                                 rng.integers(0, 256, (*size, channels), dtype=np.uint8))
        name = "dir:" + self.root
        source = data.open_source(name)
        files = [path for path, _ in source._files["train"]]

        def expected(shape):
            return np.stack([tf.reshape(tf.image.resize(tf.io.decode_image(
                tf.io.read_file(path), channels=shape[2], expand_animations=False),
                shape[:2]), shape).numpy() for path in files])

        fresh = _pixels(name, image_shape=(8, 8, 3))[0]
        with self._no_decoding():
            self._reopen(name)
            cached = _pixels(name, image_shape=(8, 8, 3))[0]
        self.assertAllEqual(fresh, expected((8, 8, 3)))
        self.assertAllEqual(cached, expected((8, 8, 3)))

    def test_grayscale_folder_gives_one_channel(self):
        name = _write_folder(self.root, channels=1)
        self.assertEqual(data.open_source(name).image_shape, (8, 8, 1))
        with self._no_decoding():
            self._reopen(name)
            images = _pixels(name)[0]
        path = data.open_source(name)._files["train"][0][0]
        self.assertAllEqual(images[0], tf.io.decode_png(tf.io.read_file(path)).numpy())

    def _changed_reopen(self, change):
        """Opens, applies `change(path of one image)`, reopens.

        Returns:
          (the decodings of the reopen, the images before, the images after).
        """
        name = _write_folder(self.root)
        before = _pixels(name)[0]
        path = data.open_source(name)._files["train"][0][0]
        change(path)
        calls = []
        decode = folders._decode_all
        with mock.patch.object(folders, "_decode_all",
                               side_effect=lambda *a: calls.append(a) or decode(*a)):
            self._reopen(name)
            after = _pixels(name)[0]
        return calls, before, after

    def test_changed_file_is_decoded_anew_and_its_old_entry_removed(self):
        def rewrite(path):
            _write_image(path, np.full((8, 8, 3), 7, np.uint8))
        calls, before, after = self._changed_reopen(rewrite)
        self.assertLen(calls, 1)
        self.assertAllEqual(after[0], np.full((8, 8, 3), 7.0))
        self.assertNotAllEqual(before[0], after[0])
        self.assertLen(self._entries(), 1)  # the folder's stale entry is gone

    def test_touched_file_invalidates_the_cache(self):
        def touch(path):
            stat = os.stat(path)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        calls, before, after = self._changed_reopen(touch)
        self.assertLen(calls, 1)
        self.assertAllEqual(before, after)

    def test_removed_file_invalidates_the_cache(self):
        calls, before, after = self._changed_reopen(os.remove)
        self.assertLen(calls, 1)
        self.assertLen(after, len(before) - 1)

    def test_added_file_invalidates_the_cache(self):
        def add(path):
            _write_image(os.path.join(os.path.dirname(path), "new.png"),
                         np.zeros((8, 8, 3), np.uint8))
        calls, before, after = self._changed_reopen(add)
        self.assertLen(calls, 1)
        self.assertLen(after, len(before) + 1)

    def test_entries_of_removed_folders_and_older_formats_are_removed(self):
        gone = _write_folder(os.path.join(self.create_tempdir().full_path, "gone"))
        data.open_source(gone)
        old_format = os.path.join(self.cache, "decoded_images", "0123-old")
        os.makedirs(old_format)
        killed_writer = os.path.join(self.cache, "decoded_images", ".tmp-1234-0123-x")
        os.makedirs(killed_writer)
        os.utime(killed_writer, (0, 0))  # written long ago
        self.assertLen(self._entries(), 3)
        shutil.rmtree(gone[len("dir:"):])
        data.open_source(_write_folder(self.root))
        self.assertLen(self._entries(), 1)
        with self._no_decoding():
            self._reopen("dir:" + self.root)  # the one left is the new folder's

    def test_damaged_file_is_refused_by_name_and_nothing_is_cached(self):
        name = _write_folder(self.root)
        with open(os.path.join(self.root, "train", "bee", "3.png"), "wb") as f:
            f.write(b"not a png")
        with self.assertRaisesRegex(ValueError, r"1 of 24 images cannot be decoded: "
                                    r"\['train/bee/3.png'\]"):
            data.open_source(name)
        self.assertEqual(self._entries(), [])

    def test_failed_write_leaves_no_entry_or_temporary_file(self):
        name = _write_folder(self.root)
        real_save = np.save

        def save_half_then_fail(path, array, **kwargs):
            if path.endswith("pixels.npy"):
                with open(path, "wb") as f:
                    f.write(b"half")
                raise OSError(28, "No space left on device")
            return real_save(path, array, **kwargs)

        with mock.patch.object(decoded_cache.np, "save", side_effect=save_half_then_fail):
            with self.assertWarnsRegex(UserWarning, "No space left on device.*going on "
                                       "without it"):
                first = _pixels(name)
        self.assertEqual(os.listdir(os.path.join(self.cache, "decoded_images")), [])
        with self._no_decoding(), self.assertRaisesRegex(AssertionError, "decoded again"):
            self._reopen(name)  # nothing was cached, so it must decode
        self._reopen(name)
        self.assertAllEqual(_pixels(name)[0], first[0])

    def test_unwritable_cache_folder_warns_once_and_the_run_goes_on(self):
        blocker = os.path.join(self.cache, "a-file")
        with open(blocker, "w") as f:
            f.write("not a folder")
        os.environ[decoded_cache.CACHE_DIR_VARIABLE] = os.path.join(blocker, "cache")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(2):
                name = _write_folder(f"{self.root}{i}", seed=i)
                images, labels = _pixels(name)
                self.assertLen(images, 12)
                self.assertLen(labels, 12)
        messages = [str(w.message) for w in caught if "decoded-image cache" in str(w.message)]
        self.assertLen(messages, 1)
        self.assertIn("TFCOMPRESS_CACHE_DIR", messages[0])

    def test_damaged_entry_is_a_miss_and_is_replaced(self):
        name = _write_folder(self.root)
        first = _pixels(name)[0]
        entry = os.path.join(self.cache, "decoded_images", self._entries()[0])
        with open(os.path.join(entry, "pixels.npy"), "wb") as f:
            f.write(b"damaged")
        self._reopen(name)
        self.assertAllEqual(_pixels(name)[0], first)
        with self._no_decoding():
            self._reopen(name)
            self.assertAllEqual(_pixels(name)[0], first)

    def test_long_decoding_shows_progress(self):
        name = _write_folder(self.root)
        stderr = io.StringIO()
        with mock.patch.object(folders, "_PROGRESS_AFTER_SECONDS", 0.0), \
                mock.patch.object(folders, "_DECODE_BATCH", 2), \
                contextlib.redirect_stderr(stderr):
            data.open_source(name)
        lines = stderr.getvalue().splitlines()
        prefix = re.escape(name)
        self.assertRegex(lines[-2], rf"^{prefix}: decoded 24 of 24 images \([\d,]+/s, 0 s left\)$")
        self.assertRegex(lines[-1], rf"^{prefix}: all 24 images decoded in [\d.]+ s; cached")
        self.assertTrue(any(": decoded 4 of 24 images" in line for line in lines), lines)


class CacheFolderTest(tf.test.TestCase):

    def test_cache_folder_follows_the_environment(self):
        with mock.patch.dict(os.environ, {"TFCOMPRESS_CACHE_DIR": "/c",
                                          "XDG_CACHE_HOME": "/x"}):
            self.assertEqual(decoded_cache.cache_dir(), "/c/decoded_images")
        with mock.patch.dict(os.environ, {"XDG_CACHE_HOME": "/x", "HOME": "/h"}):
            os.environ.pop("TFCOMPRESS_CACHE_DIR", None)
            self.assertEqual(decoded_cache.cache_dir(), "/x/tfcompress/decoded_images")
            os.environ.pop("XDG_CACHE_HOME")
            self.assertEqual(decoded_cache.cache_dir(), "/h/.cache/tfcompress/decoded_images")

    def test_entry_name_depends_on_every_stamp_and_the_decoding(self):
        stamps = (("/d/a.png", 1, 10), ("/d/b.png", 2, 20))
        entry = decoded_cache.entry_path("/d", stamps, {"channels": "own"})
        self.assertEqual(entry, decoded_cache.entry_path("/d", stamps[::-1],
                                                         {"channels": "own"}))
        for other in [(("/d/a.png", 1, 11), stamps[1]), (("/d/a.png", 3, 10), stamps[1]),
                      (("/d/c.png", 1, 10), stamps[1]), stamps[:1]]:
            self.assertNotEqual(entry, decoded_cache.entry_path("/d", other,
                                                                {"channels": "own"}))
        self.assertNotEqual(entry, decoded_cache.entry_path("/d", stamps, {"channels": 3}))
        # One folder's entries share a prefix (the older one is removed by it).
        self.assertEqual(os.path.basename(entry).split("-")[0], os.path.basename(
            decoded_cache.entry_path("/d", stamps[:1], {})).split("-")[0])
