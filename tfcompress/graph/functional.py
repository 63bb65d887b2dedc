"""A functional model's graph: layers as nodes, tensors as edges.

Read from `model.get_config()`, which both Keras versions write for every
Sequential and functional model, so no private Keras attribute is touched.
The two formats differ in how a call's inputs are written:

- Keras 3: `{"args": [...], "kwargs": {...}}`, each tensor a dict
  `{"class_name": "__keras_tensor__", "config": {"keras_history": [layer,
  node, index]}}` and constants (the `3.0` of `x + 3.0`) in place.
- tf_keras: a list of `[layer, node, index, kwargs]` entries (several for a
  merge layer's list of inputs); a nested model's first node is its own
  inputs-to-outputs node, so calls of it are numbered from 1.

Both become `Call(args, kwargs)` trees whose tensors are `TensorRef`s that
number a layer's calls from 0 in the order of its `inbound_nodes`.
"""

import dataclasses

# Class names of layers that are models themselves.
MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})


@dataclasses.dataclass(frozen=True)
class TensorRef:
    """Output `index` of call `call` of the layer called `layer`."""
    layer: str
    call: int = 0
    index: int = 0


@dataclasses.dataclass
class Call:
    """One call of a layer: positional and keyword arguments, tensors as TensorRefs."""
    args: list
    kwargs: dict

    def tensors(self):
        """Every TensorRef among the arguments, in order."""
        return list(_refs([self.args, self.kwargs]))


@dataclasses.dataclass
class LayerNode:
    """A layer of the graph and each of its calls."""
    name: str
    class_name: str
    config: dict
    calls: list
    module: str | None = None

    @property
    def is_input(self):
        return self.class_name == "InputLayer"


@dataclasses.dataclass
class Graph:
    """The layers of a functional model in config order, its inputs and outputs."""
    name: str
    layers: list
    inputs: list
    outputs: list

    @classmethod
    def from_config(cls, config):
        """The graph of a model config (Sequential or functional, either Keras).

        Raises:
          ValueError: the config is neither (a subclassed model's config has
            no layers), or a Sequential model was never built.
        """
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("not the config of a Sequential or functional model "
                             "(it lists no layers); a subclassed model cannot be walked")
        if "input_layers" in config:
            return _functional(config)
        return _sequential(config)

    @classmethod
    def from_model(cls, model):
        return cls.from_config(model.get_config())

    def layer(self, name):
        for node in self.layers:
            if node.name == name:
                return node
        raise KeyError(name)

    def consumers(self, name):
        """[(layer node, call index)] of every call that reads an output of `name`."""
        return [(node, i) for node in self.layers for i, call in enumerate(node.calls)
                if any(ref.layer == name for ref in call.tensors())]


def _refs(tree):
    if isinstance(tree, TensorRef):
        yield tree
    elif isinstance(tree, (list, tuple, dict)):
        for item in tree.values() if isinstance(tree, dict) else tree:
            yield from _refs(item)


def _node(entry, calls):
    return LayerNode(name=entry.get("name") or entry["config"]["name"],
                     class_name=entry["class_name"], config=entry["config"],
                     calls=calls, module=entry.get("module"))


def _sequential(config):
    """A Sequential config as a chain; an input layer is added if none is listed."""
    entries = config["layers"]
    layers = []
    if not entries or entries[0]["class_name"] != "InputLayer":
        shape = config.get("build_input_shape")
        if shape is None:
            raise ValueError(f"Sequential model {config.get('name')!r} was never built "
                             "(no input shape): start it with an Input, or call it "
                             "on data once")
        entries = [{"class_name": "InputLayer",
                    "config": {"batch_shape": list(shape),
                               "name": f"{config.get('name', 'sequential')}_input"}},
                   *entries]
    for entry in entries:
        calls = [] if not layers else [Call([TensorRef(layers[-1].name)], {})]
        layers.append(_node(entry, calls))
    return Graph(name=config.get("name", "sequential"), layers=layers,
                 inputs=[TensorRef(layers[0].name)], outputs=[TensorRef(layers[-1].name)])


def _functional(config):
    entries = config["layers"]
    # tf_keras numbers a nested model's calls from 1 (node 0 is its own)
    # everywhere; Keras 3 renumbers calls from 0 but not in input_layers and
    # output_layers, where a nested Functional's calls still count from 1.
    offsets = {entry["name"]: 1 for entry in entries
               if _is_tf_keras(entry) and _has_own_node(entry)}
    endpoint_offsets = {**offsets, **{entry["name"]: 1 for entry in entries
                                      if not _is_tf_keras(entry)
                                      and entry["class_name"] == "Functional"}}
    layers = [_node(entry, [_call(node, offsets) for node in entry.get("inbound_nodes", [])])
              for entry in entries]
    return Graph(name=config.get("name", "model"), layers=layers,
                 inputs=_endpoints(config["input_layers"], endpoint_offsets),
                 outputs=_endpoints(config["output_layers"], endpoint_offsets))


def _is_tf_keras(entry):
    nodes = entry.get("inbound_nodes") or []
    return bool(nodes) and isinstance(nodes[0], list)


def _has_own_node(entry):
    """Whether tf_keras gave this layer a node of its own before any call."""
    if entry["class_name"] not in MODEL_CLASSES:
        return False
    inner = entry["config"].get("layers") or []
    return entry["class_name"] != "Sequential" or (
        bool(inner) and inner[0]["class_name"] == "InputLayer")


def _endpoints(spec, offsets):
    """input_layers / output_layers: one [name, node, index] or a list of them."""
    if isinstance(spec, dict):  # Keras 3 may key them by name
        spec = list(spec.values())
    if spec and isinstance(spec[0], str):
        spec = [spec]
    return [TensorRef(name, node - offsets.get(name, 0), index)
            for name, node, index in spec]


def _call(node, offsets):
    if isinstance(node, dict):  # Keras 3
        return Call(_keras3_tree(node.get("args", [])), _keras3_tree(node.get("kwargs", {})))
    entries = [node] if node and isinstance(node[0], str) else node
    refs = [TensorRef(name, index_of_node - offsets.get(name, 0), index)
            for name, index_of_node, index, *_ in entries]
    kwargs = dict(entries[0][3]) if len(entries[0]) > 3 and entries[0][3] else {}
    return Call([refs[0] if len(refs) == 1 else refs], kwargs)


def _keras3_tree(tree):
    if isinstance(tree, dict):
        if tree.get("class_name") == "__keras_tensor__":
            name, node, index = tree["config"]["keras_history"]
            return TensorRef(name, node, index)
        return {key: _keras3_tree(value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_keras3_tree(item) for item in tree]
    return tree
