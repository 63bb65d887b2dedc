"""A prepared TFDS image-classification dataset as a source of (image, label).

Loading never downloads: a dataset must already be prepared in `data_dir`, so
an offline machine gets an immediate error instead of a hanging download.
"""

import os

import tensorflow_datasets as tfds

from tfcompress.data import shapes


def resolve_data_dir(data_dir=None):
    """`data_dir`, else $TFDS_DATA_DIR, else TFDS's default directory."""
    if data_dir:
        return os.fspath(data_dir)
    return os.environ.get("TFDS_DATA_DIR") or tfds.core.constants.DATA_DIR


def builder(name, data_dir=None):
    """The TFDS builder of a dataset that is prepared locally.

    Raises:
      ValueError: TFDS knows no dataset called `name`.
      FileNotFoundError: the dataset is not prepared under the directory.
    """
    data_dir = resolve_data_dir(data_dir)
    try:
        dataset_builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"`dataset` {name!r} is not a TFDS dataset name (see "
            "tfds.list_builders()), nor npz:PATH, dir:PATH or tsv:PATH (your own data).") from None
    if not dataset_builder.is_prepared():
        raise FileNotFoundError(
            f"Dataset {name!r} is not prepared under {data_dir!r}. Point "
            "`data_dir` (or $TFDS_DATA_DIR, or --data_dir) at a directory "
            f"that holds {name}/ in TFDS format, or prepare it once with "
            f"network access: tfds.builder({name!r}, data_dir=...)"
            ".download_and_prepare().")
    return dataset_builder


class TfdsSource:
    """A TFDS dataset: its splits, image shape, classes and examples."""

    is_text = False
    resizable = False
    already_scaled = False

    def __init__(self, name, data_dir=None):
        self.name = name
        self.builder = builder(name, data_dir)
        self.info = self.builder.info

    def _keys(self):
        if not self.info.supervised_keys:
            raise ValueError(f"`dataset` {self.name!r} has no (image, label) supervised "
                             "keys.")
        return self.info.supervised_keys[:2]

    @property
    def image_shape(self):
        return tuple(self.info.features[self._keys()[0]].shape)

    @property
    def num_classes(self):
        return self.info.features[self._keys()[1]].num_classes

    @property
    def class_names(self):
        return list(self.info.features[self._keys()[1]].names)

    @property
    def split_sizes(self):
        return {name: split.num_examples for name, split in self.info.splits.items()}

    def num_examples(self, split):
        """Examples in `split` (slices work); KeyError or ValueError if it is not one."""
        return self.info.splits[split].num_examples

    def raw_examples(self, split, image_shape):
        """(image, label) pairs of `split` in its stored order, images as `image_shape`."""
        ds = self.builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
        if tuple(image_shape) == self.image_shape:
            return ds
        convert = shapes.converter(self.image_shape, image_shape)
        return ds.map(lambda image, label: (convert(image), label))
