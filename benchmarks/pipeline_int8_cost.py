"""Is the pipeline's int8 file slower than the shrunk float file it came from?

  python benchmarks/pipeline_int8_cost.py --work_dir=/tmp/int8_cost --threads=1

Issue 26 reports a CIFAR-10 CNN (3x3 convolutions of 16/32/64 filters, each
followed by 2x2 max pooling, then global average pooling and a dense layer)
whose int8 file from `tfcompress pipeline` (shrink to half the MACs, then
int8) ran slower than the shrunk float file. This script builds that CNN
(untrained: speed does not depend on the weights' values), runs it through
`tfcompress pipeline --input_model=...` once per quantization mode on a
few hundred CIFAR-10 images (1 epoch per stage), then for each run:

1. lists the int8 file's ops with their tensor types (per-channel weights
   marked "/pc"), to catch float ops, QUANTIZE/DEQUANTIZE pairs inside the
   graph, or sparse tensors;
2. times, in the same interleaved rounds at batch 1 (`evaluate.
   compare_latency`, XNNPACK): the unshrunk CNN's float file, the shrunk
   float file, the pipeline's int8 file, and a plain post-training int8
   file of the same shrunk model (calibrated on seeded noise), also
   without XNNPACK.

A run folder that already holds report.md is reused (only timed again).
"""

import json
import os
import subprocess
import sys

import numpy as np
from absl import app
from absl import flags

from tfcompress import evaluate
from tfcompress import export
from tfcompress._keras import keras
from tfcompress.evaluate import ratios
from tfcompress.export import tflite
from tfcompress.runtime import load_interpreter

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WORK_DIR = flags.DEFINE_string("work_dir", None, "Folder for the model and the runs.",
                                required=True)
_DATASET = flags.DEFINE_string("dataset", "dir:" + os.path.join(
    os.path.dirname(_REPO), "shared", "data", "cifar10"), "CIFAR-10 image folders.")
_MODES = flags.DEFINE_list("modes", ["pqat", "qat", "int8"],
                           "Quantize-stage modes (pqat and int8 after a prune stage, as "
                           "the pipeline requires for pqat; qat right after shrink).")
_KERAS3 = flags.DEFINE_bool("keras3", False, "Build the user's CNN in Keras 3.")
_THREADS = flags.DEFINE_integer("threads", 1, "LiteRT threads.", lower_bound=1)
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Interleaved rounds.", lower_bound=1)
_REPEATS = flags.DEFINE_integer("repeats", 300, "Invokes per file per round.",
                                lower_bound=1)
_ROUND_TO = flags.DEFINE_string("round_to", None, "--shrink_round_to of the runs.")
_OUTPUT = flags.DEFINE_string("output", None, "Also write the results as JSON here.")


def user_cnn(keras_module):
    inputs = keras_module.Input((32, 32, 3), name="image")
    x = inputs
    for i, filters in enumerate((16, 32, 64), 1):
        x = keras_module.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                       name=f"conv_{i}")(x)
        x = keras_module.layers.MaxPooling2D(name=f"pool_{i}")(x)
    x = keras_module.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras_module.Model(inputs, keras_module.layers.Dense(10, name="logits")(x),
                              name="user_cnn")


def _model_file(work_dir):
    path = os.path.join(work_dir, "user_cnn_keras3.keras" if _KERAS3.value
                        else "user_cnn.keras")
    if not os.path.exists(path):
        if _KERAS3.value:
            import keras as keras3  # pylint: disable=import-outside-toplevel
            keras3.utils.set_random_seed(0)
            user_cnn(keras3).save(path)
        else:
            keras.utils.set_random_seed(0)
            user_cnn(keras).save(path)
    return path


def _run_pipeline(model_path, mode, run_dir):
    if os.path.exists(os.path.join(run_dir, "report.md")):
        return
    stages = "shrink,quantize" if mode == "qat" else "shrink,prune,quantize"
    command = [
        sys.executable, "-m", "tfcompress.cli.main", "pipeline",
        f"--input_model={model_path}", f"--stages={stages},export,evaluate",
        f"--dataset={_DATASET.value}", "--normalize=standard",
        "--train_split=train[:500]", "--val_split=train[500:600]",
        "--test_split=test[:200]", "--shrink_target=macs:0.5", "--shrink_epochs=1",
        "--prune_epochs=1", "--sparsity=0.5", "--quantize_epochs=1",
        f"--quantization={mode}", f"--latency_threads={_THREADS.value}",
        f"--output_dir={run_dir}", "--overwrite", "--verbose=0",
        *([f"--shrink_round_to={_ROUND_TO.value}"] if _ROUND_TO.value else [])]
    subprocess.run(command, check=True, cwd=_REPO)


def op_rows(path):
    """["OP in=[types] out=[types]"] of a .tflite file, per-channel weights "/pc"."""
    interpreter = load_interpreter(path, xnnpack=False)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}

    def kind(index):
        tensor = tensors[index]
        per_channel = tensor["quantization_parameters"]["scales"].size > 1
        return tensor["dtype"].__name__ + ("/pc" if per_channel else "")

    return [f"{op['op_name']} in={[kind(i) for i in op['inputs'] if i >= 0]} "
            f"out={[kind(i) for i in op['outputs']]}"
            for op in interpreter._get_ops_details()]  # noqa: SLF001


def plain_int8(shrunk_keras_path):
    """Post-training int8 bytes of the shrunk model, calibrated on seeded noise."""
    model = export.load_keras_model(shrunk_keras_path)
    noise = np.random.default_rng(0).standard_normal((16, 32, 32, 3)).astype(np.float32)
    return tflite.convert(model, quantization="int8", representative_data=noise,
                          num_samples=16)


def main(argv):
    del argv
    os.makedirs(_WORK_DIR.value, exist_ok=True)
    model_path = _model_file(_WORK_DIR.value)
    original_float = tflite.convert(export.load_keras_model(model_path))
    report = {"threads": _THREADS.value, "rounds": _ROUNDS.value, "runs": {}}
    for mode in _MODES.value:
        run_dir = os.path.join(_WORK_DIR.value, mode + ("_keras3" if _KERAS3.value else ""))
        _run_pipeline(model_path, mode, run_dir)
        int8_path = os.path.join(run_dir, "quantize", "model.tflite")
        print(f"\n## {mode}: ops of the pipeline's int8 file ({int8_path})")
        rows = op_rows(int8_path)
        print("\n".join(f"    {row}" for row in rows))
        with open(os.path.join(run_dir, "shrink", "summary.json"), encoding="utf-8") as f:
            widths = json.load(f)["shrink"]["widths"]
        files = {"original float": original_float,
                 "shrunk float": os.path.join(run_dir, "shrink", "model.tflite"),
                 "pipeline int8": int8_path,
                 "plain int8 of the shrunk model": plain_int8(
                     os.path.join(run_dir, "shrink", "model.keras"))}
        timed = evaluate.compare_latency(files, rounds=_ROUNDS.value,
                                         repeats=_REPEATS.value, batch_size=1,
                                         num_threads=_THREADS.value)
        no_xnnpack = evaluate.compare_latency(
            {name: files[name] for name in ("shrunk float", "pipeline int8")},
            rounds=_ROUNDS.value, repeats=_REPEATS.value, batch_size=1,
            num_threads=_THREADS.value, xnnpack=False)
        shrunk_ms = timed["shrunk float"]["median_ms"]
        print(f"\nwidths {widths}; batch 1, {_THREADS.value} thread(s), medians of "
              f"{_ROUNDS.value} interleaved rounds:")
        print("| file | ms (XNNPACK) | against the shrunk float file | ms without XNNPACK |")
        print("|---|---|---|---|")
        for name, row in timed.items():
            plain = no_xnnpack.get(name, {}).get("median_ms")
            print(f"| {name} | {row['median_ms']:.4f} | "
                  f"{ratios.faster_or_slower(shrunk_ms / row['median_ms'], digits=2)} | "
                  f"{'-' if plain is None else f'{plain:.4f}'} |")
        report["runs"][mode] = {"widths": widths, "ops": rows,
                                "xnnpack_ms": {k: v["median_ms"] for k, v in timed.items()},
                                "builtin_ms": {k: v["median_ms"]
                                               for k, v in no_xnnpack.items()}}
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    app.run(main)
