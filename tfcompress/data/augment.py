"""Training augmentation (`--augment`), a pure function of (seed, epoch, position).

"crop_flip" is the standard CIFAR-10 recipe: pad each image by 4 pixels of
zeros on every side, crop a random window of its own size back out, and flip
it left-right half the time. It works on the preprocessed images, so the
padding is 0 after normalization (black with --normalize=unit).

A random generator would draw other crops after a resume than an
uninterrupted run did. Here each image's crop and flip come from stateless
random ops seeded by (the epoch's seed, the batch's index in the epoch) and
drawn by the image's place in its batch: a pure function of (seed, epoch,
position in the epoch's shuffled order), so an epoch's augmented batches
are the same however often it is rebuilt, and `data.epoch_batches` can skip
the batches a resumed run already trained on.
"""

import tensorflow as tf

NONE = "none"
CROP_FLIP = "crop_flip"
AUGMENTATIONS = (NONE, CROP_FLIP)
# Pixels of zeros added on each side before the random crop (CIFAR-10's 4).
PAD = 4
# Smallest height and width crop_flip is applied to: a smaller image would be
# mostly padding, and (length, 1) audio would be flipped in nothing.
MIN_SIDE = 2 * PAD


def _refuse(augment, dataset, what):
    raise ValueError(f"`augment` {augment!r} pads, crops and flips images, but dataset "
                     f"{dataset!r} {what}: train it with --augment={NONE}.")


def check(augment, source, input_shape):
    """Raises ValueError unless `augment` can be applied to `source`'s examples.

    Args:
      augment: one of `AUGMENTATIONS`.
      source: the dataset's source (`data.open_source`).
      input_shape: the shape of one example as the model takes it.
    """
    if augment not in AUGMENTATIONS:
        raise ValueError(f"`augment` must be one of {AUGMENTATIONS}, got {augment!r}.")
    if augment == NONE:
        return
    if source.is_text:
        _refuse(augment, source.name, "is text (token ids)")
    if getattr(source, "is_audio", False):
        _refuse(augment, source.name, "holds audio clips")
    shape = tuple(input_shape)
    if len(shape) not in (2, 3) or None in shape[:2]:
        _refuse(augment, source.name, f"gives the model inputs of shape {shape}, not "
                                      "images (height, width[, channels])")
    if min(shape[:2]) < MIN_SIDE:
        _refuse(augment, source.name, f"gives the model images of {shape[0]}x{shape[1]} "
                                      f"pixels; crop_flip needs at least "
                                      f"{MIN_SIDE}x{MIN_SIDE}")


def crop_flip(images, seed):
    """A batch of `images`, each padded by `PAD` zeros, cropped back at random, maybe flipped.

    Each image draws its own crop offsets and flip; all draws come from
    `seed`, so the same batch and seed give the same images. One gather per
    axis crops (and flips) the whole batch: per-image ops in tf.data cost
    more than the rest of an epoch's input pipeline.

    Args:
      images: [batch, height, width] or [batch, height, width, channels].
      seed: int [2] tensor.
    """
    flat = images.shape.rank == 3
    if flat:
        images = images[..., tf.newaxis]
    count, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    offset_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    offsets = tf.random.stateless_uniform([count, 2], offset_seed, minval=0,
                                          maxval=2 * PAD + 1, dtype=tf.int32)
    flips = tf.random.stateless_uniform([count], flip_seed) < 0.5
    padded = tf.pad(images, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]])
    rows = offsets[:, :1] + tf.range(height)[tf.newaxis]
    columns = offsets[:, 1:] + tf.range(width)[tf.newaxis]
    columns = tf.where(flips[:, tf.newaxis], tf.reverse(columns, [1]), columns)
    cropped = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), columns, axis=2,
                        batch_dims=1)
    cropped = tf.ensure_shape(cropped, images.shape)  # the sizes a model's input checks
    return cropped[..., 0] if flat else cropped


def augmented(batches, augment, seed):
    """`batches` with `augment` applied, each batch seeded by (`seed`, its index).

    Args:
      batches: `tf.data.Dataset` of (images, labels[, weights]) batches of one
        epoch, in the order they will be trained on (after its shuffle).
      augment: one of `AUGMENTATIONS`; "none" returns `batches` as they are.
      seed: int or int64 scalar tensor, the epoch's seed (`epochs.epoch_seed`).
    """
    if augment not in AUGMENTATIONS:
        raise ValueError(f"`augment` must be one of {AUGMENTATIONS}, got {augment!r}.")
    if augment == NONE:
        return batches
    spec = batches.element_spec
    if not isinstance(spec, tuple) or not isinstance(spec[0], tf.TensorSpec):
        raise TypeError(f"`augment` {augment!r} takes batches of (images, labels), got "
                        f"{spec}; inputs paired with cached teacher outputs cannot be "
                        "augmented (the teacher must see the augmented images).")

    def apply(index, batch):
        images, *rest = batch
        return (crop_flip(images, tf.stack([tf.cast(seed, tf.int64), index])), *rest)

    return batches.enumerate().map(apply, num_parallel_calls=tf.data.AUTOTUNE)
