"""How many threads LiteRT uses by default: time a file three ways.

  python benchmarks/litert_threads.py --tflite=RUN/baseline/model.tflite

An `Interpreter` built without `num_threads`, with 1 and with 2, in
interleaved rounds (median of 500 invokes at batch 1 after 50 warm-up ones,
XNNPACK on, as LiteRT applies it by default). Built here directly, not
through `tfcompress.runtime`, which always sets the thread count.
"""

import statistics
import time

import numpy as np
from absl import app
from absl import flags
from ai_edge_litert.interpreter import Interpreter

_TFLITE = flags.DEFINE_string("tflite", None, "A float .tflite file.", required=True)
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Interleaved rounds.", lower_bound=1)


def _median_ms(path, **threads):
    interpreter = Interpreter(model_path=path, **threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    batch = np.random.default_rng(0).uniform(size=detail["shape"])
    interpreter.set_tensor(detail["index"], batch.astype(detail["dtype"]))
    for _ in range(50):
        interpreter.invoke()
    times = []
    for _ in range(500):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv):
    del argv
    settings = {"default": {}, "1 thread": {"num_threads": 1},
                "2 threads": {"num_threads": 2}}
    for round_index in range(_ROUNDS.value):
        print(f"round {round_index}: " + ", ".join(
            f"{name} {_median_ms(_TFLITE.value, **kwargs):.4f} ms"
            for name, kwargs in settings.items()))


if __name__ == "__main__":
    app.run(main)
