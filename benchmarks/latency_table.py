"""How well a lookup table predicts whole LiteRT files' latency and size (issue 27).

Builds a `budget.LatencyTable` (each conv, depthwise conv and dense layer
converted and timed alone) for ResNet-8 (CIFAR-10's MLPerf Tiny reference)
and for issue 26's 16/32/64 CNN, calibrates it on the full-width model
(its file timed with its layers' files in one interleaved call), then
predicts narrower width sets (`shrink.shrink(model, widths=...)`,
untrained: neither time nor size depends on the weights' values) and
measures their whole files with the full-width one's again, all timed in
one interleaved call (`check(..., reference=full)`), float and int8, batch
1, at `--threads`. Prints one markdown table per model and format:
predicted and measured milliseconds and bytes and their errors; the
full-width row's ms error is the machine's drift between the two calls,
which the ratio error (predicted over measured, each relative to the full
width's) leaves out (not drift within one call); the byte error had
entries kept their files' fixed tables (not less an empty file's bytes);
the table's size and build time.

    .venv/bin/python benchmarks/latency_table.py --threads=1
"""

import functools
import time

from absl import app
from absl import flags

from tfcompress import quiet
from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.budget import LatencyTable
from tfcompress.budget import latency_table
from tfcompress.models import zoo

from cifar_models import cifar_cnn  # benchmarks/, this script's directory

_THREADS = flags.DEFINE_integer("threads", 1, "LiteRT threads.", lower_bound=1)
_FORMATS = flags.DEFINE_list("formats", ["float", "int8"], "File formats.")
_MODELS = flags.DEFINE_list("models", ["resnet8", "cifar_cnn"], "Models to predict.")
_ROUNDS = flags.DEFINE_integer("rounds", latency_table.ROUNDS, "Interleaved rounds of "
                               "each timer call.", lower_bound=1)


def _resnet8_widths(first, second, third):
    """Every group of ResNet-8's stacks (trunk and inner conv) at the stacks' widths."""
    return {"stem_conv": first, "stack_1_conv_1": first, "stack_2_conv_1": second,
            "stack_2_conv_2": second, "stack_3_conv_1": third, "stack_3_conv_2": third}


# Width sets: {name: {a producer layer of the group: width}}; other groups stay.
_WIDTHS = {
    "resnet8": {f"{a}/{b}/{c}": _resnet8_widths(a, b, c) for a, b, c in (
        (16, 16, 32), (16, 32, 32), (8, 16, 32), (8, 24, 48), (11, 22, 45))},
    "cifar_cnn": {
        "16/16/48": {"conv_2": 16, "conv_3": 48},
        "16/16/32": {"conv_2": 16, "conv_3": 32},
        "11/22/45": {"conv_1": 11, "conv_2": 22, "conv_3": 45},
        "8/16/32": {"conv_1": 8, "conv_2": 16, "conv_3": 32},
    },
}
_BUILD = {"resnet8": zoo.resnet8, "cifar_cnn": cifar_cnn}


def _producers(model, widths):
    """`widths` keyed by the names the dependency graph uses for `model`'s groups."""
    groups = shrink.dependency.build(model).prunable_groups()
    named = {}
    for producer, width in widths.items():
        group = next(g for g in groups if producer in g.producers)
        named[group.producers[0]] = width
    return named


def _with_fixed_tables(table, model):
    """`model`'s entries' bytes had each entry kept its file's fixed tables."""
    return sum(table.entries[latency_table.layer_key(layer)]["bytes"]
               + latency_table.empty_bytes(tuple(layer.input_shape[1:]),
                                           table.latency_format)
               for layer in latency_table.timed_layers(model))


def _report(model, widths, latency_format):
    started = time.perf_counter()
    timer = functools.partial(latency_table.time_files, rounds=_ROUNDS.value)
    table = LatencyTable(latency_format=latency_format, num_threads=_THREADS.value,
                         timer=timer)
    full = table.calibrate(model)
    variants = []
    for name, chosen in widths.items():
        variant = shrink.shrink(model, widths=_producers(model, chosen)).model
        variant._name = name  # pylint: disable=protected-access
        variants.append(variant)
    check = table.check(variants, reference=model)
    seconds = time.perf_counter() - started
    full_tables = full["bytes"] - _with_fixed_tables(table, model)
    print(f"\n{model.name}, {latency_format}, {_THREADS.value} thread(s): full width "
          f"{full['ms']:.4f} ms, {full['bytes']} bytes (rest {table.rest_ms:.4f} ms, "
          f"{table.rest_bytes} bytes); {len(table.entries)} layer entries; "
          f"{seconds:.0f} s in all; {_ROUNDS.value} rounds per call")
    print("| widths | predicted ms | measured ms | error | ratio error | predicted bytes | "
          "measured bytes | error | error, entries with fixed tables |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row, variant in [(check["reference"], model), *zip(check["models"], variants)]:
        name = "full width" if variant is model else row["name"]
        kept = (_with_fixed_tables(table, variant) + full_tables) / row["measured_bytes"] - 1
        print(f"| {name} | {row['predicted_ms']:.4f} | {row['measured_ms']:.4f} | "
              f"{row['error']:+.1%} | {row.get('ratio_error', 0):+.1%} | "
              f"{row['predicted_bytes']} | {row['measured_bytes']} | "
              f"{row['bytes_error']:+.2%} | {kept:+.2%} |")
    print(f"narrower widths: ms |error| mean {check['mean_abs_error']:.1%}, max "
          f"{check['max_abs_error']:.1%}; ratio |error| mean "
          f"{check['mean_abs_ratio_error']:.1%}, max {check['max_abs_ratio_error']:.1%}; "
          f"bytes |error| mean {check['mean_abs_bytes_error']:.2%}, max "
          f"{check['max_abs_bytes_error']:.2%}")


def main(argv):
    del argv
    keras.utils.set_random_seed(0)
    for latency_format in _FORMATS.value:
        for name in _MODELS.value:
            _report(_BUILD[name](), _WIDTHS[name], latency_format)


if __name__ == "__main__":
    quiet.start()
    app.run(main)
