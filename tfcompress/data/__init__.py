"""Datasets: TFDS image-classification splits as `tf.data` pipelines."""

from tfcompress.data.loading import builder
from tfcompress.data.loading import first_examples
from tfcompress.data.loading import load
from tfcompress.data.loading import num_examples
from tfcompress.data.loading import resolve_data_dir
from tfcompress.data.preprocessing import make_preprocess_fn

__all__ = ["builder", "first_examples", "load", "make_preprocess_fn", "num_examples",
           "resolve_data_dir"]
