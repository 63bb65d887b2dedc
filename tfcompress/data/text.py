"""A dataset of labelled text in one tab-separated file (`--dataset=tsv:PATH`).

Format: UTF-8, one example per line, `label<TAB>text`, as the SMS Spam
Collection writes them (`ham<TAB>Ok lar...`). The label is what comes
before the first tab, without surrounding spaces; the text is the rest of
the line (later tabs included). Blank lines are skipped. The classes are the
file's labels sorted ("ham" 0, "spam" 1).

Splits: the lines are shuffled with a fixed seed (`SPLIT_SEED`) and cut into
"train" (80%), "val" (10%) and "test" (10%, each of the last two rounded
down), the same every run for the same file. The cut is not stratified: on a
small file a split may hold no example of some class; that is allowed (the
classes come from the whole file), but its accuracy then says nothing about
that class. Slices read the shuffled split: "train[:512]" is the first 512
examples of "train", as for npz: arrays.

Examples are int32 token ids of shape (sequence_length,) (`data/vocabulary.py`),
the vocabulary fitted on the whole "train" split only, whatever slice a job
trains on: a word found only in "val" or "test" becomes the [UNK] id 1. Ids
are never scaled (`normalize` is for pixels).
"""

import functools
import os

import numpy as np
import tensorflow as tf

from tfcompress._checks import check_positive_int
from tfcompress.data import splits
from tfcompress.data import vocabulary as vocabulary_lib

PREFIX = "tsv:"
SEQUENCE_LENGTH = 64
MAX_TOKENS = 10_000
SPLIT_SEED = 0
# Fractions of the lines in "val" and "test"; "train" has the rest.
HELD_OUT = {"val": 0.1, "test": 0.1}
_HOW = "Write one `label<TAB>text` line per example (UTF-8)."


def _fail(name, where, message, error=ValueError):
    raise error(f"`dataset` {name!r}: {where}: {message}")


def open_tsv(path, name=None, *, sequence_length=SEQUENCE_LENGTH, max_tokens=MAX_TOKENS,
             seed=SPLIT_SEED):
    """The `TextSource` of the file at `path`, checked and tokenized.

    Read once per file version and arguments.

    Args:
      path: the .tsv file.
      name: the dataset as the user gave it ("tsv:PATH"), quoted in errors;
        default "tsv:" + `path`.
      sequence_length: token ids per example (padded with 0 or cut).
      max_tokens: largest vocabulary, padding and [UNK] included.
      seed: seed of the shuffle that cuts the splits.

    Raises:
      FileNotFoundError: no file at `path`.
      ValueError: the file is empty, not UTF-8, has a line without a tab or
        with a blank label, fewer than 2 classes, or no word in "train"
        (each message names the file and the line).
    """
    name = name or PREFIX + os.fspath(path)
    check_positive_int("sequence_length", sequence_length)
    check_positive_int("max_tokens", max_tokens)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be an int >= 0, got {seed!r}.")
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isfile(path):
        _fail(name, path, f"no such file. {_HOW}", FileNotFoundError)
    stat = os.stat(path)
    return _open(path, stat.st_mtime_ns, stat.st_size, name, sequence_length, max_tokens,
                 seed)


@functools.lru_cache(maxsize=4)
def _open(path, mtime_ns, size, name, sequence_length, max_tokens, seed):
    del mtime_ns, size  # part of the cache key only: a rewritten file is read again
    labels, texts = _read_lines(path, name)
    class_names = sorted(set(labels))
    if len(class_names) < 2:
        _fail(name, path, f"all {len(labels)} lines have the label {class_names[0]!r}: a "
                          "classifier needs at least 2 classes (a label is the text "
                          "before a line's tab).")
    index = {label: i for i, label in enumerate(class_names)}
    return TextSource(name, path, np.array([index[label] for label in labels], np.int64),
                      texts, class_names, sequence_length, max_tokens, seed)


def _read_lines(path, name):
    """(labels, texts) of the file's lines; raises naming the line of any bad one."""
    labels, texts = [], []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            where = f"{path}, line {number}"
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                _fail(name, where, f"not UTF-8 text ({e.reason} at byte {e.start}). "
                                   "Save the file as UTF-8.")
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            label, tab, text = line.partition("\t")
            if not tab:
                _fail(name, where, f"no tab between label and text in {line[:40]!r}. "
                                   f"{_HOW}")
            if not label.strip():
                _fail(name, where, f"the label (before the tab) is blank. {_HOW}")
            labels.append(label.strip())
            texts.append(text)
    if not labels:
        _fail(name, path, f"the file is empty (no `label<TAB>text` line). {_HOW}")
    return labels, texts


def split_order(num_examples, seed):
    """{split: example indices}: the seeded cut of the module docstring."""
    order = np.random.default_rng(seed).permutation(num_examples)
    held = {split: int(num_examples * fraction) for split, fraction in HELD_OUT.items()}
    train_size = num_examples - sum(held.values())
    parts, start = {"train": order[:train_size]}, train_size
    for split, size in held.items():
        parts[split], start = order[start:start + size], start + size
    return parts


class TextSource:
    """Labelled lines of one file: splits, classes, vocabulary and token ids."""

    is_text = True
    default_splits = {"train": "train", "val": "val", "test": "test"}
    resizable = False
    already_scaled = False

    def __init__(self, name, path, labels, texts, class_names, sequence_length,
                 max_tokens, seed):
        self.name = name
        self.path = path
        self.class_names = list(class_names)
        self.num_classes = len(class_names)
        self.sequence_length = sequence_length
        self.max_tokens = max_tokens
        self.seed = seed
        order = split_order(len(texts), seed)
        unseen = sorted(set(range(self.num_classes)) - set(labels[order["train"]]))
        if unseen:
            # A class the model never trains on is a class it cannot predict.
            named = ", ".join(f"{self.class_names[c]!r} ({np.sum(labels == c)} "
                              f"line{'s' if np.sum(labels == c) != 1 else ''})"
                              for c in unseen)
            _fail(name, path, f"label {named} has no line in the \"train\" split "
                              f"(80% of the lines, shuffled with seed {seed}), so no "
                              "model would learn it. Add lines of it, or remove them.")
        split_texts = {split: [texts[i] for i in rows] for split, rows in order.items()}
        self._texts = split_texts
        self.vocabulary = vocabulary_lib.fit(split_texts["train"], max_tokens)
        if len(self.vocabulary) <= 2:
            _fail(name, path, "the \"train\" split holds no word (letters or digits), so "
                              "there is no vocabulary to learn.")
        self._splits = {
            split: (vocabulary_lib.to_ids(split_texts[split], self.vocabulary,
                                          sequence_length), labels[rows])
            for split, rows in order.items()}

    @property
    def image_shape(self):
        """Shape of one example: (sequence_length,) int32 token ids."""
        return (self.sequence_length,)

    @property
    def vocabulary_size(self):
        """Number of token ids (the models' `vocab_size`), padding and [UNK] included."""
        return len(self.vocabulary)

    @property
    def split_sizes(self):
        return {split: len(labels) for split, (_, labels) in self._splits.items()}

    def num_examples(self, split):
        return splits.count(split, self.split_sizes)

    def texts(self, split):
        """(texts, labels) of `split` as the file has them, in the split's order."""
        ranges = splits.ranges(split, self.split_sizes)
        texts = [text for part, start, stop in ranges
                 for text in self._texts[part][start:stop]]
        labels = np.concatenate([self._splits[part][1][start:stop]
                                 for part, start, stop in ranges])
        return texts, labels

    def raw_examples(self, split, image_shape):
        """(int32 ids, int64 label) pairs of `split`, in the shuffled order."""
        if tuple(image_shape) != self.image_shape:
            raise ValueError(f"`dataset` {self.name!r} gives token ids of shape "
                             f"{self.image_shape}, not {tuple(image_shape)}.")
        ranges = splits.ranges(split, self.split_sizes)
        ids, labels = (np.concatenate([self._splits[part][column][start:stop]
                                       for part, start, stop in ranges]) for column in (0, 1))
        return tf.data.Dataset.from_tensor_slices((ids, labels))

    def record(self):
        """What a deployment must repeat to make the same ids (a job's summary)."""
        return {"format": "tsv", "vocabulary_file": vocabulary_lib.VOCABULARY_FILE,
                "vocabulary_size": self.vocabulary_size, "max_tokens": self.max_tokens,
                "sequence_length": self.sequence_length,
                "standardize": vocabulary_lib.STANDARDIZE, "split_seed": self.seed,
                "split_fractions": {"train": 1 - sum(HELD_OUT.values()), **HELD_OUT},
                "split_sizes": self.split_sizes}

    def write_vocabulary(self, folder):
        """Writes `folder`/vocabulary.txt (see `data/vocabulary.py`); returns its path."""
        return vocabulary_lib.write_vocabulary(self.vocabulary, folder)
