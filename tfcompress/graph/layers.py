"""Every layer of a model, nested models' and wrapped layers' too (tf_keras or Keras 3).

Classes are recognized by name, so no Keras is imported here.
"""

# Keras 3's Sequential does not extend its Functional; tf_keras' does.
_GRAPH_MODELS = frozenset({"Functional", "Sequential"})


def is_nested_model(layer):
    """Whether `layer` is a Sequential or functional model (tf_keras or Keras 3).

    Such a model used as a layer is entered by `walk`, inlined by `flatten`
    and pruned layer by layer; a subclassed model's graph is its Python code.
    """
    return any(cls.__name__ in _GRAPH_MODELS and cls.__module__.split(".")[0] in
               ("keras", "tf_keras") for cls in type(layer).__mro__)


def walk(model, *, models_only=False):
    """(path, layer) of every layer inside `model` (not `model`), each once, depth first.

    In the model's order (`model.layers`, or a Keras 3 functional model's
    `operations`, its ops such as `x + 3.0` included), each layer right
    before those inside it: a nested model's, a wrapper's (TimeDistributed,
    TFMOT's pruning, quantization and clustering wrappers), a Bidirectional's
    forward and backward layers, an RNN's cell, any layer's own sublayers. A
    layer met twice is yielded at its first place only.

    Args:
      model: a tf_keras or Keras 3 model.
      models_only: enter only nested models (`is_nested_model`), as the
        graph calls layers: a wrapper or subclassed model is one layer.

    Yields:
      ("outer/inner/name", layer), the path naming what the layer is inside.
    """
    seen = set()

    def visit(layer, prefix):
        if id(layer) not in seen:
            seen.add(id(layer))
            yield prefix + layer.name, layer
            if not models_only or is_nested_model(layer):
                for inner in _inside(layer):
                    yield from visit(inner, f"{prefix}{layer.name}/")

    for layer in _inside(model):
        yield from visit(layer, "")


def layers(model, *, models_only=False):
    """The layers of `walk(model, models_only=...)`, in its order."""
    return [layer for _, layer in walk(model, models_only=models_only)]


def _inside(layer):
    operations = getattr(layer, "operations", None)  # a Keras 3 functional model's
    if operations is not None:
        return list(operations)
    if is_nested_model(layer):
        return list(layer.layers)  # without a Sequential's own InputLayer
    own_layers = getattr(layer, "_flatten_layers", None)  # tracked sublayers, both Keras
    return list(own_layers(include_self=False, recursive=False)) if own_layers else []
