"""A job's output folder: staged beside its final name, resumable, atomic.

A job writes into `<output_dir>.partial/` and renames it to `<output_dir>`
only when everything in it has been checked, so a failed or killed run never
leaves a half-written output folder. `resume` continues the run a kill left
in the partial folder; without it a partial folder is never silently reused.
"""

import json
import os
import shutil

from tfcompress import _atomic

_CONFIG = "run_config.json"


def staging_dir(output_dir):
    return f"{os.path.normpath(os.fspath(output_dir))}.partial"


def _read_config(staging):
    try:
        with open(os.path.join(staging, _CONFIG), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _writable_parent(path):
    """The nearest existing ancestor of `path`, if this process may write there."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    return os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK)


def check_output_dir(output_dir, overwrite, resume=False, config=None, resumable=()):
    """Raises unless a job may write `output_dir` (or resume its partial run).

    Args:
      output_dir: the job's output folder.
      overwrite: an existing output or unfinished run may be replaced.
      resume: the unfinished run in `<output_dir>.partial` is to be continued.
      config: the run's config; a resumed run's must match it except in
        `resumable` keys.

    Raises:
      ValueError: an empty path, nothing to resume, or a resumed run with
        other settings.
      FileExistsError: an output or unfinished run exists and neither
        `overwrite` nor `resume`.
      PermissionError: the folder cannot be written.
    """
    if not output_dir:
        raise ValueError("`output_dir` must be a non-empty path.")
    output_dir = os.fspath(output_dir)
    if os.path.isfile(output_dir):
        raise FileExistsError(f"`output_dir` {output_dir!r} is a file, not a folder.")
    if not _writable_parent(output_dir):
        raise PermissionError(f"`output_dir` {output_dir!r} cannot be written here: "
                              "choose a folder you may write to.")
    staging = staging_dir(output_dir)
    if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
        raise FileExistsError(
            f"`output_dir` {output_dir!r} already holds files"
            f"{' (a finished run: nothing to resume)' if resume else ''}; pass "
            "--overwrite (overwrite=True) to replace them, or choose another folder.")
    if resume:
        old = _read_config(staging) if os.path.isdir(staging) else None
        if old is None:
            raise ValueError(f"`resume`: there is no unfinished run to resume at "
                             f"{staging!r}; run without --resume to start one.")
        if config is not None:
            config = json.loads(json.dumps(config))
            changed = sorted(k for k in set(old) | set(config)
                             if old.get(k) != config.get(k) and k not in resumable)
            if changed:
                raise ValueError(
                    f"`resume`: the unfinished run at {staging!r} was started with "
                    + ", ".join(f"{k}={old.get(k)!r}" for k in changed)
                    + f", not {', '.join(f'{k}={config.get(k)!r}' for k in changed)}; "
                    "resume it with its own settings (only "
                    f"{', '.join(resumable) or 'nothing'} may change), or pass "
                    "--overwrite to start over.")
    elif os.path.isdir(staging) and not overwrite:
        raise FileExistsError(
            f"`output_dir` {output_dir!r} has an unfinished run in {staging!r}: pass "
            "--resume (resume=True) to continue it, or --overwrite (overwrite=True) "
            "to start over.")


def start(output_dir, config, resume=False):
    """Returns the staging folder: the unfinished run's if `resume`, else a new one."""
    staging = staging_dir(output_dir)
    if not resume and os.path.isdir(staging):
        shutil.rmtree(staging)
    os.makedirs(staging, exist_ok=True)
    _atomic.write_json(os.path.join(staging, _CONFIG), json.loads(json.dumps(config)))
    return staging


def finish(staging, output_dir, scratch=("checkpoints",)):
    """Drops scratch folders, then moves the staging folder to `output_dir`."""
    for name in scratch:
        shutil.rmtree(os.path.join(staging, name), ignore_errors=True)
    output_dir = os.path.normpath(output_dir)
    _atomic.replace(staging, output_dir)
    # Only now: had the rename failed, a rerun could still resume from staging.
    os.remove(os.path.join(output_dir, _CONFIG))
