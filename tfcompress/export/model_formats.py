"""Model paths that are not .keras files, recognised, each with advice that fits.

tfcompress loads only .keras files, the one format Keras loads in safe mode
(tf_keras loads .h5 files and SavedModel folders without it, running any
Lambda's bytecode). Whoever passes a .tflite file, an .h5 file or a
SavedModel folder where a Keras model is expected is told what it is and
what to pass instead.
"""

import os

_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
# tf_keras `model.save(folder)` writes it; a SavedModel exported for serving has none.
_TF_KERAS_METADATA = "keras_metadata.pb"
_TFLITE_SUFFIXES = (".tflite", ".lite")
_HDF5_SUFFIXES = (".h5", ".hdf5")
# The name tfcompress gives a job's model, beside its .tflite file and saved_model/.
_JOB_MODEL = "model.keras"
_ONLY_KERAS = ("tfcompress loads only .keras files, the one format Keras loads in "
               "safe mode")


def check_keras_path(path, arg_name="model"):
    """Raises unless `path` is an existing file whose name ends in .keras.

    Args:
      path: the path a caller passed as a Keras model.
      arg_name: the caller's argument name, quoted in errors.

    Raises:
      FileNotFoundError: nothing at `path`.
      ValueError: a folder or another kind of file; the message says which
        kind and what to pass instead.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No model at {path!r} (`{arg_name}`): pass the path of a .keras "
            "file saved by tfcompress or Keras.")
    if os.path.isdir(path):
        raise ValueError(_folder_advice(path, arg_name))
    if not path.endswith(".keras"):
        raise ValueError(_file_advice(path, arg_name))


def _folder_advice(path, arg_name):
    names = set(os.listdir(path))
    if names.intersection(_SAVED_MODEL_FILES):
        if _TF_KERAS_METADATA in names:
            return (f"`{arg_name}` {path!r} is a SavedModel folder saved by tf_keras: "
                    f"{_ONLY_KERAS}. If you trust it, load it with "
                    f"`tf_keras.models.load_model({path!r})`, save it with "
                    "`model.save('model.keras')` and pass that file.")
        return (f"`{arg_name}` {path!r} is a SavedModel folder: a traced graph for "
                "serving, with no Keras layers to train or compress again. Pass the "
                f".keras file it was exported from{_source_hint(path, 'saved_model/')}.")
    inside = sorted(name for name in names if name.endswith(".keras"))
    if inside:
        chosen = _JOB_MODEL if _JOB_MODEL in inside else inside[0]
        return (f"`{arg_name}` must be a .keras file, got the folder {path!r}: pass "
                f"the .keras file in it, {os.path.join(path, chosen)!r}.")
    return (f"`{arg_name}` must be a .keras file, got the folder {path!r}: pass the "
            f"path of the .keras file itself ({_ONLY_KERAS}).")


def _file_advice(path, arg_name):
    lower = path.lower()
    if lower.endswith(_TFLITE_SUFFIXES):
        return (f"`{arg_name}` {path!r} is a TFLite file, which runs a converted model "
                "but cannot be trained or compressed again: pass the .keras file it "
                f"was exported from{_source_hint(path, 'its .tflite files')}. To "
                f"measure the TFLite file itself: `tfcompress evaluate --tflite={path}`.")
    if lower.endswith(_HDF5_SUFFIXES):
        return _hdf5_advice(path, arg_name)
    return (f"`{arg_name}` must be a .keras file, got {path!r}: {_ONLY_KERAS}. If you "
            "trust the file, load it in the Keras that saved it, save it with "
            "`model.save('model.keras')` and pass that file.")


def _hdf5_advice(path, arg_name):
    attrs = _hdf5_attributes(path)
    if attrs is not None and "model_config" not in attrs:
        return (f"`{arg_name}` {path!r} holds weights only, not a model: build the "
                f"model in code, load them with `model.load_weights({path!r})`, save "
                "it with `model.save('model.keras')` and pass that file.")
    version = attrs.get("keras_version") if attrs else None
    if version is None:
        saved_by, load = "Keras", "the Keras that saved it"
    elif version.startswith("3."):
        saved_by, load = f"Keras {version}", f"`keras.saving.load_model({path!r})`"
    else:
        saved_by, load = (f"tf_keras (Keras {version})",
                          f"`tf_keras.models.load_model({path!r})`")
    return (f"`{arg_name}` {path!r} is an HDF5 file saved by {saved_by}: {_ONLY_KERAS}. "
            f"If you trust the file, load it with {load}, save it with "
            "`model.save('model.keras')` and pass that file.")


def _hdf5_attributes(path):
    """The root attributes of HDF5 file `path` as strings; None if unreadable."""
    try:
        import h5py  # pylint: disable=g-import-not-at-top
        with h5py.File(path, "r") as f:
            return {key: value.decode() if isinstance(value, bytes) else str(value)
                    for key, value in f.attrs.items()}
    except (ImportError, OSError):
        return None


def _source_hint(path, beside):
    """Where the .keras file `path` was exported from may be, for an error message."""
    stem = os.path.splitext(os.path.normpath(path))[0]
    folder = os.path.dirname(os.path.normpath(path))
    for candidate in (stem + ".keras", os.path.join(folder, _JOB_MODEL)):
        if os.path.isfile(candidate):
            return f", probably {candidate!r}"
    return f" (tfcompress writes it beside {beside}, as {_JOB_MODEL})"
