"""Compressed DS-CNNs on FSDD against the reference int8 file: accuracy, bytes, time.

Issue 26's target for the compressed DS-CNN: at least 3x smaller and at
least 2x faster than the reference int8 file, at most 1 point lost on
FSDD's official 300-clip test split. This reads finished job folders (a
`tfcompress distill` run and its `tfcompress quantize --mode=int8` run per
candidate; the reference's quantize run), times every int8 file against
the reference's in interleaved rounds (LiteRT, batch 1, 1 thread,
XNNPACK, `evaluate.compare_latency`: median of the rounds' medians) and
prints a markdown table. Accuracies are the jobs' own (Keras test accuracy
of the float model, LiteRT test accuracy of the int8 file).

    .venv/bin/python benchmarks/fsdd_compressed.py \\
        --reference=W/fsdd_int8 \\
        --candidate=A=W/cmp/A:W/cmp/A_int8 --candidate=B=W/cmp/B:W/cmp/B_int8
"""

import json
import os

from absl import app
from absl import flags

from tfcompress import evaluate
from tfcompress.evaluate import file_parts

_REFERENCE = flags.DEFINE_string(
    "reference", None, "The reference's `tfcompress quantize --mode=int8` output folder.",
    required=True)
_CANDIDATES = flags.DEFINE_multi_string(
    "candidate", [], "NAME=DISTILL_DIR:INT8_DIR, a candidate's distill (or train) output "
    "folder and its int8 quantize output folder.")
_ROUNDS = flags.DEFINE_integer("rounds", 9, "Interleaved timing rounds.")
_THREADS = flags.DEFINE_integer("threads", 1, "LiteRT threads.")

# The target (issue 26).
MIN_SMALLER, MIN_FASTER, MAX_POINTS_LOST = 3.0, 2.0, 1.0


def _summary(folder):
    path = os.path.join(folder, "summary.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No summary.json in {folder!r}: give a finished job's "
                                "output folder.")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _tflite(folder):
    with open(os.path.join(folder, "model.tflite"), "rb") as f:
        return f.read()


def _parse_candidate(text):
    name, eq, folders = text.partition("=")
    trained, colon, int8 = folders.partition(":")
    if not (eq and colon and name and trained and int8):
        raise ValueError(f"`--candidate` {text!r} must be NAME=DISTILL_DIR:INT8_DIR.")
    return name, trained, int8


def main(argv):
    del argv
    reference = _summary(_REFERENCE.value)
    rows = {"reference int8": {
        "spec": reference["config"].get("model_spec") or "ds_cnn",
        "float": reference["keras"]["test_accuracy"],
        "int8": reference["tflite"]["test_accuracy"],
        "file": _tflite(_REFERENCE.value)}}
    for name, trained, int8 in map(_parse_candidate, _CANDIDATES.value):
        trained_summary, int8_summary = _summary(trained), _summary(int8)
        config = trained_summary["config"]
        rows[name] = {"spec": config.get("student_spec") or config.get("model_spec"),
                      "float": trained_summary["keras"]["test_accuracy"],
                      "int8": int8_summary["tflite"]["test_accuracy"],
                      "file": _tflite(int8),
                      "wall": trained_summary.get("train_seconds")}
    times = evaluate.compare_latency({name: row["file"] for name, row in rows.items()},
                                     rounds=_ROUNDS.value, num_threads=_THREADS.value,
                                     batch_size=1)
    base_ms = times["reference int8"]["median_ms"]
    base_bytes = len(rows["reference int8"]["file"])
    base_accuracy = rows["reference int8"]["float"]
    print(f"LiteRT, batch 1, {_THREADS.value} thread(s), XNNPACK, {_ROUNDS.value} interleaved "
          "rounds (median of the rounds' medians); ratios against the reference int8 file; "
          "points lost (int8 accuracy) against the reference's float and int8 accuracy; "
          "target: 3x smaller, 2x faster, at most 1 point lost against the int8 file.\n")
    base_int8 = rows["reference int8"]["int8"]
    print("| file | spec | float | int8 | lost vs float ref | lost vs int8 ref | bytes | smaller "
          "| ms | faster | float consts | int consts | quant params | names | rest | target |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        parts = file_parts.bytes_by_part(row["file"])
        ms = times[name]["median_ms"]
        smaller, faster = base_bytes / parts["total"], base_ms / ms
        lost, lost_int8 = 100 * (base_accuracy - row["int8"]), 100 * (base_int8 - row["int8"])
        # Met against the reference's int8 file, as the size and time are.
        met = smaller >= MIN_SMALLER and faster >= MIN_FASTER and lost_int8 <= MAX_POINTS_LOST
        print(f"| {name} | `{row['spec']}` | {row['float']:.2%} | {row['int8']:.2%} | "
              f"{lost:.2f} | {lost_int8:.2f} | {parts['total']:,} | {smaller:.2f}x | {ms:.4f} | {faster:.2f}x | "
              f"{parts['float constants']:,} | {parts['int constants']:,} | "
              f"{parts['quantization params']:,} | {parts['tensor names']:,} | "
              f"{parts['rest']:,} | {'-' if name == 'reference int8' else 'met' if met else 'no'}"
              " |")
    print("\nPer-round ms: " + "; ".join(
        f"{name} " + ", ".join(f"{t:.4f}" for t in times[name]["rounds_ms"]) for name in rows))


if __name__ == "__main__":
    app.run(main)
