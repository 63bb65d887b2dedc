"""Every layer of a model, nested models' and wrapped layers' too (tf_keras or Keras 3).

Layers are told apart by the names of their Keras classes, so neither Keras
is imported here (`tfcompress.keras3.is_keras3_model` does the same).
"""

# Top-level packages whose classes are Keras' own.
_KERAS_PACKAGES = ("keras", "tf_keras")
# Keras classes of the models a graph can be read from (Keras 3's
# Sequential does not extend its Functional; tf_keras' does).
_GRAPH_MODELS = frozenset({"Functional", "Sequential"})


def is_nested_model(layer):
    """Whether `layer` is a Sequential or functional model (tf_keras or Keras 3).

    Such a model used as a layer is entered by `walk`, inlined by `flatten`
    and pruned layer by layer. A subclassed model is a single layer: its
    graph is its Python `call`, which nothing can read.
    """
    return any(cls.__name__ in _GRAPH_MODELS
               and cls.__module__.split(".")[0] in _KERAS_PACKAGES
               for cls in type(layer).__mro__)


def walk(model, *, models_only=False):
    """(path, layer) of every layer inside `model`, each once, depth first.

    Each layer comes right before the layers inside it: a nested model
    before its layers, a wrapper (TFMOT's pruning, quantization or
    clustering wrapper, TimeDistributed) before its layer, a Bidirectional
    before its forward and backward layers, an RNN before its cell, any
    layer before the layers it holds (MultiHeadAttention's). The order is the
    model's (`model.layers`; a Keras 3 functional model's ops such as
    `x + 3.0` are graph nodes and come in their place). `model` itself is not
    yielded. A layer met twice is yielded at its first place only.

    Args:
      model: a tf_keras or Keras 3 model.
      models_only: enter nested Sequential and functional models only
        (`is_nested_model`), as the model's graph calls its layers: a
        wrapper, a subclassed model or any other layer is then one layer.

    Yields:
      ("outer/inner/name", layer): `path` joins the names of the layers it
      is inside, from `model` down.
    """
    seen = set()

    def visit(layer, prefix):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        path = prefix + layer.name
        yield path, layer
        if is_nested_model(layer) or not models_only:
            for inner in _inside(layer):
                yield from visit(inner, path + "/")

    for layer in _inside(model):
        yield from visit(layer, "")


def layers(model, *, models_only=False):
    """The layers of `walk(model, models_only=...)`, without their paths.

    For example, the recurrent layers of a model, wherever they are::

        [layer for layer in graph.layers(model) if isinstance(layer, keras.layers.RNN)]
    """
    return [layer for _, layer in walk(model, models_only=models_only)]


def _inside(layer):
    """The layers (and Keras 3 ops) directly inside `layer`, in order."""
    operations = getattr(layer, "operations", None)  # a Keras 3 functional model's
    if operations is not None:
        return list(operations)
    if is_nested_model(layer):
        return list(layer.layers)
    own_layers = getattr(layer, "_flatten_layers", None)  # both Keras: tracked sublayers
    return list(own_layers(include_self=False, recursive=False)) if own_layers else []
