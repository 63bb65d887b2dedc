"""Rebuilding a model from its graph, one layer call at a time.

The caller says how to make each input and each layer (for the Keras 3
bridge: the other Keras's layer of the same config; for structured pruning:
the same layer with fewer units); this module owns only the order of calls
and the wiring, as Keras' own functional deserialization does.
"""

from tfcompress.graph.functional import TensorRef


def rebuild(graph, *, make_input, make_layer, make_model):
    """The model `graph` describes, built from new layers.

    Args:
      graph: a `Graph`.
      make_input: fn(LayerNode) -> an input tensor (`keras.Input(...)`).
      make_layer: fn(LayerNode) -> fn(args, kwargs) -> the call's output(s).
        Called once per layer, so a shared layer stays shared.
      make_model: fn(inputs, outputs, name) -> the model.

    Returns:
      What `make_model` returns, given a tensor (one input or output) or a list.

    Raises:
      ValueError: a call reads a tensor no layer produces.
    """
    produced = {}  # (layer name, call index) -> [output tensors]
    calls = {}
    pending = []
    for node in graph.layers:
        if node.is_input:
            produced[(node.name, 0)] = [make_input(node)]
        else:
            calls[node.name] = make_layer(node)
            pending.extend((node, i) for i in range(len(node.calls)))
    while pending:
        waiting = []
        for node, i in pending:
            call = node.calls[i]
            if not all((ref.layer, ref.call) in produced for ref in call.tensors()):
                waiting.append((node, i))
                continue
            out = calls[node.name](_resolve(call.args, produced), _resolve(call.kwargs, produced))
            produced[(node.name, i)] = list(out) if isinstance(out, (list, tuple)) else [out]
        if len(waiting) == len(pending):
            node, i = waiting[0]
            missing = [ref for ref in node.calls[i].tensors()
                       if (ref.layer, ref.call) not in produced]
            raise ValueError(f"layer {node.name!r} reads {missing[0]}, which no layer "
                             "of the model produces")
        pending = waiting

    def ends(refs):
        tensors = [_resolve(ref, produced) for ref in refs]
        return tensors[0] if len(tensors) == 1 else tensors

    return make_model(ends(graph.inputs), ends(graph.outputs), graph.name)


def _resolve(tree, produced):
    if isinstance(tree, TensorRef):
        return produced[(tree.layer, tree.call)][tree.index]
    if isinstance(tree, (list, tuple)):
        return type(tree)(_resolve(item, produced) for item in tree)
    if isinstance(tree, dict):
        return {key: _resolve(value, produced) for key, value in tree.items()}
    return tree
