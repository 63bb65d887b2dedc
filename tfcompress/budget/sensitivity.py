"""What each channel group's narrowing and each file format cost in accuracy.

Structured sensitivity (NetAdapt, Yang et al. 2018, arXiv:1804.03230,
section 3.1; AMC, He et al. 2018, arXiv:1802.03494): each group of coupled
channels is narrowed alone to a few widths, keeping its most important
channels (`shrink.Narrowing.build`), and the rebuilt model's accuracy is
measured on a small validation set, without retraining. A plan's predicted
loss is then the sum of its groups' drops (`GroupSensitivity.loss_of`).

The sum assumes the groups' losses add up, as AMC's and NetAdapt's searches
do; it ranks width sets against each other, it does not forecast the
trained model's accuracy: recovery by distillation wins most of it back.

Unstructured sensitivity (zeroed weights, for a size target) is
`prune.sensitivity.analyze`; a file format's cost is `format_costs`.
Hand-written: no library measures Keras channel groups' sensitivity.
"""

import dataclasses
import math
import numbers
import time

import numpy as np

from tfcompress._checks import check_positive_int
from tfcompress.data import inputs as data_inputs
from tfcompress.evaluate import evaluate_classifier
from tfcompress.shrink import check_fraction

DEFAULT_FRACTIONS = (0.25, 0.5, 0.75)


@dataclasses.dataclass
class GroupSensitivity:
    """Accuracy lost by narrowing each channel group alone, without retraining.

    Attributes:
      accuracy: the full model's accuracy on the validation set, in [0, 1].
      num_examples: the validation set's examples.
      step: the multiple every measured width is of.
      sizes: {group name: full width}.
      drops: {group name: {width: points lost}}, each measured (full
        accuracy minus the narrowed model's, times 100; negative when the
        narrowed model measured better); {} for a group too narrow to
        narrow by `step`.
    """
    accuracy: float
    num_examples: int
    step: int
    sizes: dict
    drops: dict

    def drop(self, name, width):
        """Points lost when group `name` alone is at `width` (others whole).

        0 at the full width, linear between measured widths. Below the
        narrowest measured width the line through it and the next wider
        known point (measured, or the full width at 0) continues toward
        width 0, never falling (a narrower group never loses less), and
        stops at the full model's accuracy in points: a model cannot lose
        more than it has. A measured gain (a negative drop: noise of a
        small validation set) counts as 0, so one group's noise does not
        pay for another's loss in `loss_of`.

        Args:
          name: a group name (`sizes` keys).
          width: int in [1, sizes[name]].

        Raises:
          ValueError: an unknown group, a width out of range, or a width
            below the full one of a group none of whose narrower widths
            was measured.
        """
        if name not in self.sizes:
            raise ValueError(f"`name` must be a channel group of the measured model "
                             f"({sorted(self.sizes)}), got {name!r}.")
        size = self.sizes[name]
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) \
                or not 1 <= width <= size:
            raise ValueError(f"`width` of group {name!r} must be an int in [1, {size}], "
                             f"got {width!r}.")
        if width == size:
            return 0.0
        measured = sorted(self.drops.get(name, {}).items())
        if not measured:
            raise ValueError(f"Group {name!r} ({size} channels) has no narrower width "
                             f"measured (step {self.step}), so its drop at width {width} "
                             "is unknown: measure it with a smaller `step`.")
        widths = [w for w, _ in measured] + [size]
        points = [max(0.0, d) for _, d in measured] + [0.0]
        if width >= widths[0]:
            return float(np.interp(width, widths, points))
        slope = max(0.0, (points[0] - points[1]) / (widths[1] - widths[0]))
        extrapolated = points[0] + slope * (widths[0] - width)
        return float(min(extrapolated, max(points[0], 100.0 * self.accuracy)))

    def loss_of(self, widths):
        """Predicted points lost at these widths: the sum of each group's `drop`.

        The additive assumption of AMC's and NetAdapt's searches: a ranking
        of width sets, not a forecast of the trained model's accuracy.
        This is the `loss_of` `budget.search.narrowing_path` takes.

        Args:
          widths: {group name: width}; groups left out are whole.
        """
        return float(sum(self.drop(name, width) for name, width in widths.items()))

    def to_json(self):
        """A JSON-able dict (widths become string keys; `from_json` reads them back)."""
        return {"accuracy": self.accuracy, "num_examples": self.num_examples,
                "step": self.step, "sizes": dict(self.sizes),
                "drops": {name: {str(width): points for width, points in curve.items()}
                          for name, curve in self.drops.items()}}

    @classmethod
    def from_json(cls, record):
        """The `GroupSensitivity` `to_json` wrote (widths ints again)."""
        return cls(accuracy=float(record["accuracy"]),
                   num_examples=int(record["num_examples"]), step=int(record["step"]),
                   sizes={name: int(size) for name, size in record["sizes"].items()},
                   drops={name: {int(width): float(points)
                                 for width, points in curve.items()}
                          for name, curve in record["drops"].items()})


def candidate_widths(narrow, step, fractions=DEFAULT_FRACTIONS):
    """{group name: [widths]}, the narrower widths `measure_groups` measures.

    Each group's size times (1 - fraction), rounded to a multiple of `step`
    as `shrink` rounds (`Narrowing.widths_at`), at least `step`,
    deduplicated, below the full width; widest first. A group narrower than
    2 * `step` gets at most one (`step`); one of at most `step` channels
    none.
    """
    uniform = [narrow.widths_at(fraction, round_to=step, min_width=step)
               for fraction in fractions]
    return {name: sorted({int(widths[index]) for widths in uniform
                          if widths[index] < size}, reverse=True)
            for index, (name, size) in enumerate(zip(narrow.names, narrow.sizes))}


def measure_groups(narrow, data, *, step, fractions=DEFAULT_FRACTIONS, log=None, tune=None):
    """Each channel group's accuracy drop at a few narrower widths, alone.

    For each group of `narrow` and each of its `candidate_widths`, the model
    is rebuilt with that group alone at that width (the others whole) and
    its accuracy measured on `data`, without retraining unless `tune` is
    given. One-shot drops saturate: once a narrowed group loses nearly all
    the accuracy, narrowing it further looks free, and a search led by them
    narrows such a group to its least width. A short fine-tune of each
    model first (NetAdapt's short-term fine-tune, Yang et al. 2018, section
    3.2) keeps the drops growing as the width falls. Each model is
    rebuilt and traced anew: on 500 CIFAR-10-shaped examples, on a loaded
    2-core machine, a ResNet-8 (6 groups of 16 to 64 channels) took 10-24 s
    (8 models at step 16, 14 at step 8, plus the full one), a MobileNetV2
    (24 groups) 6 minutes (56 models at step 16).

    Args:
      narrow: `shrink.Narrowing` of the model (`shrink.narrowing(model)`).
      data: a small validation set: a `tf.data.Dataset` of (x, y) batches or
        an (x, y) tuple of arrays, integer labels. Read once and kept in
        memory (`Dataset.cache`), so every model sees the same examples.
        The model may output logits or probabilities (accuracy is argmax).
      step: positive int, the multiple every width is of (the kernels'
        channel tile the search narrows by).
      fractions: shares in (0, 1) of each group's channels removed.
      log: fn(str) given one line per group (its drops and the time taken),
        or None.
      tune: fn(model), training each rebuilt model (the full one too, so the
        drops compare like with like) in place before it is measured; None:
        one-shot.

    Returns:
      `GroupSensitivity`.

    Raises:
      ValueError: a bad `step` or `fractions`, or an empty or infinite `data`.
    """
    check_positive_int("step", step)
    if isinstance(fractions, (str, bytes)) or not hasattr(fractions, "__iter__"):
        raise ValueError(f"`fractions` must be a sequence of numbers in (0, 1), got "
                         f"{fractions!r}.")
    fractions = tuple(fractions)
    if not fractions:
        raise ValueError("`fractions` must hold at least one number in (0, 1), got ().")
    fractions = tuple(check_fraction("fractions", f) for f in fractions)
    data = data_inputs.as_batches(data, arg_name="data").cache()
    log = log or (lambda message: None)
    names, sizes = narrow.names, tuple(narrow.sizes)
    start = time.monotonic()
    def measured(widths):
        model = narrow.build(widths)
        if tune is not None:
            tune(model)
        return evaluate_classifier(model, data)

    full = measured(sizes)
    candidates = candidate_widths(narrow, step, fractions)
    drops = {}
    todo = sum(len(widths) for widths in candidates.values())
    done = 0
    for index, (name, size) in enumerate(zip(names, sizes)):
        began = time.monotonic()
        drops[name] = {}
        for width in candidates[name]:
            narrowed = sizes[:index] + (width,) + sizes[index + 1:]
            accuracy = measured(narrowed)["accuracy"]
            drops[name][width] = 100.0 * (full["accuracy"] - accuracy)
            done += 1
        log(_progress_line(index, names, size, drops[name], began, start, done, todo))
    return GroupSensitivity(accuracy=full["accuracy"], num_examples=full["num_examples"],
                            step=step, sizes=dict(zip(names, map(int, sizes))),
                            drops=drops)


def measure_variants(variants, trained, data, *, tune=None, log=None):
    """Each variant axis' accuracy drop at each of its cheaper values, alone.

    As `measure_groups` for architecture settings (`models.variants`): the
    model with one axis moved (the others as trained) takes the trained
    weights, is tuned by `tune` and measured on `data`, against the model at
    its own settings tuned alike (so a drop is the setting's, not the
    tuning's gain). A plan's predicted loss adds its axes' drops to its
    groups' (`variant_loss`).

    Args:
      variants: `models.variants.Variants` of `trained`.
      trained: the trained model.
      data: as `measure_groups`'s (the same batches, so drops compare).
      tune: as `measure_groups`'s.
      log: fn(str) given one line per axis, or None.

    Returns:
      {keyword: {value: points lost}}, JSON-able as it is except for keys
      (`variant_loss` reads values either way).
    """
    data = data_inputs.as_batches(data, arg_name="data").cache()
    log = log or (lambda message: None)

    def accuracy_of(variant):
        model = variants.build_from(variant, trained)
        if tune is not None:
            tune(model)
        return evaluate_classifier(model, data)["accuracy"]

    began = time.monotonic()
    reference = accuracy_of({})
    log(f"The model at its own settings: {reference:.2%} in {time.monotonic() - began:.1f} s.")
    drops = {}
    for keyword, values in variants.moves().items():
        began = time.monotonic()
        drops[keyword] = {value: 100.0 * (reference - accuracy_of({keyword: value}))
                          for value in values}
        log(f"Sensitivity of {keyword} (from {variants.own[keyword]:g}): points lost at "
            + ", ".join(f"{value:g}: {points:+.2f}" for value, points in drops[keyword].items())
            + f" in {time.monotonic() - began:.1f} s.")
    return drops


def variant_loss(drops, variant):
    """Predicted points lost by `variant` ({keyword: value}): the sum of its
    axes' measured drops (gains count as 0), as `GroupSensitivity.loss_of`."""
    total = 0.0
    for keyword, value in variant.items():
        curve = {float(v): points for v, points in drops[keyword].items()}
        if float(value) not in curve:
            raise ValueError(f"`variant` {keyword}={value!r} was not measured: "
                             f"measured {sorted(curve)}.")
        total += max(0.0, curve[float(value)])
    return total


def _progress_line(index, names, size, curve, began, start, done, todo):
    now = time.monotonic()
    measured = ", ".join(f"{width}: {points:+.2f}" for width, points in curve.items())
    line = (f"Sensitivity {index + 1}/{len(names)} {names[index]} ({size} channels): "
            + (f"points lost at width {measured} in {now - began:.1f} s" if curve
               else "too narrow to narrow by the step"))
    if 0 < done < todo:
        line += f"; about {math.ceil((now - start) / done * (todo - done))} s left"
    return line + "."


def format_costs(accuracies, *, reference="float"):
    """Points each file format loses against the `reference` format's file.

    What `budget.search.narrowing_path`'s `loss_of` adds for a format to the
    groups' drops. A format that measured better than the reference costs
    0, as a group's measured gain does (`GroupSensitivity.drop`).

    Args:
      accuracies: {format: accuracy in [0, 1]} of the input model's files,
        e.g. {"float": 0.912, "int8": 0.905}.
      reference: the format the others are compared with.

    Returns:
      {format: points lost, >= 0}, e.g. {"float": 0.0, "int8": 0.7}.
    """
    if not isinstance(accuracies, dict) or reference not in accuracies:
        raise ValueError(f"`accuracies` must map formats, `reference` {reference!r} among "
                         f"them, to accuracies in [0, 1], got {accuracies!r}.")
    for name, value in accuracies.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not 0 <= value <= 1:
            raise ValueError(f"`accuracies[{name!r}]` must be an accuracy in [0, 1], got "
                             f"{value!r}.")
    return {name: max(0.0, 100.0 * (accuracies[reference] - value))
            for name, value in accuracies.items()}
