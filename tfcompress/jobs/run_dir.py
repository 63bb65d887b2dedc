"""A job's output folder: staged beside its final name, resumable, atomic.

A job writes into `<output_dir>.partial/` and renames it to `<output_dir>`
only when everything in it has been checked, so a failed or killed run never
leaves a half-written output folder. A rerun with the same config finds the
partial folder and resumes from its checkpoints.
"""

import json
import os
import shutil

from tfcompress import _atomic

_CONFIG = "run_config.json"


def check_output_dir(output_dir, overwrite):
    """Raises FileExistsError if `output_dir` holds something and not `overwrite`."""
    if not output_dir:
        raise ValueError("`output_dir` must be a non-empty path.")
    if os.path.isfile(output_dir):
        raise FileExistsError(f"`output_dir` {output_dir!r} is a file, not a folder.")
    if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
        raise FileExistsError(
            f"`output_dir` {output_dir!r} already holds files; pass --overwrite "
            "(overwrite=True) to replace them, or choose another folder."
        )


def start(output_dir, config):
    """Returns the staging folder, resuming one left by the same config."""
    config = json.loads(json.dumps(config))  # compare as it reads back
    staging = f"{os.fspath(output_dir).rstrip(os.sep)}.partial"
    config_path = os.path.join(staging, _CONFIG)
    if os.path.isdir(staging):
        try:
            with open(config_path, encoding="utf-8") as f:
                same = json.load(f) == config
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(staging)
    os.makedirs(staging, exist_ok=True)
    _atomic.write_json(config_path, config)
    return staging


def finish(staging, output_dir, scratch=("checkpoints",)):
    """Drops scratch folders, then moves the staging folder to `output_dir`."""
    for name in scratch:
        shutil.rmtree(os.path.join(staging, name), ignore_errors=True)
    os.remove(os.path.join(staging, _CONFIG))
    _atomic.replace(staging, os.fspath(output_dir))
