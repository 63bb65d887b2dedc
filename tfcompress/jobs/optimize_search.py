"""An optimize run's search: the plans its predictions judge, and the one it tries.

NetAdapt's narrowing path per file format on the measured predictions
(`budget.search`), from the model and, for a zoo model trained by a job,
from each of its variants (cheaper settings that keep its weights:
`models.variants`); for size, the int8 plans completed with per-layer zeros
(`budget.search.sparse_path`). Of the plans predicted to meet the targets
(each format's and variant's aim corrected by the files measured so far,
`budget.search.aimed`), the proposed models are fine-tuned briefly and the
most accurate is chosen (`budget.search.proposals`); the least summed loss
when there is one proposal, or with `--tune_steps=0`.
"""

import dataclasses
import json
import os
import time

from tfcompress import _atomic
from tfcompress import budget
from tfcompress import prune
from tfcompress import shrink
from tfcompress.budget import sensitivity as sensitivity_lib
from tfcompress.jobs import optimize_measure
from tfcompress.models import variants as model_variants

SEARCH_FILE = "search.json"


def search_spaces(job, narrow, tables, measured, variants):
    """[(variant, narrowing, tables)]: the model's own first, then each
    variant measured (its narrowing built from the variant's layers)."""
    spaces = [({}, narrow, tables)]
    record = measured.get("variants")
    if variants is None or not record:
        return spaces
    for variant in record["combinations"]:
        own_tables = {fmt: job.table(fmt, table) for fmt, table
                      in record["tables"][model_variants.label(variant)].items()}
        spaces.append((variant, shrink.narrowing(variants.build(variant)), own_tables))
    return spaces


def narrowing_paths(job, spaces, measured, aims):
    """Each format's and variant's narrowing path toward its aim; the
    tables gain the entries they need. A variant whose full-width plan
    another beats on every count (drop, latency, bytes) keeps that plan
    alone: narrowing it is not searched."""
    groups = sensitivity_lib.GroupSensitivity.from_json(measured["sensitivity"])
    costs = budget.format_costs({fmt: record["test_accuracy"]
                                 for fmt, record in measured["inputs"].items()})
    drops = (measured.get("variants") or {}).get("drops", {})
    paths = []
    for fmt in job.searched_formats:
        if fmt == "int4" and not measured.get("int4_bytes"):
            continue  # measured by a run that did not weigh int4
        format_paths = []
        for variant, narrow, tables in spaces:
            if variant and fmt not in tables:
                continue  # int4 plans keep the model's own settings
            table = (budget.Int4Bytes(tables["int8"], **measured["int4_bytes"])
                     if fmt == "int4" else tables[fmt])

            def predict(widths, table=table, narrow=narrow):
                layers = budget.latency_table.layers_at(narrow, widths)
                return {"latency_ms": table.predict(layers),
                        "size_bytes": table.predict_bytes(layers)}

            def loss_of(widths, cost=costs[fmt] + sensitivity_lib.variant_loss(
                    drops, variant)):
                return groups.loss_of(widths) + cost

            key = budget.search.aim_key(fmt, variant)

            def path_of(max_steps, narrow=narrow, predict=predict, loss_of=loss_of,
                        variant=variant, aim=aims.get(key, aims[fmt])):
                found = budget.search.narrowing_path(
                    narrow, predict, loss_of, aim, fmt, step=job.step(fmt),
                    max_steps=max_steps)
                return [dataclasses.replace(plan, variant=dict(variant))
                        for plan in found]
            format_paths.append((path_of(0), path_of))
        fronts = [start[0] for start, _ in format_paths]
        paths.extend(start if start[0].variant and _dominated(start[0], fronts)
                     else path_of(1000) for start, path_of in format_paths)
    if job.sparse_plans and measured.get("unstructured"):
        unstructured = prune.sensitivity.Sensitivity.from_json(measured["unstructured"])
        narrow = spaces[0][1]
        int8_path = next(path for path in paths if path[0].latency_format == "int8"
                         and not path[0].variant)

        counted = {}  # layer key -> kernels, across the path's width sets

        def kernels_of(widths):
            layers = budget.latency_table.layers_at(narrow, tuple(widths.values()))
            return budget.sparse_plan.kernels_at(layers, counted)

        paths.append(budget.search.sparse_path(int8_path, unstructured, kernels_of, aims,
                                               value_bytes=1))
    return paths


def search(job, run, folder, number, spaces, measured, targets, pairs, failed=(), *,
           tune=None, tuned=None):
    """Attempt `number`'s search: its aims, every plan judged, the one chosen
    (None if every plan is one of the `failed`).

    With `tune` (fn(plan) -> validation accuracy after a short fine-tune,
    `optimize_measure.proposal_tuning`), the plans predicted to meet the
    aims are not chosen on their summed drops alone: the proposed models
    (`budget.search.proposals`) are fine-tuned and the choice ranks them by
    that accuracy (`tuned_drop`). `tuned` ({model key: accuracy}) keeps
    those measured across the run's searches.

    Kept in attempts/N/search.json before the attempt trains: a resumed
    run takes the same plan (a search again would time new table
    entries, and timings vary).
    """
    tuned = {} if tuned is None else tuned
    path = os.path.join(folder, SEARCH_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        tuned.update({p["model"]: p["accuracy"] for p in record.get("proposals", [])})
        return record
    # Each format's aim, and each variant's that has files measured.
    aims = {key: budget.search.aimed(targets, pairs.get(key, []))
            for key in (*job.searched_formats, *pairs)}
    paths = narrowing_paths(job, spaces, measured, aims)
    # Plans whose file failed its export check are not tried again.
    left_out = {identity(plan) for plan in failed}
    paths = [[p for p in path if identity(p) not in left_out] for path in paths]
    paths = [path for path in paths if path]
    if not paths:
        return None
    plan = budget.search.choose(paths, aims)
    proposed = []
    if plan is not None and not plan.is_input and tune is not None:
        proposed = budget.search.proposals(paths, aims, optimize_measure.PROPOSALS)
    if len(proposed) < 2:
        proposed = []  # one model: nothing to rank
    if proposed:
        _tune_proposals(run, proposed, tune, tuned, job.tune_steps)
        paths = _with_tuned_drops(paths, measured, tuned)
        plan = budget.search.choose(paths, aims,
                                    score=lambda p: p.predicted.get("tuned_drop"))
    if plan is None:
        plan = budget.search.closest(paths, aims)
        run.log(f"No plan is predicted to meet {_aim_text(aims)}: trying the closest.")
    search = {"attempt": number, "aims": {fmt: aim.to_json() for fmt, aim in aims.items()},
              "plans": [p.to_json() for path in paths for p in path],
              "proposals": [{"model": budget.search.model_key(p),
                             "accuracy": tuned[budget.search.model_key(p)]}
                            for p in proposed],
              "chosen": plan.to_json()}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _atomic.write_json(path, search)
    return search


def _tune_proposals(run, proposed, tune, tuned, steps):
    """Fine-tunes the `proposed` plans' models not yet in `tuned`, logging each."""
    todo = [p for p in proposed if budget.search.model_key(p) not in tuned]
    run.log(f"Fine-tuning {len(todo)} of {len(proposed)} proposed models before choosing "
            f"({steps} training steps each, --tune_steps; the others were tuned for an "
            "earlier search): a summed drop ranks deep cuts poorly.")
    began, done = time.monotonic(), 0
    for index, plan in enumerate(proposed, 1):
        key = budget.search.model_key(plan)
        how = "tuned before"
        if key not in tuned:
            tuned[key] = tune(plan)
            done += 1
            elapsed = time.monotonic() - began
            how = f"{elapsed:.0f} s, about {elapsed / done * (len(todo) - done):.0f} s left"
        run.log(f"Proposal {index}/{len(proposed)}: {plan_text(plan)}: "
                f"{tuned[key]:.2%} validation accuracy (loss score "
                f"{plan.predicted['accuracy_drop']:.2f}); {how}.")


def _with_tuned_drops(paths, measured, tuned):
    """`paths` with "tuned_drop" in the predictions of the plans whose model
    was fine-tuned: the points below the input's validation accuracy after
    fine-tuning, in place of the summed group and setting drops, plus the
    plan's own format cost and zeros' loss."""
    groups = sensitivity_lib.GroupSensitivity.from_json(measured["sensitivity"])
    drops = (measured.get("variants") or {}).get("drops", {})

    def with_tuned(plan):
        accuracy = tuned.get(budget.search.model_key(plan))
        if accuracy is None:
            return plan
        summed = groups.loss_of(plan.widths) + sensitivity_lib.variant_loss(
            drops, plan.variant)
        tuned_drop = (100.0 * (groups.accuracy - accuracy)
                      + plan.predicted["accuracy_drop"] - summed)
        return dataclasses.replace(plan, predicted={**plan.predicted,
                                                    "tuned_drop": tuned_drop})
    return [[with_tuned(p) for p in path] for path in paths]


def plan_text(plan):
    """"widths a 8, b 16", after "settings stride_ms=32; " for a variant and,
    if it prunes, "; zeros a 90%, ..." (sparse file)."""
    text = "widths " + ", ".join(f"{name} {width}" for name, width in plan.widths.items())
    if plan.variant:
        text = f"settings {model_variants.label(plan.variant)}; {text}"
    if plan.sparsity:
        text += "; zeros " + ", ".join(f"{name} {value:.0%}"
                                       for name, value in plan.sparsity.items())
    return text


def identity(plan):
    """What makes two plans the same model: format, settings, widths, zeros."""
    return json.dumps([plan.latency_format, plan.variant, plan.widths, plan.sparsity],
                      sort_keys=True)


def _dominated(plan, others):
    """Whether another of `others` predicts no more drop, latency or bytes than
    `plan`, and less of one."""
    def counts(p):
        return (p.predicted["accuracy_drop"], p.predicted["latency_ms"],
                p.predicted["size_bytes"])
    mine = counts(plan)
    return any(all(a <= b for a, b in zip(counts(o), mine)) and counts(o) != mine
               for o in others if o is not plan)


def _aim_text(aims):
    """"the aim (int8: target_latency_ms 0.0009, ...)" in the tables' terms."""
    parts = []
    for fmt, aim in aims.items():
        goals = ", ".join(f"{budget.targets.FLAGS.get(name, name)} {value:.4g}"
                          for name, value in dataclasses.asdict(aim).items()
                          if value is not None)
        parts.append(f"{fmt}: {goals}")
    return "the aim (" + "; ".join(parts) + ", as the tables predict)"
