"""Before/after ratios in words: "1.7x slower", never "0.60x faster".

Every report line that compares two files' speed or size goes through here,
so a change for the worse reads as one.
"""

import math


def faster_or_slower(speedup, digits=1):
    """`speedup` in words: "2.0x faster", or "1.7x slower" for 0.6.

    Args:
      speedup: time before / time after, a positive number.
      digits: decimals shown.

    Returns:
      "N.Nx faster" for a speed-up of at least 1, "N.Nx slower" (the inverse)
      below 1, and "about as fast" when the ratio rounds to 1 at `digits`.
    """
    return _in_words(speedup, "speedup", ("faster", "slower", "about as fast"), digits)


def smaller_or_larger(reduction, digits=1):
    """`reduction` (size before / size after) in words, as `faster_or_slower`."""
    return _in_words(reduction, "reduction",
                     ("smaller", "larger", "about the same size"), digits)


def _in_words(ratio, name, words, digits):
    more, less, same = words
    try:
        value = float(ratio)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive, finite ratio (before / after), "
                         f"got {ratio!r}: a time or size of zero has no ratio.")
    shown = f"{max(value, 1 / value):.{digits}f}"
    if float(shown) == 1:
        return same
    return f"{shown}x {more if value >= 1 else less}"
