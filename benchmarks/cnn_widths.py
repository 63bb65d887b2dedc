"""Why a CNN shrunk to half its MACs is not twice as fast: widths, int8 and its ends.

  python benchmarks/cnn_widths.py --threads=1 --rounds=5

Three measurements, every file timed at batch 1 in LiteRT with XNNPACK in
interleaved rounds (`evaluate.compare_latency`), untrained weights (speed does
not depend on their values; int8 files are calibrated on seeded noise):

1. One 3x3 convolution on a 16x16 map, `w` channels in and out, for a sweep
   of widths: milliseconds per million MACs shows whether the kernels favour
   widths that are multiples of the SIMD width (16 float32 lanes with
   AVX-512, 8 with AVX2 and NEON).
2. The CIFAR-10 CNN of issue 26 (3x3 convolutions of 16/32/64 filters, each
   followed by 2x2 max pooling, then global average pooling and a dense
   layer), at the shrunk widths 11/22/45 that `shrink` gave it at half the
   MACs, and at the same widths rounded to multiples of 8 and of 16.
3. Each of those as int8 with float input and output (QUANTIZE and
   DEQUANTIZE at the ends, as tfcompress exports by default) and with int8
   input and output, to see what the ends cost.
4. With --shrink: what `shrink.shrink` itself now gives that CNN, for half
   the MACs and for a latency target (a fraction of the CNN's own float file's
   time, measured first), with widths not rounded (round_to=1) and rounded to
   this machine's kernel tile (the default for a latency target: 16 here,
   `runtime.kernel_tiles`); every result timed again in one interleaved
   call. Untrained weights: the l2 criterion then picks channels at random,
   which does not change speed.
"""

import json

import numpy as np
from absl import app
from absl import flags

from tfcompress import evaluate
from tfcompress._keras import keras
from tfcompress.evaluate import macs as macs_lib
from tfcompress import shrink
from tfcompress.export import tflite
from tfcompress.runtime import kernel_tiles

from cifar_models import cifar_cnn  # benchmarks/, this script's directory

_THREADS = flags.DEFINE_integer("threads", 1, "LiteRT threads.", lower_bound=1)
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Interleaved rounds.", lower_bound=1)
_REPEATS = flags.DEFINE_integer("repeats", 300, "Invokes per file per round.",
                                lower_bound=1)
_SWEEP = flags.DEFINE_list("sweep", ["8", "11", "12", "16", "20", "22", "24", "32", "40",
                                     "45", "48", "56", "64"],
                           "Widths of the one-convolution sweep.")
_OUTPUT = flags.DEFINE_string("output", None, "Also write the results as JSON here.")
_SHRINK = flags.DEFINE_bool("shrink", False, "Also shrink the CNN with shrink.shrink "
                            "(MACs and latency targets, rounded or not) and time it.")
_LATENCY_SHARE = flags.DEFINE_float("latency_share", 0.6, "--shrink's latency target: "
                                    "this share of the CNN's float file's time.")
_SKIP_TABLES = flags.DEFINE_bool("skip_tables", False, "Only the --shrink part.")

# The CNN's widths: the user's, shrunk to half the MACs, and rounded up.
CNN_WIDTHS = {"original 16/32/64": (16, 32, 64), "shrunk 11/22/45": (11, 22, 45),
              "rounded to 8: 16/24/48": (16, 24, 48),
              "rounded to 16: 16/32/48": (16, 32, 48),
              "rounded to 16, fewer MACs: 16/16/48": (16, 16, 48)}


def one_conv(width):
    inputs = keras.Input((16, 16, width))
    outputs = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, outputs, name=f"conv_{width}")


def files_of(model, int8_io_too=False):
    """{format: tflite bytes}: float, int8 (float ends) and optionally int8 ends."""
    shape = model.inputs[0].shape[1:]
    noise = np.random.default_rng(0).standard_normal((16, *shape)).astype(np.float32)
    files = {"float": tflite.convert(model),
             "int8": tflite.convert(model, quantization="int8", representative_data=noise,
                                    num_samples=16)}
    if int8_io_too:
        files["int8, int8 ends"] = tflite.convert(
            model, quantization="int8", representative_data=noise, num_samples=16,
            int8_io=True)
    return files


def timed(files):
    results = evaluate.compare_latency(files, rounds=_ROUNDS.value, repeats=_REPEATS.value,
                                       batch_size=1, num_threads=_THREADS.value)
    return {name: row["median_ms"] for name, row in results.items()}


def _widths(model):
    return tuple(layer.filters for layer in model.layers
                 if isinstance(layer, keras.layers.Conv2D))


def shrink_part(report):
    """The CNN shrunk by `shrink.shrink` itself, widths rounded or not, timed."""
    original = cifar_cnn((16, 32, 64))
    own_ms = timed({"own": tflite.convert(original)})["own"]
    target_ms = _LATENCY_SHARE.value * own_ms
    models = {"original 16/32/64": original}
    for fmt in ("float", "int8"):
        tile = kernel_tiles.kernel_tile(fmt)
        print(f"kernel tile here, {fmt}: {tile.channels} ({tile.reason})")
    for target_name, target in (("macs 0.5", {"target_macs": 0.5}),
                                (f"latency {target_ms:.4f} ms float",
                                 {"target_latency_ms": target_ms})):
        # The default (None) rounds for a latency target only; "auto" asks for it.
        for round_to in ((None, "auto") if "target_macs" in target else (1, None)):
            try:
                result = shrink.shrink(original, **target, round_to=round_to)
            except ValueError as e:  # a latency target missed on a noisy machine
                print(f"{target_name}, round_to={round_to}: {e}")
                continue
            rounded = f"{result.round_to['multiple']} ({result.round_to['from']})"
            models[f"{target_name}, round_to {rounded}"] = result.model
    files = {}
    for name, model in models.items():
        for kind, data in files_of(model).items():
            files[f"{name} | {kind}"] = data
    ms = timed(files)
    base = ms["original 16/32/64 | float"]
    print(f"\nThe CNN shrunk by shrink.shrink, batch 1, {_THREADS.value} thread(s), "
          f"speed-up against the original float file (latency target "
          f"{target_ms:.4f} ms = {_LATENCY_SHARE.value} x {own_ms:.4f} ms, float, timed "
          "by the search itself at 2 threads):")
    print("| shrunk for | widths | MMACs | float ms | int8 ms | float speed-up | "
          "int8 speed-up |")
    print("|---|---|---|---|---|---|---|")
    report["shrink"] = {"target_ms": target_ms, "own_ms": own_ms, "rows": {}}
    for name, model in models.items():
        size = macs_lib.count_macs(model)["total"] / 1e6
        fl, q = ms[f"{name} | float"], ms[f"{name} | int8"]
        widths = "/".join(map(str, _widths(model)))
        report["shrink"]["rows"][name] = {"widths": widths, "mmacs": size,
                                          "float_ms": fl, "int8_ms": q}
        print(f"| {name} | {widths} | {size:.2f} | {fl:.4f} | {q:.4f} | "
              f"{base / fl:.2f}x | {base / q:.2f}x |")


def main(argv):
    del argv
    report = {"threads": _THREADS.value, "rounds": _ROUNDS.value, "sweep": {}, "cnn": {}}
    if _SKIP_TABLES.value:
        shrink_part(report)
        return _write(report)
    files, mmacs = {}, {}
    for width in map(int, _SWEEP.value):
        model = one_conv(width)
        mmacs[width] = macs_lib.count_macs(model)["total"] / 1e6
        for kind, data in files_of(model).items():
            files[f"{width} {kind}"] = data
    ms = timed(files)
    print(f"One 3x3 convolution, 16x16 map, w in = w out; {_THREADS.value} thread(s):")
    print("| width | MMACs | float ms | float ms/MMAC | int8 ms | int8 ms/MMAC | "
          "int8/float |")
    print("|---|---|---|---|---|---|---|")
    for width, size in mmacs.items():
        fl, q = ms[f"{width} float"], ms[f"{width} int8"]
        report["sweep"][width] = {"mmacs": size, "float_ms": fl, "int8_ms": q}
        print(f"| {width} | {size:.3f} | {fl:.4f} | {fl / size:.4f} | {q:.4f} | "
              f"{q / size:.4f} | {q / fl:.2f} |")

    files, mmacs = {}, {}
    for name, widths in CNN_WIDTHS.items():
        model = cifar_cnn(widths)
        mmacs[name] = macs_lib.count_macs(model)["total"] / 1e6
        for kind, data in files_of(model, int8_io_too=True).items():
            files[f"{name} | {kind}"] = data
    ms = timed(files)
    base = ms[f"original 16/32/64 | float"]
    print(f"\nCIFAR-10 CNN, batch 1, {_THREADS.value} thread(s), speed-up against the "
          "original float file:")
    print("| widths | MMACs | float ms | int8 ms | int8 (int8 ends) ms | float speed-up | "
          "int8 speed-up |")
    print("|---|---|---|---|---|---|---|")
    for name, size in mmacs.items():
        row = {kind: ms[f"{name} | {kind}"] for kind in ("float", "int8",
                                                          "int8, int8 ends")}
        report["cnn"][name] = {"mmacs": size, **row}
        print(f"| {name} | {size:.2f} | {row['float']:.4f} | {row['int8']:.4f} | "
              f"{row['int8, int8 ends']:.4f} | {base / row['float']:.2f}x | "
              f"{base / row['int8']:.2f}x |")
    if _SHRINK.value:
        shrink_part(report)
    return _write(report)


def _write(report):
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    app.run(main)
