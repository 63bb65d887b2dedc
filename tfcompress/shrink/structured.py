"""Structured pruning: remove whole units, filters and channels.

Unlike magnitude pruning, which zeros weights in place, the result is a
smaller model (narrower layers, fewer MACs) that runs faster everywhere.
Which channels go together comes from `dependency`; which of them go first,
from `scores`; the new model from `surgery`.
"""

import dataclasses
import numbers

import numpy as np

from tfcompress._checks import check_positive_int
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.data import inputs as data_inputs
from tfcompress.evaluate import count_params
from tfcompress.evaluate.macs import count_macs
from tfcompress.evaluate.macs import layer_changes
from tfcompress.keras3 import accepts_keras3
from tfcompress.shrink import crop
from tfcompress.shrink import dependency
from tfcompress.shrink import growback
from tfcompress.shrink import latency as latency_lib
from tfcompress.shrink import rounding
from tfcompress.shrink import scores
from tfcompress.shrink import surgery

_SEARCH_STEPS = 10  # halvings of the uniform fraction: within 0.1% of the target
SEARCHES = ("uniform", "grow")
# Widenings a counted grow-back rebuilds and counts, in all: each is a model
# rebuild (MobileNetV2's 30-odd groups at round_to=4 took 9 minutes unbounded).
GROW_REBUILDS = 64


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
      fraction: fraction of channels removed from each group (before rounding);
        None for explicit `widths`.
      params: {"before", "after"} parameter counts.
      macs: {"before", "after"} MACs of one example.
      layers: [{"name", "type", "params_before", "params_after", "macs_before",
        "macs_after"}] per layer.
      pinned: [{"producers", "reason"}] of the groups left at full width.
      crops: {Flatten layer: ((top, bottom), (left, right))} of the map
        positions cropped before it (`crop_inputs`); {} for none.
      latency: for a latency target, the record `latency.search` returns
        (before_ms, after_ms, speedup, num_threads, every trial), updated by
        `latency.grow_back` when widths grew back (the widths reached, and
        grow_back_timings); else None.
      round_to: {"multiple": the widths' multiple, "from": "user", "default"
        or "auto: <why>" (`rounding.resolve`)}.
      search: how a target's widths were found, None for `fraction` and
        `widths`: {"method": "uniform" or "grow", "from": "user" or
        "default: ...", "cost": "macs", "params" or "latency_ms", "fraction":
        the uniform fraction, "start": {producer: width} after it, "steps":
        [{"group": producer, "width", "cost"}] per grow-back widening
        (cost after it: a fraction of the original's, or measured ms),
        "judged": widenings judged (for latency, files timed)}.
    """
    model: object
    groups: list
    fraction: float
    params: dict
    macs: dict
    layers: list
    pinned: list
    latency: dict = None
    crops: dict = dataclasses.field(default_factory=dict)
    round_to: dict = dataclasses.field(default_factory=lambda: {"multiple": 1,
                                                                "from": "default"})
    search: dict = None

    def to_json(self):
        return {"fraction": self.fraction, "params": self.params, "macs": self.macs,
                "round_to": dict(self.round_to),
                "crops": {name: [list(side) for side in box]
                          for name, box in self.crops.items()},
                "groups": [dataclasses.asdict(g) for g in self.groups],
                "layers": self.layers, "pinned": self.pinned, "latency": self.latency,
                "search": self.search}


def check_fraction(arg_name, value):
    """`value` as a float in (0, 1); ValueError naming `arg_name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"`{arg_name}` must be a number in (0, 1), got {value!r}.")
    return float(value)


def _keep_count(size, fraction, round_to, min_width):
    if fraction == 0:  # nothing removed: rounding must not narrow a whole group
        return size
    keep = size * (1.0 - fraction)
    keep = int(round_to * max(1, round(keep / round_to))) if round_to > 1 else int(round(keep))
    return int(min(size, max(keep, min_width, 1)))


def _importance(graph, groups, criterion, data):
    """{id(group): one score per channel, larger is more important}."""
    importance = {}
    if callable(criterion):
        for group in groups:
            values = np.asarray(criterion(graph, group), np.float64)
            if values.shape != (group.size,):
                raise ValueError(f"`criterion` returned scores of shape {values.shape} "
                                 f"for {group.producers}; it must return one score per "
                                 f"channel, shape ({group.size},).")
            importance[id(group)] = values
    elif criterion == "taylor":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        importance = scores.taylor(graph, groups, data, loss)
    for group in groups:
        if criterion == "bn":
            importance[id(group)] = scores.batch_norm_scale(graph, group)
        if importance.get(id(group)) is None:  # l1, l2, or "bn" without batch norm
            importance[id(group)] = scores.magnitude(
                graph, group, "l1" if criterion == "l1" else "l2")
    return importance


def _ranking(graph, groups, criterion, data):
    """{id(group): channel indices, most important first}."""
    return _order(_importance(graph, groups, criterion, data))


def _order(importance):
    """{id(group): channel indices, most important first}, from the scores."""
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


@dataclasses.dataclass
class Narrowing:
    """A model's prunable channel groups, and the model rebuilt at any of their widths.

    What a width search needs, inside `shrink` or outside it
    (`budget.search`): each group's name and size, and a rebuild that keeps
    each group's most important channels.

    Attributes:
      graph: the model's `dependency.DependencyGraph`.
      groups: its prunable `ChannelGroup`s, in the graph's order.
      ranking: {id(group): channel indices, most important first}.
      crops: {Flatten layer: crop box} applied by every rebuild (`crop`).
    """
    graph: object
    groups: list
    ranking: dict
    crops: dict = dataclasses.field(default_factory=dict)

    @property
    def names(self):
        """Each group's name: its first producer layer (`widths` keys)."""
        return [group.producers[0] for group in self.groups]

    @property
    def sizes(self):
        return tuple(group.size for group in self.groups)

    def build(self, group_widths):
        """The model with these widths, one per group in `groups` order."""
        chosen = {id(g): w for g, w in zip(self.groups, group_widths)}
        return surgery.rebuild_smaller(self.graph, _kept(self.groups, self.ranking, chosen),
                                       self.crops)

    def layers_at(self, group_widths, names):
        """The layers `names` as `build(group_widths)` makes them, without
        building it: {name: (layer class, config, input shape)}
        (`surgery.smaller_layers`)."""
        chosen = {id(g): w for g, w in zip(self.groups, group_widths)}
        return surgery.smaller_layers(self.graph, _kept(self.groups, self.ranking, chosen),
                                      names, self.crops)

    def widths_at(self, fraction, round_to=1, min_width=1):
        """The widths after removing `fraction` of every group (rounded, at least
        `min_width`)."""
        return tuple(_widths(self.groups, fraction, round_to, min_width).values())


@accepts_keras3("model")
def narrowing(model, *, criterion="l2", data=None, pinned=(), on_unknown="error"):
    """`Narrowing` of `model`: its groups, ranked by `criterion` (see `shrink`).

    Raises:
      ValueError: nothing can shrink, or a bad argument.
      dependency.UnfollowableLayersError: a layer the graph does not know.
    """
    require_keras2_model(model)
    graph = dependency.build(model, pinned=pinned, on_unknown=on_unknown)
    groups = _prunable_groups(graph, model)
    batches = data_inputs.as_batches(data, arg_name="data") if data is not None else None
    return Narrowing(graph, groups, _order(_importance(graph, groups, criterion, batches)))


def _prunable_groups(graph, model):
    groups = graph.prunable_groups()
    if not groups:
        raise ValueError(f"Nothing of {model.name!r} can shrink: every group of channels "
                         "is pinned (model outputs, pinned layers, or layers the graph "
                         "cannot see through).")
    return groups


def _check_widths(widths, groups, model_name):
    """{id(group): width} from {producer layer: width}."""
    if not isinstance(widths, dict) or not widths:
        raise ValueError(f"`widths` must map producer layer names to widths, got "
                         f"{widths!r}.")
    by_name = {name: group for group in groups for name in group.producers}
    unknown = sorted(set(widths) - set(by_name))
    if unknown:
        raise ValueError(f"`widths` names {unknown}, which make no prunable channels of "
                         f"{model_name!r}; the prunable producers are {sorted(by_name)}.")
    chosen = {}
    for name, width in widths.items():
        group = by_name[name]
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) \
                or not 1 <= width <= group.size:
            raise ValueError(f"`widths[{name!r}]` must be an int in [1, {group.size}], "
                             f"got {width!r}.")
        if chosen.get(id(group), width) != width:
            raise ValueError(f"`widths` gives {group.producers}, which shrink together, "
                             f"two widths: {chosen[id(group)]} and {width}.")
        chosen[id(group)] = int(width)
    return {id(group): chosen.get(id(group), group.size) for group in groups}


@accepts_keras3("model", returns_model=True)
def shrink(model, *, fraction=None, target_params=None, target_macs=None,
           target_latency_ms=None, widths=None, criterion="l2", data=None, round_to=None,
           min_width=1, pinned=(), on_unknown="error", latency_format="float",
           crop_inputs=None, search=None, latency_threads=2):
    """A smaller copy of `model`, without its least important channels.

    Give one target:

    - `fraction`: remove this fraction of the channels of every group (each
      Dense's units, each Conv's filters, residual branches together);
    - `target_params` / `target_macs`: keep at most this fraction of the
      parameters / MACs; the same fraction is removed from every group,
      found by bisection on the rebuilt model's own counts, then (`search`)
      groups grow back;
    - `target_latency_ms`: the same bisection on the batch-1 LiteRT latency
      of the exported `latency_format` file, measured on this machine at
      `latency_threads` threads (`latency.search`; seconds for a
      LeNet-300-100), then (`search`) groups grow back, timed likewise;
    - `widths`: {producer layer name: width}: every group one of whose
      producers is named gets exactly that width (`round_to` and
      `min_width` do not apply); groups not named stay whole.

    With `crop_inputs`, the border rows and columns of a map that a Flatten
    hands to Dense layers go too (an MLP's blank image borders): chosen
    before the target is sought, so they count toward it (`crop`).

    Args:
      model: tf_keras (or Keras 3) functional or Sequential model.
      fraction, target_params, target_macs: the target, in (0, 1).
      target_latency_ms: positive milliseconds, at batch 1.
      widths: {producer layer name: int in [1, group width]}.
      criterion: "l1", "l2" (group weight norms), "bn" (batch-norm scales),
        "taylor" (activation x gradient on `data`), or a callable
        fn(dependency_graph, group) -> [group.size] scores (larger stays).
      data: (x, y) arrays or a dataset of batches; "taylor" only (a few
        batches suffice).
      round_to: widths become multiples of this, unless a layer is narrower
        than it (then it stays whole). An int is used as given; "auto" is
        the channel tile of this machine's kernels for `latency_format`
        files (`runtime.kernel_tiles`: 16 on AVX-512); None (default) means
        "auto" for `target_latency_ms` and 1 for every other target. The
        result's `round_to` records which, and why.
      min_width: smallest width of any group, or {producer layer: width}.
      pinned: layers whose output width stays.
      on_unknown: "error" refuses layers without a `ChannelRule` (`register`
        gives one); "pin" keeps their channels (warning).
      latency_format: "float" or "int8" (calibrated on seeded noise), the
        file `target_latency_ms` times and whose kernels an automatic
        `round_to` follows.
      crop_inputs: None; a share in (0, 1) of the Dense layers' input (mean
        |x| times kernel-row norm, on `data`) the cropped border lines may
        carry, e.g. 0.01; or explicit {Flatten layer: ((top, bottom), (left,
        right))}.
      search: for `target_params`, `target_macs` and `target_latency_ms`:
        "uniform" keeps the bisection's widths (one fraction removed from
        every group); "grow" then widens one group by one `round_to` at a
        time, the widening that still meets the target and gives back the
        most importance (its share of the group's criterion scores) per
        unit of cost (the target's own: counted MACs or parameters, exact
        and deterministic, at most `GROW_REBUILDS` widenings; or
        milliseconds, each round's candidates timed in one interleaved call,
        at most `latency.GROW_TIMINGS` files), until
        none does (`growback`). None (default): "grow" when the widths are
        rounded (round_to > 1: the uniform path then has few stops, e.g. a
        16/32/64 CNN at a tile of 16: 16/16/16, 16/16/32, 16/32/48), else
        "uniform" (its fraction is already within 0.1% of the target). The
        result's `search` records how the widths were found.
      latency_threads: LiteRT threads `target_latency_ms` is timed at: the
        thread count the model will run with.

    Returns:
      `ShrinkResult`.

    Raises:
      ValueError: bad arguments, nothing that can shrink, a target that
        cannot be reached.
      dependency.UnfollowableLayersError: a layer the graph does not know.
    """
    require_keras2_model(model)
    targets = {"fraction": fraction, "target_params": target_params,
               "target_macs": target_macs, "target_latency_ms": target_latency_ms,
               "widths": widths}
    given = [name for name, value in targets.items() if value is not None]
    if len(given) != 1:
        raise ValueError("Give exactly one of `fraction`, `target_params`, `target_macs`, "
                         f"`target_latency_ms` and `widths`, got {given or 'none'}.")
    if not callable(criterion) and criterion not in scores.CRITERIA:
        raise ValueError(f"`criterion` must be one of {scores.CRITERIA} or a callable, "
                         f"got {criterion!r}.")
    if criterion == "taylor" and data is None:
        raise ValueError("criterion='taylor' needs `data`: a few batches of (x, y).")
    check_search(search)
    if search is not None and given[0] in ("fraction", "widths"):
        raise ValueError(f"`search`={search!r} applies to `target_params`, "
                         f"`target_macs` and `target_latency_ms`, not `{given[0]}`: "
                         "leave it out.")
    check_positive_int("latency_threads", latency_threads)
    round_to = rounding.check("round_to", round_to)
    if isinstance(min_width, dict):
        for name, width in min_width.items():
            check_positive_int(f"min_width[{name!r}]", width)
    else:
        check_positive_int("min_width", min_width)
    if target_latency_ms is not None:
        latency_lib.check(target_latency_ms, latency_format)
    elif latency_format not in latency_lib.FORMATS:
        raise ValueError(f"`latency_format` must be 'float' or 'int8', got "
                         f"{latency_format!r}.")
    round_to, round_to_from = rounding.resolve(round_to, target_latency_ms is not None,
                                               latency_format)
    graph = dependency.build(model, pinned=pinned, on_unknown=on_unknown)
    groups = _prunable_groups(graph, model)
    chosen = _check_widths(widths, groups, model.name) if widths is not None else None
    batches = data_inputs.as_batches(data, arg_name="data") if data is not None else None
    crops = crop.plan(graph, crop_inputs, batches)
    importance = _importance(graph, groups, criterion, batches)
    ranking = _order(importance)
    narrow = Narrowing(graph, groups, ranking, crops)
    build_widths = narrow.build

    def widths_at(uniform):
        return narrow.widths_at(uniform, round_to, min_width)

    def build(uniform):
        return build_widths(widths_at(uniform))

    before = count_macs(graph.model)
    params_before = count_params(graph.model)["total"]
    latency = how = None
    method, method_from = resolve_search(search, round_to)
    sizes = tuple(g.size for g in groups)
    gain_of = [growback.gains(importance[id(g)], ranking[id(g)]) for g in groups]
    names = [g.producers[0] for g in groups]
    if widths is not None:
        uniform, round_to, round_to_from = None, 1, "widths given: round_to does not apply"
        smaller = surgery.rebuild_smaller(graph, _kept(groups, ranking, chosen), crops)
    elif fraction is not None:
        uniform = check_fraction("fraction", fraction)
        smaller = build(uniform)
    elif target_latency_ms is not None:
        smaller, uniform, latency = latency_lib.search(
            graph.model, build, widths_at, target_latency_ms, latency_format,
            round_to=(round_to, round_to_from), num_threads=latency_threads)
        start = widths_at(uniform)
        steps, judged = [], 0
        if method == "grow":
            grown, latency, steps, judged = latency_lib.grow_back(
                graph.model, build_widths, start, sizes, round_to, gain_of, latency,
                num_threads=latency_threads)
            smaller = build_widths(grown) if steps else smaller
        how = _search_record(method, method_from, "latency_ms", uniform, names, start,
                             steps, judged)
    else:
        arg_name = "target_params" if target_params is not None else "target_macs"
        goal = check_fraction(arg_name, targets[arg_name])

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
                    "layers and minimum widths keep the rest"
                    + (f"; widths are multiples of {round_to}, {round_to_from}: a smaller "
                       "`round_to` may reach it" if round_to > 1 else "") + ").")
        uniform, start = high, widths_at(high)
        steps, judged = [], 0
        if method == "grow":
            def assess(current, candidates):
                costs = [cost(build_widths(candidate.widths)) for candidate in candidates]
                return None, costs, [c <= goal for c in costs]

            grown, _, steps, judged = growback.grow(start, sizes, round_to, gain_of, assess,
                                                    cost(smaller),
                                                    max_candidates=GROW_REBUILDS)
            smaller = build_widths(grown) if steps else smaller
        how = _search_record(method, method_from, arg_name[len("target_"):], uniform,
                             names, start, steps, judged)
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
        layers=layer_changes(graph.model, smaller), pinned=pinned_groups, latency=latency,
        crops=crops, round_to={"multiple": round_to, "from": round_to_from}, search=how)


def check_search(search):
    """Raises ValueError unless `search` is None, "uniform" or "grow"."""
    if search is not None and search not in SEARCHES:
        raise ValueError(f"`search` must be one of {SEARCHES} (or None: grow when "
                         f"round_to > 1), got {search!r}.")


def resolve_search(search, round_to):
    """(method, source): the user's, else grow for rounded widths."""
    if search is not None:
        return search, "user"
    if round_to > 1:
        return "grow", f"default: widths are multiples of {round_to}"
    return "uniform", "default: widths are not rounded"


def _search_record(method, method_from, cost, uniform, names, start, steps, judged):
    return {"method": method, "from": method_from, "cost": cost, "fraction": uniform,
            "start": dict(zip(names, map(int, start))),
            "steps": [{"group": names[step["group"]], "width": step["width"],
                       "cost": step["cost"]} for step in steps],
            "judged": judged}


def describe_search(record):
    """One line for the log: how a target's widths were found."""
    if not record:
        return "widths given, not searched"
    text = f"uniform fraction {record['fraction']:.4f} removed"
    if record["method"] == "uniform":
        return f"{text} ({record['from']})"
    unit = " ms" if record["cost"] == "latency_ms" else f" of the {record['cost']}"
    grown = "; ".join(f"{s['group']} -> {s['width']} ({s['cost']:.4g}{unit})"
                      for s in record["steps"]) or "no widening met the target"
    return (f"{text}, then {len(record['steps'])} grow-back steps of "
            f"{record['judged']} judged ({record['from']}): {grown}")
