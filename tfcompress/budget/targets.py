"""The user's budget for `tfcompress optimize`: targets, checked and compared.

A budget holds up to three targets, each optional, at least one given:
  - `target_latency_ms`: the median batch-1 LiteRT invoke of the .tflite file,
    on this machine, at the run's `latency_threads`.
  - `target_size_kb`: the .tflite file's bytes / 1000 (a KB here is 1,000
    bytes, as a file manager shows it, not 1,024).
  - `max_accuracy_drop`: points of test accuracy lost against the input
    model's own file (1.0 is one point: 91.3% -> 90.3%).

A measurement meets a target when it is at most the target (a model more
accurate than its input meets any `max_accuracy_drop`).
"""

import dataclasses
import math
import numbers

# Field -> the flag (and Python keyword, JSON key, miss name) users know it by.
FLAGS = {"latency_ms": "target_latency_ms", "size_kb": "target_size_kb",
         "max_accuracy_drop": "max_accuracy_drop"}
# Field -> (what the value must be, for errors; its unit, for descriptions).
_MEANING = {
    "latency_ms": ("a positive number of milliseconds", "ms"),
    "size_kb": ("a positive number of kilobytes (1 KB = 1,000 bytes)", "KB"),
    "max_accuracy_drop": ("a number of accuracy points in [0, 100) (1.0 = one point)",
                          "points"),
}


def _check(field, value):
    """`value` as a float; raises ValueError naming `field`'s flag unless it is valid."""
    valid = (not isinstance(value, bool) and isinstance(value, numbers.Real)
             and math.isfinite(value))
    if valid:
        valid = 0 <= value < 100 if field == "max_accuracy_drop" else value > 0
    if not valid:
        raise ValueError(f"`{FLAGS[field]}` must be {_MEANING[field][0]}, got {value!r}.")
    return float(value)


def _number(value):
    """`value` for a one-line description: 4 significant digits, no exponent."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _percent(ratio):
    return f"{100 * ratio:.0f}%" if abs(ratio) >= 0.1 else f"{100 * ratio:.1f}%"


@dataclasses.dataclass(frozen=True)
class Targets:
    """What `tfcompress optimize` must reach; refused at construction if not valid.

    Attributes:
      latency_ms: the most milliseconds the file's median batch-1 LiteRT
        invoke may take (at the run's threads), or None.
      size_kb: the most kilobytes the .tflite file may hold, KB = 1,000
        bytes, or None.
      max_accuracy_drop: the most points of test accuracy the result may lose
        against the input model's own file (1.0 = one point), or None.

    Raises:
      ValueError: no target given, or a value that is not a finite number in
        its range; the error names the flag and the value.
    """

    latency_ms: float = None
    size_kb: float = None
    max_accuracy_drop: float = None

    def __post_init__(self):
        given = self.given()
        if not given:
            raise ValueError(
                "No target given: give at least one of `target_latency_ms` (milliseconds), "
                "`target_size_kb` (KB of 1,000 bytes) or `max_accuracy_drop` (points of "
                "test accuracy).")
        for field in given:  # frozen: set the checked float in place of the value
            object.__setattr__(self, field, _check(field, getattr(self, field)))

    def given(self):
        """The fields of the targets given, in `FLAGS` order."""
        return [field for field in FLAGS if getattr(self, field) is not None]

    def misses(self, measured):
        """The given targets `measured` does not meet.

        Args:
          measured: a mapping with "latency_ms", "size_bytes" and
            "accuracy_drop" (points; negative when more accurate); only the
            keys of the given targets are read.

        Returns:
          {flag: {"target", "measured", "over_by", "over_by_ratio"}} for each
          missed target, in its unit (ms, KB or points); over_by is measured
          less target, over_by_ratio measured / target - 1 (None for the
          accuracy drop, whose ratio says nothing: 0.5 points against 0.1 is
          "400% over"). Empty when every target is met.

        Raises:
          ValueError: `measured` lacks a value a given target needs.
        """
        keys = {"latency_ms": ("latency_ms", 1.0), "size_kb": ("size_bytes", 1e-3),
                "max_accuracy_drop": ("accuracy_drop", 1.0)}
        missed = {}
        for field in self.given():
            key, scale = keys[field]
            if measured.get(key) is None:
                raise ValueError(f"`measured` has no {key!r}, which `{FLAGS[field]}` needs; "
                                 f"got keys {sorted(measured)}.")
            target, value = getattr(self, field), float(measured[key]) * scale
            if value > target:
                missed[FLAGS[field]] = {
                    "target": target, "measured": value, "over_by": value - target,
                    "over_by_ratio": (None if field == "max_accuracy_drop"
                                      else value / target - 1)}
        return missed

    def met(self, measured):
        """Whether `measured` meets every given target (see `misses`)."""
        return not self.misses(measured)

    def describe_miss(self, misses):
        """One line for the CLI's exit: each given target, missed by how much or met.

        E.g. "missed target_latency_ms=0.05 (measured 0.062 ms: 0.012 ms or 24%
        over); met target_size_kb=100".

        Args:
          misses: what `misses` returned.
        """
        parts = []
        for field in self.given():
            flag, unit = FLAGS[field], _MEANING[field][1]
            miss = misses.get(flag)
            if miss is None:
                parts.append(f"met {flag}={_number(getattr(self, field))}")
                continue
            over = f"{_number(miss['over_by'])} {unit}"
            if miss["over_by_ratio"] is not None:
                over += f" or {_percent(miss['over_by_ratio'])}"
            parts.append(f"missed {flag}={_number(miss['target'])} (measured "
                         f"{_number(miss['measured'])} {unit}: {over} over)")
        return "; ".join(parts)

    def to_json(self):
        """{flag: value or None}, for summary.json and a resumed run."""
        return {flag: getattr(self, field) for field, flag in FLAGS.items()}

    @classmethod
    def from_json(cls, record):
        """The targets `to_json` wrote (checked again)."""
        return cls(**{field: record.get(flag) for field, flag in FLAGS.items()})
