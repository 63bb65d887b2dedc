"""`tfcompress train`: train a zoo model on a dataset and export it."""

import os

from absl import flags

from tfcompress.cli import common
from tfcompress.jobs import train

_MODEL = flags.DEFINE_string(
    "model", "lenet_300_100",
    "Model spec: NAME[:ARGS], e.g. lenet_300_100, lenet5, mlp:800,800, "
    "mlp:1200,1200,dropout=0.5, small_cnn:16,32.")
_EPOCHS = common.define_epochs()


def main(argv):
    default_dir = os.path.join("saved_models", f"{common.safe_name(_MODEL.value)}_"
                                               f"{common.safe_name(common.DATASET.value)}")
    common.run_job(train.TrainJob(model_spec=_MODEL.value),
                   common.training(default_dir, epochs=_EPOCHS.value), argv)
