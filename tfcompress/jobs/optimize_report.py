"""An optimize run's report.md, with its Pareto chart and three picks.

Every file the run measured is a point: the input model's float and int8
(and int4) files, and each attempt's. The picks are made among those within the
budget: the most accurate, the smallest, and a balanced one (the point
nearest to the ideal corner, best accuracy at least latency, each axis
scaled to the range of the points within the budget).
"""

import os

import matplotlib.pyplot as plt
import matplotlib.ticker

from tfcompress import charts

REPORT_MD = "report.md"
PARETO_PNG = "pareto.png"


def points(inputs, attempts):
    """[{"name", "latency_ms", "size_bytes", "test_accuracy", "accuracy_drop"}]."""
    float_accuracy = inputs["float"]["test_accuracy"]
    found = [{"name": f"input {fmt}", **{k: inputs[fmt][k] for k in (
        "latency_ms", "size_bytes", "test_accuracy")},
        "accuracy_drop": 100 * (float_accuracy - inputs[fmt]["test_accuracy"])}
        for fmt in ("float", "int8", "int4") if fmt in inputs]
    for attempt in attempts:
        measured = attempt["measured"]
        found.append({"name": attempt_name(attempt),
                      **{k: measured[k] for k in ("latency_ms", "size_bytes",
                                                  "test_accuracy", "accuracy_drop")}})
    return found


def attempt_name(attempt):
    """"attempt 2 (int8)", "attempt 3 (int8, sparse)", "attempt 4 (int8,
    stride_ms=32)"; a full-width dense plan of the model's own settings is the
    input's own file."""
    plan = attempt["plan"]
    sparse, variant = plan.get("sparsity"), plan.get("variant")
    own = ", the input's file" if plan["step"] == 0 and not sparse and not variant else ""
    settings = "".join(f", {k}={v:g}" for k, v in sorted((variant or {}).items()))
    return (f"attempt {attempt['number']} ({plan['latency_format']}"
            f"{', sparse' if sparse else ''}{settings}{own})")


def picks(candidates, targets):
    """{"most accurate", "balanced", "smallest"}: points within the budget (or {})."""
    within = [p for p in candidates if not targets.misses(p)]
    if not within:
        return {}

    def spread(key):
        values = [p[key] for p in within]
        low, high = min(values), max(values)
        return lambda value: 0.0 if high == low else (value - low) / (high - low)

    accuracy, latency = spread("test_accuracy"), spread("latency_ms")
    return {"most accurate": max(within, key=lambda p: (p["test_accuracy"], -p["latency_ms"])),
            "balanced": min(within, key=lambda p: (1 - accuracy(p["test_accuracy"])) ** 2
                            + latency(p["latency_ms"]) ** 2),
            "smallest": min(within, key=lambda p: (p["size_bytes"], -p["test_accuracy"]))}


def pareto_figure(candidates, targets, chosen_name, reference_accuracy):
    """Accuracy against latency, marker area by file size (the caller closes it).

    Dashed: the latency target; dotted: the lowest accuracy the budget allows
    (`reference_accuracy`, the input's float file's, less the drop).
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    largest = max(p["size_bytes"] for p in candidates)
    for point in candidates:
        ax.scatter(point["latency_ms"], 100 * point["test_accuracy"],
                   s=30 + 400 * point["size_bytes"] / largest, alpha=0.6,
                   edgecolors="black" if point["name"] == chosen_name else "none",
                   linewidths=2, zorder=2)
    if targets.latency_ms is not None:
        ax.axvline(targets.latency_ms, color="0.4", linestyle="--", linewidth=1)
    if targets.max_accuracy_drop is not None:
        ax.axhline(100 * reference_accuracy - targets.max_accuracy_drop, color="0.4", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    latencies = [p["latency_ms"] for p in candidates]
    low, high = min(latencies) / 1.3, max(latencies) * 1.3
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(charts.size_ticks(low, high)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.margins(y=0.15)
    ax.set_xlabel("batch-1 LiteRT latency (ms, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Files measured (marker area: file size; outlined: chosen)")
    ax.grid(True, which="both", alpha=0.3)
    named = {}
    for point in candidates:
        key = (point["latency_ms"], 100 * point["test_accuracy"])
        named[key] = f"{named[key]}, {point['name']}" if key in named else point["name"]
    charts.name_points(ax, named)
    return fig


def _row(point):
    return (f"| {point['name']} | {point['latency_ms']:.4f} | {point['size_bytes']:,} | "
            f"{point['test_accuracy']:.2%} | {point['accuracy_drop']:.2f} |")


def write(folder, own, targets, latency_threads):
    """Writes report.md and pareto.png into `folder` from the summary's optimize section."""
    candidates = points(own["inputs"], own["attempts"])
    chosen = next(p for p in candidates if p["name"] == attempt_name(own["chosen"]))
    charts.save_png(pareto_figure(candidates, targets, chosen["name"],
                                  own["inputs"]["float"]["test_accuracy"]),
                    os.path.join(folder, PARETO_PNG))
    goals = ", ".join(f"`{name}` {value:g}" for name, value in targets.to_json().items()
                      if value is not None)
    lines = ["# tfcompress optimize", "",
             f"Budget: {goals}. Latency: median batch-1 LiteRT invoke, {latency_threads} "
             "thread(s), timed in interleaved rounds with the input's files.", "",
             f"**{'Every target met' if own['met'] else 'Not every target met: ' + own['miss']}.**"
             f" Written: `model.tflite`, from {chosen['name']}.", "",
             f"![accuracy against latency]({PARETO_PNG})", "",
             "| file | ms | bytes | test accuracy | points lost |", "|---|---|---|---|---|",
             *(_row(p) for p in candidates), ""]
    chosen_picks = picks(candidates, targets)
    if chosen_picks:
        lines += ["Within the budget:", ""]
        lines += [f"- {label}: {p['name']} ({p['latency_ms']:.4f} ms, {p['size_bytes']:,} "
                  f"bytes, {p['test_accuracy']:.2%})" for label, p in chosen_picks.items()]
    else:
        lines += ["No file measured is within the budget."]
    lines += ["", "Attempts (predicted before training, measured after; a size budget "
              "times no plan while searching):", "",
              "| attempt | format | settings | widths | zeros | predicted ms | "
              "predicted bytes | measured ms | measured bytes |",
              "|---|---|---|---|---|---|---|---|---|"]
    for attempt in own["attempts"]:
        plan, measured = attempt["plan"], attempt["measured"]
        widths = ", ".join(f"{k} {v}" for k, v in plan["widths"].items())
        zeros = ", ".join(f"{k} {v:.0%}" for k, v in plan.get("sparsity", {}).items())
        settings = ", ".join(f"{k}={v:g}" for k, v in sorted(plan.get("variant", {}).items()))
        predicted_ms = plan["predicted"]["latency_ms"]
        lines.append(f"| {attempt['number']} | {plan['latency_format']} | "
                     f"{settings or 'own'} | {widths} | "
                     f"{zeros or '-'} | {f'{predicted_ms:.4f}' if predicted_ms else '-'} | "
                     f"{plan['predicted']['size_bytes']:,} | {measured['latency_ms']:.4f} | "
                     f"{measured['size_bytes']:,} |")
    for attempt in own.get("failed_attempts", []):
        lines += ["", f"Attempt {attempt['number']} ({attempt['plan']['latency_format']}) "
                  f"wrote no file: {attempt['failed']}"]
    if any(a["plan"].get("sparsity") for a in own["attempts"]):
        lines += ["", "A sparse file (zeros in TFLite's sparse encoding) runs on LiteRT's "
                  "own kernels: XNNPACK cannot run sparse int8 weights, so it is timed "
                  "without it, as a device would run it."]
    lines += ["", f"Measuring took {own['measure_seconds']:.0f} s; the whole run "
              f"{own['seconds']:.0f} s. Every plan searched: `frontier.json`.", ""]
    with open(os.path.join(folder, REPORT_MD), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
