"""Saving and loading tf_keras models in the native .keras format.

Loading is in Keras safe mode. A .keras file is a zip of config.json (the
architecture, as JSON) and the weights; the one thing in it that can run
Python code when loaded is a Lambda layer, whose function is stored as
bytecode. Every other way a file can fail to load becomes one error that
names the argument, shows the path and says what to do.
"""

import importlib
import json
import os
import re
import zipfile
import zlib

from tfcompress import _atomic
from tfcompress import keras3
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.export.model_formats import check_keras_path

_CONFIG = "config.json"
_METADATA = "metadata.json"
_WEIGHTS = ("model.weights.h5", "model.weights.npz")
# Objects Keras writes and reads by hand: never looked up as classes.
_SPECIAL = frozenset(
    {"__tensor__", "__numpy__", "__bytes__", "__lambda__", "__typespec__"})
# What reading a damaged zip (or the HDF5 file inside it) raises.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError)
# How Keras 3 names the class (or function) it could not find.
_KERAS3_NOT_FOUND = re.compile(r"Could not locate (?:class|function) '([^']+)'")


def save_keras_model(model, path):
    """Saves `model` atomically as a .keras file (architecture + weights).

    A Keras 3 model is saved by Keras 3, so `keras.models.load_model` reads it.
    """
    if not os.fspath(path).endswith(".keras"):
        raise ValueError(f"`path` must end in .keras, got {os.fspath(path)!r}.")
    if not keras3.is_keras3_model(model):
        require_keras2_model(model)
    with _atomic.atomic_output(path) as tmp:
        model.save(tmp)
    return os.fspath(path)


def load_keras_model(path, *, unsafe=False, custom_objects=None, compile=False,  # pylint: disable=redefined-builtin
                     arg_name="model"):
    """Loads a tf_keras model from a .keras file, in Keras safe mode.

    A file saved by Keras 3 is loaded in Keras 3 (safe mode too) and converted
    to an equal tf_keras model (`tfcompress.keras3.convert`).

    Args:
      path: a .keras file saved by `save_keras_model` or tf_keras `model.save`.
      unsafe: load Lambda layers, which run the file's Python code. Only for
        files you trust.
      custom_objects: {name: class or function} for custom objects that are
        not registered with `keras.utils.register_keras_serializable`; keys
        may be the class name or the registered 'package>Class' name.
      compile: restore the compile config (optimizer, loss, metrics) too.
      arg_name: the caller's argument name, quoted in errors.

    Returns:
      The tf_keras model.

    Raises:
      FileNotFoundError: nothing at `path`.
      ValueError: `path` is a folder or not a .keras file (a .tflite, .h5 or
        SavedModel each get their own advice); the file is damaged, holds a
        Lambda layer (without `unsafe`) or uses custom objects that are not
        registered (each named).
      TypeError: `path` is not a path, `unsafe` not a bool or `custom_objects`
        not a dict.
      tfcompress.keras3.ConversionError: a Keras 3 file that cannot be converted.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`{arg_name}` must be the path of a .keras file, got "
                        f"{type(path).__name__} {path!r:.80}: pass one path as a string.")
    path = os.fspath(path)
    if not isinstance(unsafe, bool):  # a string "False" would be truthy
        raise TypeError(f"`unsafe` must be True or False, got {unsafe!r}.")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError("`custom_objects` must be a dict of {name: class}, got "
                        f"{type(custom_objects).__name__}.")
    check_keras_path(path, arg_name)
    if saved_by_keras3(path, arg_name):
        return keras3.convert(load_keras3_file(path, arg_name=arg_name),
                              arg_name=arg_name).model
    config = _read_config(path, arg_name)
    if not compile:
        config.pop("compile_config", None)  # Keras skips it too
    custom_objects = _with_registered_names(config, custom_objects)
    if not unsafe:
        lambdas = _lambda_layers(config)
        if lambdas:
            raise _lambda_error(path, arg_name, lambdas)
    try:
        model = keras.models.load_model(path, custom_objects=custom_objects,
                                        compile=compile, safe_mode=not unsafe)
    except _DAMAGED as e:
        raise _damaged(path, arg_name, f"its contents are damaged ({_brief(e)})") from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        # Looked for only now: Keras may find an object the scan would miss.
        missing = _unknown_objects(config, custom_objects)
        if missing:
            raise _unknown_error(path, arg_name, missing) from None
        if "arbitrary code execution" in str(e):  # a lambda the scan missed
            raise _lambda_error(path, arg_name, []) from None
        raise _not_loadable(path, arg_name, _brief(e)) from None
    if not isinstance(model, keras.Model):
        raise _not_loadable(path, arg_name, f"it holds a {type(model).__name__}")
    return model


def load_keras3_file(path, *, arg_name="model"):
    """The Keras 3 model in the .keras file at `path`, loaded in Keras 3 safe mode.

    Raises:
      ValueError: as `load_keras_model`; a custom class Keras 3 cannot find
        is named, with how to register it.
    """
    check_keras_path(path, arg_name)
    try:
        return keras3.load(path, arg_name=arg_name)
    except keras3.ConversionError as e:
        # Keras names the class only deep in its message, which `keras3.load`
        # cuts to the first line; the full message is the error's context.
        missing = _KERAS3_NOT_FOUND.findall(f"{e}\n{e.__context__ or ''}")
        if not missing:
            raise
        registered = {obj["class_name"]: obj.get("registered_name")
                      for obj in _objects(_read_config(path, arg_name))}
        raise _unknown_keras3_error(
            path, arg_name, {name: registered.get(name) for name in missing}) from None


def _read_config(path, arg_name):
    """The parsed config.json of the .keras file at `path`, checked first."""
    if not zipfile.is_zipfile(path):
        raise _damaged(path, arg_name, "it is not a zip archive (truncated, or "
                       "not a model at all)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            config = json.loads(archive.read(_CONFIG)) if _CONFIG in names else None
            metadata = (json.loads(archive.read(_METADATA))
                        if _METADATA in names else {})
    except (*_DAMAGED, ValueError) as e:  # ValueError: bad JSON or UTF-8
        raise _damaged(path, arg_name, f"its contents are damaged ({_brief(e)})") from None
    if config is None:
        raise _damaged(path, arg_name, f"the archive has no {_CONFIG}")
    if not isinstance(config, dict) or "class_name" not in config:
        raise _damaged(path, arg_name, f"its {_CONFIG} is not a model config")
    if not names.intersection(_WEIGHTS):
        raise _damaged(path, arg_name, f"the archive has no {_WEIGHTS[0]}")
    return config


def saved_by_keras3(path, arg_name="model"):
    """Whether the .keras file at `path` was written by Keras 3 (its metadata says)."""
    check_keras_path(path, arg_name)
    try:
        with zipfile.ZipFile(path) as archive:
            if _METADATA not in archive.namelist():
                return False
            metadata = json.loads(archive.read(_METADATA))
    except (*_DAMAGED, ValueError):
        return False  # reading the config reports the damage
    version = str(metadata.get("keras_version", "")) if isinstance(metadata, dict) else ""
    return version.startswith("3.")


def _objects(node):
    """Yields every serialized object (a dict with a `class_name`) in `node`."""
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str):
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def _lambda_layers(config):
    """Names of the Lambda layers (and lambdas) whose bytecode is in `config`."""
    found = []
    for obj in _objects(config):
        inner = obj.get("config")
        if obj["class_name"] == "__lambda__":
            found.append("<lambda>")
        elif obj["class_name"] == "Lambda" and isinstance(inner, dict) and "lambda" in (
                inner.get("function_type"), inner.get("output_shape_type"),
                inner.get("mask_type")):
            found.append(str(inner.get("name", "?")))
    return found


def _is_known(obj, custom_objects, top):
    """Whether Keras will find the class (or function) that `obj` names.

    As tf_keras `serialization_lib` does: by registered name in the registry,
    in custom object scopes (TFMOT's prune, quantize and cluster scopes among
    them) or in `custom_objects`; the model itself also in its module.
    """
    if "module" not in obj:  # legacy format: one of Keras' own
        return True
    class_name, module = obj["class_name"], obj["module"]
    if class_name in _SPECIAL or (module and (
            module == "builtins" or module.split(".")[0] in ("keras", "tf_keras"))):
        return True
    if class_name == "function":
        name = attr = obj.get("config")
    else:
        name, attr = obj.get("registered_name") or class_name, class_name
    if not isinstance(name, str):
        return True  # not something Keras looks up by name
    if keras.utils.get_registered_object(name, custom_objects) is not None:
        return True
    if not (top and module):
        return False
    try:
        return hasattr(importlib.import_module(module), attr)
    except ImportError:
        return False


def _unknown_objects(config, custom_objects):
    """{name: (registered name, module)} of the objects Keras cannot find."""
    return {(obj["config"] if obj["class_name"] == "function" else obj["class_name"]):
            (obj.get("registered_name"), obj.get("module"))
            for obj in _objects(config)
            if not _is_known(obj, custom_objects, top=obj is config)}


def _with_registered_names(config, custom_objects):
    """`custom_objects`, each class also under the registered name it was saved with.

    A registered class is saved as 'package>Class' and Keras looks it up only
    by that name; this lets a caller pass {'Class': Class} as usual.
    """
    if not custom_objects:
        return custom_objects
    extended = dict(custom_objects)
    for obj in _objects(config):
        registered = obj.get("registered_name")
        if isinstance(registered, str) and obj["class_name"] in custom_objects:
            extended.setdefault(registered, custom_objects[obj["class_name"]])
    return extended


def _lambda_error(path, arg_name, names):
    if not names:
        what = "a Lambda layer (or a Python lambda)"
    elif len(names) == 1:
        what = f"a Lambda layer ({names[0]!r})"
    else:
        what = f"Lambda layers ({', '.join(map(repr, names))})"
    return ValueError(
        f"`{arg_name}` file {path!r} holds {what}, and a Lambda runs arbitrary "
        "Python code when it is loaded, so it is refused. Only for a file you "
        "trust, pass `unsafe=True` to load_keras_model (`--unsafe_load` on the "
        "command line).")


def _listed(missing):
    """'Name' (saved as 'package>Name'), ... of {name: its registered name or None}."""
    return ", ".join(repr(name) + (f" (saved as {registered!r})"
                                   if registered and registered != name else "")
                     for name, registered in missing.items())


def _unknown_error(path, arg_name, missing):
    names = _listed({name: registered for name, (registered, _) in sorted(missing.items())})
    first = sorted(missing)[0]
    tfmot = any(str(module).startswith("tensorflow_model_optimization")
                for _, module in missing.values())
    return ValueError(
        f"`{arg_name}` file {path!r} uses custom objects that are not registered: "
        f"{names}. Register each with `@keras.utils.register_keras_serializable` "
        "(and import its module) before loading, or pass "
        f"`custom_objects={{{first!r}: {first}}}` to load_keras_model "
        "(`--custom_objects=MODULE` on the command line, a module that registers "
        "them)." + (
            " For TFMOT wrappers, load inside tfmot.sparsity.keras.prune_scope(), "
            "tfmot.quantization.keras.quantize_scope() or "
            "tfmot.clustering.keras.cluster_scope()." if tfmot else ""))


def _unknown_keras3_error(path, arg_name, missing):
    """`missing`: {class name: the registered name it was saved under, or None}."""
    names = _listed(missing)
    first = next(iter(missing))
    return ValueError(
        f"`{arg_name}` file {path!r} (saved by Keras 3) uses custom objects Keras 3 "
        f"cannot find: {names}. Register each with "
        "`@keras.saving.register_keras_serializable()` in a module and import it "
        "before loading (`--custom_objects=MODULE` on the command line); to compress "
        "the model, that module also tells tfcompress the tf_keras equivalent of "
        f"each layer: `tfcompress.keras3.register({first}, fn)`.")


def _not_loadable(path, arg_name, reason):
    return ValueError(
        f"Cannot load {path!r} as a tf_keras (Keras 2) model (`{arg_name}`): "
        f"{reason}. Check that it was saved by tf_keras, and that its custom "
        "objects match the code that saved it.")


def _damaged(path, arg_name, reason):
    return ValueError(
        f"`{arg_name}` file {path!r} is not a valid .keras file: {reason}. Save "
        "the model again (tfcompress.save_keras_model, or model.save in tf_keras) "
        "and pass the new file.")


def _brief(error):
    """The first line of `error`, at most 200 characters (Keras appends configs)."""
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return line.rstrip(".") if len(line) <= 200 else line[:197] + "..."
