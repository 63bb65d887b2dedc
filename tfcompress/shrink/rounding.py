"""The multiple shrink's widths are rounded to, and where it came from.

A width just above a multiple of the kernels' channel tile costs a whole
extra tile (`runtime.kernel_tiles`): on AVX-512, 11/22/45 channels ran
about as slowly as 16/32/48. So when latency is the goal the widths follow
the tile of the file being timed, unless the user said otherwise.
"""

import numbers

from tfcompress.runtime import kernel_tiles

AUTO = "auto"


def check(arg_name, value):
    """`value` as None, "auto" or a positive int; a digit string counts as an int
    (the command line's --round_to=8).

    Raises:
      ValueError: anything else, naming `arg_name` and the value.
    """
    if value is None or value == AUTO:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{arg_name}` must be a positive int or {AUTO!r} (the channel "
                         "tile of this machine's kernels), got "
                         f"{value!r}.")
    return int(value)


def resolve(round_to, latency_target, latency_format):
    """(multiple, source) for `shrink`'s `round_to`.

    Args:
      round_to: a positive int (the user's), "auto", or None: automatic when
        `latency_target`, else 1.
      latency_target: whether the target is a measured latency.
      latency_format: "float" or "int8", the file whose kernels count.

    Returns:
      (int, str): the multiple, and "user", "default" or "auto: <why>" (e.g.
      "auto: avx512f float").
    """
    round_to = check("round_to", round_to)
    if isinstance(round_to, int):
        return round_to, "user"
    if round_to is None and not latency_target:
        return 1, "default"
    tile = kernel_tiles.kernel_tile(latency_format)
    return tile.channels, f"auto: {tile.reason}"


def describe(multiple, source):
    """Words for the log: "multiples of 16 (auto: avx512f float)"."""
    if multiple == 1:
        return f"not rounded (round_to 1, {source})"
    return f"multiples of {multiple} ({source})"
