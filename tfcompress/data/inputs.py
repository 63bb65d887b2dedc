"""The data a library function takes: a `tf.data.Dataset` of batches, or NumPy arrays.

Every public function that takes examples (`evaluate_classifier`,
`train_classifier`, `prune.sensitivity.analyze`, `export_tflite`'s
calibration and check data...) reads them through these two functions, so
each takes the same things: a dataset of (x, y) batches, or an (x, y) tuple
of arrays (inputs alone where no labels are needed).
"""

import numpy as np
import tensorflow as tf

from tfcompress._checks import check_positive_int

DEFAULT_BATCH_SIZE = 128


def _array(value):
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.floating) and array.dtype != np.float32:
        array = array.astype(np.float32)  # what the models and LiteRT take
    return array


def _is_pair(data, kinds=(tuple, list)):
    return isinstance(data, kinds) and len(data) == 2


def as_batches(data, *, arg_name="data", batch_size=DEFAULT_BATCH_SIZE, shuffle=False,
               seed=None):
    """`data` as a `tf.data.Dataset` of (x, y) batches.

    Args:
      data: a `tf.data.Dataset` of (x, y) batches, returned as it is; or an
        (x, y) tuple (or list) of arrays, one label per example.
      arg_name: the caller's argument, quoted in errors.
      batch_size: positive int, the batches arrays are cut into.
      shuffle: shuffle arrays anew each epoch (training data).
      seed: seed of that shuffle; None: TF's global seed.

    Raises:
      TypeError: `data` is neither.
      ValueError: x and y hold different numbers of examples.
    """
    if isinstance(data, tf.data.Dataset):
        return data
    if not _is_pair(data):
        hint = (": pass the labels too, as (x, y)" if isinstance(data, np.ndarray)
                else "")
        raise TypeError(f"`{arg_name}` must be a tf.data.Dataset of (x, y) batches or an "
                        f"(x, y) tuple of NumPy arrays, got {type(data).__name__}{hint}.")
    check_positive_int("batch_size", batch_size)
    x, y = (_array(part) for part in data)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"`{arg_name}`: x has shape {x.shape} and y {y.shape}: pass one "
                         "label per example (x and y of the same length).")
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(max(len(x), 1), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def first_inputs(data, count=None, *, arg_name="data"):
    """The inputs (x) of the first `count` examples of `data`, as one array.

    Args:
      data: an array (or list) of inputs, an (x, y) tuple of arrays, or a
        `tf.data.Dataset` of (x, y) or x batches.
      count: positive int; None: all of an array, the first batch of a dataset.
      arg_name: the caller's argument, quoted in errors.

    Raises:
      TypeError: a dataset whose elements are not batches of arrays.
    """
    if count is not None:
        check_positive_int("count", count)
    if not isinstance(data, tf.data.Dataset):
        x = _array(data[0] if _is_pair(data, tuple) else data)
        return x if count is None else x[:count]
    parts, taken = [], 0
    for batch in data:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        if not isinstance(x, tf.Tensor):
            raise TypeError(f"`{arg_name}` must yield (x, y) or x batches of arrays, got "
                            f"{type(x).__name__}.")
        parts.append(_array(x))
        taken += len(parts[-1])
        if count is None or taken >= count:
            break
    if not parts:
        return np.zeros((0,), np.float32)
    x = np.concatenate(parts)
    return x if count is None else x[:count]


def _pairs(data, scan):
    """(x, y-or-None) chunks of `data`: at most `scan` examples in all."""
    if not isinstance(data, tf.data.Dataset):
        if _is_pair(data, tuple):
            yield _array(data[0])[:scan], np.asarray(data[1])[:scan]
        else:
            yield _array(data)[:scan], None
        return
    seen = 0
    for batch in data:
        if isinstance(batch, (tuple, list)):
            x, y = _array(batch[0]), np.asarray(batch[1])
        else:
            x, y = _array(batch), None
        yield x[:scan - seen], None if y is None else y[:scan - seen]
        seen += len(x)
        if seen >= scan:
            return


def examples_of_every_class(data, per_class=16, max_examples=128, *, scan=4096,
                            arg_name="data"):
    """Up to `per_class` examples of each class in `data`, as (x, y) arrays.

    What an exported file is checked on: a file that answers one class for
    everything must meet examples of the others, however rare they are
    (73 spam messages among 557). Classes take turns, so a split with more
    classes than `max_examples // per_class` still gets every class in.

    Args:
      data: as `first_inputs` takes it; labels, where given, are the classes
        (an array of inputs alone gives its first `max_examples`, y None).
      per_class, max_examples: positive ints.
      scan: read at most this many examples looking for rare classes.
      arg_name: the caller's argument, quoted in errors.

    Returns:
      (x, y): y None when `data` has no labels; examples keep `data`'s order
      within each class.
    """
    check_positive_int("per_class", per_class)
    check_positive_int("max_examples", max_examples)
    inputs, by_class, labelled = [], {}, True
    for x, y in _pairs(data, scan):
        if x.ndim == 0:
            raise TypeError(f"`{arg_name}` must hold arrays of examples, got a "
                            f"scalar {x!r}.")
        if y is None:
            labelled = False
            inputs.append(x)
            if sum(map(len, inputs)) >= max_examples:
                break
            continue
        if len(y) != len(x):
            raise ValueError(f"`{arg_name}`: x has {len(x)} examples and y {len(y)} "
                             "labels: pass one label per example.")
        y = y.reshape(len(y), -1)
        y = y[:, 0] if y.shape[1] == 1 else y.argmax(-1)  # [n, 1] labels, or one-hot
        for example, label in zip(x, y.astype(np.int64)):
            kept = by_class.setdefault(int(label), [])
            if len(kept) < per_class:
                kept.append(example)
    if not labelled:
        x = np.concatenate(inputs) if inputs else np.zeros((0,), np.float32)
        return x[:max_examples], None
    chosen = []
    for turn in range(per_class):
        for label in sorted(by_class):
            if turn < len(by_class[label]) and len(chosen) < max_examples:
                chosen.append((by_class[label][turn], label))
    if not chosen:
        return np.zeros((0,), np.float32), np.zeros((0,), np.int64)
    return (np.stack([x for x, _ in chosen]),
            np.array([label for _, label in chosen], np.int64))
