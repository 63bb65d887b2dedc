"""Cropping what a Flatten -> Dense reads: positions, not channels, removed.

An MLP on images spends nearly all its MACs in the first Dense layer, which
reads every pixel; channel pruning cannot narrow its 784 inputs (the model
input is pinned). But MNIST's borders are almost always blank: their rows of
the kernel do next to nothing. A `Cropping2D` inserted before the Flatten
removes whole border rows and columns of the map, and with them the kernel
rows of every Dense that reads it: the same inputs, fewer MACs, and the crop
runs inside LiteRT's XNNPACK partition (a STRIDED_SLICE).

A position's score is its share of what the Dense layers read: the mean of
|x| at that position over `data` times the l2 norm of its kernel rows. Border
lines (a row or column at an edge) go, the least-scored first, while the
removed share of the total stays within the tolerance. Written here: no
Keras or TF library prunes input positions.
"""

import numbers

import numpy as np

from tfcompress._keras import keras
from tfcompress.shrink import rules

# ((top, bottom), (left, right)) lines cut off a map, Cropping2D's format.
_NO_CROP = ((0, 0), (0, 0))


def croppable(graph):
    """{Flatten layer name: (height, width)} of the Flattens a crop may precede.

    A Flatten qualifies when it reads a (batch, height, width, channels) map
    and everything that reads its output is a Dense layer (through dropout
    and other position-wise layers), and it is not a model output.
    """
    model = graph.model
    model_outputs = {id(graph.outputs[name]) for name in model.output_names
                     if name in graph.outputs}
    found = {}
    for layer in model.layers:
        if type(layer).__name__ != "Flatten":
            continue
        shape = tuple(layer.get_input_shape_at(0))
        if len(shape) != 4 or None in shape[1:3] or layer.data_format == "channels_first":
            continue
        flat = graph.outputs[layer.name]
        if id(flat) not in model_outputs and _only_dense_reads(graph, flat):
            found[layer.name] = (int(shape[1]), int(shape[2]))
    return found


def _readers(graph, layout):
    return [graph.model.get_layer(name) for name, layouts in graph.inputs.items()
            if any(candidate is layout for candidate in layouts)]


def _only_dense_reads(graph, layout):
    """Whether Dense layers read `layout`, directly or through "pass" layers."""
    readers = _readers(graph, layout)
    return bool(readers) and all(
        type(layer).__name__ == "Dense" or (graph.outputs[layer.name] is layout and getattr(
            rules.rule_of(layer), "role", None) == rules.PASS) for layer in readers)


def readers(graph, flatten_name):
    """Names of the Dense layers that read `flatten_name`'s output."""
    return [layer.name for layer in _readers(graph, graph.outputs[flatten_name])
            if type(layer).__name__ == "Dense"]


def position_scores(graph, flatten_name, batches):
    """[height, width]: mean |input| x kernel-row l2 norm, summed over channels."""
    model = graph.model
    layer = model.get_layer(flatten_name)
    height, width, channels = (int(d) for d in layer.get_input_shape_at(0)[1:])
    probe = keras.Model(model.inputs, layer.output)
    total, count = np.zeros(height * width * channels), 0
    for x, _ in batches:
        values = np.abs(np.asarray(probe(x, training=False), np.float64))
        total += values.sum(axis=0)
        count += len(values)
    if not count:
        raise ValueError("`data` yielded no examples to score the input positions on.")
    squares = np.zeros(height * width * channels)
    for name in readers(graph, flatten_name):
        kernel = np.asarray(model.get_layer(name).kernel.numpy(), np.float64)
        squares += np.square(kernel).sum(axis=1)
    return (total / count * np.sqrt(squares)).reshape(height, width, channels).sum(axis=-1)


def choose(scores, tolerance):
    """((top, bottom), (left, right)): border lines whose scores sum to at most
    `tolerance` of the total, the cheapest line first; at least one
    position stays."""
    total, removed = float(scores.sum()), 0.0
    top, bottom, left, right = 0, scores.shape[0], 0, scores.shape[1]
    while True:
        lines = []  # (cost, the step it moves (top, bottom, left, right) by)
        if bottom - top > 1:
            lines += [(scores[top, left:right].sum(), (1, 0, 0, 0)),
                      (scores[bottom - 1, left:right].sum(), (0, -1, 0, 0))]
        if right - left > 1:
            lines += [(scores[top:bottom, left].sum(), (0, 0, 1, 0)),
                      (scores[top:bottom, right - 1].sum(), (0, 0, 0, -1))]
        if not lines:
            break
        cost, step = min(lines, key=lambda line: line[0])  # ties: the first listed
        if removed + cost > tolerance * total:
            break
        removed += cost
        top, bottom, left, right = np.add((top, bottom, left, right), step).tolist()
    return ((top, scores.shape[0] - bottom), (left, scores.shape[1] - right))


def check_tolerance(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"`crop_inputs` must be a share in (0, 1) of the first Dense "
                         f"layers' input the crop may remove (e.g. 0.01), or "
                         f"{{flatten layer: ((top, bottom), (left, right))}}, got {value!r}.")
    return float(value)


def check_crops(crops, found, model_name):
    """Explicit crops, validated: {flatten: ((top, bottom), (left, right))}."""
    checked = {}
    for name, box in crops.items():
        if name not in found:
            raise ValueError(
                f"`crop_inputs` names {name!r}, which is not a Flatten of {model_name!r} "
                f"read only by Dense layers; those are {sorted(found) or 'none'}.")
        try:
            (top, bottom), (left, right) = box
            values = [top, bottom, left, right]
        except (TypeError, ValueError):
            values = None
        if values is None or any(isinstance(v, bool) or not isinstance(v, numbers.Integral)
                                 or v < 0 for v in values):
            raise ValueError(f"`crop_inputs[{name!r}]` must be ((top, bottom), (left, "
                             f"right)) of ints >= 0, got {box!r}.")
        height, width = found[name]
        if top + bottom >= height or left + right >= width:
            raise ValueError(f"`crop_inputs[{name!r}]`={box!r} leaves nothing of its "
                             f"{height}x{width} map.")
        checked[name] = ((int(top), int(bottom)), (int(left), int(right)))
    return checked


def require_croppable(graph, found=None):
    """Raises ValueError if no Flatten of `graph` can be cropped."""
    if not (croppable(graph) if found is None else found):
        raise ValueError(f"`crop_inputs` was given, but {graph.model.name!r} has no "
                         "Flatten of a (height, width, channels) map read only by Dense "
                         "layers, the only place a crop applies; leave it unset.")


def plan(graph, crop_inputs, batches):
    """{flatten: ((top, bottom), (left, right))} for `shrink`'s `crop_inputs`."""
    if crop_inputs is None:
        return {}
    found = croppable(graph)
    if isinstance(crop_inputs, dict):
        return check_crops(crop_inputs, found, graph.model.name)
    tolerance = check_tolerance(crop_inputs)
    require_croppable(graph, found)
    if batches is None:
        raise ValueError("`crop_inputs` as a tolerance needs `data`: a few batches of "
                         "(x, y) to measure which input positions the model reads.")
    boxes = {name: choose(position_scores(graph, name, batches), tolerance)
             for name in found}
    return {name: box for name, box in boxes.items() if box != _NO_CROP}


def kept_tiles(shape, box):
    """Flat indices (row-major) of the positions of a height x width map a crop keeps."""
    (top, bottom), (left, right) = box
    height, width = shape
    rows = np.arange(top, height - bottom)
    columns = np.arange(left, width - right)
    return (rows[:, None] * width + columns[None, :]).ravel()
