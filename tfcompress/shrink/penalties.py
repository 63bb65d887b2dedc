"""Sparsity-inducing penalties: train channels toward zero before removing them.

- "group_lasso": the sum over channels of the l2 norm of every filter or unit
  that makes the channel, tied channels of a group (residual branches)
  counted as one (Wen et al. 2016, "Learning Structured Sparsity in Deep
  Neural Networks"; Yuan & Lin 2006).
- "bn_l1": the l1 norm of the batch-norm scales that follow prunable
  channels (Liu et al. 2017, "Network Slimming"); pair it with
  criterion="bn".

Each returns a zero-argument callable for `Model.add_loss`, so `fit` adds the
penalty to the loss on every step. Written here: neither TFMOT nor Keras has
structured penalties.
"""

import tensorflow as tf

from tfcompress.shrink import dependency
from tfcompress.shrink import rules

PENALTIES = ("group_lasso", "bn_l1")

# Keeps the square root differentiable at a channel that is exactly zero.
_EPSILON = 1e-12


def _squares(weight, axis):
    """Per position along `axis` of `weight`: the sum of its squares."""
    axis %= len(weight.shape)
    return tf.reduce_sum(tf.square(weight), axis=[a for a in range(len(weight.shape))
                                                  if a != axis])


def _channel_squares(layer):
    """Per output channel of a producer: the sum of squares of its weights."""
    return tf.add_n([_squares(weight, axis)
                     for weight, axis in rules.rule_of(layer).makers(layer.weights)])


def group_lasso(model, weight, *, pinned=(), on_unknown="error"):
    """weight x sum over prunable channels of ||the weights that make the channel||_2."""
    graph = dependency.build(model, pinned=pinned, on_unknown=on_unknown)
    groups = [[graph.model.get_layer(name) for name in group.producers]
              for group in graph.prunable_groups()]
    # `graph.model` is `model` itself unless nested models were inlined, whose
    # layers are the same objects: the penalty reads `model`'s variables.

    def penalty():
        total = 0.0
        for layers in groups:
            squares = tf.add_n([_channel_squares(layer) for layer in layers])
            total += tf.reduce_sum(tf.sqrt(squares + _EPSILON))
        return weight * total

    return penalty


def bn_l1(model, weight, *, pinned=(), on_unknown="error"):
    """weight x sum of |gamma| of the batch norms that read prunable channels."""
    graph = dependency.build(model, pinned=pinned, on_unknown=on_unknown)
    prunable = {id(space) for group in graph.prunable_groups() for space in group.spaces}
    norms = [layer for layer, layout in graph.batch_norms()
             if any(id(space) in prunable for space in layout.spaces())]
    if not norms:
        raise ValueError(f"`penalty` 'bn_l1' needs batch norms after prunable channels, "
                         f"and {model.name!r} has none: use 'group_lasso'.")

    def penalty():
        return weight * tf.add_n([tf.reduce_sum(tf.abs(layer.gamma)) for layer in norms])

    return penalty


def make(name, model, weight, **graph_options):
    """The penalty `name` (see `PENALTIES`) of `model`, times `weight`."""
    if name not in PENALTIES:
        raise ValueError(f"`penalty` must be one of {PENALTIES}, got {name!r}.")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
        raise ValueError(f"`penalty_weight` must be a positive number, got {weight!r}.")
    return {"group_lasso": group_lasso, "bn_l1": bn_l1}[name](model, weight,
                                                             **graph_options)
