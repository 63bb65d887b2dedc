"""Rebuilding a model without the removed channels, surviving weights copied.

Each layer is rebuilt from its own config with the new width (units,
filters, a Reshape's last dimension) and its weights sliced along the axes
that carry removed channels: the output axis of a producer's kernel and
bias, the input axis of every kernel that reads them, batch-norm and PReLU
vectors, depthwise kernels. The graph's wiring is `graph.rebuild`'s.
"""

import numpy as np

from tfcompress import graph as graph_lib
from tfcompress._keras import keras
from tfcompress.shrink import crop as crop_lib


def _take(array, index, axis):
    return np.take(array, index, axis=axis)


def _positions(graph, name, kept, which, tiles):
    """Kept positions of a layer's first input (`which`=0) or of its output (None).

    `tiles`: {id(layout): kept tile indices} of cropped Flatten outputs.
    """
    layout = graph.outputs[name] if which is None else graph.inputs[name][which]
    return layout.kept_positions(kept, tiles.get(id(layout))), layout.width


def _sliced(layer, keep_in, keep_out, width_in):
    """(config changes, weights) of `layer` with only those positions."""
    class_name = type(layer).__name__
    weights = layer.get_weights()
    if class_name == "Dense":
        kernel, *bias = weights
        kernel = _take(_take(kernel, keep_in, 0), keep_out, 1)
        return {"units": len(keep_out)}, [kernel, *[_take(b, keep_out, 0) for b in bias]]
    if class_name in ("Conv1D", "Conv2D", "Conv3D"):
        kernel, *bias = weights
        kernel = _take(_take(kernel, keep_in, -2), keep_out, -1)
        return {"filters": len(keep_out)}, [kernel, *[_take(b, keep_out, 0) for b in bias]]
    if class_name in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        kernel, *bias = weights  # (..., out, in)
        kernel = _take(_take(kernel, keep_out, -2), keep_in, -1)
        return {"filters": len(keep_out)}, [kernel, *[_take(b, keep_out, 0) for b in bias]]
    if class_name in ("DepthwiseConv1D", "DepthwiseConv2D"):
        kernel, *bias = weights  # (..., in, multiplier)
        return {}, [_take(kernel, keep_in, -2), *[_take(b, keep_out, 0) for b in bias]]
    if class_name in ("SeparableConv1D", "SeparableConv2D"):
        depthwise, pointwise, *bias = weights
        multiplier = depthwise.shape[-1]
        middle = (keep_in[:, None] * multiplier + np.arange(multiplier)[None, :]).ravel()
        pointwise = _take(_take(pointwise, middle, -2), keep_out, -1)
        return {"filters": len(keep_out)}, [_take(depthwise, keep_in, -2), pointwise,
                                            *[_take(b, keep_out, 0) for b in bias]]
    if class_name in ("BatchNormalization", "PReLU"):
        return {}, [_take(w, keep_in, -1) for w in weights]
    if class_name == "Reshape" and layer.target_shape[-1] == width_in:
        return {"target_shape": (*layer.target_shape[:-1], len(keep_in))}, weights
    return {}, weights


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
    tiles = {}
    for name, box in crops.items():
        shape = tuple(int(d) for d in model.get_layer(name).get_input_shape_at(0)[1:3])
        tiles[id(dependency_graph.outputs[name])] = crop_lib.kept_tiles(shape, box)

    def make_input(node):
        tensor = model.get_layer(node.name).output
        return keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=node.name)

    def make_layer(node):
        layer = model.get_layer(node.name)
        keep_in, width_in = _positions(dependency_graph, node.name, kept, 0, tiles)
        keep_out, _ = _positions(dependency_graph, node.name, kept, None, tiles)
        changes, weights = _sliced(layer, keep_in, keep_out, width_in)
        new = type(layer).from_config({**layer.get_config(), **changes})
        pending.append((new, weights))
        crop = keras.layers.Cropping2D(crops[node.name], name=f"{node.name}_crop") \
            if node.name in crops else None

        def call(args, kwargs):
            if crop is not None:
                args = (crop(args[0]), *args[1:])
            return new(*args, **{k: v for k, v in kwargs.items() if v is not None})

        return call

    def make_model(inputs, outputs, name):
        return keras.Model(inputs, outputs, name=name)

    smaller = graph_lib.rebuild(graph, make_input=make_input, make_layer=make_layer,
                                make_model=make_model)
    for layer, weights in pending:
        layer.set_weights(weights)
    return smaller
