"""An optimize run's folder as the pipeline report reads a pipeline's.

`tfcompress report` and `tfcompress compare` take either kind of run: an
optimize run's rows are the input model's float and int8 files, then each
attempt's file, read from the jobs' own summary.json files under input/
and attempts/, with the latencies its verification timed.
"""

import json
import os

from tfcompress import budget
from tfcompress.jobs import artifacts
from tfcompress.jobs import optimize_measure
from tfcompress.jobs import optimize_report
from tfcompress.pipeline import run_settings


def _read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def summary_of(run_dir):
    """The run's summary.json if it is an optimize run's, else None."""
    path = os.path.join(run_dir, artifacts.SUMMARY_FILE)
    if not os.path.isfile(path):
        return None
    summary = _read(path)
    return summary if "optimize" in summary else None


def _row(stage, summary, quantized, latency_ms):
    """A report row of one file: `summary` is its job's (quantize or shrink)."""
    params = summary.get("params", {})
    if quantized:
        tflite = summary["tflite"]
        sizes = {"tflite_bytes": tflite["bytes"], "tflite_gzip_bytes": tflite["gzip_bytes"]}
    else:
        size = summary["sizes"][artifacts.TFLITE_FILE]
        sizes = {"tflite_bytes": size["bytes"], "tflite_gzip_bytes": size["gzip_bytes"]}
    nonzero, total = params.get("nonzero"), params.get("total")
    return {"stage": stage, "params": total, "nonzero": nonzero, "macs": summary.get("macs"),
            **sizes, "keras_accuracy": summary["keras"]["test_accuracy"],
            "tflite_accuracy": summary["tflite"]["test_accuracy"],
            "sparsity": (1 - nonzero / total) if total and nonzero is not None else None,
            "latency_ms": latency_ms, "seconds": None}


def _quantize_summary(run_dir, own, source):
    """The quantize job's summary of the chosen file (None for a float file)."""
    chosen = own["chosen"]
    if chosen["plan"]["latency_format"] == "float":
        return None
    folder = os.path.dirname(chosen["file"])
    return source if folder == optimize_measure.INPUT_DIR else _read(
        os.path.join(run_dir, folder, artifacts.SUMMARY_FILE))


def build(run_dir, summary):
    """The report dict `pipeline.build_report` gives, for an optimize run."""
    own = summary["optimize"]
    source = _read(os.path.join(run_dir, optimize_measure.INPUT_DIR, artifacts.SUMMARY_FILE))
    reference = source["float_reference"]
    rows = [{**_row("input float", source, True, own["inputs"]["float"]["latency_ms"]),
             "tflite_bytes": reference["bytes"], "tflite_gzip_bytes": reference["gzip_bytes"],
             "tflite_accuracy": reference["test_accuracy"]},
            _row("input int8", source, True, own["inputs"]["int8"]["latency_ms"])]
    if "int4" in own["inputs"]:
        rows.append(_row("input int4", _read(os.path.join(
            run_dir, optimize_measure.INPUT_INT4_DIR, artifacts.SUMMARY_FILE)), True,
            own["inputs"]["int4"]["latency_ms"]))
    result = None
    for attempt in own["attempts"]:
        name = optimize_report.attempt_name(attempt)
        folder = os.path.dirname(attempt["file"])
        fmt = attempt["plan"]["latency_format"]
        # Their rows are above.
        if folder in (optimize_measure.INPUT_DIR, optimize_measure.INPUT_INT4_DIR):
            row = dict(next(r for r in rows if r["stage"] == f"input {fmt}"))
        else:
            row = _row(name, _read(os.path.join(run_dir, folder, artifacts.SUMMARY_FILE)),
                       fmt != "float", None)
        row.update(stage=name, latency_ms=attempt["measured"]["latency_ms"],
                   seconds=attempt.get("seconds"))
        rows.append(row)
        if attempt["number"] == own["chosen"]["number"]:
            result = row
    before = rows[0]
    ratios = {"smaller": before["tflite_gzip_bytes"] / result["tflite_gzip_bytes"],
              "faster": before["latency_ms"] / result["latency_ms"]}
    targets = budget.Targets.from_json(own["targets"])
    line = (f"input float -> {result['stage']}: "
            f"{'every target met' if own['met'] else own['miss']}; accuracy "
            f"{before['tflite_accuracy']:.2%} -> {result['tflite_accuracy']:.2%}")
    config = summary["config"]
    latency = {row["stage"]: {"median_ms": row["latency_ms"],
                              "num_threads": config["latency_threads"]} for row in rows}
    return {"stages": rows, "reference": before["stage"], "result": result["stage"],
            "ratios": ratios, "summary_line": line,
            "warnings": [],
            "settings": run_settings.read(
                {"tfcompress_version": own.get("tfcompress_version")}, config,
                _quantize_summary(run_dir, own, source), latency),
            "exported": None, "stage_seconds": {}, "options": None,
            "targets": targets.to_json()}


def write(run_dir, summary):
    """Rewrites the run's report.md and pareto.png; returns `build`'s report."""
    own = summary["optimize"]
    optimize_report.write(run_dir, own, budget.Targets.from_json(own["targets"]),
                          summary["config"]["latency_threads"])
    return build(run_dir, summary)
