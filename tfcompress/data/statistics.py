"""The preprocessing a run uses, checked against its data: `normalize` and
the per-channel mean and std that "standard" divides by."""

import numpy as np

from tfcompress.data import loading
from tfcompress.data import preprocessing
from tfcompress.data import sources

_BATCH = 1024


def mean_std(name, split, *, data_dir=None, image_shape=None):
    """Mean and std of `split`'s pixels on the [0, 1] scale (value / 255).

    Per channel for images (height, width, channels), one value otherwise;
    accumulated in float64 over the whole split.

    Returns:
      (mean, std): lists of floats, one per channel, or floats.

    Raises:
      ValueError: a channel is constant (std 0: nothing to divide by).
    """
    ds = loading.examples(name, split, cache=False, data_dir=data_dir,
                          image_shape=image_shape).batch(_BATCH)
    total = squares = count = 0
    per_channel = None
    for images, _ in ds.as_numpy_iterator():
        if per_channel is None:
            per_channel = images.ndim == 4
        values = images.astype(np.float64).reshape(-1, images.shape[-1] if per_channel else 1)
        total = total + values.sum(axis=0)
        squares = squares + (values ** 2).sum(axis=0)
        count += len(values)
    if not count:
        raise ValueError(f"`train_split` {split!r} of {name!r} is empty: there are no "
                         "pixels to compute the mean and std of.")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    constant = np.flatnonzero(std < 1e-6 * np.maximum(np.abs(mean), 1e-6)).tolist()
    if constant:
        raise ValueError(f"`normalize` 'standard': dataset {name!r}, split {split!r} has "
                         f"constant pixel values (in channel {constant}), so there is no "
                         "std to divide by: use 'unit' or 'none'.")
    if per_channel:
        return [float(m) for m in mean], [float(s) for s in std]
    return float(mean[0]), float(std[0])


def normalization(name, split, normalize, *, data_dir=None, image_shape=None):
    """The preprocessing arguments of `data.load` for `normalize`, checked.

    "standard" computes the mean and std on `split` (the training split);
    "unit" refuses float images already in [0, 1], which it would divide by
    255 a second time. Text (tsv:) and audio are never scaled: "none" (see
    `preprocessing.never_scaled`).

    Args:
      name: the dataset (TFDS name, npz:PATH, dir:PATH or tsv:PATH).
      split: the training split.
      normalize: one of `preprocessing.NORMALIZATIONS`.
      data_dir, image_shape: as `data.load`.

    Returns:
      {"normalize": normalize, "mean": ..., "std": ...} (None but for
      "standard").
    """
    if normalize not in preprocessing.NORMALIZATIONS:
        raise ValueError(f"`normalize` must be one of {preprocessing.NORMALIZATIONS}, got "
                         f"{normalize!r}.")
    source = sources.open_source(name, data_dir)
    if source.is_text:
        return {"normalize": preprocessing.never_scaled(name, normalize, "text"), "mean": None,
                "std": None}
    if getattr(source, "is_audio", False):
        return {"normalize": preprocessing.never_scaled(name, normalize, "audio"), "mean": None,
                "std": None}
    if normalize == "unit" and source.already_scaled:
        raise ValueError(
            f"`normalize` 'unit' divides pixel values by 255, but dataset {name!r} holds "
            "float images already in [0, 1]: pass normalize='none' (--normalize=none) "
            "to use them as they are, or 'standard'.")
    mean = std = None
    if normalize == "standard":
        mean, std = mean_std(name, split, data_dir=data_dir, image_shape=image_shape)
    return {"normalize": normalize, "mean": mean, "std": std}
