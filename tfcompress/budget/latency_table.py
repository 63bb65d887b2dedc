"""A model's LiteRT latency predicted from its layers' measured latencies.

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

Entries are keyed by the layer's class, config (less its name) and input
shape, so width sets that share a layer's widths share its entry.

Hand-written: no library builds LiteRT latency tables of Keras layers.
"""

import dataclasses
import json

from tfcompress import graph
from tfcompress._keras import keras
from tfcompress.evaluate import compare_latency
from tfcompress.shrink import latency as shrink_latency

FORMATS = shrink_latency.FORMATS
TIMED_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                keras.layers.SeparableConv2D, keras.layers.Dense)
# Every table file is timed in the same interleaved rounds (the machine
# drifts); short rounds suffice for single layers of microseconds.
ROUNDS, REPEATS = 3, 200


def timed_layers(model):
    """The layers of `model` whose latency the table holds, in the model's order."""
    return [layer for layer in graph.layers(model) if isinstance(layer, TIMED_LAYERS)]


def layer_key(layer):
    """The table key of `layer`: its class, its config less its name, its input shape."""
    config = {k: v for k, v in layer.get_config().items() if k != "name"}
    shape = [None, *layer.input_shape[1:]]
    return json.dumps([type(layer).__name__, config, shape], sort_keys=True, default=str)


def layer_alone(layer):
    """A model of `layer` alone (fresh weights) at `layer`'s input shape."""
    copy = type(layer).from_config(layer.get_config())
    inputs = keras.Input(layer.input_shape[1:])
    return keras.Model(inputs, copy(inputs))


def _time_files(files, latency_format, num_threads):
    timed = compare_latency(files, rounds=ROUNDS, repeats=REPEATS, batch_size=1,
                            num_threads=num_threads, xnnpack=True)
    return {name: result["median_ms"] for name, result in timed.items()}


@dataclasses.dataclass
class LatencyTable:
    """Measured layer latencies, and a model's latency predicted from them.

    Attributes:
      latency_format: "float" or "int8": the file each entry and model is
        timed as (`shrink.latency.tflite_bytes`).
      num_threads: LiteRT threads.
      entries: layer key -> milliseconds.
      rest_ms: the reference model's measured file less its entries' sum
        (`calibrate`); None before.
      timer: fn({name: tflite bytes}, latency_format, num_threads) ->
        {name: ms}; the default times them in interleaved LiteRT rounds.
    """

    latency_format: str = "float"
    num_threads: int = 1
    entries: dict = dataclasses.field(default_factory=dict)
    rest_ms: float = None
    timer: object = _time_files

    def __post_init__(self):
        if self.latency_format not in FORMATS:
            raise ValueError(f"`latency_format` must be one of {FORMATS}, got "
                             f"{self.latency_format!r}.")

    def add(self, *models):
        """Measures the layers of `models` the table lacks; returns how many were new."""
        missing = {}
        for model in models:
            for layer in timed_layers(model):
                key = layer_key(layer)
                if key not in self.entries and key not in missing:
                    missing[key] = layer
        if missing:
            files = {key: shrink_latency.tflite_bytes(layer_alone(layer), self.latency_format)
                     for key, layer in missing.items()}
            self.entries.update(self.timer(files, self.latency_format, self.num_threads))
        return len(missing)

    def layers_ms(self, model):
        """The sum of `model`'s layer entries (measured first where missing)."""
        self.add(model)
        return sum(self.entries[layer_key(layer)] for layer in timed_layers(model))

    def measure(self, model):
        """`model`'s whole file, timed as the entries are."""
        file = shrink_latency.tflite_bytes(model, self.latency_format)
        return self.timer({"model": file}, self.latency_format, self.num_threads)["model"]

    def calibrate(self, model):
        """Sets `rest_ms` from `model` (the full-width one); returns its measured ms."""
        measured = self.measure(model)
        self.rest_ms = measured - self.layers_ms(model)
        return measured

    def predict(self, model):
        """`model`'s predicted milliseconds: its entries' sum plus `rest_ms`."""
        if self.rest_ms is None:
            raise ValueError("The table has no `rest_ms` yet: call `calibrate` with the "
                             "full-width model first.")
        return self.layers_ms(model) + self.rest_ms

    def check(self, models):
        """Each of `models` predicted and measured as whole files.

        Returns:
          {"models": [{"name", "predicted_ms", "measured_ms", "error"}],
          "mean_abs_error", "max_abs_error"}, error = predicted / measured - 1.
        """
        rows = []
        for model in models:
            predicted, measured = self.predict(model), self.measure(model)
            rows.append({"name": model.name, "predicted_ms": predicted,
                         "measured_ms": measured, "error": predicted / measured - 1})
        errors = [abs(row["error"]) for row in rows]
        return {"models": rows, "mean_abs_error": sum(errors) / max(1, len(errors)),
                "max_abs_error": max(errors, default=0.0)}

    def to_json(self):
        return {"latency_format": self.latency_format, "num_threads": self.num_threads,
                "entries": dict(self.entries), "rest_ms": self.rest_ms}

    @classmethod
    def from_json(cls, record, timer=_time_files):
        """A table written by `to_json` (a resumed run reuses its measurements)."""
        return cls(latency_format=record["latency_format"],
                   num_threads=record["num_threads"], entries=dict(record["entries"]),
                   rest_ms=record["rest_ms"], timer=timer)
