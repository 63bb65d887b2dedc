"""A model's LiteRT latency and file size predicted from its layers' measured ones.

NetAdapt (Yang et al. 2018, arXiv:1804.03230, section 3.2) predicts a
network's latency on a device as the sum of its layers' latencies, each
measured once per input and output width and kept in a lookup table; a
search then tries thousands of width sets without converting or timing any
of them. Here a layer's entry is a file holding that layer alone, built
from its config at its input shape and timed in LiteRT (batch 1, float or
int8 as the model would be exported). Convolutions, depthwise convolutions
and dense layers are timed: they are nearly all of a CNN's or MLP's time,
and batch norm and activations fold into them in the exported file. What
the table does not hold (pooling, adds, the QUANTIZE/DEQUANTIZE ends, the
invoke itself) is the model's `rest`: its measured file less the sum of its
entries, measured once at full width and assumed the same at other widths
(`check` says how far that holds).

File size is predicted the same way. An entry's bytes are its file's less
those of an empty file (input straight to output) of the same input and
format, so the flatbuffer's fixed tables (about 550 bytes) are not counted
once per layer: an entry is the layer's own share (its weights, its
quantization parameters, its op and tensors). Widths change neither how
many layers a model has nor their kinds, so across a width search the
subtraction leaves the prediction as it was (`rest_bytes` would absorb any
per-layer constant; benchmarks/latency_table.py shows both, the same to
the byte); it matters when the layer count differs. `rest_bytes` then
holds the untimed layers' ops and tensors and the file's own tables, less,
in int8, each layer file's QUANTIZE/DEQUANTIZE pair and float ends (-3.2
to +1.4 KB on ResNet-8 and issue 26's CNN, float and int8).
The full model's file and its layers' files are timed in one interleaved
call (`calibrate`), as are the whole files `check` compares.

Entries are keyed by the layer's class, config (less its name) and input
shape, so width sets that share a layer's widths share its entry.

Hand-written: no library builds LiteRT lookup tables of Keras layers.
"""

import dataclasses
import functools
import json

import numpy as np

from tfcompress import graph
from tfcompress._keras import keras
from tfcompress.budget import layer_bytes
from tfcompress.evaluate import compare_latency
from tfcompress.shrink import latency as shrink_latency

FORMATS = shrink_latency.FORMATS
TIMED_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                keras.layers.SeparableConv2D, keras.layers.Dense)
# Every file of a call is timed in the same interleaved rounds (the machine
# drifts); short rounds suffice for single layers of microseconds. More
# rounds give a slow phase less weight in each median, for a second or two
# per table (converting takes most of its time): on the loaded 2-core
# machine the full-width file timed again drifted by over 10% in 2 of 4
# tables at 3 rounds, 6 of 28 at 7. Slow phases of 10 s or more still get
# through (benchmarks/latency_table.py shows them).
ROUNDS, REPEATS = 7, 200


def timed_layers(model):
    """The layers of `model` whose latency the table holds, in the model's order."""
    return [layer for layer in graph.layers(model) if isinstance(layer, TIMED_LAYERS)]


@dataclasses.dataclass(frozen=True, eq=False)
class TableLayer:
    """A layer as the table knows it: its class, config and input shape.

    Made from a built layer (`of`), or from a width set without building the
    model (`layers_at`): a width search looks up thousands of width sets,
    and building each model took most of its time.

    Attributes:
      kind: the layer's class.
      config: its config.
      input_shape: its input's shape, without the batch.
    """
    kind: type
    config: dict
    input_shape: tuple

    @classmethod
    def of(cls, layer):
        return cls(type(layer), layer.get_config(), tuple(layer.input_shape[1:]))

    @functools.cached_property
    def key(self):
        """The table key: the class, the config less its name, the input shape."""
        config = {k: v for k, v in self.config.items() if k != "name"}
        return json.dumps([self.kind.__name__, config, [None, *self.input_shape]],
                          sort_keys=True, default=str)

    def alone(self):
        """A model of this layer alone at its input shape, with seeded random weights.

        Not the fresh ones: a bias initialised to zeros is dropped by the
        converter (or shares one zero buffer), and with it its int32 values
        and per-channel scales, 16 bytes a unit in an int8 file. A trained
        model's bias is there, so the entry left those bytes to `rest_bytes`,
        which does not narrow: LeNet-300-100's int8 file at 16/16 units was
        predicted 5,888 bytes (35%) too large.
        """
        copy = self.kind.from_config(self.config)
        inputs = keras.Input(self.input_shape)
        model = keras.Model(inputs, copy(inputs))
        rng = np.random.default_rng(0)
        copy.set_weights([rng.standard_normal(w.shape).astype(w.dtype) * 0.1
                          for w in copy.get_weights()])
        return model


def table_layers(model):
    """`TableLayer`s of `model`'s timed layers, in its order."""
    return [TableLayer.of(layer) for layer in timed_layers(model)]


def layers_at(narrow, widths):
    """`TableLayer`s of the model `narrow.build(widths)` makes, in its order,
    without building it (`shrink.Narrowing.layers_at`); built only when the
    model nests models (their layers are not the narrowing's to name)."""
    model = narrow.graph.model
    names = [layer.name for layer in timed_layers(model)]
    if not set(names) <= {layer.name for layer in model.layers}:
        return table_layers(narrow.build(widths))
    found = narrow.layers_at(widths, names)
    return [TableLayer(*found[name]) for name in names]


def layer_key(layer):
    """The table key of `layer` (`TableLayer.key`)."""
    return TableLayer.of(layer).key


def layer_alone(layer):
    """`layer` alone (`TableLayer.alone`)."""
    return TableLayer.of(layer).alone()


@functools.lru_cache(maxsize=None)
def empty_bytes(input_shape, latency_format):
    """Bytes of a file passing an input of `input_shape` (no batch) straight out."""
    inputs = keras.Input(input_shape)
    return len(shrink_latency.tflite_bytes(
        keras.Model(inputs, keras.layers.Identity()(inputs)), latency_format))


def time_files(files, latency_format, num_threads, rounds=ROUNDS, repeats=REPEATS):
    """The default timer: {name: median ms} of `files`, in interleaved LiteRT rounds.

    `latency_format` is unused (the files are already converted); a timer
    that keeps results per format may use it.
    """
    del latency_format
    timed = compare_latency(files, rounds=rounds, repeats=repeats, batch_size=1,
                            num_threads=num_threads, xnnpack=True)
    return {name: result["median_ms"] for name, result in timed.items()}


def _table_layers(model):
    """`model`'s `TableLayer`s; `model` may be a list of them already (`layers_at`)."""
    return model if isinstance(model, list) else table_layers(model)


def _relative_error(predicted, measured):
    return predicted / measured - 1


@dataclasses.dataclass
class LatencyTable:
    """Measured layer latencies and sizes, and a model's predicted from them.

    Attributes:
      latency_format: "float" or "int8": the file each entry and model is
        converted to (`shrink.latency.tflite_bytes`).
      num_threads: LiteRT threads.
      entries: layer key -> {"ms": milliseconds, "bytes": the layer's file
        less an empty file's}.
      rest_ms: the reference model's measured file less its entries' sum
        (`calibrate`); None before.
      rest_bytes: the same for the file's bytes.
      timer: fn({name: tflite bytes}, latency_format, num_threads) ->
        {name: ms}; the default times them in interleaved LiteRT rounds.
        None: nothing is timed (a size budget): every ms is 0, and a new
        layer's bytes are fitted on its family's measured files where they
        settle them (`layer_bytes`; such entries hold "fitted": True),
        else converted.
    """

    latency_format: str = "float"
    num_threads: int = 1
    entries: dict = dataclasses.field(default_factory=dict)
    rest_ms: float = None
    rest_bytes: int = None
    timer: object = time_files

    def __post_init__(self):
        if self.latency_format not in FORMATS:
            raise ValueError(f"`latency_format` must be one of {FORMATS}, got "
                             f"{self.latency_format!r}.")
        self._families = layer_bytes.Families()
        for key, entry in self.entries.items():
            if "counts" in entry:
                self._families.add(key, entry["counts"], entry["bytes"])

    def _new_layers(self, models):
        """{key: `TableLayer`} of the layers of `models` the table lacks."""
        layers = {}
        for model in models:
            for layer in _table_layers(model):
                if layer.key not in self.entries and layer.key not in layers:
                    layers[layer.key] = layer
        return layers

    def _file(self, model):
        return shrink_latency.tflite_bytes(model, self.latency_format)

    def _store(self, layers, files, timed, counted):
        """Enters `layers` with their files' bytes and their milliseconds in `timed`
        (an untimed table's entries hold the layer's `counted` counts for the fits)."""
        for key, layer in layers.items():
            empty = empty_bytes(layer.input_shape, self.latency_format)
            entry = {"ms": timed[key], "bytes": len(files[key]) - empty}
            if key in counted:
                entry["counts"] = counted[key]
                self._families.add(key, entry["counts"], entry["bytes"])
            self.entries[key] = entry

    def _fit(self, layers, counted):
        """Enters the `layers` whose bytes their families' files settle, given
        their `counted` counts; returns the others."""
        for key, layer in list(layers.items()):
            size = self._families.fitted(key, counted[key])
            if size is not None:
                self.entries[key] = {"ms": 0.0, "bytes": size, "fitted": True}
                del layers[key]
        return layers

    def _measure(self, layers_of, models=()):
        """Converts `models` and the layers of `layers_of` the table lacks, times
        them all in one interleaved call and enters the new layers.

        Returns:
          (how many layers were new, [(file, ms)] of `models` in order).
        """
        layers = self._new_layers(layers_of)
        new = len(layers)
        counted = {}  # an untimed table's: each new layer's counts, built once
        if self.timer is None:
            counted = {key: layer_bytes.counts(layer) for key, layer in layers.items()}
            layers = self._fit(layers, counted)
        files = {key: self._file(layer.alone()) for key, layer in layers.items()}
        # Layer keys are JSON lists ("[..."): these names cannot collide.
        whole = {f"model {i}: {model.name}": self._file(model)
                 for i, model in enumerate(models)}
        timed = {}
        if self.timer is None:
            timed = {name: 0.0 for name in (*files, *whole)}
        elif files or whole:
            timed = self.timer({**files, **whole}, self.latency_format, self.num_threads)
        self._store(layers, files, timed, counted)
        return new, [(data, timed[name]) for name, data in whole.items()]

    def add(self, *models):
        """Measures the layers of `models` (models, or lists of `TableLayer`) the
        table lacks; returns how many were new."""
        return self._measure(models)[0]

    def layers_ms(self, model):
        """The sum of `model`'s layer entries' ms (measured first where missing)."""
        return self._layers_sum(model, "ms")

    def layers_bytes(self, model):
        """The sum of `model`'s layer entries' bytes (measured first where missing)."""
        return self._layers_sum(model, "bytes")

    def _layers_sum(self, model, field):
        layers = _table_layers(model)
        self.add(layers)
        return sum(self.entries[layer.key][field] for layer in layers)

    def calibrate(self, model):
        """Sets `rest_ms` and `rest_bytes` from `model` (the full-width one).

        Its file and its missing layers are timed in the same interleaved call.

        Returns:
          {"ms", "bytes"}: `model`'s measured file.
        """
        _, ((data, measured),) = self._measure([model], [model])
        self.rest_ms = measured - self.layers_ms(model)
        self.rest_bytes = len(data) - self.layers_bytes(model)
        return {"ms": measured, "bytes": len(data)}

    def _check_calibrated(self):
        if self.rest_ms is None or self.rest_bytes is None:
            raise ValueError("The table has no `rest_ms` and `rest_bytes` yet: call "
                             "`calibrate` with the full-width model first.")

    def predict(self, model):
        """`model`'s predicted milliseconds: its entries' sum plus `rest_ms`.

        `model`: a tf_keras model, or its `TableLayer`s (`layers_at`)."""
        self._check_calibrated()
        return self.layers_ms(model) + self.rest_ms

    def predict_bytes(self, model):
        """`model`'s predicted file bytes (a model or its `TableLayer`s): its
        entries' sum plus `rest_bytes`."""
        self._check_calibrated()
        return self.layers_bytes(model) + self.rest_bytes

    def check(self, models, reference=None):
        """Each of `models` predicted, and measured as a whole file.

        Every model is converted first, then all their files (and any layer
        the table lacks) are timed in one interleaved call, so the machine's
        drift falls on all of them alike. The entries and `rest_ms` were
        timed in earlier calls, though: pass the calibrated model as
        `reference` and it is timed in the same call, its error is the
        drift since, and each model's ratio error (its predicted over
        measured ms, each relative to the reference's) leaves that out.

        Args:
          models: tf_keras models (e.g. narrower width sets).
          reference: optional model timed with them (the calibrated one).

        Returns:
          {"models": [{"name", "predicted_ms", "measured_ms", "error",
          "predicted_bytes", "measured_bytes", "bytes_error"[, "ratio_error"]}],
          "mean_abs_error", "max_abs_error", "mean_abs_bytes_error",
          "max_abs_bytes_error"[, "mean_abs_ratio_error", "max_abs_ratio_error",
          "reference": its row]}; error = predicted / measured - 1.
        """
        self._check_calibrated()
        if self.timer is None:
            raise ValueError("This table times nothing (`timer` None): it has no "
                             "latencies to check.")
        models = list(models)
        timed = models + ([reference] if reference is not None else [])
        rows = []
        for model, (data, measured) in zip(timed, self._measure(timed, timed)[1]):
            predicted, predicted_bytes = self.predict(model), self.predict_bytes(model)
            rows.append({"name": model.name, "predicted_ms": predicted,
                         "measured_ms": measured,
                         "error": _relative_error(predicted, measured),
                         "predicted_bytes": predicted_bytes, "measured_bytes": len(data),
                         "bytes_error": _relative_error(predicted_bytes, len(data))})
        report = {}
        fields = ["error", "bytes_error"]
        if reference is not None:
            report["reference"] = ref = rows.pop()
            for row in rows:
                row["ratio_error"] = _relative_error(
                    row["predicted_ms"] / ref["predicted_ms"],
                    row["measured_ms"] / ref["measured_ms"])
            fields.append("ratio_error")
        report["models"] = rows
        for field in fields:
            errors = [abs(row[field]) for row in rows]
            report[f"mean_abs_{field}"] = sum(errors) / max(1, len(errors))
            report[f"max_abs_{field}"] = max(errors, default=0.0)
        return report

    def to_json(self):
        return {"latency_format": self.latency_format, "num_threads": self.num_threads,
                "entries": {key: dict(entry) for key, entry in self.entries.items()},
                "rest_ms": self.rest_ms, "rest_bytes": self.rest_bytes}

    @classmethod
    def from_json(cls, record, timer=time_files):
        """A table written by `to_json` (a resumed run reuses its measurements).

        Raises:
          ValueError: `record` was written before entries held bytes.
        """
        entries = record["entries"]
        if "rest_bytes" not in record or any(
                not isinstance(entry, dict) for entry in entries.values()):
            raise ValueError("`record` is a latency table without file bytes (written "
                             "by an older tfcompress): build the table again.")
        return cls(latency_format=record["latency_format"],
                   num_threads=record["num_threads"],
                   entries={key: dict(entry) for key, entry in entries.items()},
                   rest_ms=record["rest_ms"], rest_bytes=record["rest_bytes"], timer=timer)
