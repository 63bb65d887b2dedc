"""TFDS image-classification datasets as batched `tf.data` pipelines.

Loading never downloads: a dataset must already be prepared in `data_dir`, so
an offline machine gets an immediate error instead of a hanging download.
"""

import os

import tensorflow as tf
import tensorflow_datasets as tfds

from tfcompress._checks import check_positive_int
from tfcompress.data import preprocessing

# Above this many examples the shuffle buffer stops growing (memory bound).
MAX_SHUFFLE_BUFFER = 60_000


def resolve_data_dir(data_dir=None):
    """`data_dir`, else $TFDS_DATA_DIR, else TFDS's default directory."""
    if data_dir:
        return os.fspath(data_dir)
    return os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR


def builder(name, data_dir=None):
    """The TFDS builder of a dataset that is prepared locally.

    Raises:
      ValueError: TFDS knows no dataset called `name`.
      FileNotFoundError: the dataset is not prepared under the directory.
    """
    data_dir = resolve_data_dir(data_dir)
    try:
        dataset_builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"`dataset` {name!r} is not a TFDS dataset name (see "
            "tfds.list_builders())."
        ) from None
    if not dataset_builder.is_prepared():
        raise FileNotFoundError(
            f"Dataset {name!r} is not prepared under {data_dir!r}. Point "
            "`data_dir` (or $TFDS_DATA_DIR, or --data_dir) at a directory "
            f"that holds {name}/ in TFDS format, or prepare it once with "
            f"network access: tfds.builder({name!r}, data_dir=...)"
            ".download_and_prepare()."
        )
    return dataset_builder


def num_examples(name, split, data_dir=None):
    """Number of examples in `split` (slices such as "train[:10%]" work)."""
    return builder(name, data_dir).info.splits[split].num_examples


def check_split(name, split, data_dir=None, arg_name="split"):
    """Raises ValueError unless `split` of dataset `name` exists and holds examples.

    `arg_name` is the caller's argument, quoted in the message.
    """
    try:
        if num_examples(name, split, data_dir) == 0:
            raise ValueError("it is empty")
    except (KeyError, ValueError) as e:
        names = sorted(builder(name, data_dir).info.splits)
        raise ValueError(f"`{arg_name}` {split!r} is not a usable split of {name!r}: "
                         f"{str(e).rstrip('.')}. Pass a split that holds examples, "
                         f"such as '{names[-1]}' or '{names[-1]}[:1000]'.") from None


def examples(
    name,
    split,
    *,
    normalize="unit",
    mean=None,
    std=None,
    flatten=False,
    cache=True,
    data_dir=None,
):
    """One pass over a TFDS split as preprocessed (image, label) examples.

    Unbatched and unshuffled, in the split's own order: the source that
    `load` batches, and that a resumable training run orders per epoch
    (`data.epoch_batches`). Arguments are those of `load`.

    Returns:
      A `tf.data.Dataset` of (float32 image, int32 label) pairs.
    """
    if normalize == "standard" and (mean is None or std is None):
        if name not in preprocessing.KNOWN_MEAN_STD:
            raise ValueError(
                f"`normalize='standard'` needs `mean` and `std` for {name!r}; "
                f"statistics are built in only for "
                f"{sorted(preprocessing.KNOWN_MEAN_STD)}."
            )
        known_mean, known_std = preprocessing.KNOWN_MEAN_STD[name]
        mean = known_mean if mean is None else mean
        std = known_std if std is None else std
    preprocess = preprocessing.make_preprocess_fn(normalize, mean, std, flatten)

    dataset_builder = builder(name, data_dir)
    try:
        dataset_builder.info.splits[split].num_examples
    except (KeyError, ValueError) as e:
        raise ValueError(
            f"`split` {split!r} does not exist in {name!r} (splits: "
            f"{sorted(dataset_builder.info.splits)}): {e}"
        ) from None
    ds = dataset_builder.as_dataset(
        split=split, as_supervised=True, shuffle_files=False
    )
    ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.cache() if cache else ds


def load(
    name,
    split,
    *,
    batch_size=128,
    shuffle=False,
    seed=0,
    normalize="unit",
    mean=None,
    std=None,
    flatten=False,
    cache=True,
    drop_remainder=False,
    data_dir=None,
):
    """Loads a TFDS image-classification split as (image, label) batches.

    Order: decode, preprocess, cache, shuffle, batch, prefetch; so caching
    keeps decoded floats and the shuffle is fresh (and seeded) every epoch.

    Args:
      name: TFDS dataset name, e.g. "mnist".
      split: TFDS split, slices included: "train", "train[:10%]", "test".
      batch_size: positive int.
      shuffle: shuffle examples each epoch (use for training splits).
      seed: int seed of the shuffle; same seed, same order every run.
      normalize: "unit" ([0, 1]) or "standard" (mean/std); see
        `preprocessing.make_preprocess_fn`.
      mean: for "standard"; defaults to known statistics of `name`.
      std: for "standard"; defaults to known statistics of `name`.
      flatten: images as flat vectors (for MLPs taking [batch, H*W*C]).
      cache: keep preprocessed examples in memory after the first epoch.
      drop_remainder: drop the last partial batch.
      data_dir: TFDS directory; defaults to $TFDS_DATA_DIR, then TFDS's own.

    Returns:
      A `tf.data.Dataset` of (float32 [batch, ...], int32 [batch]) pairs.
    """
    check_positive_int("batch_size", batch_size)
    ds = examples(name, split, normalize=normalize, mean=mean, std=std,
                  flatten=flatten, cache=cache, data_dir=data_dir)
    if shuffle:
        size = num_examples(name, split, data_dir)
        ds = ds.shuffle(
            min(size, MAX_SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True
        )
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)


def first_examples(name, split, num_examples=64, *, data_dir=None, **load_kwargs):
    """The first `num_examples` inputs of a split as one numpy batch.

    Reads its own uncached pipeline: stopping early in a cached dataset that
    is read again later can leave that later read truncated (seen here: a
    10,000-image test split evaluated as one batch of 128).

    Args:
      name, split, data_dir: as `load`.
      num_examples: positive int.
      **load_kwargs: preprocessing arguments of `load` (normalize, flatten...).
    """
    check_positive_int("num_examples", num_examples)
    ds = load(name, split, batch_size=num_examples, cache=False, data_dir=data_dir,
              **load_kwargs)
    return next(iter(ds))[0].numpy()
