"""`tfcompress train`: train a zoo model on a dataset and export it."""

from tfcompress.cli import common
from tfcompress.jobs import train

common.define_job_flags(train.TrainJob, loads_models=False)


def main(argv):
    common.run_job_from_flags(train.TrainJob, argv, lambda job: (
        f"{common.safe_name(job.model_spec)}_{common.safe_name(common.DATASET.value)}"))
