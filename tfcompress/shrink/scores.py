"""How much each channel of a group matters: the lowest go first.

- "l1" / "l2": the norm of every weight the channel touches, over the whole
  group (its filters in each producer, its input rows in each consumer), as
  Torch-Pruning's group magnitude importance (Fang et al., DepGraph, 2023).
- "bn": |gamma| of the batch norms that scale the channel (Network Slimming,
  Liu et al. 2017); a group without batch norm falls back to "l2".
- "taylor": |activation x gradient of the loss| summed over a few batches,
  per producer output (Molchanov et al. 2019), which needs data.
"""

import numpy as np
import tensorflow as tf

from tfcompress._keras import keras
from tfcompress.shrink import rules

CRITERIA = ("l1", "l2", "bn", "taylor")


def _norm_rows(weights, axis, positions, criterion):
    """Per channel: |w| or w^2 summed over the slices at `positions` along `axis`."""
    moved = np.moveaxis(np.asarray(weights, np.float64), axis, 0)
    values = np.abs(moved) if criterion == "l1" else np.square(moved)
    per_position = values.reshape(values.shape[0], -1).sum(axis=1)
    return per_position[positions].sum(axis=1)


def _weight_slices(layer, space, graph):
    """[(weights, axis, positions)] of `layer` where channels of `space` sit:
    the weights that make them (if `layer` does), its kernel that reads them."""
    rule = rules.rule_of(layer)
    weights = layer.get_weights()
    if rule is None or not rule.kernels or not weights:
        return []
    slices = []
    if space.owner == layer.name:
        positions = graph.outputs[layer.name].positions_of(space)
        slices += [(weight, axis, positions) for weight, axis in rule.makers(weights)]
    positions = graph.inputs[layer.name][0].positions_of(space)
    if positions.shape[1] and rule.kernel(0) is not None:
        index, axis = rule.kernel(0)
        slices.append((weights[index], axis, positions))
    return slices


def magnitude(graph, group, criterion):
    """Per channel of `group`: the l1 or l2 norm of every weight it touches."""
    total = np.zeros(group.size)
    for layer in graph.model.layers:
        for space in group.spaces:
            for weights, axis, positions in _weight_slices(layer, space, graph):
                total += _norm_rows(weights, axis, positions, criterion)
    return total if criterion == "l1" else np.sqrt(total)


def batch_norm_scale(graph, group):
    """Per channel: |gamma| summed over batch norms reading the group, or None."""
    total, found = np.zeros(group.size), False
    for layer, layout in graph.batch_norms():
        for space in group.spaces:
            positions = layout.positions_of(space)
            if positions.shape[1]:
                total += np.abs(layer.gamma.numpy())[positions].sum(axis=1)
                found = True
    return total if found else None


def taylor(graph, groups, data, loss_fn):
    """Per group: per channel |a * dL/da| of its producers' outputs, over `data`.

    Args:
      data: iterable of (x, y) batches.
      loss_fn: fn(y, logits) -> scalar loss.
    """
    model = graph.model
    producers = sorted({name for group in groups for name in group.producers})
    probe = keras.Model(model.inputs, [model.output] + [model.get_layer(name).output
                                                        for name in producers])
    sums = {name: 0.0 for name in producers}
    for x, y in data:
        with tf.GradientTape() as tape:
            logits, *features = probe(x, training=False)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, features)
        for name, feature, grad in zip(producers, features, grads, strict=True):
            contribution = tf.abs(feature * grad)
            axes = list(range(len(contribution.shape) - 1))
            sums[name] += tf.reduce_sum(contribution, axis=axes).numpy()
    return {id(group): np.zeros(group.size) + np.sum(
        [sums[name] for name in group.producers], axis=0, dtype=np.float64) for group in groups}
