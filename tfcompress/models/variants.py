"""Cheaper variants of a trained zoo model that keep its weights: plans beyond widths.

Some of a model's cost sits in settings that channel widths do not touch.
The DS-CNN on FSDD spends much of its time in the log-mel frontend and in
convolutions over every frame: narrowing every group from 64 to 16 made it
1.45x faster and lost 4 points, where the hand-tuned file (a 16 ms window,
a 32 ms stride, 2 blocks) was 3.9x faster and lost none (BENCHMARKS.md,
FSDD). A variant changes such settings of a zoo model, its spec's keywords,
and takes the trained model's weights layer by layer (by name), so it
starts from them and recovers by distillation as a narrowed model does:

- `window_ms` shorter: a smaller FFT; the mel bands stay, so the
  convolutions' kernels fit.
- `stride_ms` longer: fewer frames; the convolutions slide over fewer and
  the pooling covers them all, so the logits layer fits.
- `blocks` fewer: the last depthwise-separable blocks dropped; each maps
  `filters` channels to `filters`, so what follows fits.

Each axis lists its values cheapest last; a variant moves some axes from
the model's own values toward cheaper ones. Only a model its spec builds
again (the same layers, the same weight shapes) has variants: the spec
comes from the job that trained it (`of_model`).
"""

import dataclasses
import inspect
import itertools

from tfcompress.models import spec as spec_lib
from tfcompress.models import spectrogram


@dataclasses.dataclass(frozen=True)
class Axis:
    """A spec keyword whose values trade accuracy for cost, weights kept.

    Attributes:
      keyword: the spec's keyword, e.g. "stride_ms".
      values: its values, costliest first; a model moves only to values
        after its own.
    """
    keyword: str
    values: tuple

    def cheaper(self, value):
        """The listed values cheaper than `value`, costliest first."""
        order = list(self.values)
        if value in order:
            return tuple(order[order.index(value) + 1:])
        # A value not listed: the listed ones beyond it in the axis' direction.
        first, last = order[0], order[-1]
        descending = first > last
        return tuple(v for v in order if (v < value if descending else v > value))


# The zoo models with variants, and their axes (FSDD's hand-tuned file used
# window 16 and stride 32 with 2 blocks; a 40 ms stride gives half the
# reference's frames).
AXES = {
    "ds_cnn": (Axis("window_ms", (30.0, 16.0)),
               Axis("stride_ms", (20.0, 32.0, 40.0)),
               Axis("blocks", (4, 3, 2, 1))),
}


@dataclasses.dataclass(frozen=True)
class Variants:
    """A trained zoo model's variants: its spec, data arguments and axes.

    Attributes:
      spec: the model's spec, e.g. "ds_cnn:64".
      data: the keywords `spec.build` takes besides the spec (input_shape,
        num_classes, sample_rate).
      own: {keyword: the model's own value} of each axis.
    """
    spec: str
    data: dict
    own: dict

    @property
    def axes(self):
        return AXES[spec_lib.parse(self.spec)[0]]

    def moves(self):
        """{keyword: cheaper values, in order} of each axis with any."""
        return {axis.keyword: axis.cheaper(self.own[axis.keyword]) for axis in self.axes
                if axis.cheaper(self.own[axis.keyword])}

    def describe_moves(self):
        """"window_ms 30 -> 16, blocks 4 -> 3, 2, 1": each axis' own and cheaper values."""
        return ", ".join(f"{k} {_text(self.own[k])} -> {', '.join(map(_text, values))}"
                         for k, values in self.moves().items())

    def combinations(self):
        """Every variant ({keyword: value}, each axis at its own or a cheaper
        value), the model itself ({}) left out; fewest changes first."""
        moves = self.moves()
        choices = [[None, *values] for values in moves.values()]
        found = []
        for picked in itertools.product(*choices):
            variant = {k: v for k, v in zip(moves, picked) if v is not None}
            if variant:
                found.append(variant)
        return sorted(found, key=len)

    def cheapest(self):
        """The variant with every axis at its cheapest value ({}: none cheaper)."""
        return {keyword: values[-1] for keyword, values in self.moves().items()}

    def spec_of(self, variant):
        """The spec of `variant` ({keyword: value}): the model's with those keywords set."""
        unknown = set(variant) - set(self.own)
        if unknown:
            raise ValueError(f"`variant` {variant!r} sets {sorted(unknown)}, not axes of "
                             f"{self.spec!r}: {sorted(self.own)}.")
        name, sizes, keywords = spec_lib.parse(self.spec)
        keywords = {**keywords, **variant}
        args = [str(s) for s in sizes] + [f"{k}={_text(v)}" for k, v in keywords.items()]
        return f"{name}:{','.join(args)}" if args else name

    def build(self, variant):
        """`variant` of the model, untrained (its own initial weights)."""
        return spec_lib.build(self.spec_of(variant), **self.data)

    def build_from(self, variant, trained):
        """`variant` of `trained`, with its weights: every weighted layer of
        the variant takes those of `trained`'s layer of the same name."""
        model = self.build(variant)
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(trained.get_layer(layer.name).get_weights())
        return model


def has_axes(model_spec):
    """Whether the zoo model `model_spec` names has variants."""
    try:
        return spec_lib.parse(model_spec)[0] in AXES
    except ValueError:
        return False


def label(variant):
    """"window_ms=16,stride_ms=32" ("" for the model itself)."""
    return ",".join(f"{k}={_text(v)}" for k, v in sorted(variant.items()))


def _text(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def _defaults(name):
    """The builder's keyword defaults of a zoo model."""
    builder = spec_lib.builder_of(name)
    return {key: p.default for key, p in inspect.signature(builder).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _data_of(model):
    """`spec.build`'s data keywords that rebuild `model`'s input and output."""
    data = {"input_shape": tuple(model.input_shape[1:]),
            "num_classes": int(model.output_shape[-1])}
    rates = [layer.sampling_rate for layer in model.layers
             if isinstance(layer, spectrogram.MelSpectrogram)]
    if rates:
        data["sample_rate"] = int(rates[0])
    return data


def of_model(model, model_spec):
    """The `Variants` of `model`, trained from `model_spec`; None if it has none.

    None when the spec names no model with axes, or when the spec does not
    build `model` again (a model shrunk or edited since it was trained):
    its layers' names and weight shapes must match.
    """
    if not model_spec:
        return None
    try:
        name, _, keywords = spec_lib.parse(model_spec)
    except ValueError:
        return None
    if name not in AXES:
        return None
    defaults = _defaults(name)
    own = {axis.keyword: keywords.get(axis.keyword, defaults[axis.keyword])
           for axis in AXES[name]}
    found = Variants(model_spec, _data_of(model), own)
    try:
        rebuilt = found.build({})
    except ValueError:
        return None
    if _weight_shapes(rebuilt) != _weight_shapes(model):
        return None
    return found


def _weight_shapes(model):
    return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers
            if layer.weights}
