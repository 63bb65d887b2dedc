"""The report's pictures (matplotlib, PNG), each from files in the run folder."""

import json
import math
import os

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import matplotlib.transforms  # noqa: E402
import numpy as np  # noqa: E402

from tfcompress import _atomic  # noqa: E402
from tfcompress.jobs import artifacts  # noqa: E402
from tfcompress.pipeline import stages as stages_lib  # noqa: E402

ACCURACY_VS_SIZE = "accuracy_vs_size.png"
SPARSITY = "layer_sparsity.png"
WEIGHTS = "weight_histograms.png"
SENSITIVITY = "sensitivity.png"


def _save(fig, path):
    with _atomic.atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _size_ticks(low, high):
    """Round sizes between `low` and `high` for a log axis, labelled in full.

    Matplotlib's own log ticks label minor ticks as "2x10^1", "3x10^1", ...
    when the sizes span less than a decade, and those labels run together.
    """
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    most = 8 if len(_size_label(high)) <= 5 else 5  # long labels need more room
    for mantissas, fewest in (((1, 2, 5), 3), ((1,), 3), ((1, 1.5, 2, 3, 4, 5, 6, 8), 2)):
        ticks = [m * 10.0 ** e for e in range(first, last + 1) for m in mantissas
                 if low <= m * 10.0 ** e <= high]
        if fewest <= len(ticks) <= most:
            return ticks
    # A range too narrow for a round grid: three sizes inside it, 2 digits each.
    return sorted({float(f"{t:.2g}") for t in np.geomspace(low, high, 5)[1:4]})


def _size_label(kib, _=None):
    return f"{kib:,.0f}" if kib >= 10 else f"{kib:g}"


# Where a point's name may go, in order of preference: (offset in points, alignment).
_LABEL_PLACES = (((5, 5), "left"), ((5, -13), "left"), ((-5, 5), "right"),
                 ((-5, -13), "right"))


def _name_points(ax, points):
    """Writes each point's name beside it, where it covers no other name or point
    and stays inside the axes (else in the first place)."""
    ax.figure.canvas.draw()  # settles the limits and layout the boxes are measured in
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    taken = []
    for x, y in points:  # each marker, as a small box
        cx, cy = ax.transData.transform((x, y))
        taken.append(matplotlib.transforms.Bbox.from_extents(cx - 4, cy - 4, cx + 4,
                                                             cy + 4))
    for (x, y), name in points.items():
        for offset, align in _LABEL_PLACES:
            text = ax.annotate(name, (x, y), textcoords="offset points", xytext=offset,
                               ha=align)
            box = text.get_window_extent(renderer)
            inside = (frame.x0 <= box.x0 and box.x1 <= frame.x1
                      and frame.y0 <= box.y0 and box.y1 <= frame.y1)
            if inside and not any(box.overlaps(other) for other in taken):
                break
            text.remove()
        else:
            offset, align = _LABEL_PLACES[0]
            text = ax.annotate(name, (x, y), textcoords="offset points", xytext=offset,
                               ha=align)
        taken.append(text.get_window_extent(renderer))


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
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(_size_ticks(low, high)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_size_label))
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
    _name_points(ax, points)
    return fig


def _accuracy_vs_size(report, path):
    _save(accuracy_vs_size_figure(report), path)


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
    _save(fig, path)


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
    _save(fig, path)


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
    _save(fig, path)


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
