"""Chart helpers the reports share (matplotlib, PNG files only)."""

import math

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.transforms  # noqa: E402
import numpy as np  # noqa: E402

from tfcompress import _atomic  # noqa: E402


def save_png(fig, path):
    """Writes `fig` to `path` as a PNG (atomically) and closes it."""
    with _atomic.atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def size_ticks(low, high):
    """Round sizes between `low` and `high` for a log axis, labelled in full.

    Matplotlib's own log ticks label minor ticks as "2x10^1", "3x10^1", ...
    when the sizes span less than a decade, and those labels run together.
    """
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    most = 8 if len(size_label(high)) <= 5 else 5  # long labels need more room
    for mantissas, fewest in (((1, 2, 5), 3), ((1,), 3), ((1, 1.5, 2, 3, 4, 5, 6, 8), 2)):
        ticks = [m * 10.0 ** e for e in range(first, last + 1) for m in mantissas
                 if low <= m * 10.0 ** e <= high]
        if fewest <= len(ticks) <= most:
            return ticks
    # A range too narrow for a round grid: three sizes inside it, 2 digits each.
    return sorted({float(f"{t:.2g}") for t in np.geomspace(low, high, 5)[1:4]})


def size_label(kib, _=None):
    return f"{kib:,.0f}" if kib >= 10 else f"{kib:g}"


# Where a point's name may go, in order of preference: (offset in points, alignment).
_LABEL_PLACES = (((5, 5), "left"), ((5, -13), "left"), ((-5, 5), "right"),
                 ((-5, -13), "right"))


def name_points(ax, points):
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
