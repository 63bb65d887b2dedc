"""Text to token ids: the vocabulary, and the file a deployment reads it from.

Text is lowercased, stripped of ASCII punctuation and split on whitespace
(`TextVectorization`'s "lower_and_strip_punctuation"); each token becomes
its id: 0 pads, 1 ("[UNK]") is any token outside the vocabulary, then the
fitted texts' tokens, most frequent first, ties broken by the tokens
themselves (so the same texts always give the same ids). Each example is
padded with 0, or cut, at its end to `sequence_length` ids.

vocabulary.txt, written beside a model trained on text, holds one token per
line, UTF-8, and a token's id is its line number counted from 0: line 0 is
empty (padding) and line 1 is "[UNK]". `text_to_ids` reads it back, giving
the int32 ids the model's .keras and .tflite files take.
"""

import os

import numpy as np
import tensorflow as tf

from tfcompress import _atomic
from tfcompress._checks import check_positive_int
from tfcompress._keras import keras

VOCABULARY_FILE = "vocabulary.txt"
STANDARDIZE = "lower_and_strip_punctuation"
PADDING = ""
OOV = "[UNK]"


def _vectorizer(sequence_length, max_tokens=None, tokens=None):
    return keras.layers.TextVectorization(
        max_tokens=max_tokens, standardize=STANDARDIZE, split="whitespace",
        output_mode="int", output_sequence_length=sequence_length, vocabulary=tokens)


def _drop_eager_table_initializers():
    # An eager lookup table files None as its initializer in the global graph's
    # collection, and every later SavedModel export warns about each one.
    if tf.executing_eagerly():
        initializers = tf.compat.v1.get_collection_ref(
            tf.compat.v1.GraphKeys.TABLE_INITIALIZERS)
        initializers[:] = [op for op in initializers if op is not None]


def fit(texts, max_tokens):
    """The vocabulary of `texts` (a list of str): [PADDING, OOV, tokens...].

    At most `max_tokens` entries, special tokens included; see the module
    docstring for the order.
    """
    check_positive_int("max_tokens", max_tokens)
    if max_tokens < 3:
        raise ValueError(f"`max_tokens` must be at least 3 (padding, [UNK] and one "
                         f"token), got {max_tokens}.")
    try:
        layer = _vectorizer(1, max_tokens)
        layer.adapt(tf.constant(list(texts), tf.string))
        return [str(token) for token in layer.get_vocabulary()]
    finally:
        _drop_eager_table_initializers()


def to_ids(texts, vocabulary, sequence_length):
    """int32 ids [len(texts), sequence_length] of `texts` in `vocabulary` (`fit`'s)."""
    check_positive_int("sequence_length", sequence_length)
    texts = tf.constant(list(texts), tf.string)
    try:
        layer = _vectorizer(sequence_length, tokens=list(vocabulary))
        return layer(tf.reshape(texts, [-1, 1])).numpy().astype(np.int32)
    finally:
        _drop_eager_table_initializers()


def write_vocabulary(vocabulary, folder):
    """Writes `folder`/vocabulary.txt, one token per line (id = line number).

    Args:
      vocabulary: the tokens in id order, from `fit` (or a text source's
        `vocabulary`): PADDING and OOV first.
      folder: where to write it (created if missing).

    Returns:
      The file's path.
    """
    path = os.path.join(os.fspath(folder), VOCABULARY_FILE)
    with _atomic.atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(token + "\n" for token in vocabulary))
    return path


def read_vocabulary(path):
    """The tokens of a vocabulary.txt in id order; `path` may be its folder.

    Raises:
      FileNotFoundError: no such file.
      ValueError: it does not start with the padding and [UNK] lines.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, VOCABULARY_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`vocabulary_path`: no vocabulary file at {path!r}: pass "
                                f"the {VOCABULARY_FILE} a job trained on text wrote "
                                "beside its model (or that folder).")
    # Split on "\n" only: str.splitlines would also break tokens at characters
    # such as U+2028, which whitespace splitting keeps inside a token.
    with open(path, encoding="utf-8", newline="") as f:
        tokens = f.read().split("\n")
    if tokens[-1] == "":
        tokens.pop()
    if tokens[:2] != [PADDING, OOV]:
        raise ValueError(f"`vocabulary_path` {path!r} is not a tfcompress vocabulary: "
                         f"line 0 must be empty (padding) and line 1 {OOV!r}, got "
                         f"{tokens[:2]!r}.")
    return tokens


def check_model_vocabulary(model_path, vocabulary, dataset, arg_name="model"):
    """Raises if the vocabulary.txt beside `model_path` is not `vocabulary`.

    A model trained on text reads token ids; the same ids from another
    vocabulary are other words, and nothing in the model would say so. A
    model without a vocabulary.txt beside it is not checked.

    Args:
      model_path: a model file (.keras, .tflite) or a job's output folder.
      vocabulary: the tokens `dataset` gives ids for, in id order.
      dataset: the dataset's name, for the message.
      arg_name: the argument `model_path` came from, for the message.
    """
    model_path = os.fspath(model_path)
    folder = model_path if os.path.isdir(model_path) else os.path.dirname(model_path)
    path = os.path.join(folder, VOCABULARY_FILE)
    if not os.path.isfile(path):
        return
    tokens = read_vocabulary(path)
    if tokens != list(vocabulary):
        differ = next((i for i, (a, b) in enumerate(zip(tokens, vocabulary)) if a != b),
                      min(len(tokens), len(vocabulary)))
        raise ValueError(
            f"`{arg_name}` {model_path!r} was trained on the ids of {path!r} "
            f"({len(tokens):,} tokens), but dataset {dataset!r} numbers its words by "
            f"another vocabulary ({len(vocabulary):,} tokens, first different at id "
            f"{differ}): the model would read other words. Pass the dataset (and "
            "seed) the model was trained on.")


def text_to_ids(texts, vocabulary_path, sequence_length):
    """Raw strings as the int32 token ids a model trained on text takes.

    The same ids the training data had: lowercased, punctuation stripped,
    words outside the vocabulary as 1 ([UNK]), padded with 0 or cut at the
    end. Feed the result to the model's .keras file or its .tflite file
    (input: int32 [batch, sequence_length]).

    Args:
      texts: a str, or a sequence of str.
      vocabulary_path: the vocabulary.txt beside the model (or its folder).
      sequence_length: ids per text, the model's input length (the
        summary's data.text.sequence_length).

    Returns:
      np.int32 array [number of texts, sequence_length].
    """
    if isinstance(texts, str):
        texts = [texts]
    return to_ids(texts, read_vocabulary(vocabulary_path), sequence_length)
