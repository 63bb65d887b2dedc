"""Groups of coupled channels of a functional tf_keras model.

The model's graph (`tfcompress.graph`, the walker the Keras 3 bridge uses)
is evaluated with a `Layout` in place of each tensor, as each layer's
`rules.ChannelRule` says: a Dense or Conv makes a new `Space` of channels it
owns, batch norm passes its input's through, Add ties its inputs' together.
Tied spaces form a `ChannelGroup`: channel k of every space in it goes, or
none does.

A group shrinks only if every space in it is owned by a layer and none is
pinned: a model input, a model output, a layer the user pins, or a layer
the graph cannot see through (Softmax, LayerNormalization, recurrent
layers, a Reshape that moves the channel axis) pins the spaces it touches;
so does a layer without a rule, if the caller allows it (on_unknown="pin").
"""

import dataclasses
import warnings

import tensorflow as tf

from tfcompress import graph as graph_lib
from tfcompress._keras import keras
from tfcompress.shrink import rules
from tfcompress.shrink.layouts import Layout
from tfcompress.shrink.layouts import Space


class UnfollowableLayersError(ValueError):
    """Layers the dependency graph does not know, listed together."""


@dataclasses.dataclass(eq=False)
class ChannelGroup:
    """Channels removed together.

    Attributes:
      spaces: the tied `Space`s (equal sizes; channel k of each goes together).
      producers: names of the layers whose filters or units make them.
      pinned_by: why the group cannot shrink, or None.
    """
    spaces: list
    producers: list
    pinned_by: str | None = None

    @property
    def size(self):
        return self.spaces[0].size

    @property
    def prunable(self):
        return self.pinned_by is None


@dataclasses.dataclass
class DependencyGraph:
    """A model's channel groups and every layer call's layouts.

    Attributes:
      model: the flat functional model the layouts describe.
      groups: `ChannelGroup`s, prunable or not.
      inputs: layer name -> [layouts of the first call's inputs].
      outputs: layer name -> layout of the first call's output.
      warnings: layers pinned because they were not known (on_unknown="pin").
    """
    model: object
    groups: list
    inputs: dict
    outputs: dict
    warnings: list

    def prunable_groups(self):
        return [group for group in self.groups if group.prunable]

    def batch_norms(self):
        """[(batch norm with a scale, the layout it reads)]: what "bn" scores."""
        return [(layer, self.inputs[layer.name][0]) for layer in self.model.layers
                if isinstance(layer, keras.layers.BatchNormalization) and layer.scale]


class _Ties:
    """Union-find over spaces; each class remembers why it is pinned."""

    def __init__(self):
        self.parent = {}
        self.pins = {}

    def add(self, space):
        if space in self.parent:
            return
        self.parent[space] = space
        if space.owner is None:
            self.pins[space] = space.reason or "not made by a layer"

    def find(self, space):
        self.add(space)
        while self.parent[space] is not space:
            self.parent[space] = self.parent[self.parent[space]]
            space = self.parent[space]
        return space

    def tie(self, a, b):
        root_a, root_b = self.find(a), self.find(b)
        if root_a is not root_b:
            self.parent[root_b] = root_a
            if root_b in self.pins:
                self.pins.setdefault(root_a, self.pins.pop(root_b))

    def pin(self, space, reason):
        self.pins.setdefault(self.find(space), reason)

    def groups(self):
        members = {}
        for space in self.parent:
            members.setdefault(self.find(space), []).append(space)
        return [ChannelGroup(spaces=spaces,
                             producers=sorted({s.owner for s in spaces if s.owner}),
                             pinned_by=self.pins.get(root))
                for root, spaces in members.items()]


class _Walk:
    def __init__(self, model, pinned, on_unknown):
        self.model = model
        self.pinned = set(pinned)
        self.on_unknown = on_unknown
        self.ties = _Ties()
        self.inputs, self.outputs = {}, {}
        self.unknown, self.warnings = [], []
        self.owned = {}  # producer name -> its Space (shared layers make one)

    def fresh(self, width, reason):
        space = Space(width, reason=reason)
        self.ties.add(space)
        return Layout.of(space)

    def pin_all(self, layouts, reason):
        for layout in layouts:
            for space in layout.spaces():
                self.ties.pin(space, reason)

    def tie(self, a, b, reason):
        """Ties two layouts position by position; pins both if they do not align."""
        if a.same_structure(b):
            for space_a, space_b in zip(a.spaces(), b.spaces(), strict=True):
                self.ties.tie(space_a, space_b)
        else:
            self.pin_all([a, b], reason)

    def call(self, node, args, kwargs):
        layer = self.model.get_layer(node.name)
        layouts = [t for t in tf.nest.flatten(args) if isinstance(t, Layout)]
        out = self.layout_of_output(layer, layouts)
        self.inputs.setdefault(node.name, layouts)
        if node.name in self.outputs:
            self.tie(self.outputs[node.name], out, f"shared layer {node.name!r}")
            for first, again in zip(self.inputs[node.name], layouts, strict=False):
                self.tie(first, again, f"shared layer {node.name!r}")
        else:
            self.outputs[node.name] = out
        return out

    def layout_of_output(self, layer, layouts):
        name, where = layer.name, f"{layer.name!r} ({type(layer).__name__})"
        out_width = int(layer.get_output_shape_at(0)[-1])
        rule = rules.rule_of(layer)
        if rule is None:
            self.unknown.append(where)
            if self.on_unknown == "pin":
                message = f"{where} is not known to the dependency graph: pinned"
                self.warnings.append(message)
                warnings.warn(message, stacklevel=4)
        elif rule.role == rules.PRODUCE and rule.when(layer):
            if name not in self.owned:
                self.owned[name] = Space(out_width, owner=name)
                self.ties.add(self.owned[name])
                if name in self.pinned:
                    self.ties.pin(self.owned[name], f"pinned: {name!r}")
            return Layout.of(self.owned[name])
        elif rule.role in (rules.PASS, rules.MERGE) and rule.when(layer):
            out = rule.output(layer, layouts, lambda a, b: self.tie(
                a, b, f"{where} merges channels that do not align"))
            if out is not None:
                return out
        self.pin_all(layouts, f"{where} reads them")
        return self.fresh(out_width, f"made by {where}, which cannot shrink")


def build(model, *, pinned=(), on_unknown="error"):
    """The channel groups of a functional or Sequential tf_keras model.

    Args:
      model: tf_keras model; nested models are looked into (the graph is of
        the model with them inlined: `graph.flatten`).
      pinned: names of layers whose output width must stay.
      on_unknown: "error" to refuse layers the graph does not know, "pin" to
        keep their inputs and outputs at full width (with a warning).

    Returns:
      `DependencyGraph`.

    Raises:
      UnfollowableLayersError: unknown layers (on_unknown="error"), all listed.
      ValueError: bad arguments, or a subclassed model.
    """
    if on_unknown not in ("error", "pin"):
        raise ValueError(f"`on_unknown` must be 'error' or 'pin', got {on_unknown!r}.")
    if isinstance(model, keras.Sequential):  # the same layers, with an InputLayer listed
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    if graph_lib.has_nested_models(model):
        model = graph_lib.flatten(model, keras.Model)
    names = {layer.name for layer in model.layers}
    unknown_pins = sorted(set(pinned) - names)
    if unknown_pins:
        raise ValueError(f"`pinned` names layers {unknown_pins} that {model.name!r} does "
                         f"not have.")
    graph = graph_lib.Graph.from_model(model)
    walk = _Walk(model, pinned, on_unknown)

    def make_input(node):
        layer = model.get_layer(node.name)
        layout = walk.fresh(int(layer.output.shape[-1]), f"model input {node.name!r}")
        walk.outputs[node.name] = layout
        return layout

    def make_layer(node):
        return lambda args, kwargs: walk.call(node, args, kwargs)

    outputs = graph_lib.rebuild(graph, make_input=make_input, make_layer=make_layer,
                                make_model=lambda inputs, outputs, name: outputs)
    if walk.unknown and on_unknown == "error":
        raise UnfollowableLayersError(
            f"structured pruning cannot follow channels through {len(walk.unknown)} "
            f"layer(s) of {model.name!r}: {', '.join(walk.unknown)}. Pass "
            "on_unknown='pin' (--on_unknown=pin) to keep their inputs and outputs at "
            "full width, or pin the layers that feed them.")
    walk.pin_all(outputs if isinstance(outputs, list) else [outputs], "model output")
    return DependencyGraph(model=model, groups=walk.ties.groups(), inputs=walk.inputs,
                           outputs=walk.outputs, warnings=walk.warnings)
