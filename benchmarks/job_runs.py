"""Runs a job for a benchmark from one flat set of keyword arguments.

Benchmarks sweep job settings and training settings alike; this splits them
into the job's own fields and a `settings.Training`, and reuses a finished
run's summary instead of training again.
"""

import dataclasses
import json
import os

from tfcompress.jobs import artifacts
from tfcompress.jobs import runner
from tfcompress.jobs import settings

_TRAINING_FIELDS = {f.name for f in dataclasses.fields(settings.Training)}


def run(job_class, output_dir, **kwargs):
    """The summary of `job_class(...)` run into `output_dir` (reused if finished)."""
    summary_path = os.path.join(output_dir, artifacts.SUMMARY_FILE)
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            return json.load(f)
    job = job_class(**{k: v for k, v in kwargs.items() if k not in _TRAINING_FIELDS})
    training = settings.Training(
        output_dir=output_dir, overwrite=True, verbose=0,
        **{k: v for k, v in kwargs.items() if k in _TRAINING_FIELDS})
    return runner.run(job, training, log=lambda *_: None)
