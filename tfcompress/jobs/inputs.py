"""Checks shared by the jobs: datasets, splits and numbers, before any work."""

from tfcompress import data
from tfcompress import training
from tfcompress._checks import check_positive_int
from tfcompress.jobs import run_dir


def dataset_shape(dataset, data_dir=None):
    """(input shape, number of classes) of a TFDS image-classification set."""
    info = data.builder(dataset, data_dir).info
    if not info.supervised_keys:
        raise ValueError(f"`dataset` {dataset!r} has no (image, label) supervised keys.")
    image_key, label_key = info.supervised_keys[:2]
    return tuple(info.features[image_key].shape), info.features[label_key].num_classes


def check_splits(dataset, data_dir, **splits):
    """Each split (keyword = argument name) must exist and hold examples.

    An empty or None value is allowed only for `val_split` (no validation).
    """
    for arg_name, split in splits.items():
        if not split and arg_name == "val_split":
            continue
        try:
            if data.num_examples(dataset, split, data_dir) == 0:
                raise ValueError("it is empty")
        except (KeyError, ValueError) as e:
            raise ValueError(
                f"`{arg_name}` {split!r} is not a usable split of {dataset!r}: {e}"
            ) from None


def check_training_inputs(*, dataset, data_dir, train_split, val_split, test_split,
                          optimizer, learning_rate, epochs, batch_size, output_dir,
                          overwrite, lr_schedule="constant"):
    """The checks every training job shares: data, optimizer, sizes, output."""
    check_splits(dataset, data_dir, train_split=train_split, val_split=val_split,
                 test_split=test_split)
    training.make_optimizer(optimizer, learning_rate)
    training.learning_rate_schedule(learning_rate, lr_schedule, total_steps=1)
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    run_dir.check_output_dir(output_dir, overwrite)


def learning_rate(*, learning_rate, lr_schedule, dataset, train_split, data_dir,
                  epochs, batch_size):
    """The job's learning rate: a float, or a schedule spanning the whole run."""
    steps_per_epoch = -(-data.num_examples(dataset, train_split, data_dir) // batch_size)
    return training.learning_rate_schedule(learning_rate, lr_schedule,
                                           total_steps=epochs * steps_per_epoch)
