"""`tfcompress distill`: distill a student from a trained teacher and export it."""

from tfcompress.cli import common
from tfcompress.jobs import distill

common.define_job_flags(distill.DistillJob)


def main(argv):
    common.run_job_from_flags(distill.DistillJob, argv, lambda job: (
        f"distill_{common.safe_name(job.student_spec)}_{common.DATASET.value}"))
