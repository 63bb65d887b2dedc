"""Text datasets (tsv:PATH): splits, the vocabulary, token ids and their errors.

Most files here are a few dozen lines written to a temporary folder: line i
has the label ("spam", "ham", "eggs")[i % 3], a first word of its own class
and a last word of its own ("w<i>"), so where each word lands is known. One
test trains on a slice of the real SMS Spam Collection.
"""

import json
import os
import re

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfcompress import data
from tfcompress import export
from tfcompress.data import text
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import train
from tfcompress.runtime import TFLiteRunner

_FIRST_WORDS = {"spam": "WIN", "ham": "Lunch", "eggs": "breakfast"}
_SMS = "/work/shared/data/sms_spam/SMSSpamCollection"
_QUIET = {"log": lambda *_: None}


def _lines(n=50):
    """`label<TAB>text` lines; line i's last word, "w<i>", is its alone."""
    labels = [("spam", "ham", "eggs")[i % 3] for i in range(n)]
    return [f"{label}\t{_FIRST_WORDS[label]}, see you at w{i}!"
            for i, label in enumerate(labels)]


def _write(folder, content, name="data.tsv"):
    """Writes `content` (str lines joined by newlines, or bytes) to folder/name."""
    path = os.path.join(folder, name)
    if isinstance(content, list):
        content = "\n".join(content) + "\n"
    with open(path, "wb") as f:
        f.write(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _collect(dataset):
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in dataset))
    return np.concatenate(xs), np.concatenate(ys)


class TextSourceTest(parameterized.TestCase, tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path
        self.path = _write(self.root, _lines())
        self.name = "tsv:" + self.path

    def test_load_gives_int32_ids_of_sequence_length_and_labels_of_sorted_classes(self):
        source = data.open_source(self.name)
        self.assertEqual(source.class_names, ["eggs", "ham", "spam"])
        self.assertEqual(source.image_shape, (text.SEQUENCE_LENGTH,))
        x, y = _collect(data.load(self.name, "train", batch_size=16))
        self.assertEqual(x.dtype, np.int32)
        self.assertEqual(y.dtype, np.int32)
        self.assertEqual(x.shape, (40, text.SEQUENCE_LENGTH))
        # Lowercased, punctuation stripped: each class's first word, then 5 words.
        first_ids = [source.vocabulary.index(_FIRST_WORDS[name].lower())
                     for name in source.class_names]
        self.assertAllEqual(x[:, 0], np.take(first_ids, y))
        self.assertAllEqual(x[:, 5:], np.zeros_like(x[:, 5:]))  # padding, never scaled

    def test_splits_are_80_10_10_and_slices_count_as_in_tfds(self):
        self.assertEqual(data.open_source(self.name).split_sizes,
                         {"train": 40, "val": 5, "test": 5})
        for split, expected in (("train[:8]", 8), ("train[-4:]", 4), ("train+val", 45),
                                ("test[:40%]", 2)):
            self.assertEqual(data.num_examples(self.name, split), expected)
        x, _ = _collect(data.load(self.name, "train[:8]", batch_size=3))
        self.assertLen(x, 8)

    def test_vocabulary_comes_from_the_train_split_only(self):
        source = data.open_source(self.name)
        own_words = [t for t in source.vocabulary if re.fullmatch(r"w\d+", t)]
        self.assertLen(own_words, 40)  # one per training line
        self.assertEqual(source.vocabulary[:2], ["", "[UNK]"])
        for split in ("val", "test"):
            x, _ = _collect(data.load(self.name, split))
            self.assertAllEqual(x[:, 4], np.ones(5))  # their own word is [UNK]
        x, _ = _collect(data.load(self.name, "train"))
        self.assertAllGreater(x[:, 4], 1)

    def test_same_file_and_seed_give_the_same_splits_and_ids(self):
        copy = "tsv:" + _write(self.root, _lines(), name="copy.tsv")
        for split in ("train", "val", "test"):
            self.assertAllEqual(_collect(data.load(self.name, split))[0],
                                _collect(data.load(copy, split))[0])
        text._open.cache_clear()  # read and fit again, not the cached source
        self.assertEqual(data.open_source(copy).vocabulary,
                         data.open_source(self.name).vocabulary)
        other_seed = data.open_tsv(self.path, seed=1)
        self.assertNotEqual(other_seed.vocabulary, data.open_source(self.name).vocabulary)

    def test_text_to_ids_with_the_written_vocabulary_gives_the_datasets_ids(self):
        source = data.open_source(self.name)
        path = source.write_vocabulary(self.root)
        self.assertEqual(path, os.path.join(self.root, "vocabulary.txt"))
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), "".join(t + "\n" for t in source.vocabulary))
        lines = _lines()
        test_texts = [lines[i].split("\t")[1] for i in text.split_order(50, 0)["test"]]
        x, _ = _collect(data.load(self.name, "test"))
        self.assertAllEqual(data.text_to_ids(test_texts, path, text.SEQUENCE_LENGTH), x)
        self.assertAllEqual(data.text_to_ids(test_texts[0], self.root, 3), x[:1, :3])

    def test_max_tokens_and_sequence_length_shape_the_ids(self):
        source = data.open_tsv(self.path, sequence_length=3, max_tokens=6)
        self.assertEqual(source.vocabulary_size, 6)
        self.assertEqual(source.image_shape, (3,))
        self.assertEqual(source.record()["split_sizes"], source.split_sizes)
        ids = source.raw_examples("train", (3,)).batch(64).get_single_element()[0]
        self.assertAllInRange(ids, 0, 5)

    def test_small_file_loads_with_empty_val_and_test_splits(self):
        name = "tsv:" + _write(self.root, ["ham\thi", "spam\twin", "", "ham\tyo"], "s.tsv")
        self.assertEqual(data.open_source(name).split_sizes,
                         {"train": 3, "val": 0, "test": 0})
        with self.assertRaisesRegex(ValueError, "`test_split` 'test' is not a usable"):
            data.check_split(name, "test", arg_name="test_split")

    def test_normalize_leaves_ids_and_standard_is_refused(self):
        unit = _collect(data.load(self.name, "test"))[0]
        self.assertAllEqual(_collect(data.load(self.name, "test", normalize="none"))[0],
                            unit)
        self.assertEqual(data.normalization(self.name, "train", "unit"),
                         {"normalize": "none", "mean": None, "std": None})
        message = (f"`normalize` 'standard' scales pixel values, but dataset "
                   f"{self.name!r} holds text as token ids, which are never scaled: "
                   "leave `normalize` at 'unit' (or 'none'); both keep the ids as they "
                   "are.")
        with self.assertRaisesRegex(ValueError, re.escape(message)):
            data.load(self.name, "test", normalize="standard")
        with self.assertRaisesRegex(ValueError, re.escape(message)):
            data.normalization(self.name, "train", "standard")

    def test_rewritten_file_is_read_again(self):
        self.assertEqual(data.num_examples(self.name, "train"), 40)
        _write(self.root, _lines(20))
        self.assertEqual(data.num_examples(self.name, "train"), 16)


_HOW = "Write one `label<TAB>text` line per example (UTF-8)."


class TextErrorTest(parameterized.TestCase, tf.test.TestCase):

    @parameterized.named_parameters(
        ("empty", b"", "{path}: the file is empty (no `label<TAB>text` line). " + _HOW),
        ("blank_lines_only", b"\n  \n\n",
         "{path}: the file is empty (no `label<TAB>text` line). " + _HOW),
        ("no_tab", "ham\thi\nspam\tyo\nham hello there\n",
         "{path}, line 3: no tab between label and text in 'ham hello there'. " + _HOW),
        ("blank_label", "ham\thi\n \tyo\n", "{path}, line 2: the label (before the tab) "
                                             "is blank. " + _HOW),
        ("one_class", "ham\thi\n\nham\tyo\n ham \tok\n",
         "{path}: all 3 lines have the label 'ham': a classifier needs at least 2 "
         "classes (a label is the text before a line's tab)."),
        ("not_utf8", b"ham\thi\nspam\t\xff\n",
         "{path}, line 2: not UTF-8 text (invalid start byte at byte 5). Save the file "
         "as UTF-8."),
        ("no_word_in_train", "ham\t!!\nspam\t...\n",
         "{path}: the \"train\" split holds no word (letters or digits), so there is no "
         "vocabulary to learn."),
    )
    def test_bad_file_is_refused_naming_the_file_and_line(self, content, message):
        path = _write(self.create_tempdir().full_path, content)
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`dataset` {'tsv:' + path!r}: " + message.format(path=path))):
            data.load("tsv:" + path, "train")

    def test_label_with_no_line_in_the_train_split_is_refused(self):
        held_out = text.split_order(10, seed=0)["test"][0]
        lines = [("ham", "spam")[i % 2] + f"\tword{i}" for i in range(10)]
        lines[held_out] = "eggs\tbacon"
        path = _write(self.create_tempdir().full_path, "\n".join(lines) + "\n")
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`dataset` {'tsv:' + path!r}: {path}: label 'eggs' (1 line) has no line "
                "in the \"train\" split (80% of the lines, shuffled with seed 0), so no "
                "model would learn it. Add lines of it, or remove them.")):
            data.open_source("tsv:" + path)

    def test_missing_file_is_refused(self):
        path = os.path.join(self.create_tempdir().full_path, "none.tsv")
        with self.assertRaisesRegex(FileNotFoundError, re.escape(
                f"`dataset` 'tsv:{path}': {path}: no such file. {_HOW}")):
            data.open_source("tsv:" + path)

    def test_text_to_ids_refuses_a_missing_or_foreign_vocabulary(self):
        folder = self.create_tempdir().full_path
        with self.assertRaisesRegex(FileNotFoundError, "no vocabulary file at"):
            data.text_to_ids(["hi"], folder, 4)
        path = _write(folder, ["hello", "world"], "vocabulary.txt")
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`vocabulary_path` {path!r} is not a tfcompress vocabulary: line 0 must "
                "be empty (padding) and line 1 '[UNK]', got ['hello', 'world'].")):
            data.text_to_ids(["hi"], path, 4)


class TextJobTest(tf.test.TestCase):

    def _training(self, output_dir, dataset, **changes):
        return settings.Training(**{
            "output_dir": output_dir, "dataset": dataset, "train_split": "train[:1024]",
            "val_split": "val[:128]", "test_split": "test[:256]", "epochs": 1,
            "batch_size": 64, "verbose": 0, **changes})

    def test_image_model_on_text_is_refused_before_any_work(self):
        root = self.create_tempdir().full_path
        dataset = "tsv:" + _write(root, _lines())
        with self.assertRaisesRegex(ValueError, re.escape(
                "`model_spec`: Model 'mlp' reads images and takes no `vocab_size` or "
                "`sequence_length`; for token ids use a text model")):
            runner.prepare(train.TrainJob("mlp:16"),
                           self._training(os.path.join(root, "out"), dataset,
                                          train_split="train", val_split="val",
                                          test_split="test"), **_QUIET)

    def test_train_job_trains_text_cnn_on_sms_and_writes_its_vocabulary(self):
        if not os.path.isfile(_SMS):
            self.skipTest(f"no SMS Spam Collection at {_SMS}")
        out = os.path.join(self.create_tempdir().full_path, "sms")
        summary = runner.run(train.TrainJob("text_cnn:16,16"),
                             self._training(out, "tsv:" + _SMS), **_QUIET)
        self.assertBetween(summary["keras"]["test_accuracy"], 0.0, 1.0)
        self.assertEqual(summary["keras"]["test_examples"], 256)
        self.assertEqual(summary["data"]["class_names"], ["ham", "spam"])
        facts = summary["data"]["text"]
        self.assertEqual(facts["split_sizes"], {"train": 4460, "val": 557, "test": 557})
        self.assertEqual((facts["sequence_length"], facts["split_seed"]), (64, 0))
        with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["data"]["text"], facts)
        vocabulary = os.path.join(out, "vocabulary.txt")
        self.assertLen(data.read_vocabulary(vocabulary), facts["vocabulary_size"])
        # New text through the written vocabulary: the model and its TFLite agree.
        ids = data.text_to_ids(["WINNER!! Claim your prize now", "see you at lunch"],
                               vocabulary, facts["sequence_length"])
        model = export.load_keras_model(os.path.join(out, "model.keras"))
        self.assertEqual(tuple(model.input.shape[1:]), (facts["sequence_length"],))
        tflite = TFLiteRunner(os.path.join(out, "model.tflite"))
        self.assertAllClose(tflite(ids), model(ids), atol=1e-5)


if __name__ == "__main__":
    tf.test.main()
