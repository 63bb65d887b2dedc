"""`tfcompress shrink`: remove whole units, filters and channels, recover, export."""

from tfcompress.cli import common
from tfcompress.jobs import shrink

common.define_job_flags(shrink.ShrinkJob)


def main(argv):
    common.run_job_from_flags(shrink.ShrinkJob, argv,
                              lambda job: f"shrunk_{common.model_name(job.model)}")
