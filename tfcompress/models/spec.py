"""Model specs: short strings that name a zoo model, for flags and configs.

Grammar: NAME[:ARG,ARG,...] where each ARG is an int (layer sizes, filters)
or KEY=VALUE, a keyword the model takes (a float such as dropout=0.5, an
int such as kernel_size=3, or true/false). Ints left out keep the model's
defaults.

Image models, built with `build(spec, input_shape=..., num_classes=...)`:
"lenet_300_100", "mlp:800,800", "mlp:1200,1200,dropout=0.5",
"small_cnn:16,32", "residual_cnn:32,64"; "lstm:UNITS" and "gru:UNITS"
(e.g. "lstm:128") read an image row by row, MNIST as 28 steps of 28 pixels.
For CIFAR-10 (32x32x3, their default input): "resnet8" (MLPerf Tiny's
reference; "resnet8:32" doubles every width, "resnet8:l2=1e-4" adds its
training's weight decay) and "mobilenet_v2:alpha=0.35" (keyword
imagenet_strides=true for 224x224 images).

Text models read int token ids, built with `build(spec, vocab_size=...,
sequence_length=..., num_classes=...)`. Vocabulary size and sequence length
are not in the spec: they come from the text job's vocabulary, which the
Embedding must match.
"text_cnn:EMBEDDING_DIM,FILTERS", keywords kernel_size (int), dropout:
  e.g. "text_cnn:64,128,kernel_size=5" (the defaults).
"text_lstm:EMBEDDING_DIM,UNITS", keywords bidirectional (true/false),
  dropout: e.g. "text_lstm:64,64,bidirectional=true".

Audio models read raw clips, `input_shape` (samples,) or (samples, 1), and
compute log-mel features inside the model, built with `build(spec,
input_shape=..., sample_rate=..., num_classes=...)`: "ds_cnn" (MLPerf
Tiny's keyword-spotting reference; "ds_cnn:FILTERS", keywords l2, dropout,
stem_dropout, mel_bins, window_ms, stride_ms, blocks, e.g.
"ds_cnn:64,mel_bins=10", "ds_cnn:16,window_ms=16,stride_ms=40,blocks=2").
"""

import dataclasses
from typing import Callable

from tfcompress.models import speech
from tfcompress.models import zoo


def _bool(text):
    if text.lower() not in ("true", "false"):
        raise ValueError(f"{text!r} is not true or false")
    return text.lower() == "true"


@dataclasses.dataclass(frozen=True)
class _Entry:
    """How a spec's arguments reach one zoo builder."""

    builder: Callable
    # The spec's ints: None, takes none; "list", one tuple argument (layer
    # sizes); else the names of the positional arguments they fill, in order.
    ints: str | tuple | None = None
    keywords: dict = dataclasses.field(default_factory=dict)  # KEY -> parser
    reads_tokens: bool = False
    reads_audio: bool = False  # raw clips; takes `sample_rate`


_BUILDERS = {
    "mlp": _Entry(zoo.mlp, "list", {"dropout": float, "input_dropout": float}),
    "lenet_300_100": _Entry(zoo.lenet_300_100),
    "lenet5": _Entry(zoo.lenet5),
    "small_cnn": _Entry(zoo.small_cnn, "list"),
    "residual_cnn": _Entry(zoo.residual_cnn, "list"),
    "hinton_teacher": _Entry(zoo.hinton_teacher),
    "hinton_student": _Entry(zoo.hinton_student),
    "resnet8": _Entry(zoo.resnet8, ("filters",), {"l2": float}),
    "mobilenet_v2": _Entry(zoo.mobilenet_v2, keywords={"alpha": float,
                                                       "imagenet_strides": _bool}),
    "ds_cnn": _Entry(speech.ds_cnn, ("filters",), {"l2": float, "dropout": float,
                                                   "stem_dropout": float, "mel_bins": int,
                                                   "window_ms": float, "stride_ms": float,
                                                   "blocks": int},
                     reads_audio=True),
    "lstm": _Entry(zoo.lstm, ("units",)),
    "gru": _Entry(zoo.gru, ("units",)),
    "text_cnn": _Entry(zoo.text_cnn, ("embedding_dim", "filters"),
                       {"kernel_size": int, "dropout": float}, reads_tokens=True),
    "text_lstm": _Entry(zoo.text_lstm, ("embedding_dim", "units"),
                        {"bidirectional": _bool, "dropout": float}, reads_tokens=True),
}

NAMES = tuple(sorted(_BUILDERS))
TEXT_NAMES = tuple(name for name in NAMES if _BUILDERS[name].reads_tokens)
AUDIO_NAMES = tuple(name for name in NAMES if _BUILDERS[name].reads_audio)


def parse(spec):
    """Splits a spec into (name, int args, keyword args).

    Raises:
      ValueError: unknown name, or an argument the model does not take.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"Model spec must be a non-empty string, got {spec!r}.")
    name, _, arg_text = spec.strip().partition(":")
    if name not in _BUILDERS:
        raise ValueError(
            f"Unknown model {name!r} in spec {spec!r}; known models: "
            f"{', '.join(NAMES)} (e.g. 'mlp:800,800').")
    entry = _BUILDERS[name]
    sizes, keywords = [], {}
    for arg in filter(None, (a.strip() for a in arg_text.split(","))):
        key, eq, value = arg.partition("=")
        try:
            if eq:
                if key not in entry.keywords:
                    raise ValueError(f"{name!r} takes no keyword {key!r}")
                keywords[key] = entry.keywords[key](value)
            else:
                sizes.append(int(arg))
        except ValueError as e:
            raise ValueError(
                f"Bad argument {arg!r} in model spec {spec!r} ({e}); arguments "
                f"are ints or KEY=VALUE with KEY in {list(entry.keywords)}.") from None
    if sizes and entry.ints is None:
        raise ValueError(
            f"Model {name!r} takes no arguments, got spec {spec!r}; use 'mlp:...' "
            "or 'small_cnn:...' for custom sizes.")
    if isinstance(entry.ints, tuple) and len(sizes) > len(entry.ints):
        raise ValueError(
            f"Model {name!r} takes at most {len(entry.ints)} int(s) "
            f"({', '.join(entry.ints)}), got {len(sizes)} in spec {spec!r}.")
    return name, sizes, keywords


def builder_of(name):
    """The zoo function that builds model `name` (a key of `NAMES`)."""
    return _BUILDERS[name].builder


def _data_arguments(name, input_shape, vocab_size, sequence_length):
    """The builder's data keywords, checked against what the model reads."""
    if _BUILDERS[name].reads_tokens:
        if input_shape is not None:
            raise ValueError(
                f"Model {name!r} reads token ids, not images: pass `vocab_size` and "
                f"`sequence_length` (from the text job's vocabulary), not "
                f"`input_shape` {tuple(input_shape)!r}.")
        given = {"vocab_size": vocab_size, "sequence_length": sequence_length}
        missing = [f"`{arg}`" for arg, value in given.items() if value is None]
        if missing:
            raise ValueError(f"Model {name!r} reads token ids: pass "
                             f"{' and '.join(missing)} (from the text job's vocabulary).")
        return given
    if vocab_size is not None or sequence_length is not None:
        raise ValueError(
            f"Model {name!r} reads {'audio clips' if _BUILDERS[name].reads_audio else 'images'} "
            "and takes no `vocab_size` or `sequence_length`; "
            f"for token ids use a text model ({', '.join(TEXT_NAMES)}).")
    return {} if input_shape is None else {"input_shape": input_shape}


def _audio_arguments(name, sample_rate):
    """`sample_rate` for an audio model; refused for the others."""
    if _BUILDERS[name].reads_audio:
        return {} if sample_rate is None else {"sample_rate": sample_rate}
    if sample_rate is not None:
        raise ValueError(
            f"Model {name!r} does not read audio and takes no `sample_rate` "
            f"(got {sample_rate!r}); for audio clips use {', '.join(AUDIO_NAMES)}.")
    return {}


def build(spec, *, input_shape=None, num_classes=None, vocab_size=None,
          sequence_length=None, sample_rate=None):
    """Builds the tf_keras model a spec names (see the module docstring).

    Args:
      spec: e.g. "lenet5", "lstm:128" or "text_cnn:64,128".
      input_shape: shape of one image, image models only (default MNIST's).
      num_classes: number of output logits (default the model's: 10 for
        image models, 2 for text models).
      vocab_size: number of token ids, text models only (required).
      sequence_length: tokens per example, text models only (required).
      sample_rate: the clips' rate in Hz, audio models only (default the
        model's: 16000 for "ds_cnn").

    Raises:
      ValueError: a bad spec, or data arguments the model does not read.
    """
    name, sizes, keywords = parse(spec)
    entry = _BUILDERS[name]
    data = _data_arguments(name, input_shape, vocab_size, sequence_length)
    data.update(_audio_arguments(name, sample_rate))
    if num_classes is not None:
        data["num_classes"] = num_classes
    args = (tuple(sizes),) if entry.ints == "list" and sizes else tuple(sizes)
    return entry.builder(*args, **data, **keywords)
