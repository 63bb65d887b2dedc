"""Test set-up: real MNIST from ../shared/tensorflow_datasets when present."""

import atexit
import os
import shutil
import tempfile

import pytest
import tensorflow as tf
from absl import flags

# tf.test.TestCase reads absl flags (--test_tmpdir); pytest never parses them.
flags.FLAGS.mark_as_parsed()

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SHARED_TFDS = os.path.join(os.path.dirname(_REPO), "shared", "tensorflow_datasets")
# The UCI SMS Spam Collection beside the repo (tests marked sms_spam read it).
SMS_SPAM = os.path.join(os.path.dirname(_REPO), "shared", "data", "sms_spam",
                        "SMSSpamCollection")

# Two logical CPUs, so tf.distribute tests have two replicas on one CPU. This
# must run before TensorFlow initializes its devices, so it lives here.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)

if not os.environ.get("TFDS_DATA_DIR") and os.path.isdir(_SHARED_TFDS):
    os.environ["TFDS_DATA_DIR"] = _SHARED_TFDS

# dir: datasets keep their decoded images in a cache folder
# (data/decoded_cache.py): the tests' go to one of this session, removed at
# its end, not to the user's ~/.cache.
if not os.environ.get("TFCOMPRESS_CACHE_DIR"):
    os.environ["TFCOMPRESS_CACHE_DIR"] = tempfile.mkdtemp(prefix="tfcompress-test-cache-")
    atexit.register(shutil.rmtree, os.environ["TFCOMPRESS_CACHE_DIR"], True)


def _mnist_prepared():
    data_dir = os.environ.get("TFDS_DATA_DIR", "")
    return os.path.isfile(os.path.join(data_dir, "mnist", "3.0.1", "dataset_info.json"))


def pytest_collection_modifyitems(config, items):
    # tf.test.TestCase.test_session is a context manager, not a test.
    items[:] = [item for item in items if item.name != "test_session"]
    missing = {"mnist": None if _mnist_prepared() else "MNIST is not prepared in "
               "$TFDS_DATA_DIR",
               "sms_spam": None if os.path.isfile(SMS_SPAM) else f"no {SMS_SPAM}"}
    for item in items:
        for marker, reason in missing.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))
