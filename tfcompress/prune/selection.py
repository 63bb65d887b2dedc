"""Choosing layers: by name, by regex, by type, or with a predicate.

A layer inside a nested model (a functional or Sequential model used as a
layer, e.g. a `keras.applications` base under a new head) is named by its
path, "<nested model name>/<layer name>"; a top-level layer by its name.
"""

import re

from tfcompress import _tfmot_wrappers
from tfcompress import graph
from tfcompress._keras import keras


def named_layers(model):
    """(path, layer) of every layer of `model`, nested models' layers too.

    As `graph.walk(model, models_only=True)`, but pruning wrappers are looked
    through: a wrapped layer is listed as itself, at its own name.
    """
    result = []
    for path, layer in graph.walk(model, models_only=True):
        inner = _tfmot_wrappers.unwrap_pruning(layer)
        result.append((path[:len(path) - len(layer.name)] + inner.name, inner))
    return result


def layer_selector(layers):
    """A predicate `fn(path, layer) -> bool` for the `layers` argument of `prune`.

    Args:
      layers: None (every layer); a str (regex, full match on the path, see
        `named_layers`); a list/tuple/set of layer paths; a Keras layer
        class or tuple of classes; or a callable taking a layer and
        returning a bool.
    """
    if layers is None:
        return lambda path, layer: True
    if isinstance(layers, str):
        try:
            pattern = re.compile(layers)
        except re.error as e:
            raise ValueError(f"`layers` {layers!r} is not a valid regex: {e}.") from None
        return lambda path, layer: pattern.fullmatch(path) is not None
    if isinstance(layers, type) and issubclass(layers, keras.layers.Layer):
        return lambda path, layer: isinstance(layer, layers)
    if (isinstance(layers, tuple) and layers
            and all(isinstance(t, type) and issubclass(t, keras.layers.Layer)
                    for t in layers)):
        return lambda path, layer: isinstance(layer, layers)
    if isinstance(layers, (list, tuple, set, frozenset)):
        names = set(layers)
        if not all(isinstance(n, str) for n in names):
            raise ValueError(f"`layers` as a collection must hold layer names, got "
                             f"{sorted(map(repr, names))}.")
        return lambda path, layer: path in names
    if callable(layers):
        return lambda path, layer: layers(layer)
    raise ValueError(
        f"`layers` must be None, a regex, a list of names, a layer class or a "
        f"callable, got {layers!r}.")


def check_names_exist(model, names, arg_name):
    """Raises if any of `names` is not the path of a layer of `model`."""
    known = [path for path, _ in named_layers(model)]
    missing = sorted(set(names) - set(known))
    if missing:
        raise ValueError(f"`{arg_name}` names layers {missing} that {model.name!r} does "
                         f"not have; its layers are {known}.")
