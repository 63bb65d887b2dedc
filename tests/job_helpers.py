"""Small, real job runs on a slice of MNIST, shared by the runner's tests."""

import os

import numpy as np

from tfcompress import export
from tfcompress.jobs import artifacts
from tfcompress.jobs import settings

# 512 training images in batches of 64: 8 steps an epoch, a few seconds a run.
MNIST_SLICE = {"train_split": "train[:512]", "val_split": "train[512:640]",
               "test_split": "test[:256]", "batch_size": 64}


def mnist_training(output_dir, **changes):
    """Settings of a quiet 2-epoch run on the MNIST slice."""
    return settings.Training(output_dir=os.fspath(output_dir),
                             **{"epochs": 2, "verbose": 0, **MNIST_SLICE, **changes})


def saved_weights(output_dir):
    """The weights of the model a job wrote to `output_dir`."""
    model = export.load_keras_model(os.path.join(output_dir, artifacts.KERAS_FILE))
    return model.get_weights()


def assert_bitwise_equal(test_case, weights_a, weights_b):
    test_case.assertLen(weights_b, len(weights_a))
    for a, b in zip(weights_a, weights_b):
        test_case.assertTrue(np.array_equal(a, b),
                             f"weights differ: max abs diff {np.max(np.abs(a - b))}")
