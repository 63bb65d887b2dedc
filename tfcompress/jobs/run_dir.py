"""A job's output folder: staged beside its final name, resumable, atomic.

A job writes into `<output_dir>.partial/` and renames it to `<output_dir>`
only when everything in it has been checked, so a failed or killed run never
leaves a half-written output folder. A rerun with the same config finds the
partial folder and resumes from its checkpoints.
"""

import json
import os
import shutil
import time

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
    staging = f"{os.path.normpath(output_dir)}.partial"
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
    output_dir = os.path.normpath(output_dir)
    _atomic.replace(staging, output_dir)
    # Only now: had the rename failed, a rerun would still resume from staging.
    os.remove(os.path.join(output_dir, _CONFIG))


def train_once(staging, model, train, name="trained"):
    """Calls `train()` unless a killed run of this staging folder finished it.

    Training's own backup is deleted when `fit` ends, so without this a job
    killed during export would retrain from scratch when resumed. The trained
    weights are kept in the staging folder until the job finishes.

    `name` tells apart the trainings of a job that trains more than once.

    Returns:
      Seconds the training took (in the run that did it).
    """
    weights = os.path.join(staging, "checkpoints", f"{name}.weights.h5")
    record = weights + ".json"
    if os.path.exists(record):
        model.load_weights(weights)
        with open(record, encoding="utf-8") as f:
            return json.load(f)["train_seconds"]
    start = time.time()
    train()
    seconds = round(time.time() - start, 2)
    with _atomic.atomic_output(weights) as tmp:
        model.save_weights(tmp)
    _atomic.write_json(record, {"train_seconds": seconds})
    return seconds
