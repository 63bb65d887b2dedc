"""Rebuilding a model without the removed channels, surviving weights copied.

Each layer is rebuilt from its own config with the new width (units,
filters, a Reshape's last dimension) and its weights cut along the axes
that carry removed channels, as its `rules.ChannelRule` says. A Dropout
after narrowed channels drops fewer of them (`narrowed_rate`). The graph's
wiring is `graph.rebuild`'s. `smaller_layers` gives the rebuilt layers'
configs and input shapes without building the model (what a lookup table
needs of a width set).
"""

from tfcompress import graph as graph_lib
from tfcompress._keras import keras
from tfcompress.shrink import crop as crop_lib
from tfcompress.shrink import rules


def _cutting_rule(layer):
    """`layer`'s `ChannelRule`, or None where it pins (no channel of it goes)."""
    rule = rules.rule_of(layer)
    if rule is None or rule.role == rules.PIN or not rule.when(layer):
        return None
    return rule


def _cut(layer, keep_in, keep_out):
    """(config changes, weights) of `layer` with only those positions: as its
    `ChannelRule` says, or unchanged where it pins."""
    rule = _cutting_rule(layer)
    if rule is None:
        return {}, layer.get_weights()
    return rule.cut_weights(layer, keep_in, keep_out)


def narrowed_rate(rate, units, kept_units):
    """A dropout rate for `kept_units` of the `units` it was set for.

    Srivastava et al. 2014 (JMLR 15, appendix A.4): a layer of n units with
    retention p has about pn units at work, so a dropout net needs about
    n/p units where a plain one needs n. Keeping the units at work as they
    were, the narrower layer retains p' = pn / n' (at most 1): a cut to
    half the width or less drops no unit at all. On FSDD's DS-CNN narrowed
    to 16 of 64 channels (rates 0.2 and 0.4), 160 epochs of recovery
    reached 95.67% with the rates at 0 against 92.33% with them kept.
    """
    if kept_units >= units or rate <= 0.0:
        return rate
    return max(0.0, 1.0 - (1.0 - rate) * units / kept_units)


def _dropout_changes(layer, kept_in):
    """The config change of a Dropout layer whose input keeps `kept_in` of
    its positions (channels, or a Flatten's positions): its rate narrowed."""
    if not isinstance(layer, keras.layers.Dropout):
        return {}
    units = int(layer.get_input_shape_at(0)[-1])
    return {"rate": narrowed_rate(float(layer.rate), units, len(kept_in))}


def _positions(dependency_graph, kept, crops):
    """fn(layout) -> its positions that survive `kept` and the `crops`."""
    model = dependency_graph.model
    tiles = {id(dependency_graph.outputs[name]): crop_lib.kept_tiles(
        tuple(int(d) for d in model.get_layer(name).get_input_shape_at(0)[1:3]), box)
        for name, box in crops.items()}

    def kept_positions(layout):  # tiles: those a crop before a Flatten leaves
        return layout.kept_positions(kept, tiles.get(id(layout)))

    return kept_positions


def smaller_layers(dependency_graph, kept, names, crops=None):
    """The layers `names` as `rebuild_smaller` makes them, without building
    the model: {name: (layer class, config, input shape without the batch)}.

    What a lookup table needs of a width set (`budget.latency_table`):
    building the model takes a Keras functional construction of every layer
    (about 0.3 s for a DS-CNN), this a few numpy selections. A layer's input
    keeps its shape but for the last axis, which only its channels change
    (a crop changes a Flatten's output, whose kept positions count it).
    """
    model = dependency_graph.model
    kept_positions = _positions(dependency_graph, kept, crops or {})
    found = {}
    for name in names:
        layer = model.get_layer(name)
        shape = tuple(layer.get_input_shape_at(0)[1:])
        rule = _cutting_rule(layer)
        config = layer.get_config()
        if rule is not None:
            keep_in = kept_positions(dependency_graph.inputs[name][0])
            keep_out = kept_positions(dependency_graph.outputs[name])
            config = {**config, **rule.width_changes(config, len(keep_out))}
            shape = (*shape[:-1], len(keep_in))
        found[name] = (type(layer), config, shape)
    return found


def rebuild_smaller(dependency_graph, kept, crops=None):
    """A new model without the channels `kept` leaves out.

    Args:
      dependency_graph: `dependency.DependencyGraph` of the model.
      kept: {Space: sorted indices of the channels that stay}; spaces not
        listed keep every channel.
      crops: {Flatten layer name: ((top, bottom), (left, right))}: a
        Cropping2D named "<flatten>_crop" goes before each, and the Dense
        layers reading it lose the kernel rows of the cropped positions.

    Returns:
      The smaller tf_keras functional model: same inputs, outputs and layer
      names, plus the crops.
    """
    model = dependency_graph.model
    graph = graph_lib.Graph.from_model(model)
    pending = []  # (new layer, weights): set once the new model is built
    crops = crops or {}
    kept_positions = _positions(dependency_graph, kept, crops)

    def make_input(node):
        tensor = model.get_layer(node.name).output
        return keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=node.name)

    def make_layer(node):
        layer = model.get_layer(node.name)
        keep_in = kept_positions(dependency_graph.inputs[node.name][0])
        changes, weights = _cut(layer, keep_in, kept_positions(dependency_graph.outputs[node.name]))
        changes = {**changes, **_dropout_changes(layer, keep_in)}
        new = type(layer).from_config({**layer.get_config(), **changes})
        pending.append((new, weights))
        crop = keras.layers.Cropping2D(crops[node.name], name=f"{node.name}_crop") \
            if node.name in crops else None

        def call(args, kwargs):
            if crop is not None:
                args = (crop(args[0]), *args[1:])
            return new(*args, **{k: v for k, v in kwargs.items() if v is not None})

        return call

    smaller = graph_lib.rebuild(
        graph, make_input=make_input, make_layer=make_layer,
        make_model=lambda inputs, outputs, name: keras.Model(inputs, outputs, name=name))
    for layer, weights in pending:
        layer.set_weights(weights)
    return smaller
