"""`tfcompress pipeline`: planning, the end-to-end run, its report, usage errors."""

import json
import os
import shutil

import helpers
import matplotlib.image
import pytest
import tensorflow as tf

import tfcompress
from tfcompress import pipeline
from tfcompress.evaluate import ratios
from tfcompress.jobs import artifacts
from tfcompress.jobs import settings

_QUICK_FLAGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "examples", "mnist_pipeline_quick.flags")
_SLICES = ("--train_split=train[:2000]", "--val_split=train[2000:2500]",
           "--test_split=test[:500]")


_run_cli = helpers.run_cli
_run_in_process = helpers.run_cli_in_process  # usage errors


def _fake_stage(run_dir, stage):
    os.makedirs(os.path.join(run_dir, stage))
    with open(os.path.join(run_dir, stage, artifacts.SUMMARY_FILE), "w") as f:
        f.write("{}")


class PlanTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.run_dir = os.path.join(self.create_tempdir().full_path, "run")

    def _plan(self, **kwargs):
        shared = settings.Training(output_dir=self.run_dir,
                                   overwrite=kwargs.pop("overwrite", False))
        return pipeline.plan(pipeline.Options(training=shared, **kwargs))

    def test_full_run_feeds_each_stage_from_the_one_before(self):
        steps = self._plan()
        self.assertEqual(list(steps), list(pipeline.STAGES))
        folder = lambda stage: os.path.join(self.run_dir, stage)  # noqa: E731
        self.assertEqual(steps["distill"], {"teacher": folder("teacher")})
        self.assertEqual(steps["shrink"], {"teacher": folder("teacher"),
                                           "model": folder("distill")})
        self.assertEqual(steps["prune"], {"teacher": folder("teacher"),
                                          "model": folder("shrink")})
        self.assertEqual(steps["quantize"], {"model": folder("prune")})
        self.assertEqual(steps["export"], {"final": folder("quantize")})

    def test_a_later_stage_reuses_an_earlier_runs_folders(self):
        for stage in ("teacher", "distill", "prune"):
            _fake_stage(self.run_dir, stage)
        steps = self._plan(stages=("quantize", "export", "evaluate"))
        self.assertEqual(steps["quantize"],
                         {"model": os.path.join(self.run_dir, "prune")})

    def test_shrink_of_an_input_model_recovers_from_it_and_feeds_quantize(self):
        model = os.path.join(self.create_tempdir().full_path, "model.keras")
        open(model, "w").close()
        steps = self._plan(stages=("shrink", "quantize", "export"), input_model=model,
                           quantization="qat")
        self.assertEqual(steps["shrink"], {"teacher": None, "model": model})
        self.assertEqual(steps["quantize"], {"model": os.path.join(self.run_dir, "shrink")})
        with self.assertRaisesRegex(ValueError, "--quantization=pqat keeps a pruned "
                                    "model's zeros, but the quantize stage would get "
                                    ".*shrink.*add prune to --stages"):
            self._plan(stages=("shrink", "quantize"), input_model=model)

    def test_unknown_stage(self):
        with self.assertRaisesRegex(ValueError, r"`stages` must be a non-empty list "
                                    r"drawn from .*got \['distill', 'compress'\]"):
            self._plan(stages=("distill", "compress"))

    def test_distill_without_a_teacher(self):
        with self.assertRaisesRegex(ValueError, "The distill stage needs a teacher: add "
                                    "teacher to --stages, or pass --teacher=PATH"):
            self._plan(stages=("distill",))

    def test_prune_without_a_model(self):
        with self.assertRaisesRegex(ValueError, "The prune stage needs a trained model: "
                                    "add baseline or distill or shrink to --stages, or pass "
                                    "--input_model=PATH"):
            self._plan(stages=("prune",), prune_with_teacher=False)

    def test_pqat_without_a_pruned_model(self):
        with self.assertRaisesRegex(ValueError, "--quantization=pqat keeps a pruned "
                                    "model's zeros, but the quantize stage would get "
                                    ".*distill.*add prune to --stages"):
            self._plan(stages=("teacher", "distill", "quantize"))
        self.assertIn("quantize", self._plan(stages=("teacher", "distill", "quantize"),
                                             quantization="qat"))

    def test_evaluate_without_export(self):
        _fake_stage(self.run_dir, "baseline")
        with self.assertRaisesRegex(ValueError, "add export to --stages"):
            self._plan(stages=("evaluate",))

    def test_teacher_stage_and_teacher_path_conflict(self):
        with self.assertRaisesRegex(ValueError, "Give either the teacher stage or "
                                    "`teacher`"):
            self._plan(teacher="somewhere.keras")

    def test_existing_stage_needs_overwrite(self):
        _fake_stage(self.run_dir, "baseline")
        with self.assertRaisesRegex(FileExistsError, "already holds the baseline stage "
                                    "of an earlier run: pass --overwrite"):
            self._plan(stages=("baseline",))
        self.assertIn("baseline", self._plan(stages=("baseline",), overwrite=True))

    def test_missing_input_model(self):
        with self.assertRaisesRegex(FileNotFoundError, "`input_model` 'nowhere.keras': "
                                    "no .keras model there"):
            self._plan(stages=("prune",), input_model="nowhere.keras")


class PipelineUsageErrorTest(helpers.CliTestCase):

    def test_unknown_stage(self):
        out = os.path.join(self.create_tempdir().full_path, "run")
        self.assertUsageError(_run_in_process("pipeline", "--stages=teacher,compress",
                                              f"--output_dir={out}"),
                              "`stages` must be a non-empty list drawn from")
        self.assertFalse(os.path.exists(out))

    def test_epochs_flag_does_not_apply(self):
        self.assertUsageError(_run_in_process("pipeline", "--epochs=3"),
                              "The pipeline sets epochs per stage")

    def test_report_of_an_empty_folder(self):
        self.assertUsageError(_run_in_process("report", self.create_tempdir().full_path),
                              "holds no finished pipeline stage")

    def test_compare_needs_two_runs(self):
        self.assertUsageError(_run_in_process("compare", "only_one"),
                              "Give two pipeline or optimize run folders")


def _png_shape(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", path
    return matplotlib.image.imread(path).shape


@pytest.mark.mnist
@pytest.mark.slow
class PipelineEndToEndTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.root = os.path.join(os.environ.get("TEST_TMPDIR", "/tmp"),
                                f"pipeline_e2e_{os.getpid()}")
        shutil.rmtree(cls.root, ignore_errors=True)
        cls.run_dir = os.path.join(cls.root, "run")
        # The example flagfile users copy; later flags override it.
        cls.result = _run_cli("pipeline", f"--flagfile={_QUICK_FLAGS}",
                              f"--output_dir={cls.run_dir}", "--verbose=0")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)
        super().tearDownClass()

    def _json(self, *parts):
        with open(os.path.join(self.run_dir, *parts)) as f:
            return json.load(f)

    def test_every_stage_wrote_its_checked_artifacts(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr[-3000:])
        for stage in ("baseline", "teacher", "distill", "shrink", "prune"):
            self.assertContainsSubset(
                [artifacts.KERAS_FILE, artifacts.SAVED_MODEL_DIR, artifacts.TFLITE_FILE,
                 artifacts.SUMMARY_FILE], os.listdir(os.path.join(self.run_dir, stage)))
        self.assertContainsSubset([artifacts.TFLITE_FILE, "float_reference.tflite"],
                                  os.listdir(os.path.join(self.run_dir, "quantize")))
        with open(os.path.join(self.run_dir, "export", artifacts.TFLITE_FILE), "rb") as f:
            exported = f.read()
        with open(os.path.join(self.run_dir, "quantize", artifacts.TFLITE_FILE),
                  "rb") as f:
            self.assertEqual(exported, f.read())
        self.assertFalse([name for name in os.listdir(self.run_dir)
                          if name.endswith(".partial") or name.startswith(".tmp")])

    def test_export_says_what_the_file_takes_and_returns(self):
        deployment = self._json("export", "deployment.json")
        self.assertEqual(deployment["input"]["shape"], ["batch", 28, 28, 1])
        self.assertEqual(deployment["input"]["dtype"], "float32")
        self.assertIsNone(deployment["input"]["quantization"])
        self.assertEqual(deployment["output"]["shape"], ["batch", 10])
        self.assertEqual((deployment["batch"], deployment["stateless"]), ("any", True))
        self.assertEqual(deployment["data"]["normalize"], "unit")
        self.assertEqual(deployment["data"]["class_names"], [str(d) for d in range(10)])

    def test_report_fields_hold_the_measured_values(self):
        report = self._json("report.json")
        rows = {r["stage"]: r for r in report["stages"]}
        self.assertEqual(list(rows), ["baseline", "teacher", "distill", "shrink", "prune",
                                      "quantize"])
        for stage, row in rows.items():
            if stage == "quantize":
                continue
            summary = self._json(stage, artifacts.SUMMARY_FILE)
            self.assertEqual(row["tflite_accuracy"], summary["tflite"]["test_accuracy"])
            self.assertEqual(row["params"], summary["params"]["total"])
            self.assertEqual(row["tflite_bytes"], os.path.getsize(
                os.path.join(self.run_dir, stage, artifacts.TFLITE_FILE)))
        self.assertEqual(rows["baseline"]["params"], 266_610)
        self.assertEqual(rows["teacher"]["params"], 784 * 64 + 64 + 64 * 10 + 10)
        self.assertEqual(rows["distill"]["macs"], 784 * 300 + 300 * 100 + 100 * 10)
        self.assertLessEqual(rows["shrink"]["macs"], 0.5 * rows["distill"]["macs"])
        self.assertLess(rows["shrink"]["params"], rows["distill"]["params"])
        self.assertEqual(rows["prune"]["macs"], rows["shrink"]["macs"])
        self.assertAllClose(rows["prune"]["sparsity"], 0.9, atol=0.01)
        # PQAT kept the zeros: the int8 file is at least as sparse as the pruned
        # model (int8 rounding may zero a few more tiny weights).
        self.assertBetween(rows["quantize"]["sparsity"], rows["prune"]["sparsity"],
                           rows["prune"]["sparsity"] + 0.02)
        quantize = self._json("quantize", artifacts.SUMMARY_FILE)
        self.assertEqual(rows["quantize"]["tflite_gzip_bytes"],
                         quantize["tflite"]["gzip_bytes"])
        self.assertLess(rows["quantize"]["tflite_bytes"] * 3.5,
                        rows["prune"]["tflite_bytes"])
        for row in rows.values():
            self.assertGreater(row["latency_ms"], 0)
            self.assertGreater(row["seconds"], 0)
        # The exported file, evaluated again on the same split, scores the same.
        self.assertEqual(report["exported"]["test_accuracy"],
                         rows["quantize"]["tflite_accuracy"])
        smaller = rows["baseline"]["tflite_gzip_bytes"] / rows["quantize"]["tflite_gzip_bytes"]
        faster = rows["baseline"]["latency_ms"] / rows["quantize"]["latency_ms"]
        self.assertEqual(
            report["summary_line"],
            f"baseline -> quantize: {smaller:.1f}x smaller (gzipped TFLite), "
            f"{ratios.faster_or_slower(faster)} (batch 1), accuracy "
            f"{rows['baseline']['tflite_accuracy']:.2%} -> "
            f"{rows['quantize']['tflite_accuracy']:.2%}")
        self.assertIn(report["summary_line"], self.result.stdout)
        # The flagfile's one-epoch 64-unit teacher usually scores below the baseline.
        weak_teacher = rows["teacher"]["keras_accuracy"] < rows["baseline"]["keras_accuracy"]
        self.assertEqual("Warning: The teacher is less accurate than the baseline"
                         in self.result.stdout, weak_teacher)
        self.assertEqual(any(w["stage"] == "teacher" for w in report["warnings"]),
                         weak_teacher)
        self.assertEqual(report["settings"], {
            "dataset": "mnist", "train_split": "train[:2000]",
            "val_split": "train[2000:2500]", "test_split": "test[:500]",
            "normalize": "unit", "augment": "none",
            "quantization": {"mode": "pqat", "applied_mode": "pqat", "file": "int8"},
            "latency_threads": 2, "tfcompress_version": tfcompress.__version__})

    def test_report_markdown_and_plots(self):
        report = self._json("report.json")
        self.assertCountEqual(report["plots"], ["accuracy_vs_size.png",
                                                "layer_sparsity.png",
                                                "weight_histograms.png",
                                                "sensitivity.png"])
        for name in report["plots"]:
            height, width, _ = _png_shape(os.path.join(self.run_dir, name))
            self.assertGreater(height, 100)
            self.assertGreater(width, 100)
        with open(os.path.join(self.run_dir, "report.md")) as f:
            markdown = f.read()
        self.assertIn(report["summary_line"], markdown)
        shrunk = self._json("shrink", artifacts.SUMMARY_FILE)
        self.assertIn(f"| shrink | {shrunk['params']['total']:,} | "
                      f"{shrunk['params']['total']:,} | 0.0% | {shrunk['macs']:,} |", markdown)
        self.assertIn(f"| quantize | {shrunk['params']['total']:,} |", markdown)
        for line in ("- dataset: `mnist`",
                     "- splits (train / validation / test): `train[:2000]` / "
                     "`train[2000:2500]` / `test[:500]`",
                     "- input normalization: `unit`",
                     "- training augmentation: `none`",
                     "- quantization: pqat (int8 TFLite file)",
                     "- LiteRT threads (batch-1 latency): 2",
                     f"- tfcompress version: {tfcompress.__version__}"):
            self.assertIn(line + "\n", markdown)
        for name in report["plots"]:
            self.assertIn(f"![{name}]({name})", markdown)

    def test_report_command_rebuilds_the_same_report(self):
        # In a copy of its own: the other tests read the run's report files.
        rebuilt = os.path.join(self.root, "rebuilt")
        shutil.copytree(self.run_dir, rebuilt)
        before = self._json("report.json")
        for name in ["report.json", "report.md", *before["plots"]]:
            os.remove(os.path.join(rebuilt, name))
        result = _run_cli("report", rebuilt)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        with open(os.path.join(rebuilt, "report.json")) as f:
            self.assertEqual(json.load(f), before)
        self.assertIn(before["summary_line"], result.stdout)
        self.assertTrue(os.path.isfile(os.path.join(self.run_dir, "report.md")))

    def test_compare_prints_both_runs(self):
        copy = os.path.join(self.root, "copy")
        shutil.copytree(self.run_dir, copy, dirs_exist_ok=True)
        result = _run_cli("compare", self.run_dir, copy)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertEqual(result.stdout.count("| quantize |"), 2)
        self.assertIn("run: baseline -> quantize", result.stdout)
        self.assertIn("copy: baseline -> quantize", result.stdout)
        self.assertIn("| quantization | pqat (int8 TFLite file) | pqat (int8 TFLite file) |",
                      result.stdout)
        self.assertIn("| LiteRT threads (batch-1 latency) | 2 | 2 |", result.stdout)

    def test_rerun_of_later_stages_from_earlier_output(self):
        rerun = os.path.join(self.root, "rerun")
        shutil.copytree(self.run_dir, rerun, dirs_exist_ok=True)
        # Existing stage folders are not replaced without --overwrite.
        refused = _run_in_process("pipeline", *_SLICES, "--stages=quantize,export,evaluate",
                                  f"--output_dir={rerun}")
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("pass --overwrite to redo it", refused.stderr)
        result = _run_cli("pipeline", *_SLICES, "--stages=quantize,export,evaluate",
                          "--quantization=int8", "--overwrite", f"--output_dir={rerun}",
                          "--latency_threads=1")
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        with open(os.path.join(rerun, "evaluate", "evaluation.json")) as f:
            evaluation = json.load(f)
        timed = evaluation["latency"]
        self.assertEqual({row["num_threads"] for row in timed.values()}, {1})
        # The evaluate stage prints the accuracy it announces.
        self.assertIn(f"Test accuracy {evaluation['exported']['test_accuracy']:.2%} on 500 "
                      "examples", result.stdout)
        with open(os.path.join(rerun, "report.json")) as f:
            run_settings = json.load(f)["settings"]
        self.assertEqual((run_settings["quantization"]["mode"],
                          run_settings["latency_threads"]), ("int8", 1))
        with open(os.path.join(rerun, "quantize", artifacts.SUMMARY_FILE)) as f:
            config = json.load(f)["config"]
        self.assertEqual(config["mode"], "int8")
        self.assertEqual(config["model"], os.path.abspath(
            os.path.join(rerun, "prune", artifacts.KERAS_FILE)))
