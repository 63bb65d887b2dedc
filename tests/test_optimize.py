"""`tfcompress optimize` (`jobs.optimize`): a budget in, the best model meeting it out.

What users rely on: a reachable target is met and verified on the written
file; an impossible one still writes the best attempt, says which target it
missed and by how much, and the command exits non-zero; bad targets are
refused before any work; a resumed run reuses its measurements; and
frontier.json names files that are on disk with the bytes it reports.
"""

import json
import os
import shutil
import tempfile
from unittest import mock

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow.lite.tools import flatbuffer_utils

import helpers
import job_helpers
import tfcompress
from tfcompress import budget
from tfcompress import export
from tfcompress import pipeline
from tfcompress._keras import keras
from tfcompress.export import int4_weights
from tfcompress.jobs import optimize
from tfcompress.jobs import optimize_measure
from tfcompress.jobs import optimize_report
from tfcompress.jobs import optimize_search
from tfcompress.jobs import runner


def _mlp():
    keras.utils.set_random_seed(0)
    # Biases not zero, as after training (the converter drops zero biases,
    # and a 1-epoch recovery would add them back).
    bias = {"bias_initializer": "random_normal"}
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(128, activation="relu", name="h1", **bias)(x)
    x = keras.layers.Dense(64, activation="relu", name="h2", **bias)(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits", **bias)(x))


def _trained_mlp():
    """`_mlp` fitted for 2 epochs on 2,048 MNIST digits (about 90%): an int4
    file of a random model disagrees with it too often to pass the export check."""
    model = _mlp()
    images = tfds.load("mnist", split="train[:2048]", as_supervised=True).map(
        lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)).batch(64)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, epochs=2, verbose=0)
    return model


class _DieAtFirstAttempt(optimize.OptimizeJob):
    """Killed as the first attempt starts: after every measurement was written."""

    def _attempt(self, run, number, plan, epochs):
        raise KeyboardInterrupt("killed")


def _quiet(*_):
    pass


@pytest.mark.mnist
class OptimizeTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model_folder = tempfile.mkdtemp()
        cls.model_path = os.path.join(cls.model_folder, "model.keras")
        _trained_mlp().save(cls.model_path)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.model_folder, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path

    def _training(self, name, **changes):
        return job_helpers.mnist_training(os.path.join(self.root, name),
                                          **{"epochs": 1, **changes})

    def test_size_target_met_verified_on_the_written_file(self):
        out = os.path.join(self.root, "out")
        summary = tfcompress.optimize(self.model_path, "mnist", output_dir=out,
                                      target_size_kb=40, epochs=1, verbose=0, log=_quiet,
                                      tune_steps=0,
                                      **job_helpers.MNIST_SLICE)
        own = summary["optimize"]
        self.assertTrue(own["met"], own["miss"])
        self.assertIsNone(own["miss"])
        written = os.path.join(out, "model.tflite")
        self.assertLessEqual(os.path.getsize(written), 40_000)
        self.assertEqual(own["chosen"]["measured"]["size_bytes"], os.path.getsize(written))
        # Smaller than the input's own files.
        self.assertLess(os.path.getsize(written), own["inputs"]["int8"]["size_bytes"])
        with open(os.path.join(out, optimize.FRONTIER_FILE), encoding="utf-8") as f:
            frontier = json.load(f)
        self.assertEqual(len(frontier["attempts"]), len(own["attempts"]))
        for attempt in frontier["attempts"]:
            path = os.path.join(out, attempt["file"])
            self.assertEqual(os.path.getsize(path), attempt["measured"]["size_bytes"])
        with open(os.path.join(out, frontier["attempts"][-1]["file"]), "rb") as f:
            chosen_bytes = f.read()
        with open(written, "rb") as f:
            self.assertEqual(f.read(), chosen_bytes)
        with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
            report = f.read()
        chosen = optimize_report.attempt_name(own["chosen"])  # "attempt 1 (int8)"
        self.assertIn(f"**Every target met.** Written: `model.tflite`, from {chosen}.", report)
        self.assertIn("![accuracy against latency](pareto.png)", report)
        self.assertIn(f"- smallest: {chosen} (", report)
        self.assertGreater(os.path.getsize(os.path.join(out, "pareto.png")), 5000)
        # `tfcompress report` and `compare` read the run as they read a pipeline's.
        report = pipeline.build_report(out)
        self.assertEqual([r["stage"] for r in report["stages"]],
                         ["input float", "input int8", "input int4", chosen])
        self.assertEqual(report["result"], chosen)
        self.assertEqual(report["stages"][-1]["tflite_bytes"], os.path.getsize(written))
        self.assertIn(f"| {chosen} | b |", pipeline.format_comparison(report, report, "a", "b"))
        # Every plan the search judged is listed, the full model first. A size
        # budget steps by SIZE_STEP channels, not the kernel tile, and times nothing.
        plans = frontier["searches"][0]["plans"]
        self.assertEqual(plans[0]["widths"], {"h1": 128, "h2": 64})
        self.assertIn(4, {abs(a["widths"]["h1"] - b["widths"]["h1"])
                          for a, b in zip(plans, plans[1:])})
        self.assertTrue(all(p["predicted"]["latency_ms"] == 0.0 for p in plans))
        self.assertIn(frontier["searches"][0]["chosen"], plans)

    def test_a_budget_the_input_int8_file_meets_takes_it_without_training(self):
        out = os.path.join(self.root, "loose")
        summary = runner.run(optimize.OptimizeJob(model=self.model_path, target_size_kb=150,
                                                  formats=("float", "int8"), tune_steps=0),
                             self._training("loose"), log=_quiet)
        own = summary["optimize"]
        self.assertTrue(own["met"])
        self.assertEqual(own["chosen"]["file"], os.path.join("input", "model.tflite"))
        self.assertEqual(own["chosen"]["plan"]["widths"], {"h1": 128, "h2": 64})
        self.assertFalse(os.path.exists(os.path.join(out, "attempts", "1", "shrink")))
        self.assertEqual(own["chosen"]["measured"]["test_accuracy"],
                         own["inputs"]["int8"]["test_accuracy"])

    def test_int4_dense_weights_meet_a_size_int8_cannot_without_training(self):
        # The int8 file is about 117 KB; int4 Dense weights halve its 109,000 weights.
        out = os.path.join(self.root, "int4")
        summary = runner.run(optimize.OptimizeJob(model=self.model_path, target_size_kb=70,
                                                  formats=("int8", "int4"), tune_steps=0),
                             self._training("int4"), log=_quiet)
        own = summary["optimize"]
        self.assertTrue(own["met"], own["miss"])
        self.assertEqual(own["chosen"]["plan"]["latency_format"], "int4")
        self.assertEqual(own["chosen"]["file"],
                         os.path.join(optimize_measure.INPUT_INT4_DIR, "model.tflite"))
        self.assertEqual(own["chosen"]["epochs"], 0)
        with open(os.path.join(out, "model.tflite"), "rb") as f:
            self.assertEqual(int4_weights.dense_weights_not_int4(f.read()), [])
        self.assertLess(own["inputs"]["int4"]["size_bytes"], 70_000)
        self.assertIn("input int4", [r["stage"] for r in pipeline.build_report(out)["stages"]])

    def test_a_plan_that_met_the_costs_but_not_the_accuracy_recovers_longer(self):
        # The file's costs as predicted (the aim stays), its accuracy 5 points short.
        def verify(job, run, path, accuracy, sparse=False):
            return {"latency_ms": 0.001, "input_latency_ms": 0.002, "speedup": 2.0,
                    "size_bytes": os.path.getsize(path), "test_accuracy": accuracy,
                    "accuracy_drop": 5.0}

        with mock.patch.object(optimize.OptimizeJob, "_verify", verify), \
                mock.patch.object(budget.search, "aimed", lambda targets, pairs: targets):
            summary = runner.run(
                optimize.OptimizeJob(model=self.model_path, tune_steps=0, target_size_kb=40,
                                     max_accuracy_drop=1.0, max_attempts=2),
                self._training("longer"), log=_quiet)
        first, second = summary["optimize"]["attempts"]
        self.assertEqual(second["plan"]["widths"], first["plan"]["widths"])
        self.assertEqual((first["epochs"], second["epochs"]), (1, 2))
        self.assertFalse(summary["optimize"]["met"])

    def test_a_size_budget_widths_cannot_meet_is_met_by_zeros_in_a_sparse_file(self):
        # Widths in multiples of 128 leave nothing to narrow: only zeros save bytes.
        out = os.path.join(self.root, "sparse")
        summary = runner.run(optimize.OptimizeJob(model=self.model_path, target_size_kb=60,
                                                  round_to="128", formats=("int8",),
                                                  tune_steps=0,
                                                  max_attempts=1),
                             self._training("sparse"), log=_quiet)
        own = summary["optimize"]
        self.assertTrue(own["met"], own["miss"])
        plan = own["chosen"]["plan"]
        self.assertEqual(plan["widths"], {"h1": 128, "h2": 64})
        self.assertTrue(plan["sparsity"])
        written = os.path.join(out, "model.tflite")
        self.assertLessEqual(os.path.getsize(written), 60_000)
        # The file is sparse-encoded, and answers as the pruned model's int8 run measured.
        model = flatbuffer_utils.read_model(written)
        self.assertTrue(any(t.sparsity is not None for t in model.subgraphs[0].tensors))
        with open(os.path.join(out, "attempts", "1", "prune", "prune_report.json"),
                  encoding="utf-8") as f:
            pruned = json.load(f)
        reached = {row["name"]: row["sparsity"] for row in pruned["layers"]}
        for layer, target in plan["sparsity"].items():
            self.assertAlmostEqual(reached[layer], target, delta=0.01)
        # The bytes saved were predicted within 2%.
        predicted = own["chosen"]["plan"]["predicted"]["size_bytes"]
        self.assertLess(abs(predicted - os.path.getsize(written)), 0.02 * predicted)

    def test_a_spent_time_budget_starts_no_further_attempt(self):
        lines = []
        summary = runner.run(
            optimize.OptimizeJob(model=self.model_path, tune_steps=0, target_size_kb=2,  # never met
                                 formats=("int8",), max_attempts=3, time_budget_min=0.0),
            self._training("timed"), log=lines.append)
        own = summary["optimize"]
        self.assertLen(own["attempts"], 1)
        spent = (own["measure_seconds"] + own["attempts"][0]["seconds"]) / 60
        self.assertIn(f"Time budget of 0 min spent ({spent:.1f} min): no further attempt.",
                      lines)

    def test_an_attempt_whose_file_fails_its_check_is_left_out_not_fatal(self):
        # The int8 check of a tiny DS-CNN failed at 93% agreement (FSDD, tight budget).
        failure = export.ExportValidationError("The int8 TFLite model disagrees.")
        trained = optimize.OptimizeJob._trained
        calls = []

        def trained_once_failing(job, run, folder, plan, widths_path, epochs):
            calls.append(plan)
            if len(calls) == 1:
                raise failure
            return trained(job, run, folder, plan, widths_path, epochs)

        out = os.path.join(self.root, "failing")
        with mock.patch.object(optimize.OptimizeJob, "_trained", trained_once_failing):
            summary = runner.run(
                optimize.OptimizeJob(model=self.model_path, tune_steps=0, target_size_kb=40,
                                     formats=("int8",), max_attempts=2),
                self._training("failing"), log=_quiet)
        own = summary["optimize"]
        (failed,) = own["failed_attempts"]
        self.assertEqual((failed["number"], failed["failed"]),
                         (1, "The int8 TFLite model disagrees."))
        (attempt,) = own["attempts"]
        self.assertEqual(attempt["number"], 2)
        self.assertNotEqual(attempt["plan"], failed["plan"])  # not tried again
        self.assertTrue(os.path.exists(os.path.join(out, "model.tflite")))
        with open(os.path.join(out, optimize.FRONTIER_FILE), encoding="utf-8") as f:
            self.assertEqual([f["number"] for f in json.load(f)["failed"]], [1])
        with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
            self.assertIn("Attempt 1 (int8) wrote no file: The int8 TFLite model disagrees.",
                          f.read())

    def test_no_attempt_writing_a_file_leaves_the_inputs_own(self):
        def failing(job, run, folder, plan, widths_path, epochs):
            raise export.ExportValidationError("disagrees")

        out = os.path.join(self.root, "all_failing")
        with mock.patch.object(optimize.OptimizeJob, "_trained", failing):
            summary = runner.run(
                optimize.OptimizeJob(model=self.model_path, tune_steps=0, target_size_kb=40,
                                     formats=("int8",), max_attempts=1),
                self._training("all_failing"), log=_quiet)
        own = summary["optimize"]
        self.assertLen(own["failed_attempts"], 1)
        self.assertEqual(own["chosen"]["number"], 0)
        self.assertEqual(own["chosen"]["file"],
                         os.path.join(optimize_measure.INPUT_DIR, "float_reference.tflite"))
        self.assertFalse(own["met"])
        self.assertIn("missed target_size_kb=40", own["miss"])
        with open(os.path.join(out, "model.tflite"), "rb") as written, open(os.path.join(
                out, optimize_measure.INPUT_DIR, "float_reference.tflite"), "rb") as own_file:
            self.assertEqual(written.read(), own_file.read())

    def test_bad_targets_refused_before_any_work(self):
        out = os.path.join(self.root, "bad")
        for kwargs, message in (
                ({}, r"No target given: give at least one of `target_latency_ms`"),
                ({"target_latency_ms": -1.0}, r"`target_latency_ms` must be a positive "
                                              r"number of milliseconds, got -1.0"),
                ({"target_size_kb": 0.5}, r"`target_size_kb` 0.5 is below the smallest "
                                          r"file a model of this input and output takes "
                                          r"here"),
                ({"target_size_kb": 50, "formats": ("int2",)}, r"`formats` must be some of "
                                                               r"float, int8 and int4"),
                ({"target_size_kb": 50, "tune_steps": -1},
                 r"`tune_steps` must be an int >= 0 \(0: no fine-tune before the choice\), "
                 r"got -1"),
                ({"target_latency_ms": 0.01, "formats": ("int4",)},
                 r"`formats` int4 is weighed only for a size budget without a latency "
                 r"target")):
            with self.subTest(kwargs=kwargs), self.assertRaisesRegex(ValueError, message):
                job = optimize.OptimizeJob(model=self.model_path,
                                           **{"tune_steps": 0, **kwargs})
                runner.prepare(job, self._training("bad"), log=_quiet)
        self.assertFalse(os.path.exists(out) or os.path.exists(out + ".partial"))

    def test_resume_after_a_kill_reuses_the_measurements_and_the_search(self):
        # A few fine-tuning steps: the proposals tuned before the kill are
        # kept with the search, not tuned again.
        job = dict(model=self.model_path, target_size_kb=40, tune_steps=8)
        with self.assertRaises(KeyboardInterrupt):
            runner.run(_DieAtFirstAttempt(**job), self._training("run"), log=_quiet)
        partial = os.path.join(self.root, "run.partial")
        with open(os.path.join(partial, optimize_measure.MEASUREMENTS_FILE), encoding="utf-8") as f:
            measured = json.load(f)
        with open(os.path.join(partial, optimize.ATTEMPTS_DIR, "1", optimize_search.SEARCH_FILE),
                  encoding="utf-8") as f:
            searched = json.load(f)
        lines = []
        with mock.patch.object(budget.LatencyTable, "calibrate",
                               side_effect=AssertionError("measured again")):
            summary = runner.run(optimize.OptimizeJob(**job),
                                 self._training("run", resume=True), log=lines.append)
        self.assertIn("Measurements: read back from the stopped run.", lines)
        self.assertFalse([line for line in lines if line.startswith("Fine-tuning")])
        self.assertEqual(summary["optimize"]["inputs"], measured["inputs"])
        self.assertGreater(len(searched["proposals"]), 1)
        self.assertIn("tuned_drop", searched["chosen"]["predicted"])
        # The plan searched before the kill is the one trained after it.
        self.assertEqual(summary["optimize"]["attempts"][0]["plan"], searched["chosen"])
        self.assertTrue(summary["optimize"]["met"])


@pytest.mark.mnist
class OptimizeCommandTest(helpers.CliTestCase):

    def test_impossible_budget_writes_the_best_attempt_and_exits_non_zero(self):
        root = self.create_tempdir().full_path
        model_path = os.path.join(root, "model.keras")
        _mlp().save(model_path)
        out = os.path.join(root, "out")
        # Above the smallest model's file (about 1.2 KB), below any MLP of this shape.
        result = helpers.run_cli_in_process(
            "optimize", f"--model={model_path}", "--target_size_kb=2", "--max_attempts=1",
            "--epochs=1", "--verbose=0", "--tune_steps=0", f"--output_dir={out}",
            *(f"--{name}={value}" for name, value in job_helpers.MNIST_SLICE.items()))
        self.assertEqual(result.returncode, 1, result.stderr[-2000:])
        self.assertRegex(result.stderr, r"tfcompress optimize: best attempt written to "
                                        r".*out, but it missed target_size_kb=2 \(measured")
        self.assertTrue(os.path.isfile(os.path.join(out, "model.tflite")))
        with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
            own = json.load(f)["optimize"]
        self.assertFalse(own["met"])
        self.assertGreater(own["misses"]["target_size_kb"]["over_by"], 0)


if __name__ == "__main__":
    tf.test.main()
