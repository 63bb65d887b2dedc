"""The pipeline report: one record per stage, read back from the run folder.

Everything comes from files the stages wrote (summary.json of each job,
evaluate/evaluation.json, pipeline.json), so `tfcompress report RUN_DIR`
rebuilds the same report without rerunning anything.
"""

import json
import os

from tfcompress import _atomic
from tfcompress.evaluate import ratios as ratio_words
from tfcompress.jobs import artifacts
from tfcompress.pipeline import findings
from tfcompress.pipeline import optimize_runs
from tfcompress.pipeline import plots
from tfcompress.pipeline import run_settings
from tfcompress.pipeline import stages as stages_lib

REPORT_JSON = "report.json"
REPORT_MD = "report.md"

_COLUMNS = (
    ("stage", "stage", "{}"),
    ("params", "params", "{:,}"),
    ("nonzero", "non-zeros", "{:,}"),
    ("sparsity", "sparsity", "{:.1%}"),
    ("macs", "MACs", "{:,}"),
    ("tflite_bytes", "TFLite KiB", "{:.1f}", 1 / 1024),
    ("tflite_gzip_bytes", "gzipped KiB", "{:.1f}", 1 / 1024),
    ("keras_accuracy", "Keras acc", "{:.2%}"),
    ("tflite_accuracy", "TFLite acc", "{:.2%}"),
    ("latency_ms", "latency ms (batch 1)", "{:.4f}"),
    ("seconds", "time s", "{:.0f}"),
)
# Shown after "TFLite acc" when a stage has it: only 2-class models do.
_F1_COLUMN = ("tflite_f1", "TFLite F1", "{:.3f}")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _maybe(path):
    return _read(path) if os.path.isfile(path) else None


def _stage_record(stage, summary, records):
    """One table row from a job's summary.json."""
    if stage == "quantize":
        tflite = summary["tflite"]
        if "params" in summary:  # counted on the float weights the job trained
            params, nonzero = summary["params"]["total"], summary["params"]["nonzero"]
        else:  # a summary from before that count: zeros read off the TFLite file
            source = records.get(os.path.basename(os.path.dirname(summary["config"]["model"])))
            params = source["params"] if source else None
            zeros = sum(w["zeros"] for w in summary["tflite_weights"]["tensors"].values())
            nonzero = params - zeros if params is not None else None
        return {"params": params, "nonzero": nonzero, "macs": summary.get("macs"),
                "tflite_bytes": tflite["bytes"], "tflite_gzip_bytes": tflite["gzip_bytes"],
                "keras_accuracy": summary["keras"]["test_accuracy"],
                "tflite_accuracy": tflite["test_accuracy"],
                "mode": summary["config"]["mode"]}
    size = summary["sizes"][artifacts.TFLITE_FILE]
    return {"params": summary["params"]["total"], "nonzero": summary["params"]["nonzero"],
            "macs": summary.get("macs"),  # summaries from before MACs were counted: -
            "tflite_bytes": size["bytes"], "tflite_gzip_bytes": size["gzip_bytes"],
            "keras_accuracy": summary["keras"]["test_accuracy"],
            "tflite_accuracy": summary["tflite"]["test_accuracy"]}


def _f1_fields(summary):
    """A 2-class stage's F1 (Keras, TFLite) and positive class; {} for other tasks."""
    fields = {}
    for side in ("keras", "tflite"):
        section = summary.get(side, {})
        if "test_f1" in section:
            fields[f"{side}_f1"] = section["test_f1"]
            fields["positive_class"] = section["positive_class"]
    return fields


def build_report(run_dir):
    """The report dict of a run folder, a pipeline's or an optimize run's
    (raises FileNotFoundError if empty)."""
    optimized = optimize_runs.summary_of(run_dir)
    if optimized is not None:
        return optimize_runs.build(run_dir, optimized)
    pipeline = (_maybe(os.path.join(run_dir, stages_lib.PIPELINE_FILE))
                or {"stage_seconds": {}})
    evaluation = _maybe(os.path.join(stages_lib.stage_dir(run_dir, "evaluate"),
                                     stages_lib.EVALUATION_FILE))
    latency = (evaluation or {}).get("latency", {})
    records = {}
    config, quantize_summary = {}, None
    for stage in stages_lib.MODEL_STAGES:
        summary_path = os.path.join(stages_lib.stage_dir(run_dir, stage),
                                    artifacts.SUMMARY_FILE)
        if not os.path.isfile(summary_path):
            continue
        summary = _read(summary_path)
        config = summary.get("config", config)
        if stage == "quantize":
            quantize_summary = summary
        record = {**_stage_record(stage, summary, records), **_f1_fields(summary)}
        params, nonzero = record["params"], record["nonzero"]
        record["sparsity"] = (1 - nonzero / params) if params and nonzero is not None \
            else None
        record["latency_ms"] = latency.get(stage, {}).get("median_ms")
        record["seconds"] = pipeline["stage_seconds"].get(stage)
        records[stage] = {"stage": stage, **record}
    if not records:
        raise FileNotFoundError(f"{run_dir!r} holds no finished pipeline stage "
                                "(no <stage>/summary.json).")
    # The reference is the model as it was before compression: the baseline,
    # else the first stage that ran; the result is the last stage.
    rows = list(records.values())
    compressed = [r for r in rows if r["stage"] != "teacher"] or rows
    before, after = compressed[0], compressed[-1]
    if "baseline" in records:
        before = records["baseline"]
    # Both before / after: above 1 is smaller and faster, below 1 larger and slower.
    ratios = {
        "smaller": before["tflite_gzip_bytes"] / after["tflite_gzip_bytes"],
        "faster": (before["latency_ms"] / after["latency_ms"]
                   if before["latency_ms"] and after["latency_ms"] else None),
    }
    line = (f"{before['stage']} -> {after['stage']}: "
            f"{ratio_words.smaller_or_larger(ratios['smaller'])} (gzipped TFLite), "
            + (f"{ratio_words.faster_or_slower(ratios['faster'])} (batch 1), "
               if ratios["faster"] else "")
            + f"accuracy {before['tflite_accuracy']:.2%} -> {after['tflite_accuracy']:.2%}")
    return {"stages": rows, "reference": before["stage"], "result": after["stage"],
            "ratios": ratios, "summary_line": line,
            "warnings": findings.warnings_of(rows, latency),
            "settings": run_settings.read(pipeline, config, quantize_summary, latency),
            "exported": (evaluation or {}).get("exported"),
            "stage_seconds": pipeline["stage_seconds"],
            "options": pipeline.get("options")}


def format_warnings(report):
    """The report's warnings, one "Warning: ..." line each ("" when none)."""
    return "\n".join(f"Warning: {w['message']}" for w in report["warnings"])


def _cell(record, column):
    key, _, fmt = column[:3]
    value = record.get(key)
    if value is None:
        return "-"
    return fmt.format(value * column[3] if len(column) > 3 else value)


def _has_f1(report):
    return any(r.get("tflite_f1") is not None for r in report["stages"])


def _table_columns(report):
    """`_COLUMNS`, with the F1 column after TFLite accuracy if a stage has an F1."""
    if not _has_f1(report):
        return _COLUMNS
    after = [c[0] for c in _COLUMNS].index("tflite_accuracy") + 1
    return _COLUMNS[:after] + (_F1_COLUMN,) + _COLUMNS[after:]


def format_table(report):
    """The stage table as Markdown."""
    columns = _table_columns(report)
    lines = ["| " + " | ".join(c[1] for c in columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r, c) for c in columns) + " |"
              for r in report["stages"]]
    return "\n".join(lines)


def _f1_note(report):
    """Which class the F1 column is of."""
    classes = sorted({r["positive_class"] for r in report["stages"]
                      if "positive_class" in r})
    return (f"F1 is of the positive class, class {', '.join(map(str, classes))}: the "
            "minority class of the test labels (class 1 on a tie).")


def write_report(run_dir):
    """Writes report.json, report.md and the plots; returns the report.

    An optimize run's report.md and chart are its own (`optimize_runs.write`).
    """
    optimized = optimize_runs.summary_of(run_dir)
    if optimized is not None:
        return optimize_runs.write(run_dir, optimized)
    report = build_report(run_dir)
    images = plots.write_plots(run_dir, report)
    report["plots"] = images
    _atomic.write_json(os.path.join(run_dir, REPORT_JSON), report)
    md = [f"# tfcompress pipeline report: {os.path.basename(os.path.normpath(run_dir))}",
          "", f"**{report['summary_line']}**", ""]
    # Right under the headline, which compares only the first and last stage.
    md += [f"> **Warning:** {w['message']}\n" for w in report["warnings"]]
    md += [format_table(report), ""]
    if report["exported"]:
        exported = report["exported"]
        md += [f"Exported file `{exported['path']}`: TFLite accuracy "
               f"{exported['test_accuracy']:.2%} on {exported['test_examples']:,} test "
               f"examples, {exported['bytes'] / 1024:.1f} KiB "
               f"({exported['gzip_bytes'] / 1024:.1f} KiB gzipped).", ""]
    md += ["Accuracies are on the test split; sizes are each stage's TFLite file; "
           "latency is the median LiteRT invoke at batch 1.", ""]
    if _has_f1(report):
        md += [_f1_note(report), ""]
    md += ["Run settings:", ""]
    md += [f"- {name}: {value}" for name, value in run_settings.rows(report["settings"])]
    md += [""]
    md += [f"![{name}]({name})" for name in images]
    with _atomic.atomic_output(os.path.join(run_dir, REPORT_MD)) as tmp, \
            open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    return report


def format_comparison(report_a, report_b, name_a, name_b):
    """Two runs' stage tables side by side (one row per stage and run; an
    optimize run's rows are its input's files and its attempts')."""
    keys = ("tflite_gzip_bytes", "tflite_accuracy", "latency_ms", "sparsity")
    columns = [c for c in _COLUMNS if c[0] in keys]
    lines = ["| stage | run | " + " | ".join(c[1] for c in columns) + " |",
             "|" + "---|" * (len(columns) + 2)]
    by_stage = {}
    for name, report in ((name_a, report_a), (name_b, report_b)):
        for record in report["stages"]:
            by_stage.setdefault(record["stage"], []).append((name, record))
    # A pipeline's stages in their order, then an optimize run's files.
    order = [s for s in stages_lib.MODEL_STAGES if s in by_stage]
    order += [s for s in by_stage if s not in order]
    for stage in order:
        for name, record in by_stage[stage]:
            lines.append(f"| {stage} | {name} | "
                         + " | ".join(_cell(record, c) for c in columns) + " |")
    lines += ["", f"| setting | {name_a} | {name_b} |", "|---|---|---|"]
    for (name, a), (_, b) in zip(run_settings.rows(report_a["settings"]),
                                 run_settings.rows(report_b["settings"]), strict=True):
        lines.append(f"| {name} | {a} | {b} |")
    lines += [""]
    for name, report in ((name_a, report_a), (name_b, report_b)):
        lines.append(f"{name}: {report['summary_line']}")
        lines += [f"{name}: Warning: {w['message']}" for w in report["warnings"]]
    return "\n".join(lines)
