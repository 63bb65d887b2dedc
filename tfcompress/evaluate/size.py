"""Model and artifact sizes: parameter counts, bytes on disk raw and gzipped."""

import gzip
import io
import os
import tarfile

import numpy as np

from tfcompress._keras import require_keras2_model
from tfcompress.keras3 import accepts_keras3


@accepts_keras3("model")
def count_params(model):
    """Parameter counts of a tf_keras model.

    Returns:
      {"total", "trainable", "non_trainable", "nonzero"}; "nonzero" counts
      weights that are not exactly 0 (what pruning reduces).
    """
    require_keras2_model(model)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    nonzero = sum(int(np.count_nonzero(w.numpy())) for w in model.weights)
    return {"total": trainable + non_trainable, "trainable": trainable,
            "non_trainable": non_trainable, "nonzero": nonzero}


def _gzip_size(data):
    # Fixed mtime so the same bytes always compress to the same size.
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def artifact_size(path):
    """Size of a file or folder, raw and gzipped (a folder as one .tar.gz).

    Returns:
      {"bytes": int, "gzip_bytes": int}.
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        with open(path, "rb") as f:
            data = f.read()
        return {"bytes": len(data), "gzip_bytes": _gzip_size(data)}
    if not os.path.isdir(path):
        raise FileNotFoundError(f"No file or folder at {path!r}.")
    raw = 0
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                raw += os.path.getsize(full)
                info = tar.gettarinfo(full, arcname=os.path.relpath(full, path))
                info.mtime = 0
                with open(full, "rb") as f:
                    tar.addfile(info, f)
    return {"bytes": raw, "gzip_bytes": _gzip_size(buffer.getvalue())}
