"""How well a latency lookup table predicts whole LiteRT files (issue 27).

Builds a `budget.LatencyTable` (each conv, depthwise conv and dense layer
timed alone) for ResNet-8 (CIFAR-10's MLPerf Tiny reference) and for issue
26's 16/32/64 CNN, calibrates it on the full-width model, then predicts
and measures narrower width sets (`shrink.shrink(model, widths=...)`,
untrained: time does not depend on the weights), float and int8, batch 1,
at `--threads`. Prints one markdown table per model and format: predicted
and measured milliseconds and the error, and the table's size and build
time.

    .venv/bin/python benchmarks/latency_table.py --threads=1
"""

import time

from absl import app
from absl import flags

from tfcompress import quiet
from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.budget import LatencyTable
from tfcompress.models import zoo

_THREADS = flags.DEFINE_integer("threads", 1, "LiteRT threads.", lower_bound=1)
_FORMATS = flags.DEFINE_list("formats", ["float", "int8"], "File formats.")



def _resnet8_widths(first, second, third):
    """Every group of ResNet-8's stacks (trunk and inner conv) at the stacks' widths."""
    return {"stem_conv": first, "stack_1_conv_1": first, "stack_2_conv_1": second,
            "stack_2_conv_2": second, "stack_3_conv_1": third, "stack_3_conv_2": third}


# Width sets: {name: {a producer layer of the group: width}}; other groups stay.
_RESNET8_WIDTHS = {f"{a}/{b}/{c}": _resnet8_widths(a, b, c) for a, b, c in (
    (16, 16, 32), (16, 32, 32), (8, 16, 32), (8, 24, 48), (11, 22, 45))}
_CNN_WIDTHS = {
    "16/16/48": {"conv_2": 16, "conv_3": 48},
    "16/16/32": {"conv_2": 16, "conv_3": 32},
    "11/22/45": {"conv_1": 11, "conv_2": 22, "conv_3": 45},
    "8/16/32": {"conv_1": 8, "conv_2": 16, "conv_3": 32},
}


def _issue_cnn():
    """Issue 26's CIFAR-10 CNN: 3x3 convs of 16/32/64, each then 2x2 max pooling."""
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for i, width in enumerate((16, 32, 64), start=1):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu",
                                name=f"conv_{i}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name="issue_cnn")


def _producers(model, widths):
    """`widths` keyed by the names the dependency graph uses for `model`'s groups."""
    groups = shrink.dependency.build(model).prunable_groups()
    named = {}
    for producer, width in widths.items():
        group = next(g for g in groups if producer in g.producers)
        named[group.producers[0]] = width
    return named


def _report(model, widths, latency_format):
    started = time.perf_counter()
    table = LatencyTable(latency_format=latency_format, num_threads=_THREADS.value)
    full_ms = table.calibrate(model)
    variants = []
    for name, chosen in widths.items():
        variant = shrink.shrink(model, widths=_producers(model, chosen)).model
        variant._name = name  # pylint: disable=protected-access
        variants.append(variant)
    check = table.check(variants)
    seconds = time.perf_counter() - started
    print(f"\n{model.name}, {latency_format}, {_THREADS.value} thread(s): full width "
          f"{full_ms:.4f} ms (rest {table.rest_ms:.4f} ms); {len(table.entries)} layer "
          f"entries; {seconds:.0f} s in all")
    print("| widths | predicted ms | measured ms | error |")
    print("|---|---|---|---|")
    for row in check["models"]:
        print(f"| {row['name']} | {row['predicted_ms']:.4f} | {row['measured_ms']:.4f} | "
              f"{row['error']:+.1%} |")
    print(f"mean |error| {check['mean_abs_error']:.1%}, max {check['max_abs_error']:.1%}")


def main(argv):
    del argv
    keras.utils.set_random_seed(0)
    for latency_format in _FORMATS.value:
        _report(zoo.resnet8(), _RESNET8_WIDTHS, latency_format)
        _report(_issue_cnn(), _CNN_WIDTHS, latency_format)


if __name__ == "__main__":
    quiet.start()
    app.run(main)
