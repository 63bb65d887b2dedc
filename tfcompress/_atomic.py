"""Atomic outputs: write under a temporary sibling name, then rename.

A reader (or a rerun after a crash) sees either the old output or the whole
new one, never a half-written file. Replacing an existing folder takes two
renames (old folder aside, new one in): a crash between them leaves the old
folder at `<path>.old-*` and nothing at `<path>`, never a half-written one.
"""

import contextlib
import json
import os
import shutil
import uuid


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def replace(src, dst):
    """Moves `src` to `dst`, replacing a file with a file, a folder with a folder.

    Raises:
      IsADirectoryError / NotADirectoryError: `dst` is of the other kind; it
        is left alone rather than deleted.
    """
    src, dst = os.path.normpath(src), os.path.normpath(dst)
    if os.path.lexists(dst) and os.path.isdir(src) != os.path.isdir(dst):
        error = IsADirectoryError if os.path.isdir(dst) else NotADirectoryError
        raise error(f"Cannot replace {dst!r} with {src!r}: one is a folder and the "
                    "other is not. Remove or rename it first.")
    if os.path.isdir(dst) and not os.path.islink(dst):
        # os.replace cannot overwrite a non-empty folder: move it aside first.
        old = f"{dst}.old-{uuid.uuid4().hex[:8]}"
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old)
    else:
        os.replace(src, dst)


@contextlib.contextmanager
def atomic_output(path):
    """Yields a temporary path to write; renames it to `path` on success.

    On an exception the temporary output is removed and `path` is untouched.
    Works for a single file or a whole folder written at the yielded path.
    """
    path = os.path.normpath(os.fspath(path))
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    # Keep the whole name as the suffix: Keras picks its file format from it
    # (.keras, .h5, and .weights.h5 differ).
    tmp = os.path.join(parent, f".tmp-{uuid.uuid4().hex[:8]}-{os.path.basename(path)}")
    try:
        yield tmp
        if not os.path.lexists(tmp):
            raise FileNotFoundError(f"Nothing was written at {tmp!r} for {path!r}.")
        replace(tmp, path)
    finally:
        _remove(tmp)


def write_json(path, obj):
    """Writes `obj` as indented JSON, atomically."""
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")
