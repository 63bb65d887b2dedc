"""Training augmentation (`--augment`), a pure function of (seed, epoch, position).

"crop_flip" is the standard CIFAR-10 recipe: pad each image by 4 pixels of
zeros on every side, crop a random window of its own size back out, and flip
it left-right half the time. It works on the preprocessed images, so the
padding is 0 after normalization (black with --normalize=unit).

A random generator would draw other crops after a resume than an
uninterrupted run did. Here each example's crop and flip come from
stateless random ops seeded by (the epoch's seed, the example's position in
the epoch's shuffled order), so an epoch's augmented batches are the same
however often it is rebuilt, and `data.epoch_batches` can skip the batches
a resumed run already trained on.
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


def crop_flip(image, seed):
    """`image` padded by `PAD` zeros, randomly cropped back and maybe flipped.

    Args:
      image: one image, [height, width] or [height, width, channels].
      seed: int [2] tensor; the same seed gives the same crop and flip.
    """
    flat = image.shape.rank == 2
    if flat:
        image = image[..., tf.newaxis]
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    padded = tf.pad(image, [[PAD, PAD], [PAD, PAD], [0, 0]])
    cropped = tf.image.stateless_random_crop(padded, tf.shape(image), seed=crop_seed)
    flipped = tf.image.stateless_random_flip_left_right(cropped, seed=flip_seed)
    return flipped[..., 0] if flat else flipped


def augmented(examples, augment, seed):
    """`examples` with `augment` applied, each example seeded by (`seed`, its position).

    Args:
      examples: unbatched `tf.data.Dataset` of (image, label[, weight]), in
        the order they will be trained on (after the epoch's shuffle).
      augment: one of `AUGMENTATIONS`; "none" returns `examples` as they are.
      seed: int, the epoch's seed (`epochs.epoch_seed`).
    """
    if augment not in AUGMENTATIONS:
        raise ValueError(f"`augment` must be one of {AUGMENTATIONS}, got {augment!r}.")
    if augment == NONE:
        return examples
    if not isinstance(examples.element_spec, tuple) or not isinstance(
            examples.element_spec[0], tf.TensorSpec):
        raise TypeError(f"`augment` {augment!r} takes examples of (image, label), got "
                        f"{examples.element_spec}; inputs paired with cached teacher "
                        "outputs cannot be augmented (the teacher must see the augmented "
                        "image).")

    def apply(position, example):
        image, *rest = example
        example_seed = tf.stack([tf.constant(seed, tf.int64), position])
        return (crop_flip(image, example_seed), *rest)

    return examples.enumerate().map(apply, num_parallel_calls=tf.data.AUTOTUNE)
