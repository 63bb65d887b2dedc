"""Choosing layers: by name, by regex, by type, or with a predicate."""

import re

from tfcompress._keras import keras


def layer_selector(layers):
    """A predicate `fn(layer) -> bool` for the `layers` argument of `prune`.

    Args:
      layers: None (every layer); a str (regex, full match on the name); a
        list/tuple/set of layer names; a Keras layer class or tuple of
        classes; or a callable taking a layer and returning a bool.
    """
    if layers is None:
        return lambda layer: True
    if isinstance(layers, str):
        try:
            pattern = re.compile(layers)
        except re.error as e:
            raise ValueError(f"`layers` {layers!r} is not a valid regex: {e}.") from None
        return lambda layer: pattern.fullmatch(layer.name) is not None
    if isinstance(layers, type) and issubclass(layers, keras.layers.Layer):
        return lambda layer: isinstance(layer, layers)
    if (isinstance(layers, tuple) and layers
            and all(isinstance(t, type) and issubclass(t, keras.layers.Layer)
                    for t in layers)):
        return lambda layer: isinstance(layer, layers)
    if isinstance(layers, (list, tuple, set, frozenset)):
        names = set(layers)
        if not all(isinstance(n, str) for n in names):
            raise ValueError(f"`layers` as a collection must hold layer names, got "
                             f"{sorted(map(repr, names))}.")
        return lambda layer: layer.name in names
    if callable(layers):
        return layers
    raise ValueError(
        f"`layers` must be None, a regex, a list of names, a layer class or a "
        f"callable, got {layers!r}.")


def check_names_exist(model, names, arg_name):
    """Raises if any of `names` is not a layer of `model`."""
    known = [layer.name for layer in model.layers]
    missing = sorted(set(names) - set(known))
    if missing:
        raise ValueError(f"`{arg_name}` names layers {missing} that {model.name!r} does "
                         f"not have; its layers are {known}.")
