"""Grow-back widths against the uniform cut: the issue's CNN and ResNet-8.

  python benchmarks/shrink_growback.py --threads=1 --rounds=5

Every file is timed at batch 1 in LiteRT with XNNPACK, `--threads` threads,
in one interleaved call per table (`evaluate.compare_latency`); untrained
weights (speed does not depend on their values; the l2 criterion then picks
channels at random, which does not change speed either); int8 files
calibrated on seeded noise.

1. The CIFAR-10 CNN of issue 26 (16/32/64 filters, each conv followed by 2x2
   max pooling): `shrink.shrink` at half the MACs with round_to=auto (16 on
   AVX-512) and at a latency target (`--latency_share` of its own float
   file, timed first; searched at `--threads`), search="uniform" and
   search="grow" (the default for rounded widths).
2. ResNet-8 (`zoo.resnet8()`, 32x32x3, 16/32/64): target_macs=0.5 with
   round_to=16 and 8, uniform and grow; then explicit width sets; and, with
   --resnet_latency, an int8 latency target of the reference int8 file's
   time / `--resnet_speedup`. Issue 26 asks for >= 2x fewer MACs and >= 1.8x
   faster int8 at 1 thread than the reference int8 ResNet-8.
"""

import json
import time

import numpy as np
from absl import app
from absl import flags

from tfcompress import evaluate
from tfcompress import shrink
from tfcompress.evaluate import macs as macs_lib
from tfcompress.export import tflite
from tfcompress.models import zoo

from cifar_models import cifar_cnn  # benchmarks/, this script's directory

_THREADS = flags.DEFINE_integer("threads", 1, "LiteRT threads.", lower_bound=1)
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Interleaved rounds.", lower_bound=1)
_REPEATS = flags.DEFINE_integer("repeats", 300, "Invokes per file per round.",
                                lower_bound=1)
_LATENCY_SHARE = flags.DEFINE_float("latency_share", 0.6, "The CNN's latency target: "
                                    "this share of its float file's time.")
_RESNET_LATENCY = flags.DEFINE_bool("resnet_latency", True, "Also shrink ResNet-8 to an "
                                    "int8 latency target (up to ~30 timed files).")
_RESNET_SPEEDUP = flags.DEFINE_float("resnet_speedup", 1.8, "ResNet-8's int8 latency "
                                     "target: the reference int8 file's time over this.")
_RESNET_ROUND_TO = flags.DEFINE_string("resnet_round_to", "auto", "round_to of ResNet-8's "
                                       "latency target: auto (16 here) or a number.")
_RESNET_MACS = flags.DEFINE_bool("resnet_macs", True, "ResNet-8's MACs targets and "
                                 "explicit width sets.")
_PARTS = flags.DEFINE_list("parts", ["cnn", "resnet8"], "What to run: cnn, resnet8.")
_OUTPUT = flags.DEFINE_string("output", None, "Also write the results as JSON here.")

# ResNet-8's groups, in shrink's order: stem + stack 1's residual, stack 1's
# inner conv, stack 2's inner conv, stack 2's residual (+ shortcut), stack 3's
# inner conv, stack 3's residual (+ shortcut).
RESNET_GROUPS = ("stack_1_conv_2", "stack_1_conv_1", "stack_2_conv_1", "stack_2_conv_2",
                 "stack_3_conv_1", "stack_3_conv_2")
RESNET_WIDTHS = {
    "all 16": (16, 16, 16, 16, 16, 16),
    "8/8 16/16 32/32": (8, 8, 16, 16, 32, 32),
    "8/8 16/16 48/48": (8, 8, 16, 16, 48, 48),
    "8/8 32/32 32/32": (8, 8, 32, 32, 32, 32),
    "8/8 16/16 64/64": (8, 8, 16, 16, 64, 64),
    "16/8 16/16 32/32": (16, 8, 16, 16, 32, 32),
    "8/16 16/16 32/32": (8, 16, 16, 16, 32, 32),
}


def files_of(model):
    """{"float", "int8"}: tflite bytes; int8 with float ends, calibrated on noise."""
    shape = model.inputs[0].shape[1:]
    noise = np.random.default_rng(0).standard_normal((16, *shape)).astype(np.float32)
    return {"float": tflite.convert(model),
            "int8": tflite.convert(model, quantization="int8", representative_data=noise,
                                   num_samples=16)}


def timed(files):
    results = evaluate.compare_latency(files, rounds=_ROUNDS.value, repeats=_REPEATS.value,
                                       batch_size=1, num_threads=_THREADS.value)
    return {name: row["median_ms"] for name, row in results.items()}


def widths_text(result):
    return "/".join(str(g.after) for g in result.groups)


def attempt(label, model, rows, **kwargs):
    """shrink.shrink(model, **kwargs) into `rows`, or the reason it could not."""
    started = time.time()
    try:
        result = shrink.shrink(model, **kwargs)
    except ValueError as e:
        print(f"{label}: {e}")
        rows[label] = {"error": str(e)}
        return None
    seconds = time.time() - started
    print(f"{label}: {widths_text(result)}, {shrink.describe_search(result.search)} "
          f"({seconds:.1f} s)")
    rows[label] = {"model": result.model, "widths": widths_text(result),
                   "search": result.search, "seconds": seconds,
                   "latency_search": result.latency}
    return result


def table(title, rows, reference):
    """Times every row's float and int8 file with `reference`'s, prints the table."""
    files = {}
    for name, row in rows.items():
        if "model" in row:
            for kind, data in files_of(row["model"]).items():
                files[f"{name} | {kind}"] = data
    ms = timed(files)
    base_float, base_int8 = ms[f"{reference} | float"], ms[f"{reference} | int8"]
    macs_before = macs_lib.count_macs(rows[reference]["model"])["total"]
    print(f"\n{title} (batch 1, {_THREADS.value} thread(s); speed-ups against the "
          f"original's float / int8 file, same interleaved rounds):")
    print("| widths for | widths | MMACs | MACs kept | float ms | int8 ms | float "
          "speed-up | int8 speed-up (vs original int8) |")
    print("|---|---|---|---|---|---|---|---|")
    out = {}
    for name, row in rows.items():
        if "model" not in row:
            print(f"| {name} | (not reached) | | | | | | |")
            out[name] = {"error": row["error"]}
            continue
        macs = macs_lib.count_macs(row["model"])["total"]
        fl, q = ms[f"{name} | float"], ms[f"{name} | int8"]
        out[name] = {"widths": row["widths"], "macs": macs, "float_ms": fl, "int8_ms": q,
                     "search": row.get("search")}
        print(f"| {name} | {row['widths']} | {macs / 1e6:.2f} | {macs / macs_before:.3f} | "
              f"{fl:.4f} | {q:.4f} | {base_float / fl:.2f}x | {base_int8 / q:.2f}x |")
    return out


def cnn_part(report):
    original = cifar_cnn((16, 32, 64))
    own_ms = timed({"own": tflite.convert(original)})["own"]
    target_ms = _LATENCY_SHARE.value * own_ms
    rows = {"original": {"model": original, "widths": "16/32/64"}}
    for search in ("uniform", "grow"):
        attempt(f"half the MACs, round_to 16, {search}", original, rows, target_macs=0.5,
                round_to=16, search=search)
    for search in ("uniform", "grow"):
        attempt(f"latency {target_ms:.4f} ms float, {search}", original, rows,
                target_latency_ms=target_ms, latency_threads=_THREADS.value,
                search=search)
    rows["explicit 16/16/48"] = {"model": cifar_cnn((16, 16, 48)), "widths": "16/16/48"}
    report["cnn"] = {"own_ms": own_ms, "target_ms": target_ms,
                     "rows": table("The issue's CNN", rows, "original")}


def resnet_part(report):
    original = zoo.resnet8()
    rows = {"original": {"model": original, "widths": "16/16/32/32/64/64"}}
    for round_to in (16, 8) if _RESNET_MACS.value else ():
        for search in ("uniform", "grow"):
            attempt(f"half the MACs, round_to {round_to}, {search}", original, rows,
                    target_macs=0.5, round_to=round_to, search=search)
    for name, widths in RESNET_WIDTHS.items() if _RESNET_MACS.value else ():
        attempt(f"explicit {name}", original, rows, widths=dict(zip(RESNET_GROUPS, widths)))
    if _RESNET_LATENCY.value:
        reference = timed({"int8": files_of(original)["int8"]})["int8"]
        target_ms = reference / _RESNET_SPEEDUP.value
        report["resnet_latency_target_ms"] = target_ms
        for search in ("uniform", "grow"):
            attempt(f"int8 latency {target_ms:.4f} ms (reference {reference:.4f} / "
                    f"{_RESNET_SPEEDUP.value}), round_to {_RESNET_ROUND_TO.value}, "
                    f"{search}", original, rows, target_latency_ms=target_ms,
                    latency_format="int8", latency_threads=_THREADS.value,
                    round_to=_RESNET_ROUND_TO.value, search=search)
    report["resnet8"] = table("ResNet-8, 32x32x3", rows, "original")


def main(argv):
    del argv
    started = time.time()
    report = {"threads": _THREADS.value, "rounds": _ROUNDS.value}
    if "cnn" in _PARTS.value:
        cnn_part(report)
    if "resnet8" in _PARTS.value:
        resnet_part(report)
    print(f"\nTook {time.time() - started:.0f} s.")
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    app.run(main)
