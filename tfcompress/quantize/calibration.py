"""Calibration data for full-integer quantization (the converter's
"representative dataset")."""

import numpy as np
import tensorflow as tf

from tfcompress._checks import check_positive_int
from tfcompress.data import inputs

# TFLite's guide suggests a few hundred examples; 256 MNIST images give
# int8 accuracy within noise of 1,000 here.
DEFAULT_SAMPLES = 256


def calibration_examples(data, num_samples=DEFAULT_SAMPLES):
    """Up to `num_samples` examples, as one float32 numpy array (int32 for
    integer inputs such as token ids).

    Args:
      data: numpy array of inputs, or a `tf.data.Dataset` of (x, y) or x
        batches (e.g. the training split).
      num_samples: positive int.

    Raises:
      ValueError: `data` holds no examples.
    """
    check_positive_int("num_samples", num_samples)
    if isinstance(data, tf.data.Dataset):
        examples = inputs.first_inputs(data, num_samples, arg_name="representative_data")
    else:
        examples = np.asarray(data)[:num_samples]
    if len(examples) == 0:
        raise ValueError("`representative_data` holds no examples: full-integer "
                         "quantization needs some (e.g. the training split).")
    if np.issubdtype(examples.dtype, np.integer):
        return examples.astype(np.int32)  # token ids: the model's input as it is
    examples = examples.astype(np.float32)
    if not np.isfinite(examples).all():
        raise ValueError(
            f"`representative_data` holds {examples.size - np.isfinite(examples).sum()} "
            f"NaN or inf values (in its first {len(examples)} examples): activation "
            "ranges cannot be calibrated on them. Pass finite inputs, e.g. the training "
            "split.")
    return examples


def representative_dataset(examples):
    """The converter's callable: yields one example at a time, batch of 1."""
    def generate():
        for example in examples:
            yield [example[np.newaxis]]
    return generate
