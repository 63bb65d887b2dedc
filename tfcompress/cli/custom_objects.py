"""--custom_objects: the user's modules, imported so the Keras classes they register load.

Keras finds a custom class of a saved model only if it was registered
(`keras.saving.register_keras_serializable`, or tf_keras') before loading.
Importing the module that defines it does that, and runs any
`tfcompress.keras3.register` calls it makes for converting Keras 3 layers.
"""

import importlib
import os
import sys

from absl import app


def import_modules(names):
    """Imports each module of `names` (--custom_objects), in order.

    Modules are looked up in the current folder, then on PYTHONPATH.

    Raises:
      app.UsageError: a name that is a file, or no module of that name. An
        error inside a module propagates, with its traceback.
    """
    if names and "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # the `tfcompress` script runs from bin/
    for name in names:
        if name.endswith(".py") or "/" in name or os.sep in name:
            raise app.UsageError(
                f"--custom_objects={name!r} must name a Python module, not a file: "
                "e.g. --custom_objects=my_layers for my_layers.py in the current "
                "folder, or my_pkg.layers on PYTHONPATH.")
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and not (name == e.name or name.startswith(e.name + ".")):
                raise  # found, but it imports a module that is missing
            raise app.UsageError(
                f"--custom_objects={name!r}: no module of that name in the current "
                "folder or on PYTHONPATH. Pass the module that defines your layers, "
                "e.g. my_layers for ./my_layers.py, or add its folder to "
                "PYTHONPATH.") from None
