"""The floor of a budget: what the smallest model of an input and output takes.

Whatever `tfcompress optimize` does, its result reads the same input and
gives the same output width, and keeps the model's audio frontend (a
device needs its features). The least such classifier pools every
position away and has one Dense layer (`minimal_model`); its file's size
and latency, measured here in LiteRT, bound every plan from below. A
target under that floor is refused before any work (issue 27, point 4),
with the floor named, instead of an hour of search that cannot succeed.

The floor is a lower bound, not an estimate: a real plan also keeps some
hidden layers, so a target just above the floor passes this check and is
likely missed later; the search then reports that miss with its best
attempt, which is the behaviour the user asked for.

Hand-written: no library measures a minimal model of a given interface.
"""

import math

from tfcompress import graph
from tfcompress._keras import keras
from tfcompress.evaluate import compare_latency
from tfcompress.evaluate import measure_latency
from tfcompress.models import spectrogram
from tfcompress.shrink import latency as shrink_latency

FORMATS = shrink_latency.FORMATS
# Two small files timed together: interleaved short rounds (microseconds
# each invoke) are enough for a bound that is compared, not reported.
ROUNDS, REPEATS = 5, 200
# Global average pooling over every non-channel axis, by an input's rank
# (batch included); rank 2 (one vector per example) needs no pooling.
_POOLING = {3: keras.layers.GlobalAveragePooling1D, 4: keras.layers.GlobalAveragePooling2D,
            5: keras.layers.GlobalAveragePooling3D}
_AS = {"float": "a float", "int8": "an int8"}


def _time_files(files, num_threads):
    """{name: median ms} of `files`, timed in interleaved LiteRT rounds at batch 1."""
    timed = compare_latency(files, rounds=ROUNDS, repeats=REPEATS, batch_size=1,
                            num_threads=num_threads, xnnpack=True)
    return {name: result["median_ms"] for name, result in timed.items()}


def _output_layer(model):
    return model.outputs[0]._keras_history.layer  # pylint: disable=protected-access


def _output_activation(model):
    """The activation of `model`'s output layer (softmax, sigmoid, ...), linear if none."""
    layer = _output_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return keras.activations.softmax
    return getattr(layer, "activation", None) or keras.activations.linear


def _frontend(model):
    """(input, output) of a copy of `model`'s layers up to its audio frontend, and
    their class names.

    A copy (configs plus weights, `clone_model`): the minimal model must not
    share layers with `model`, which the caller goes on compressing. With
    several frontends, the last in `model.layers` (a topological order) ends
    the copy.
    """
    last = [layer for layer in model.layers if spectrogram.is_frontend(layer)][-1]
    front = keras.Model(model.inputs, last.output, name="frontend")
    copy = keras.models.clone_model(front)
    copy.set_weights(front.get_weights())
    described = [type(layer).__name__ for layer in copy.layers
                 if not isinstance(layer, keras.layers.InputLayer)]
    return copy.inputs[0], copy.outputs[0], described


def minimal_model(model):
    """The smallest classifier of `model`'s input and output (see the module docstring).

    `model`'s input; copies of its layers up to and including its audio
    frontend, if it has one (`spectrogram.float_layers`); global average
    pooling over every non-channel axis (none for one vector per example,
    a Flatten above rank 5); one Dense to `model`'s output width, with its
    output layer's activation (softmax, or none for logits).

    Args:
      model: a tf_keras model with one float input and one output.

    Returns:
      (the tf_keras model, a short description such as
      "GlobalAveragePooling2D + Dense(10)").

    Raises:
      ValueError: several inputs or outputs, or integer inputs (token ids:
        a text model has no floor here).
    """
    if graph.has_nested_models(model):
        model = graph.flatten(model, keras.Model)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"`model` {model.name!r} has {len(model.inputs)} inputs and "
                         f"{len(model.outputs)} outputs; the floor takes one of each.")
    if not model.inputs[0].dtype.is_floating:
        raise ValueError(
            f"`model` {model.name!r} takes {model.inputs[0].dtype.name} inputs (token "
            "ids); the floor is measured for float inputs only: skip `check_reachable` "
            "for a text model.")
    if spectrogram.float_layers(model):
        inputs, x, described = _frontend(model)
    else:
        inputs = keras.Input(model.inputs[0].shape[1:], dtype=model.inputs[0].dtype)
        x, described = inputs, []
    rank = x.shape.rank
    if rank > 2:
        pool = _POOLING.get(rank, keras.layers.Flatten)()
        x = pool(x)
        described.append(type(pool).__name__)
    units = model.outputs[0].shape[-1]
    activation = _output_activation(model)
    outputs = keras.layers.Dense(units, activation=activation)(x)
    named = "" if activation is keras.activations.linear else f", {activation.__name__}"
    described.append(f"Dense({units}{named})")
    return keras.Model(inputs, outputs, name="minimal"), " + ".join(described)


def measure_floor(model, formats=FORMATS, num_threads=1, timer=None):
    """The size and latency of `model`'s minimal model, measured in LiteRT.

    Each format's file (`shrink.latency.tflite_bytes`: int8 is calibrated on
    noise, which changes neither size nor speed) is timed in one
    interleaved call, batch 1, XNNPACK. A file LiteRT cannot run is left
    out (its error recorded).

    Args:
      model: as `minimal_model`.
      formats: a subset of ("float", "int8").
      num_threads: LiteRT threads, the run's `latency_threads`.
      timer: fn({name: tflite bytes}, num_threads) -> {name: ms}; the default
        times them in interleaved LiteRT rounds.

    Returns:
      {"latency_ms", "size_bytes" (each the least over the formats),
      "latency_format", "size_format" (the formats that gave them),
      "formats": {format: {"latency_ms", "size_bytes"} or {"error"}},
      "model": the minimal model's description, "num_threads"}.

    Raises:
      ValueError: a bad format or model, or no format's file would run.
    """
    formats = tuple(formats)
    if not formats or any(fmt not in FORMATS for fmt in formats):
        raise ValueError(f"`formats` must be some of {FORMATS}, got {formats!r}.")
    minimal, description = minimal_model(model)
    files, found = {}, {}
    for fmt in formats:
        file = shrink_latency.tflite_bytes(minimal, fmt)
        try:  # XNNPACK refuses some degenerate int8 files: the other format counts
            measure_latency(file, batch_size=1, num_threads=num_threads, warmup=0,
                            repeats=1)
        except (RuntimeError, ValueError) as e:
            found[fmt] = {"error": str(e)}
            continue
        files[fmt] = file
    if not files:
        raise ValueError(f"LiteRT could not run the minimal model ({description}) of "
                         f"`model` {model.name!r} in any of {formats}: {found}.")
    timed = (timer or _time_files)(files, num_threads)
    for fmt, file in files.items():
        found[fmt] = {"latency_ms": float(timed[fmt]), "size_bytes": len(file)}
    ran = [fmt for fmt in formats if fmt in files]
    fastest = min(ran, key=lambda fmt: found[fmt]["latency_ms"])
    smallest = min(ran, key=lambda fmt: found[fmt]["size_bytes"])
    return {"latency_ms": found[fastest]["latency_ms"], "latency_format": fastest,
            "size_bytes": found[smallest]["size_bytes"], "size_format": smallest,
            "formats": found, "model": description, "num_threads": num_threads}


def _round_up(value, digits=4):
    """`value` rounded up to `digits` significant digits (a bound that still holds)."""
    if value <= 0:
        return value
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(value)))
    return math.ceil(round(value * scale, 6)) / scale


def _kb(size_bytes):
    """Bytes as KB of 1,000 bytes, exactly: 3352 -> "3.352"."""
    return f"{size_bytes / 1000:.3f}".rstrip("0").rstrip(".")


def check_reachable(targets, floor):
    """Raises ValueError if a target is below what the minimal model takes.

    The floor's own figure is the limit: timing noise can put a real plan's
    latency a little either side of it, and a target just above the floor
    is only a lower bound's pass (see the module docstring).

    Args:
      targets: a `budget.Targets`.
      floor: what `measure_floor` returned (or read back from JSON).

    Raises:
      ValueError: naming each target below the floor, the floor, the minimal
        model that set it, and the least value to give.
    """
    refusals = []
    threads = floor["num_threads"]
    if targets.latency_ms is not None and targets.latency_ms < floor["latency_ms"]:
        least = _round_up(floor["latency_ms"])
        refusals.append(
            f"`target_latency_ms` {targets.latency_ms:g} is below the fastest a model of "
            f"this input and output runs here: {least:g} ms ({_AS[floor['latency_format']]} "
            f"{floor['model']}, batch 1 at {threads} thread{'s' * (threads != 1)}); give at "
            f"least {least:g}.")
    if targets.size_kb is not None and round(targets.size_kb * 1000, 6) < floor["size_bytes"]:
        least = _kb(floor["size_bytes"])
        refusals.append(
            f"`target_size_kb` {targets.size_kb:g} is below the smallest file a model of "
            f"this input and output takes here: {least} KB ({_AS[floor['size_format']]} "
            f"{floor['model']}); give at least {least}.")
    if refusals:
        raise ValueError(" ".join(refusals))
