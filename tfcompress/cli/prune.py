"""`tfcompress prune`: prune a trained model while fine-tuning it, then export."""

from tfcompress.cli import common
from tfcompress.jobs import prune

common.define_job_flags(prune.PruneJob)


def main(argv):
    common.run_job_from_flags(prune.PruneJob, argv, lambda job: (
        f"pruned_{common.model_name(job.model)}_{job.sparsity:g}"))
