"""Datasets: TFDS image-classification splits as `tf.data` pipelines."""

from tfcompress.data.epochs import epoch_batches
from tfcompress.data.epochs import steps_per_epoch
from tfcompress.data.epochs import with_data_sharding
from tfcompress.data.loading import builder
from tfcompress.data.loading import check_split
from tfcompress.data.loading import examples
from tfcompress.data.loading import first_examples
from tfcompress.data.loading import load
from tfcompress.data.loading import num_examples
from tfcompress.data.loading import resolve_data_dir
from tfcompress.data.preprocessing import make_preprocess_fn

__all__ = ["builder", "check_split", "epoch_batches", "examples", "first_examples", "load",
           "make_preprocess_fn", "num_examples", "resolve_data_dir", "steps_per_epoch",
           "with_data_sharding"]
