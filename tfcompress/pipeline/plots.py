"""The report's pictures (matplotlib, PNG), each from files in the run folder."""

import json
import os

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from tfcompress import charts  # noqa: E402
from tfcompress.jobs import artifacts  # noqa: E402
from tfcompress.pipeline import stages as stages_lib  # noqa: E402

ACCURACY_VS_SIZE = "accuracy_vs_size.png"
SPARSITY = "layer_sparsity.png"
WEIGHTS = "weight_histograms.png"
SENSITIVITY = "sensitivity.png"


def accuracy_vs_size_figure(report):
    """The accuracy-vs-size chart of `report`'s stages (the caller closes it)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    rows = report["stages"]
    sizes = [r["tflite_gzip_bytes"] / 1024 for r in rows]
    accuracy = [r["tflite_accuracy"] * 100 for r in rows]
    path_rows = [i for i, r in enumerate(rows) if r["stage"] != "teacher"]
    ax.plot([sizes[i] for i in path_rows], [accuracy[i] for i in path_rows], "-",
            color="0.7", zorder=1)
    ax.scatter(sizes, accuracy, zorder=2)
    ax.set_xscale("log")
    # Room around the points for their names.
    low, high = min(sizes) / 1.25, max(sizes) * 1.25
    ax.set_xlim(low, high)
    ax.margins(y=0.1)
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(charts.size_ticks(low, high)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(charts.size_label))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("TFLite file, gzipped (KiB, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs size, per stage")
    ax.grid(True, which="both", alpha=0.3)
    # Stages at the same point (baseline and distill often share a size) share a name.
    points = {}
    for size, acc, row in zip(sizes, accuracy, rows, strict=True):
        key = (float(f"{size:.3g}"), round(acc, 2))
        points[key] = f"{points[key]}, {row['stage']}" if key in points else row["stage"]
    charts.name_points(ax, points)
    return fig


def _accuracy_vs_size(report, path):
    charts.save_png(accuracy_vs_size_figure(report), path)


def _layer_sparsity(prune_report, path):
    # Layers with a prunable kernel; batch norm and the like have none.
    layers = [row for row in prune_report["layers"] if "kernel_sparsity" in row]
    # Wider for deep models, so each layer's name keeps room under its bar.
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(layers)), 3.5))
    names = [row["name"] for row in layers]
    ax.bar(names, [row["kernel_sparsity"] * 100 for row in layers])
    ax.set_ylabel("kernel sparsity (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"Per-layer sparsity (model {prune_report['total']['sparsity']:.1%})")
    # Slanted names end under their bar instead of running into the next one.
    ax.tick_params(axis="x", rotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    charts.save_png(fig, path)


def _kernel_values(model_path):
    from tfcompress import export  # pylint: disable=g-import-not-at-top

    model = export.load_keras_model(model_path)
    return np.concatenate([w.numpy().ravel() for w in model.weights
                           if "kernel" in w.name])


def _weight_histograms(before_path, after_path, path):
    before, after = _kernel_values(before_path), _kernel_values(after_path)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(min(before.min(), after.min()), max(before.max(), after.max()), 101)
    ax.hist(before, bins=bins, alpha=0.6, label=f"before pruning ({before.size:,})")
    nonzero = after[after != 0]
    ax.hist(nonzero, bins=bins, alpha=0.6,
            label=f"after, non-zero ({nonzero.size:,} of {after.size:,})")
    ax.set_yscale("log")
    ax.set_xlabel("kernel weight value")
    ax.set_ylabel("count (log scale)")
    ax.set_title("Kernel weights before and after pruning")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)  # off the bars
    charts.save_png(fig, path)


def _sensitivity(analysis, path):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for layer, curve in analysis["accuracy"].items():
        points = sorted((float(s), a) for s, a in curve.items())
        ax.plot([0] + [s * 100 for s, _ in points],
                [analysis["baseline"] * 100] + [a * 100 for _, a in points],
                "o-", label=layer)
    ax.set_xlabel("sparsity of that layer alone (%)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Pruning sensitivity, one layer at a time (no retraining)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    charts.save_png(fig, path)


def write_plots(run_dir, report):
    """Writes the PNGs that the run's files allow; returns their names."""
    written = [ACCURACY_VS_SIZE]
    _accuracy_vs_size(report, os.path.join(run_dir, ACCURACY_VS_SIZE))
    prune_dir = stages_lib.stage_dir(run_dir, "prune")
    prune_report = os.path.join(prune_dir, "prune_report.json")
    if os.path.isfile(prune_report):
        with open(prune_report, encoding="utf-8") as f:
            _layer_sparsity(json.load(f), os.path.join(run_dir, SPARSITY))
        written.append(SPARSITY)
        with open(os.path.join(prune_dir, artifacts.SUMMARY_FILE), encoding="utf-8") as f:
            before = json.load(f)["config"]["model"]
        if os.path.isfile(before):
            _weight_histograms(before, os.path.join(prune_dir, artifacts.KERAS_FILE),
                               os.path.join(run_dir, WEIGHTS))
            written.append(WEIGHTS)
    sensitivity = os.path.join(prune_dir, "sensitivity.json")
    if os.path.isfile(sensitivity):
        with open(sensitivity, encoding="utf-8") as f:
            _sensitivity(json.load(f), os.path.join(run_dir, SENSITIVITY))
        written.append(SENSITIVITY)
    return written
