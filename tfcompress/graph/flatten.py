"""Inlining nested models: one flat functional graph over the same layers.

TFMOT's QAT refuses a model inside a model ("Quantizing a keras Model inside
another keras Model is not supported"), and a user's model is often an
application wrapped for its input. Flattening calls the nested model's
layers in place of the model; the layers themselves (and so the weights)
are the original ones.
"""

from tfcompress.graph.functional import Graph
from tfcompress.graph.layers import is_nested_model
from tfcompress.graph.layers import walk
from tfcompress.graph.rebuild import rebuild


def has_nested_models(model):
    return any(is_nested_model(layer) for layer in model.layers)


def flatten(model, model_class):
    """A `model_class` (e.g. keras.Model) calling `model`'s layers, nested ones inlined.

    Raises:
      ValueError: two inlined layers share a name (Keras needs unique names).
    """
    names = {}
    for path, layer in walk(model, models_only=True):
        if type(layer).__name__ != "InputLayer" and not is_nested_model(layer):
            names.setdefault(layer.name, []).append(path)
    clashes = {name: paths for name, paths in names.items() if len(paths) > 1}
    if clashes:
        listed = "; ".join(f"{name!r} at {', '.join(paths)}" for name, paths in clashes.items())
        raise ValueError(f"cannot flatten {model.name!r}: layers of its nested models share "
                         f"names ({listed}); give them unique names")

    def make_model(inputs, outputs, name):
        return model_class(inputs, outputs, name=name)

    return _rebuild(model, inputs=None, make_model=make_model)


def _rebuild(model, inputs, make_model):
    graph = Graph.from_model(model)
    layers = {layer.name: layer for layer in model.layers}
    given = dict(zip((ref.layer for ref in graph.inputs), inputs or ()))

    def make_input(node):
        if inputs is not None:
            return given[node.name]
        return layers[node.name].output if node.name in layers else model.inputs[
            [ref.layer for ref in graph.inputs].index(node.name)]

    def make_layer(node):
        layer = layers[node.name]
        if is_nested_model(layer):
            def inline(args, kwargs):
                del kwargs  # a model call's options (mask, training) do not apply here
                tensors = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
                return _rebuild(layer, tensors, lambda i, outputs, n: outputs)
            return inline
        return lambda args, kwargs: layer(*args, **{k: v for k, v in kwargs.items()
                                                     if v is not None})

    return rebuild(graph, make_input=make_input, make_layer=make_layer, make_model=make_model)

