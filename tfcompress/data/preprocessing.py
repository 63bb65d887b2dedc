"""Pure per-example preprocessing for classification datasets.

Images are scaled as `normalize` says; text token ids and audio samples are
never scaled.
"""

import tensorflow as tf

# Channel statistics of the training splits, on the [0, 1] scale.
# MNIST: the widely used 0.1307 / 0.3081 (e.g. the PyTorch MNIST example).
KNOWN_MEAN_STD = {
    "mnist": (0.1307, 0.3081),
    "fashion_mnist": (0.2860, 0.3530),
}

NORMALIZATIONS = ("unit", "standard", "none")


def make_preprocess_fn(normalize="unit", mean=None, std=None, flatten=False):
    """Returns `fn(image, label) -> (float image, int32 label)`.

    Args:
      normalize: "unit" scales uint8 pixels to [0, 1]; "standard" also
        subtracts `mean` and divides by `std`; "none" keeps the values as
        they are (as float32), for models with their own Rescaling layer.
      mean: float or per-channel list, on the [0, 1] scale ("standard" only).
      std: positive float or per-channel list ("standard" only).
      flatten: reshape each image to a vector, for MLPs fed flat input.

    Raises:
      ValueError: unknown `normalize`, or "standard" without `mean`/`std`.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(
            f"`normalize` must be one of {NORMALIZATIONS}, got {normalize!r}.")
    if normalize == "standard":
        if mean is None or std is None:
            raise ValueError(
                "`normalize='standard'` needs `mean` and `std` (on the [0, 1] "
                f"scale); got mean={mean!r}, std={std!r}.")
        if min(tf.nest.flatten(std)) <= 0:
            raise ValueError(f"`std` must be > 0, got {std!r}.")

    def preprocess(image, label):
        image = tf.cast(image, tf.float32)
        if normalize != "none":
            image = image / 255.0
        if normalize == "standard":
            image = (image - mean) / std
        if flatten:
            image = tf.reshape(image, [-1])
        return image, tf.cast(label, tf.int32)

    return preprocess


# Examples that are never scaled, by kind: what the dataset holds, what
# "unit" and "none" keep as it is, and what to do instead of "standard".
_NEVER_SCALED = {
    "text": ("text as token ids, which are never scaled", "the ids", ""),
    "audio": ("audio clips, whose samples are decoded in [-1, 1] and never scaled",
              "the samples", " A model that wants normalized features computes them "
              "itself (e.g. a log-mel frontend)."),
}


def never_scaled(name, normalize, kind):
    """The normalization text ids or audio samples get: "none", whatever was asked.

    "unit" (the default) and "none" both leave them as they are; "standard"
    is refused rather than ignored, since its mean and std are per pixel
    channel.

    Args:
      name: the dataset, quoted in the error.
      normalize: what was asked.
      kind: "text" or "audio".

    Raises:
      ValueError: unknown `normalize`, or "standard".
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(
            f"`normalize` must be one of {NORMALIZATIONS}, got {normalize!r}.")
    if normalize == "standard":
        holds, kept, advice = _NEVER_SCALED[kind]
        raise ValueError(
            f"`normalize` 'standard' scales pixel values, but dataset {name!r} holds "
            f"{holds}: leave `normalize` at 'unit' (or 'none'); both keep {kept} as they "
            f"are.{advice}")
    return "none"


def token_labels(ids, label):
    """(int32 token ids, int32 label): text examples are not otherwise changed."""
    return tf.cast(ids, tf.int32), tf.cast(label, tf.int32)
