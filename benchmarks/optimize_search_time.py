"""How long `tfcompress optimize` takes to search its plans, and what it found.

Reads a finished (or stopped) optimize run's measurements (--run: its
output folder; nothing is measured or trained again) and times the
search of its first attempt two ways, in alternating rounds:

- "built": as before this benchmark's commit: every width set's model built (a Keras functional construction) to look its layers up, and
  every new layer width converted to a file for its bytes;
- "direct": as `optimize` does now: layers looked up without building the
  model (`budget.latency_table.layers_at`), and, in a table that times
  nothing (a size budget), a new width's bytes fitted on its family's
  measured files where they settle them (`budget.layer_bytes`).

Prints the seconds of each, the plans each judged, and how far their
predictions differ for the same widths.

    .venv/bin/python benchmarks/optimize_search_time.py --run=W/opt_fsdd_v/tight16
"""

import json
import os
import time
import types
from unittest import mock

from absl import app
from absl import flags

from tfcompress import budget
from tfcompress import export
from tfcompress import keras3
from tfcompress import quiet
from tfcompress import shrink
from tfcompress.jobs import optimize
from tfcompress.jobs import optimize_measure

_RUN = flags.DEFINE_string("run", None, "An optimize run's output folder.", required=True)
_ROUNDS = flags.DEFINE_integer("rounds", 1, "Rounds of both ways, alternating.",
                               lower_bound=1)


def _zero_timer(files, latency_format, num_threads):
    del latency_format, num_threads
    return {name: 0.0 for name in files}


def _built_layers(narrow, widths):
    return budget.latency_table.table_layers(narrow.build(widths))


def _search(job, narrow, measured, way):
    """{plan key: predicted} of the first attempt's paths, and the seconds taken."""
    make_table = job.table
    if way == "built":  # the old way: converts every layer, builds every model
        timer = budget.latency_table.time_files if job.timed else _zero_timer

        def make_table(fmt, record=None):
            return budget.LatencyTable.from_json(record, timer=timer)
    began = time.monotonic()
    with mock.patch.object(job, "table", make_table), mock.patch.object(
            budget.latency_table, "layers_at",
            _built_layers if way == "built" else budget.latency_table.layers_at):
        tables = {fmt: make_table(fmt, record) for fmt, record in measured["tables"].items()}
        spaces = job._spaces(narrow, tables, measured, job._variants)
        aims = {fmt: budget.search.aimed(job.targets, []) for fmt in job.searched_formats}
        paths = job._paths(spaces, measured, aims)
    seconds = time.monotonic() - began
    plans = {json.dumps([p.latency_format, p.widths, p.variant, p.sparsity],
                        sort_keys=True): p.predicted for path in paths for p in path}
    return plans, seconds


def main(argv):
    del argv
    with open(os.path.join(_RUN.value, "summary.json"), encoding="utf-8") as f:
        config = json.load(f)["config"]
    with open(os.path.join(_RUN.value, optimize_measure.MEASUREMENTS_FILE),
              encoding="utf-8") as f:
        measured = json.load(f)
    job = optimize.OptimizeJob(
        model=config["model"], target_latency_ms=config["target_latency_ms"],
        target_size_kb=config["target_size_kb"],
        max_accuracy_drop=config["max_accuracy_drop"], formats=config["formats"],
        latency_threads=config["latency_threads"], round_to=config["round_to"])
    path = config["model"]
    model = (export.load_keras_model(path) if not export.saved_by_keras3(path, "model")
             else keras3.convert(export.load_keras3_file(path, arg_name="model"),
                                        arg_name="model").model)
    narrow = shrink.narrowing(model)
    job._variants = job._variants_of(types.SimpleNamespace(log=print), model)
    rows = {}
    for number in range(_ROUNDS.value):
        for way in (("built", "direct") if number % 2 == 0 else ("direct", "built")):
            plans, seconds = _search(job, narrow, measured, way)
            rows.setdefault(way, []).append(seconds)
            rows[way + " plans"] = plans
    built, direct = rows["built plans"], rows["direct plans"]
    shared = set(built) & set(direct)
    differences = [abs(built[k]["size_bytes"] - direct[k]["size_bytes"]) for k in shared]
    print(f"| way | seconds (each round) | plans judged |\n|---|---|---|")
    for way in ("built", "direct"):
        print(f"| {way} | {', '.join(f'{s:.1f}' for s in rows[way])} | "
              f"{len(rows[way + ' plans'])} |")
    print(f"\nPlans both judged: {len(shared)}; predicted bytes differ by at most "
          f"{max(differences, default=0)} (mean {sum(differences) / max(1, len(differences)):.1f})"
          f"; latency equal in all: "
          f"{all(built[k]['latency_ms'] == direct[k]['latency_ms'] for k in shared)}.")


if __name__ == "__main__":
    quiet.start()
    app.run(main)
