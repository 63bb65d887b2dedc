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
