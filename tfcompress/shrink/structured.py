"""Structured pruning: remove whole units, filters and channels.

Unlike magnitude pruning, which zeros weights in place, the result is a
smaller model (narrower layers, fewer MACs) that runs faster everywhere.
Which channels go together comes from `dependency`; which of them go first,
from `scores`; the new model from `surgery`.
"""

import dataclasses
import numbers

import numpy as np

from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.data import inputs as data_inputs
from tfcompress.evaluate import count_params
from tfcompress.evaluate.macs import count_macs
from tfcompress.keras3 import accepts_keras3
from tfcompress.shrink import dependency
from tfcompress.shrink import scores
from tfcompress.shrink import surgery

_SEARCH_STEPS = 10  # halvings of the uniform fraction: within 0.1% of the target


@dataclasses.dataclass
class GroupChange:
    """One group of coupled channels: its layers and the widths before and after."""
    producers: list
    before: int
    after: int


@dataclasses.dataclass
class ShrinkResult:
    """A shrunk model and what it cost.

    Attributes:
      model: the smaller tf_keras model (same inputs, outputs, layer names).
      groups: `GroupChange` per prunable group.
      fraction: fraction of channels removed from each group (before rounding).
      params: {"before", "after"} parameter counts.
      macs: {"before", "after"} MACs of one example.
      layers: [{"name", "type", "params_before", "params_after", "macs_before",
        "macs_after"}] per layer.
      pinned: [{"producers", "reason"}] of the groups left at full width.
    """
    model: object
    groups: list
    fraction: float
    params: dict
    macs: dict
    layers: list
    pinned: list

    def to_json(self):
        return {"fraction": self.fraction, "params": self.params, "macs": self.macs,
                "groups": [dataclasses.asdict(g) for g in self.groups],
                "layers": self.layers, "pinned": self.pinned}


def _check_fraction(arg_name, value, upper_open=True):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            0 < value < 1 if upper_open else 0 <= value < 1):
        raise ValueError(f"`{arg_name}` must be a number in (0, 1), got {value!r}.")
    return float(value)


def _check_int(arg_name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{arg_name}` must be an int >= 1, got {value!r}.")
    return value


def _keep_count(size, fraction, round_to, min_width):
    keep = size * (1.0 - fraction)
    keep = int(round_to * max(1, round(keep / round_to))) if round_to > 1 else int(round(keep))
    return int(min(size, max(keep, min_width, 1)))


def _ranking(graph, groups, criterion, data):
    """{id(group): channel indices, most important first}."""
    importance = {}
    if criterion == "taylor":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        importance = scores.taylor(graph, groups, data, loss)
    for group in groups:
        if criterion == "bn":
            importance[id(group)] = scores.batch_norm_scale(graph, group)
        if importance.get(id(group)) is None:  # l1, l2, or "bn" without batch norm
            importance[id(group)] = scores.magnitude(
                graph, group, "l1" if criterion == "l1" else "l2")
    # Stable: equal scores keep the lower index, so the result is reproducible.
    return {key: np.argsort(-value, kind="stable") for key, value in importance.items()}


def _widths(groups, fraction, round_to, min_width):
    widths = {}
    for group in groups:
        floor = max(min_width.get(name, 1) for name in group.producers) if isinstance(
            min_width, dict) else min_width
        widths[id(group)] = _keep_count(group.size, fraction, round_to, floor)
    return widths


def _kept(groups, ranking, widths):
    kept = {}
    for group in groups:
        channels = np.sort(ranking[id(group)][:widths[id(group)]])
        for space in group.spaces:
            kept[space] = channels
    return kept


def _per_layer(before, after):
    params_after = {row["name"]: row for row in after["layers"]}
    return [{"name": row["name"], "type": row["type"],
             "params_before": row["params"], "params_after": params_after[row["name"]]["params"],
             "macs_before": row["macs"], "macs_after": params_after[row["name"]]["macs"]}
            for row in before["layers"] if row["name"] in params_after]


@accepts_keras3("model")
def shrink(model, *, fraction=None, target_params=None, target_macs=None, criterion="l2",
           data=None, round_to=1, min_width=1, pinned=(), on_unknown="error"):
    """A smaller copy of `model`, without its least important channels.

    Give one target:

    - `fraction`: remove this fraction of the channels of every group (each
      Dense's units, each Conv's filters, residual branches together);
    - `target_params` / `target_macs`: keep at most this fraction of the
      parameters / MACs; the same fraction is removed from every group,
      found by bisection on the rebuilt model's own counts.

    Args:
      model: tf_keras (or Keras 3) functional or Sequential model.
      fraction, target_params, target_macs: the target, in (0, 1).
      criterion: "l1", "l2" (group weight norms), "bn" (batch-norm scales)
        or "taylor" (activation x gradient on `data`).
      data: (x, y) arrays or a dataset of batches; "taylor" only (a few
        batches suffice).
      round_to: widths become multiples of this (4 or 8 suit SIMD kernels),
        unless a layer is narrower than it.
      min_width: smallest width of any group, or {producer layer: width}.
      pinned: layers whose output width stays.
      on_unknown: "error" refuses layers the dependency graph does not know;
        "pin" keeps their channels (warning).

    Returns:
      `ShrinkResult`.

    Raises:
      ValueError: bad arguments, nothing that can shrink.
      dependency.UnfollowableLayersError: a layer the graph does not know.
    """
    require_keras2_model(model)
    given = [name for name, value in (("fraction", fraction), ("target_params", target_params),
                                      ("target_macs", target_macs)) if value is not None]
    if len(given) != 1:
        raise ValueError("Give exactly one of `fraction`, `target_params` and "
                         f"`target_macs`, got {given or 'none'}.")
    if criterion not in scores.CRITERIA:
        raise ValueError(f"`criterion` must be one of {scores.CRITERIA}, got {criterion!r}.")
    if criterion == "taylor" and data is None:
        raise ValueError("criterion='taylor' needs `data`: a few batches of (x, y).")
    _check_int("round_to", round_to)
    if isinstance(min_width, dict):
        for name, width in min_width.items():
            _check_int(f"min_width[{name!r}]", width)
    else:
        _check_int("min_width", min_width)
    graph = dependency.build(model, pinned=pinned, on_unknown=on_unknown)
    groups = graph.prunable_groups()
    if not groups:
        raise ValueError(f"Nothing of {model.name!r} can shrink: every group of channels "
                         "is pinned (model outputs, pinned layers, or layers the graph "
                         "cannot see through).")
    batches = data_inputs.as_batches(data, arg_name="data") if data is not None else None
    ranking = _ranking(graph, groups, criterion, batches)

    def build(uniform):
        kept = _kept(groups, ranking, _widths(groups, uniform, round_to, min_width))
        return surgery.rebuild_smaller(graph, kept)

    before = count_macs(graph.model)
    params_before = count_params(graph.model)["total"]
    if fraction is not None:
        uniform = _check_fraction("fraction", fraction)
        smaller = build(uniform)
    else:
        arg_name = "target_params" if target_params is not None else "target_macs"
        goal = _check_fraction(arg_name, target_params if target_params is not None
                               else target_macs)

        def cost(candidate):
            if target_params is not None:
                return count_params(candidate)["total"] / params_before
            return count_macs(candidate)["total"] / max(1, before["total"])

        low, high, smaller = 0.0, 1.0, None
        for _ in range(_SEARCH_STEPS):
            middle = (low + high) / 2
            candidate = build(middle)
            if cost(candidate) <= goal:
                high, smaller = middle, candidate
            else:
                low = middle
        if smaller is None:
            smaller = build(high)
            if cost(smaller) > goal:
                raise ValueError(
                    f"`{arg_name}`={goal!r} cannot be reached: with every group at its "
                    f"minimum width the model keeps {cost(smaller):.3f} of them (pinned "
                    "layers and minimum widths keep the rest).")
        uniform = high
    after = count_macs(smaller)
    changes = [GroupChange(producers=g.producers, before=g.size,
                           after=int(smaller.get_layer(g.producers[0]).get_output_shape_at(0)[-1]))
               for g in groups]
    pinned_groups = [{"producers": g.producers, "reason": g.pinned_by}
                     for g in graph.groups if not g.prunable and g.producers]
    return ShrinkResult(
        model=smaller, groups=changes, fraction=uniform,
        params={"before": params_before, "after": count_params(smaller)["total"]},
        macs={"before": before["total"], "after": after["total"]},
        layers=_per_layer(before, after), pinned=pinned_groups)
