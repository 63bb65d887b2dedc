"""The plan for a budget: widths and a file format, chosen from predictions alone.

NetAdapt's search (Yang et al. 2018, arXiv:1804.03230, algorithm 1): start
from the full model and narrow one group at a time by one kernel tile,
each step taking the narrowing that loses the least accuracy per unit of
cost saved, until the predicted costs meet the targets. Costs come from
lookup tables (`LatencyTable`: a file's latency and bytes as the sum of
its layers'), accuracy from per-group sensitivity (`loss_of`), so
thousands of width sets are judged without training, converting or
timing any of them. Every step is kept: the path is the predicted
frontier of that file format, which `frontier.json` records.

NetAdapt fine-tunes each step's proposals briefly and keeps the most
accurate; here the steps are judged on the sensitivity measured once, and
the plans that end up meeting the targets are the proposals (`proposals`):
the caller fine-tunes their models and `choose` ranks them by that. The
chosen plan alone is trained (recovery by distillation) and then verified
by measuring its file. A
miss is corrected by searching again against the targets mapped through
the files measured so far (`aimed`). Hand-written: no library searches Keras channel groups
against LiteRT lookup tables.
"""

import dataclasses
import json

from tfcompress.budget import sparse_plan
from tfcompress.models import variants

# A narrowing that saves no cost (the kernels pad to the tile) is taken
# only when nothing saves any: it then counts as saving this share.
_NO_SAVING = 1e-9


@dataclasses.dataclass
class Plan:
    """Widths, zeros and a file format, with what they are predicted to cost.

    Attributes:
      latency_format: "float", "int8" or "int4", the file the plan exports.
      widths: {group name (its first producer layer): width}.
      predicted: {"latency_ms", "size_bytes", "accuracy_drop"} (points).
      step: the step of its format's path (0: the full widths).
      sparsity: {layer path: sparsity} pruned after narrowing, the file
        written in TFLite's sparse encoding ({}: dense).
      variant: {spec keyword: value} of a zoo model's variant
        (`models.variants`), built before narrowing ({}: the model's own
        settings); its widths are the variant's groups'.
    """
    latency_format: str
    widths: dict
    predicted: dict
    step: int = 0
    sparsity: dict = dataclasses.field(default_factory=dict)
    variant: dict = dataclasses.field(default_factory=dict)

    @property
    def is_input(self):
        """Whether the plan is the input model itself (own settings, full widths, dense)."""
        return self.step == 0 and not self.sparsity and not self.variant

    @property
    def aim_key(self):
        """The key of the plan's aim: its format, and its variant's settings if
        any ("int8", "int8 blocks=2,window_ms=16"). Each variant's file has its
        own frontend and prediction error, so its aim is corrected by its own
        measured files only (`aimed`)."""
        return aim_key(self.latency_format, self.variant)

    def changes(self):
        """How many changes the plan makes: narrowings, pruned layers, variant settings."""
        return self.step + len(self.sparsity) + len(self.variant)

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, record):
        return cls(**record)


def aim_key(latency_format, variant):
    """`Plan.aim_key` of a plan of this format and variant."""
    return f"{latency_format} {variants.label(variant)}" if variant else latency_format


def _narrower(width, step, least):
    """The next multiple of `step` below `width`, at least `least`; None below that."""
    narrower = (width - 1) // step * step
    return narrower if narrower >= least and narrower >= 1 else None


def _worst_ratio(predicted, targets):
    """The largest predicted/target over the latency and size targets (1 or below: met)."""
    ratios = []
    if targets.latency_ms is not None:
        ratios.append(predicted["latency_ms"] / targets.latency_ms)
    if targets.size_kb is not None:
        ratios.append(predicted["size_bytes"] / (1000 * targets.size_kb))
    return max(ratios) if ratios else None


def narrowing_path(narrow, predict, loss_of, targets, latency_format, *, step,
                   min_width=None, max_steps=1000):
    """The path of `latency_format` plans from the full model, one narrowing per step.

    Args:
      narrow: `shrink.Narrowing` of the model.
      predict: fn(widths, one per group of `narrow`) -> {"latency_ms",
        "size_bytes"} of that model's `latency_format` file (the lookup
        tables, on `latency_table.layers_at`: no model is built).
      loss_of: fn({group name: width}) -> predicted accuracy drop, points,
        of the model at those widths in this format (sensitivity, plus the
        format's own cost).
      targets: `Targets`. With a latency or size target, the path narrows
        until the worse of the two predicted ratios is met, each step saving
        the most of it per point lost; with the accuracy drop alone, it
        narrows while the drop stays within the budget, saving latency.
      step: the tile every width is a multiple of (a group narrower than it
        stays whole).
      min_width: no group below this (default: `step`).
      max_steps: a bound on the narrowings.

    Returns:
      [Plan], the full model first; the last plan meets the predicted cost
      targets if any plan on the path does.
    """
    least = min_width or step
    names = narrow.names
    cache = {}

    def judge(widths):
        if widths not in cache:
            by_name = dict(zip(names, widths))
            cost = predict(widths)
            cache[widths] = {"latency_ms": float(cost["latency_ms"]),
                             "size_bytes": int(round(cost["size_bytes"])),
                             "accuracy_drop": float(loss_of(by_name))}
        return cache[widths]

    def cost_of(predicted):
        ratio = _worst_ratio(predicted, targets)
        return predicted["latency_ms"] if ratio is None else ratio

    widths = tuple(narrow.sizes)
    path = [Plan(latency_format, dict(zip(names, widths)), judge(widths), 0)]
    cost_only = targets.latency_ms is not None or targets.size_kb is not None
    for number in range(1, max_steps + 1):
        current = path[-1].predicted
        if cost_only and cost_of(current) <= 1.0:
            break
        best = None
        for index, width in enumerate(widths):
            narrower = _narrower(width, step, least)
            if narrower is None:
                continue
            candidate = widths[:index] + (narrower,) + widths[index + 1:]
            predicted = judge(candidate)
            saved = max(cost_of(current) - cost_of(predicted), _NO_SAVING)
            lost = max(predicted["accuracy_drop"] - current["accuracy_drop"], 0.0)
            value = (lost / saved, -saved)  # least lost per cost saved; ties: most saved
            if best is None or value < best[0]:
                best = (value, candidate, predicted)
        if best is None:
            break
        _, candidate, predicted = best
        if not cost_only and predicted["accuracy_drop"] > targets.max_accuracy_drop:
            break
        widths = candidate
        path.append(Plan(latency_format, dict(zip(names, widths)), predicted, number))
    return path


def sparse_path(path, sensitivity, kernels_of, aims, value_bytes):
    """The plans of `path` over their size aim, each completed with per-layer zeros.

    For each plan whose predicted bytes exceed the aim's `size_kb`, the
    per-layer sparsities that save the rest (`sparse_plan.plan`), their
    points added to the plan's predicted drop: a wide plan with zeros may
    lose less than a narrower dense one. Latency is left as the dense
    plan's: sparse files are for size budgets without a latency target
    (LiteRT runs them without XNNPACK).

    Args:
      path: [Plan] of one format (`narrowing_path`).
      sensitivity: `prune.sensitivity.Sensitivity` of the input model.
      kernels_of: fn(widths) -> `sparse_plan.kernels` of the model at them.
      aims: `Targets` or {format: Targets}, with a `size_kb`.
      value_bytes: bytes per stored weight in the format (int8: 1).

    Returns:
      [Plan] with `sparsity`, in the path's order; plans no sparsity
      brings under the aim are left out.
    """
    completed = []
    for plan in path:
        aim = _aim_of(aims, plan)
        over = plan.predicted["size_bytes"] - 1000 * aim.size_kb
        if over <= 0:
            continue
        planned = sparse_plan.plan(sensitivity, kernels_of(plan.widths), over, value_bytes)
        if planned is None:
            continue
        sparsities, saved, lost = planned
        predicted = {**plan.predicted,
                     "size_bytes": int(plan.predicted["size_bytes"] - saved),
                     "accuracy_drop": plan.predicted["accuracy_drop"] + lost}
        completed.append(dataclasses.replace(plan, predicted=predicted, sparsity=sparsities))
    return completed


def _aim_of(aims, plan):
    """The plan's aim: `aims` itself, or its `aim_key`'s entry, else its format's."""
    if not isinstance(aims, dict):
        return aims
    return aims.get(plan.aim_key, aims[plan.latency_format])


def _rank(plan, drop=None):
    """Least drop, then the fastest, then the fewest changes (ties: an untimed
    size search predicts 0 ms; the input's own file needs nothing trained)."""
    return (plan.predicted["accuracy_drop"] if drop is None else drop,
            plan.predicted["latency_ms"], plan.changes())


def _meeting(paths, aims):
    """The plans predicted to meet their cost aims."""
    return [p for path in paths for p in path
            if _worst_ratio(p.predicted, _aim_of(aims, p)) <= 1.0]


def has_cost_aim(paths, aims):
    """Whether any plan's aim has a latency or size target."""
    return any(_aim_of(aims, p).latency_ms is not None or _aim_of(aims, p).size_kb is not None
               for path in paths for p in path)


def choose(paths, aims, score=None):
    """The plan to train, or None if no plan is predicted to meet its aim.

    With a latency or size target: of the plans predicted to meet them, the
    one of least predicted accuracy drop (then the fastest, then the fewest
    changes). The drop is
    predicted before recovery, so an accuracy target is judged on the
    trained file, not here. With the accuracy drop alone: the fastest plan
    predicted within it.

    Args:
      paths: [[Plan]] (one path per file format and variant).
      aims: `Targets`, or {aim key: Targets} (`aimed`: each format's, and
        each variant's, targets in its tables' terms; `Plan.aim_key`, a
        format's entry for a key not given).
      score: fn(plan) -> the drop to rank a plan meeting a cost aim by, or
        None to leave it out (default: its predicted drop).
    """
    plans = [plan for path in paths for plan in path]
    if not has_cost_aim(paths, aims):
        within = [p for p in plans
                  if p.predicted["accuracy_drop"] <= _aim_of(aims, p).max_accuracy_drop]
        return min(within, key=lambda p: (p.predicted["latency_ms"],
                                          p.predicted["accuracy_drop"]), default=None)
    score = score or (lambda plan: plan.predicted["accuracy_drop"])
    scored = [(p, score(p)) for p in _meeting(paths, aims)]
    return min(((p, d) for p, d in scored if d is not None),
               key=lambda pair: _rank(*pair), default=(None, None))[0]


def model_key(plan):
    """The model a plan trains, whatever its file format and zeros: its
    variant's settings and its widths."""
    return json.dumps([plan.variant, plan.widths], sort_keys=True)


def proposals(paths, aims, count):
    """The models worth a short fine-tune before the choice: NetAdapt
    fine-tunes each of its proposals briefly and keeps the most accurate
    (Yang et al. 2018, section 3.2), since a drop measured before recovery,
    or summed over groups, ranks deep cuts poorly.

    Of the plans predicted to meet their cost aims (one plan per model,
    `model_key`), the least predicted drop; then, for each variant setting
    (`Plan.variant`'s keywords: blocks, window, ...) and each of its values
    among them (the model's own included), the least predicted drop with
    that value, so that a setting the summed drops misjudge is still tried;
    then the next least until `count` models.

    Returns:
      [Plan], one per model, the least predicted drop first.
    """
    first = {}
    for plan in sorted(_meeting(paths, aims), key=_rank):
        first.setdefault(model_key(plan), plan)
    ranked = list(first.values())
    picked = {}
    for plan in ranked[:1]:
        picked[model_key(plan)] = plan
    for keyword in sorted({k for p in ranked for k in p.variant}):
        seen = set()
        for plan in ranked:  # the least drop of each value, None the model's own
            value = plan.variant.get(keyword)
            if value not in seen:
                seen.add(value)
                picked.setdefault(model_key(plan), plan)
    for plan in ranked:
        if len(picked) >= count:
            break
        picked.setdefault(model_key(plan), plan)
    return sorted(picked.values(), key=_rank)


def closest(paths, aims):
    """The plan nearest to meeting its predicted cost aim (the last of the best path)."""
    ends = [path[-1] for path in paths if path]
    return min(ends, key=lambda p: (_worst_ratio(p.predicted, _aim_of(aims, p)) or 0.0,
                                    p.predicted["accuracy_drop"]))


def _predicted_at(target, pairs):
    """The predicted value whose file would measure `target`, from (predicted,
    measured) pairs: between the two pairs that bracket it, on the line through
    them (a secant step); outside them, scaled by the nearest pair's ratio."""
    pairs = sorted(pairs, key=lambda pair: pair[1])
    below = [pair for pair in pairs if pair[1] <= target]
    above = [pair for pair in pairs if pair[1] > target]
    if below and above:
        (p_low, m_low), (p_high, m_high) = below[-1], above[0]
        if m_high > m_low and p_high > p_low:
            return p_low + (target - m_low) * (p_high - p_low) / (m_high - m_low)
    predicted, measured = below[-1] if below else above[0]
    return target * predicted / measured


def aimed(targets, pairs):
    """`targets` in one format's predicted terms, from its files measured so far.

    The tables' predictions are off by a factor that varies with the widths
    (a microsecond-scale file is mostly invoke overhead the layer sums miss).
    NetAdapt corrects its target by the last measurement's error; with two or
    more files of the format measured, the target is mapped through the two
    that bracket it instead, so the next plan lands between known points
    rather than overshooting to the narrowest.

    Args:
      targets: the user's `Targets`.
      pairs: [(predicted, measured)] of this format's attempts, each a dict
        with "latency_ms" and "size_bytes".
    """
    if not pairs:
        return targets
    changes = {}
    if targets.latency_ms is not None:
        changes["latency_ms"] = _predicted_at(
            targets.latency_ms, [(p["latency_ms"], m["latency_ms"]) for p, m in pairs])
    if targets.size_kb is not None:
        changes["size_kb"] = _predicted_at(
            1000 * targets.size_kb,
            [(p["size_bytes"], m["size_bytes"]) for p, m in pairs]) / 1000
    return dataclasses.replace(targets, **changes)
