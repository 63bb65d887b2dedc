"""An optimize run's search: the plans its predictions judge, and the one it tries.

NetAdapt's narrowing path per file format on the measured predictions
(`budget.search`), from the model and, for a zoo model trained by a job,
from each of its variants (cheaper settings that keep its weights:
`models.variants`); for size, the int8 plans completed with per-layer zeros
(`budget.search.sparse_path`). The plan is the least predicted loss that
meets the predicted targets, each format's and variant's aim corrected by
the files measured so far (`budget.search.aimed`).
"""

import dataclasses
import json
import os

from tfcompress import _atomic
from tfcompress import budget
from tfcompress import prune
from tfcompress import shrink
from tfcompress.budget import sensitivity as sensitivity_lib
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


def search(job, run, folder, number, spaces, measured, targets, pairs, failed=()):
    """Attempt `number`'s search: its aims, every plan judged, the one chosen
    (None if every plan is one of the `failed`).

    Kept in attempts/N/search.json before the attempt trains: a resumed
    run takes the same plan (a search again would time new table
    entries, and timings vary).
    """
    path = os.path.join(folder, SEARCH_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
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
    if plan is None:
        plan = budget.search.closest(paths, aims)
        run.log(f"No plan is predicted to meet {_aim_text(aims)}: trying the closest.")
    search = {"attempt": number, "aims": {fmt: aim.to_json() for fmt, aim in aims.items()},
              "plans": [p.to_json() for path in paths for p in path],
              "chosen": plan.to_json()}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _atomic.write_json(path, search)
    return search



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
