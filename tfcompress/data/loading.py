"""Classification datasets as batched `tf.data` pipelines.

A dataset is a TFDS name, `npz:PATH`, `dir:PATH` or `tsv:PATH` (see
`data/sources.py`); examples are images, int32 token ids for text, or audio
clips (float32 samples) for a folder of .wav files;
every function here takes it as `name` and splits as TFDS writes them, slices
included ("train[:10%]", "train[:512]"). TFDS datasets are never downloaded:
they must be prepared in `data_dir`.
"""

import tensorflow as tf

from tfcompress._checks import check_positive_int
from tfcompress.data import inputs
from tfcompress.data import preprocessing
from tfcompress.data import shapes
from tfcompress.data import sources
from tfcompress.data.tfds_source import builder  # noqa: F401  (public, data.builder)
from tfcompress.data.tfds_source import resolve_data_dir  # noqa: F401

# Above this many examples the shuffle buffer stops growing (memory bound).
MAX_SHUFFLE_BUFFER = 60_000


def num_examples(name, split, data_dir=None):
    """Number of examples in `split` (slices such as "train[:10%]" work)."""
    return sources.open_source(name, data_dir).num_examples(split)


def check_split(name, split, data_dir=None, arg_name="split"):
    """Raises ValueError unless `split` of dataset `name` exists and holds examples.

    `arg_name` is the caller's argument, quoted in the message.
    """
    source = sources.open_source(name, data_dir)
    try:
        if source.num_examples(split) == 0:
            raise ValueError("it is empty")
    except (KeyError, ValueError) as e:
        names = sorted(source.split_sizes)
        raise ValueError(f"`{arg_name}` {split!r} is not a usable split of {name!r}: "
                         f"{' '.join(str(e).split()).rstrip('.')}. Pass a split that "
                         "holds examples, "
                         f"such as '{names[-1]}' or '{names[-1]}[:1000]'.") from None


def source_mismatch(source, shape):
    """Why `source`'s examples cannot be given as inputs of `shape` (None: they can).

    See `data/shapes.py`; audio sources also name the clips that do not fit.
    """
    if getattr(source, "is_audio", False):
        return source.mismatch(shape)
    return shapes.mismatch(source.image_shape, shape, source.resizable)


def _statistics(name, normalize, mean, std):
    """`mean` and `std` for "standard": as given, else the built-in ones of `name`."""
    if normalize != "standard" or (mean is not None and std is not None):
        return mean, std
    if name not in preprocessing.KNOWN_MEAN_STD:
        raise ValueError(
            f"`normalize='standard'` needs `mean` and `std` for {name!r}; "
            f"statistics are built in only for "
            f"{sorted(preprocessing.KNOWN_MEAN_STD)}: compute them with "
            f"data.normalization({name!r}, 'train', 'standard').")
    known_mean, known_std = preprocessing.KNOWN_MEAN_STD[name]
    return (known_mean if mean is None else mean), (known_std if std is None else std)


def examples(name, split, *, normalize="unit", mean=None, std=None, flatten=False,
             cache=True, data_dir=None, image_shape=None):
    """One pass over a split as preprocessed (image, label) examples.

    Unbatched and unshuffled, in the split's own order: the source that
    `load` batches, and that a resumable training run orders per epoch
    (`data.epoch_batches`). Arguments are those of `load`.

    Returns:
      A `tf.data.Dataset` of (float32 image, int32 label) pairs; for text
      (tsv:), (int32 token ids, int32 label), `normalize` unused; for audio,
      (float32 samples in [-1, 1], int32 label), never scaled.
    """
    source = sources.open_source(name, data_dir)
    if source.is_text:
        preprocessing.never_scaled(name, normalize, "text")
        preprocess = preprocessing.token_labels
    elif getattr(source, "is_audio", False):
        preprocess = preprocessing.make_preprocess_fn(
            preprocessing.never_scaled(name, normalize, "audio"), flatten=flatten)
    else:
        mean, std = _statistics(name, normalize, mean, std)
        preprocess = preprocessing.make_preprocess_fn(normalize, mean, std, flatten)
    try:
        source.num_examples(split)
    except (KeyError, ValueError) as e:
        raise ValueError(f"`split` {split!r} does not exist in {name!r} (splits: "
                         f"{sorted(source.split_sizes)}): {e}") from None
    shape = source.image_shape if image_shape is None else shapes.fill_unknown(
        source.image_shape, image_shape)
    reason = source_mismatch(source, shape)
    if reason:
        raise ValueError(f"`image_shape` {shape} does not fit dataset {name!r}, whose "
                         f"images have shape {source.image_shape}: {reason}.")
    ds = source.raw_examples(split, shape)
    ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.cache() if cache else ds


def load(name, split, *, batch_size=128, shuffle=False, seed=0, normalize="unit",
         mean=None, std=None, flatten=False, cache=True, drop_remainder=False,
         data_dir=None, image_shape=None):
    """Loads an image-classification split as (image, label) batches.

    Order: decode, preprocess, cache, shuffle, batch, prefetch; so caching
    keeps decoded floats and the shuffle is fresh (and seeded) every epoch.

    Args:
      name: TFDS dataset name ("mnist"), "npz:PATH", "dir:PATH" or "tsv:PATH".
      split: split, slices included: "train", "train[:10%]", "test".
      batch_size: positive int.
      shuffle: shuffle examples each epoch (use for training splits).
      seed: int seed of the shuffle; same seed, same order every run.
      normalize: "unit" ([0, 1]), "standard" (mean/std) or "none" (values as
        stored); see `preprocessing.make_preprocess_fn`.
      mean: for "standard"; defaults to known statistics of `name` (else
        compute them with `data.normalization`).
      std: for "standard"; as `mean`.
      flatten: images as flat vectors (for MLPs taking [batch, H*W*C]).
      cache: keep preprocessed examples in memory after the first epoch.
      drop_remainder: drop the last partial batch.
      data_dir: TFDS directory; defaults to $TFDS_DATA_DIR, then TFDS's own.
      image_shape: shape of one image as the model takes it; default: as
        the dataset stores it. See `data/shapes.py` for what converts.

    Returns:
      A `tf.data.Dataset` of (float32 [batch, ...], int32 [batch]) pairs; for
      text (tsv:), (int32 [batch, sequence_length], int32 [batch]).
    """
    check_positive_int("batch_size", batch_size)
    ds = examples(name, split, normalize=normalize, mean=mean, std=std,
                  flatten=flatten, cache=cache, data_dir=data_dir,
                  image_shape=image_shape)
    if shuffle:
        size = num_examples(name, split, data_dir)
        ds = ds.shuffle(min(size, MAX_SHUFFLE_BUFFER), seed=seed,
                        reshuffle_each_iteration=True)
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
      **load_kwargs: preprocessing arguments of `load` (normalize, flatten,
        image_shape...).
    """
    check_positive_int("num_examples", num_examples)
    ds = load(name, split, batch_size=num_examples, cache=False, data_dir=data_dir,
              **load_kwargs)
    return next(iter(ds))[0].numpy()


def examples_of_every_class(name, split, per_class=16, max_examples=128, *,
                            data_dir=None, **load_kwargs):
    """Up to `per_class` examples of every class of a split, as (x, y) arrays.

    What exports are checked on (`inputs.examples_of_every_class`): a rare
    class (spam) is checked as well as the common one. Reads its own
    uncached pipeline, at most the split's first 4,096 examples.

    Args:
      name, split, data_dir: as `load`.
      per_class, max_examples: positive ints.
      **load_kwargs: preprocessing arguments of `load`.
    """
    ds = load(name, split, batch_size=256, cache=False, data_dir=data_dir,
              **load_kwargs)
    return inputs.examples_of_every_class(ds, per_class, max_examples,
                                          arg_name="split")
