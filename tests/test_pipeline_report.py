"""The pipeline report on a run folder of made-up summaries: wording of ratios,
warnings, run settings, the comparison and the accuracy-vs-size plot."""

import importlib
import itertools
import json
import os

from absl.testing import parameterized
import matplotlib.pyplot as plt
import tensorflow as tf

import tfcompress
from tfcompress import pipeline
from tfcompress.jobs import artifacts
from tfcompress.jobs import settings
from tfcompress.pipeline import plots

# The module: `tfcompress.pipeline.run` is also the name of its `run` function.
run_lib = importlib.import_module("tfcompress.pipeline.run")

_SPLITS = {"train_split": "train[:2000]", "val_split": "train[2000:2500]",
           "test_split": "test[:500]"}


def _write(path, record):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f)


def _timing(rounds_ms, threads=2):
    return {"median_ms": sorted(rounds_ms)[len(rounds_ms) // 2], "rounds_ms": rounds_ms,
            "batch_size": 1, "num_threads": threads, "repeats": 200, "xnnpack": True}


def _fake_run(run_dir, *, accuracy=None, rounds_ms=None, mode="pqat", applied_mode=None,
              threads=2, version="9.9.9"):
    """A run folder as the stages leave it: summaries, pipeline.json, evaluation.json.

    `accuracy` and `rounds_ms` map stage -> test accuracy and per-round
    latencies; stages are baseline, teacher, prune and quantize.
    """
    accuracy = {"baseline": 0.87, "teacher": 0.95, "prune": 0.86, "quantize": 0.86,
                **(accuracy or {})}
    rounds_ms = {"baseline": [0.030] * 5, "teacher": [0.080] * 5, "prune": [0.010] * 5,
                 "quantize": [0.005] * 5, **(rounds_ms or {})}
    config = {"dataset": "mnist", **_SPLITS, "normalize": "unit"}  # runs before --augment
    sizes = {"baseline": 900_000, "teacher": 4_000_000, "prune": 100_000}
    for stage, size in sizes.items():
        _write(os.path.join(run_dir, stage, artifacts.SUMMARY_FILE), {
            "config": config, "params": {"total": size // 4, "nonzero": size // 4},
            "macs": size // 4, "keras": {"test_accuracy": accuracy[stage]},
            "tflite": {"test_accuracy": accuracy[stage]},
            "sizes": {artifacts.TFLITE_FILE: {"bytes": size, "gzip_bytes": size}}})
    _write(os.path.join(run_dir, "quantize", artifacts.SUMMARY_FILE), {
        "config": {**config, "mode": mode}, "applied_mode": applied_mode or mode,
        "params": {"total": 25_000, "nonzero": 2_500}, "macs": 25_000,
        "keras": {"test_accuracy": accuracy["quantize"]},
        "tflite": {"bytes": 30_000, "gzip_bytes": 20_000, "quantization": "int8",
                   "test_accuracy": accuracy["quantize"]}})
    _write(os.path.join(run_dir, "pipeline.json"), {
        "stage_seconds": {stage: 1.0 for stage in rounds_ms},
        "options": {"dataset": "mnist", "train_split": None, "val_split": None,
                    "test_split": None, "quantization": mode, "latency_threads": threads},
        "tfcompress_version": version})
    _write(os.path.join(run_dir, "evaluate", "evaluation.json"), {
        "exported": None,
        "latency": {stage: _timing(r, threads) for stage, r in rounds_ms.items()}})
    return run_dir


def _markdown(run_dir):
    with open(os.path.join(run_dir, "report.md"), encoding="utf-8") as f:
        return f.read()


class ReportWordingTest(tf.test.TestCase, parameterized.TestCase):

    def setUp(self):
        super().setUp()
        self.run_dir = os.path.join(self.create_tempdir().full_path, "run")

    def test_headline_says_slower_when_the_result_is_slower(self):
        _fake_run(self.run_dir, rounds_ms={"baseline": [0.010] * 5,
                                           "prune": [0.012] * 5, "quantize": [0.017] * 5})
        report = pipeline.write_report(self.run_dir)
        self.assertEqual(report["summary_line"],
                         "baseline -> quantize: 45.0x smaller (gzipped TFLite), 1.7x "
                         "slower (batch 1), accuracy 87.00% -> 86.00%")
        self.assertIn(f"**{report['summary_line']}**", _markdown(self.run_dir))

    def test_a_stage_slower_than_the_one_before_it_is_warned_under_the_headline(self):
        # Faster than the baseline overall, but int8 lost to the pruned float file.
        _fake_run(self.run_dir, rounds_ms={"prune": [0.010, 0.011, 0.010, 0.012, 0.010],
                                           "quantize": [0.017, 0.018, 0.016, 0.017, 0.019]})
        report = pipeline.write_report(self.run_dir)
        self.assertIn("1.8x faster (batch 1)", report["summary_line"])
        message = ("The quantize stage made the model slower: its file is 1.7x slower "
                   "than the prune stage's before it (0.0100 -> 0.0170 ms, batch 1, 2 "
                   "LiteRT threads).")
        [warning] = report["warnings"]
        self.assertEqual((warning["stage"], warning["compared_with"]),
                         ("quantize", "prune"))
        self.assertStartsWith(warning["message"], message)
        markdown = _markdown(self.run_dir)
        self.assertIn(f"> **Warning:** {message}", markdown)
        # Between the headline and the table, not below it.
        self.assertLess(markdown.index(report["summary_line"]), markdown.index(message))
        self.assertLess(markdown.index(message), markdown.index("| stage |"))
        self.assertEqual(pipeline.report.format_warnings(report),
                         f"Warning: {warning['message']}")

    @parameterized.parameters(
        # Slower in median, but not in every interleaved round: drift.
        ([0.010, 0.010, 0.013, 0.010, 0.010], [0.012, 0.012, 0.012, 0.012, 0.012]),
        # Slower in every round, by less than the margin.
        ([0.010] * 5, [0.0105] * 5),
    )
    def test_timing_noise_is_not_a_slower_stage(self, prune_ms, quantize_ms):
        _fake_run(self.run_dir, rounds_ms={"prune": prune_ms, "quantize": quantize_ms})
        self.assertEqual(pipeline.build_report(self.run_dir)["warnings"], [])

    def test_the_teacher_is_not_on_the_path_a_slower_stage_is_measured_on(self):
        # prune follows the (slow) teacher in run order, but comes from the baseline.
        _fake_run(self.run_dir, rounds_ms={"teacher": [0.001] * 5})
        self.assertEqual(pipeline.build_report(self.run_dir)["warnings"], [])

    def test_a_teacher_less_accurate_than_the_baseline_is_warned(self):
        _fake_run(self.run_dir, accuracy={"baseline": 0.87, "teacher": 0.78})
        report = pipeline.write_report(self.run_dir)
        [warning] = report["warnings"]
        self.assertEqual(warning["message"],
                         "The teacher is less accurate than the baseline (78.00% against "
                         "87.00% test accuracy): distilling from it can teach the student "
                         "its mistakes. Train it longer (--teacher_epochs), use a bigger "
                         "--teacher_model, or give a better trained one with "
                         "--teacher=PATH.")
        self.assertIn(f"> **Warning:** {warning['message']}", _markdown(self.run_dir))

    def test_a_teacher_as_accurate_as_the_baseline_is_not_warned(self):
        _fake_run(self.run_dir, accuracy={"baseline": 0.87, "teacher": 0.87})
        self.assertEqual(pipeline.build_report(self.run_dir)["warnings"], [])

    def test_the_run_warns_of_a_weak_teacher_once_both_are_trained(self):
        _fake_run(self.run_dir, accuracy={"baseline": 0.87, "teacher": 0.78})
        options = pipeline.Options(training=settings.Training(output_dir=self.run_dir))
        lines = []
        run_lib._warn_of_weak_teacher(options, lines.append)  # pylint: disable=protected-access
        self.assertLen(lines, 1)
        self.assertStartsWith(lines[0], "Warning: The teacher is less accurate than the "
                              "baseline (78.00% against 87.00%")


class RunSettingsTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path

    def test_report_states_the_runs_settings(self):
        run_dir = _fake_run(os.path.join(self.root, "run"), version="1.2.3")
        report = pipeline.write_report(run_dir)
        # The splits the jobs used, not pipeline.json's None for "the default".
        self.assertEqual(report["settings"], {
            "dataset": "mnist", **_SPLITS, "normalize": "unit", "augment": "none",
            "quantization": {"mode": "pqat", "applied_mode": "pqat", "file": "int8"},
            "latency_threads": 2, "tfcompress_version": "1.2.3"})
        markdown = _markdown(run_dir)
        for line in ("- dataset: `mnist`",
                     "- splits (train / validation / test): `train[:2000]` / "
                     "`train[2000:2500]` / `test[:500]`",
                     "- input normalization: `unit`",
                     "- training augmentation: `none`",
                     "- quantization: pqat (int8 TFLite file)",
                     "- LiteRT threads (batch-1 latency): 2",
                     "- tfcompress version: 1.2.3"):
            self.assertIn(line + "\n", markdown)

    def test_the_run_records_the_tfcompress_version(self):
        run_dir = os.path.join(self.root, "run")
        os.makedirs(run_dir)
        options = pipeline.Options(training=settings.Training(output_dir=run_dir))
        run_lib._record_time(options, "baseline", 1.0)  # pylint: disable=protected-access
        with open(os.path.join(run_dir, "pipeline.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["tfcompress_version"], tfcompress.__version__)

    def test_compare_shows_where_two_runs_settings_differ(self):
        first = pipeline.build_report(_fake_run(os.path.join(self.root, "a")))
        second = pipeline.build_report(_fake_run(
            os.path.join(self.root, "b"), mode="qat", applied_mode="int8", threads=1,
            rounds_ms={"prune": [0.010] * 5, "quantize": [0.020] * 5}))
        text = pipeline.format_comparison(first, second, "a", "b")
        for row in ("| setting | a | b |",
                    "| dataset | `mnist` | `mnist` |",
                    "| quantization | pqat (int8 TFLite file) | int8 in place of qat (int8 "
                    "TFLite file) |",
                    "| LiteRT threads (batch-1 latency) | 2 | 1 |",
                    "| tfcompress version | 9.9.9 | 9.9.9 |"):
            self.assertIn(row, text.splitlines())
        self.assertIn("b: Warning: The quantize stage made the model slower: its file is "
                      "2.0x slower than the prune stage's", text)
        self.assertNotIn("a: Warning", text)


def _overlapping(boxes):
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


class AccuracyVsSizePlotTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("under_a_decade", [95, 88, 95, 45, 21]),  # matplotlib wrote "2x10^1 3x10^1"
        ("one_decade", [95, 88, 95, 25, 11]),
        ("close", [45, 44, 45, 44.5, 44.2]),
        ("three_decades", [960, 184, 960, 81, 24]),
        ("six_decades", [95_000, 880_000, 95_000, 2_500, 0.6]),
    )
    def test_tick_labels_and_stage_names_do_not_overlap(self, sizes_kib):
        stages = ("baseline", "teacher", "distill", "prune", "quantize")
        accuracy = (0.982, 0.975, 0.982, 0.979, 0.981)
        report = {"stages": [{"stage": s, "tflite_gzip_bytes": kib * 1024,
                              "tflite_accuracy": a}
                             for s, kib, a in zip(stages, sizes_kib, accuracy, strict=True)]}
        fig = plots.accuracy_vs_size_figure(report)
        try:
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            ax = fig.axes[0]
            low, high = ax.get_xlim()
            ticks = [t for t in ax.get_xticklabels() if t.get_text()
                     and low <= t.get_position()[0] <= high]
            self.assertGreaterEqual(len(ticks), 2)
            for tick in ticks:  # plain numbers, not "$\\mathdefault{2\\times10^{1}}$"
                self.assertRegex(tick.get_text(), r"^[\d,.]+$")
            self.assertEqual(_overlapping([t.get_window_extent(renderer) for t in ticks]),
                             [])
            names = ax.texts
            # baseline and distill share a point and a name.
            self.assertIn("baseline, distill", [n.get_text() for n in names])
            self.assertEqual(_overlapping([n.get_window_extent(renderer) for n in names]),
                             [])
        finally:
            plt.close(fig)


if __name__ == "__main__":
    tf.test.main()
