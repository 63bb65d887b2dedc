"""Datasets: TFDS names, npz:PATH, dir:PATH (images or .wav clips) and tsv:PATH as
`tf.data` pipelines."""

from tfcompress.data.epochs import epoch_batches
from tfcompress.data.epochs import steps_per_epoch
from tfcompress.data.epochs import with_data_sharding
from tfcompress.data.inputs import as_batches
from tfcompress.data.inputs import first_inputs
from tfcompress.data.loading import builder
from tfcompress.data.loading import check_split
from tfcompress.data.loading import examples
from tfcompress.data.loading import examples_of_every_class
from tfcompress.data.loading import first_examples
from tfcompress.data.loading import load
from tfcompress.data.loading import num_examples
from tfcompress.data.loading import resolve_data_dir
from tfcompress.data.loading import source_mismatch
from tfcompress.data.preprocessing import NORMALIZATIONS
from tfcompress.data.preprocessing import make_preprocess_fn
from tfcompress.data.shapes import fill_unknown
from tfcompress.data.shapes import mismatch as shape_mismatch
from tfcompress.data.sources import canonical_name
from tfcompress.data.sources import default_splits
from tfcompress.data.sources import open_source
from tfcompress.data.sources import split_options
from tfcompress.data.sources import with_options
from tfcompress.data.statistics import mean_std
from tfcompress.data.statistics import normalization
from tfcompress.data.text import open_tsv
from tfcompress.data.vocabulary import VOCABULARY_FILE
from tfcompress.data.vocabulary import check_model_vocabulary
from tfcompress.data.vocabulary import read_vocabulary
from tfcompress.data.vocabulary import text_to_ids
from tfcompress.data.vocabulary import write_vocabulary

__all__ = ["NORMALIZATIONS", "VOCABULARY_FILE", "as_batches", "builder", "canonical_name",
           "check_model_vocabulary", "check_split", "default_splits", "epoch_batches", "examples",
           "examples_of_every_class", "fill_unknown", "first_examples",
           "first_inputs", "load", "make_preprocess_fn", "mean_std", "normalization",
           "num_examples", "open_source", "open_tsv", "read_vocabulary",
           "resolve_data_dir", "shape_mismatch", "source_mismatch", "split_options",
           "steps_per_epoch", "text_to_ids", "with_data_sharding", "with_options",
           "write_vocabulary"]
