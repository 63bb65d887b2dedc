"""Giving a dataset's images to a model whose input shape differs a little.

What converts (and nothing else; README, "Your own data"):

  * a trailing channel axis of size 1, added or dropped: (28, 28) <-> (28, 28, 1);
  * grayscale to RGB: the one channel copied into three (RGB is never made
    grayscale: that would throw colour away behind the user's back);
  * another height and width, for image folders only (`dir:`): resized,
    bilinear, as `keras.utils.image_dataset_from_directory` does.

Audio clips, (samples, channels) (data/audio.py):

  * mono clips to a model taking (samples,): the channel axis of 1 dropped;
  * mono to more channels: the one channel copied into each (never the
    other way: channels are not mixed down behind the user's back);
  * another length, unless the user fixed it (`audio_length`): padded with
    zeros or cropped, keeping the start, as
    `keras.utils.audio_dataset_from_directory` does.
"""

import tensorflow as tf


def _as_image(shape):
    """(height, width, channels) of an image shape, or None for other ranks."""
    if len(shape) == 3:
        return tuple(shape)
    if len(shape) == 2:
        return (*shape, 1)
    return None


def fill_unknown(have, want):
    """`want` with its unknown (None) sizes taken from `have`, axis by axis.

    Where the ranks differ by one (a channel axis added or dropped), the
    leading axes are filled: a clip of (8000, 1) fills (None,) as (8000,).
    """
    want = tuple(want)
    if abs(len(want) - len(have)) > 1:
        return want
    return tuple(h if w is None else w for h, w in zip(have, want)) + want[len(have):]


def audio_channels(shape):
    """Channels of a clip shape: 1 for (samples,), else its last size; None for other ranks."""
    if len(shape) == 1:
        return 1
    return shape[1] if len(shape) == 2 else None


def _audio_mismatch(have, want, resizable):
    """Why clips of shape `have` (samples, channels) cannot be inputs of shape `want`."""
    takes = audio_channels(want)
    if takes is None:
        return ("audio clips are given as (samples,) or (samples, channels), and the "
                f"model takes rank {len(want)}")
    if have[1] != takes and have[1] != 1:
        return (f"{have[1]}-channel clips do not convert to {takes} channel(s) (only mono "
                "converts, copied into each channel)")
    if want[0] is not None and want[0] != have[0] and not resizable:
        return (f"the clips are made {have[0]} samples long by `audio_length`, and the "
                f"model takes {want[0]}: pass audio_length={want[0]}, or leave it out to "
                "pad or crop the clips to the model's length")
    return None


def mismatch(have, want, resizable=False, audio=False):
    """Why images of shape `have` cannot be given as inputs of shape `want`.

    Args:
      have: shape of one image of the dataset.
      want: shape of one input of the model (None: any size).
      resizable: the images may be resized (image folders), the clips padded
        or cropped (audio).
      audio: `have` is the (samples, channels) of audio clips.

    Returns:
      None if they can (as they are or converted, see the module's rules),
      else the reason, a phrase.
    """
    want = fill_unknown(have, want)
    if tuple(have) == want:
        return None
    if audio:
        return _audio_mismatch(tuple(have), want, resizable)
    image, target = _as_image(have), _as_image(want)
    if image is None or target is None:
        return "the shapes differ and only images (height, width[, channels]) convert"
    if image[2] != target[2] and not (image[2] == 1 and target[2] == 3):
        return (f"{image[2]}-channel images do not convert to {target[2]} channels "
                "(only grayscale converts, to RGB)")
    if image[:2] != target[:2] and not resizable:
        return ("only images read from a folder (dir:PATH) are resized; arrays and "
                "TFDS images must have the model's height and width")
    return None


def converter(have, want):
    """fn(image) -> the image as an input of shape `want` (see `mismatch`).

    `image` is one image of shape `have`, any numeric dtype; the result is
    float32 when anything but a reshape was needed.
    """
    want = fill_unknown(have, want)
    if tuple(have) == want:
        return lambda image: image
    image_shape, target = _as_image(have), _as_image(want)

    def convert(image):
        image = tf.reshape(image, image_shape)
        if image_shape[2] == 1 and target[2] == 3:
            image = tf.image.grayscale_to_rgb(image)
        if image_shape[:2] != target[:2]:
            image = tf.image.resize(image, target[:2])
        return tf.reshape(image, want)

    return convert


def resize_to(image, height, width):
    """`image` (any size) as float32 of `height` x `width`, resized only if needed."""
    size = tf.shape(image)[:2]
    same = tf.logical_and(tf.equal(size[0], height), tf.equal(size[1], width))
    return tf.cond(same, lambda: tf.cast(image, tf.float32),
                   lambda: tf.image.resize(image, (height, width)))
