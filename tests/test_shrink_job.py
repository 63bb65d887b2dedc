"""The shrink job: a smaller model that recovers, exports and resumes exactly."""

import json
import os
from unittest import mock

import keras as keras3  # Keras 3, on purpose: the user's model
import numpy as np
import pytest
import tensorflow as tf

import helpers
import job_helpers
from tfcompress import data
from tfcompress import export
from tfcompress import shrink
from tfcompress import runtime
from tfcompress._keras import keras
from tfcompress.jobs import artifacts
from tfcompress.jobs import runner
from tfcompress.jobs import shrink as shrink_job

L = keras.layers


def _residual_cnn(seed=0):
    """Batch norm, a depthwise conv and a residual Add on 28x28x1 MNIST."""
    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input((28, 28, 1))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, strides=2, use_bias=False, name="stem")(x)))
    y = L.ReLU()(L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same")(x)))
    y = L.BatchNormalization()(L.Conv2D(16, 1, name="project")(y))
    x = L.GlobalAveragePooling2D()(L.Add()([x, y]))
    hidden = L.Dense(32, activation="relu", name="hidden")(x)
    return keras.Model(inputs, L.Dense(10, name="logits")(hidden))


class _DieOnTrainBegin(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        raise KeyboardInterrupt("killed as training starts")


class _StopBeforeRound2(shrink_job.ShrinkJob):
    """Dies as round 2 starts training, after round 1 finished and was saved."""

    def build(self, run, phase):
        trainee = super().build(run, phase)
        if phase == "round2":
            trainee.callbacks = (_DieOnTrainBegin(),)
        return trainee


@pytest.mark.mnist
class ShrinkJobTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.create_tempdir().full_path
        self.model_path = os.path.join(self.root, "model.keras")
        _residual_cnn().save(self.model_path)

    def _run(self, name, job_class=shrink_job.ShrinkJob, resume=False, **kwargs):
        job = job_class(model=self.model_path, **kwargs)
        return runner.run(job, job_helpers.mnist_training(os.path.join(self.root, name),
                                                          resume=resume),
                          log=lambda *_: None)

    def test_shrunk_model_is_smaller_exports_and_counts_layers(self):
        summary = self._run("out", target_macs=0.5)
        own = summary["shrink"]
        self.assertLessEqual(own["macs"]["after"], 0.5 * own["macs"]["before"])
        self.assertLess(own["params"]["after"], own["params"]["before"])
        self.assertEqual(summary["macs"], own["macs"]["after"])
        rows = {row["name"]: row for row in own["layers"]}
        self.assertLess(rows["project"]["params_after"], rows["project"]["params_before"])
        # The logits layer keeps its 10 units and reads the narrower hidden layer.
        self.assertEqual(rows["logits"]["params_after"], (own["widths"]["hidden"] + 1) * 10)
        self.assertGreater(own["latency"]["original_ms"], 0)
        out = os.path.join(self.root, "out")
        # model.keras is a Keras 3 file; tfcompress reads it as tf_keras.
        model = export.load_keras_model(os.path.join(out, artifacts.KERAS_FILE))
        batch = data.first_examples("mnist", "test[:32]", 32)
        tflite = runtime.TFLiteRunner(os.path.join(out, artifacts.TFLITE_FILE))(batch)
        self.assertAllClose(model(batch, training=False), tflite, atol=1e-4)
        # The residual Add ties the stem and the projection: one group, one width.
        self.assertEqual(model.get_layer("stem").output_shape[-1], own["widths"]["project"])
        self.assertEqual(model.get_layer("project").output_shape[-1],
                         own["widths"]["project"])
        self.assertLess(own["widths"]["project"], 16)
        with open(os.path.join(out, shrink_job.PLAN_FILE), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["widths"], own["widths"])

    def test_rounds_reach_the_plan_and_resume_exactly(self):
        whole = self._run("whole", fraction=0.5, rounds=2)
        with self.assertRaises(KeyboardInterrupt):
            self._run("killed", job_class=_StopBeforeRound2, fraction=0.5, rounds=2)
        resumed = self._run("killed", fraction=0.5, rounds=2, resume=True)
        self.assertEqual(resumed["shrink"]["widths"], whole["shrink"]["widths"])
        job_helpers.assert_bitwise_equal(
            self, job_helpers.saved_weights(os.path.join(self.root, "whole")),
            job_helpers.saved_weights(os.path.join(self.root, "killed")))

    @pytest.mark.slow
    def test_latency_target_is_planned_by_measuring(self):
        # Timings by file size, so the plan, not this machine's load, decides
        # (microsecond files swing by more than 40% on a busy VM).
        def by_size(files, **_):
            return {name: {"median_ms": len(data) / 1e6} for name, data in files.items()}
        original = export.load_keras_model(self.model_path)
        original_ms = by_size({"int8": shrink.latency.tflite_bytes(original, "int8")})[
            "int8"]["median_ms"]
        # A stand-in tile of 4 channels: the CPU's own (16 with AVX-512) would
        # leave the 16-wide residual group whole.
        tile = runtime.kernel_tiles.KernelTile(4, "fake int8")
        with mock.patch.object(shrink.latency, "compare_latency", by_size), \
                mock.patch.object(shrink.rounding.kernel_tiles, "kernel_tile",
                                  lambda fmt: tile):
            summary = self._run("fast", target_latency_ms=0.75 * original_ms,
                                latency_format="int8")
        search = summary["shrink"]["latency_search"]
        self.assertEqual(search["format"], "int8")
        self.assertEqual(summary["shrink"]["round_to"], {"multiple": 4,
                                                         "from": "auto: fake int8"})
        self.assertTrue(all(w % 4 == 0 for w in summary["shrink"]["widths"].values()),
                        summary["shrink"]["widths"])
        self.assertLessEqual(search["after_ms"], search["target_ms"])
        self.assertLess(summary["shrink"]["macs"]["after"],
                        summary["shrink"]["macs"]["before"])

    def test_round_to_and_where_it_came_from_are_recorded_and_logged(self):
        tile = runtime.kernel_tiles.KernelTile(8, "fake float")
        lines = []
        with mock.patch.object(shrink.rounding.kernel_tiles, "kernel_tile",
                               lambda fmt: tile):
            job = shrink_job.ShrinkJob(model=self.model_path, target_macs=0.5,
                                       round_to="auto")
            summary = runner.run(job, job_helpers.mnist_training(
                os.path.join(self.root, "auto"), epochs=1), log=lines.append)
        own = summary["shrink"]
        self.assertEqual(own["round_to"], {"multiple": 8, "from": "auto: fake float"})
        # The uniform cut gives 8/24; grow-back spends the rest of the budget.
        self.assertEqual(own["widths"], {"project": 8, "hidden": 32})
        search = own["search"]
        self.assertEqual({k: search[k] for k in ("method", "from", "cost", "start")},
                         {"method": "grow", "from": "default: widths are multiples of 8",
                          "cost": "macs", "start": {"project": 8, "hidden": 24}})
        self.assertEqual([(s["group"], s["width"]) for s in search["steps"]],
                         [("hidden", 32)])
        self.assertAlmostEqual(search["steps"][-1]["cost"],
                               own["macs"]["after"] / own["macs"]["before"])
        self.assertLessEqual(search["steps"][-1]["cost"], 0.5)
        with open(os.path.join(self.root, "auto", artifacts.SUMMARY_FILE)) as f:
            recorded = json.load(f)["shrink"]
        self.assertEqual(recorded["round_to"], own["round_to"])
        self.assertEqual(recorded["search"], search)
        found = [str(line) for line in lines if str(line).startswith("Widths found:")]
        self.assertLen(found, 1)
        self.assertRegex(found[0], r", then 1 grow-back steps of \d+ judged \(default: "
                         r"widths are multiples of 8\): hidden -> 32 \(0\.\d+ of the macs\)\.$")
        planned = [str(line) for line in lines if str(line).startswith("Planned widths:")]
        self.assertLen(planned, 1)
        self.assertIn("project 16->8", planned[0])
        self.assertIn("hidden 32->32", planned[0])
        self.assertTrue(planned[0].endswith("; multiples of 8 (auto: fake float)."),
                        planned[0])

    def test_recovery_without_distillation_trains_on_labels(self):
        summary = self._run("labels", fraction=0.25, distill=False)
        self.assertFalse(summary["config"]["distill"])
        self.assertGreater(summary["keras"]["test_accuracy"], 0.1)

    def test_penalty_phase_trains_before_shrinking(self):
        job = shrink_job.ShrinkJob(model=self.model_path, fraction=0.5, criterion="bn",
                                   penalty="bn_l1", penalty_weight=1e-3, penalty_epochs=1)
        self.assertEqual(job.phases(), ("sparsify", "recover"))
        lines = []
        summary = runner.run(job, job_helpers.mnist_training(
            os.path.join(self.root, "penalty")), log=lines.append)
        said = "\n".join(map(str, lines))
        self.assertLess(said.index("Training with the bn_l1 penalty (weight 0.001) for 1 "
                                   "epochs before shrinking."), said.index("Round 1 of 1"))
        self.assertEqual(summary["config"]["penalty"], "bn_l1")
        self.assertLess(summary["shrink"]["params"]["after"],
                        summary["shrink"]["params"]["before"])

    def test_bad_targets_are_refused_before_any_work(self):
        out = os.path.join(self.root, "bad")
        cases = [
            (dict(), r"Give exactly one of `fraction`, `target_params`, `target_macs`, "
                     r"`target_latency_ms`, `widths`, got none"),
            (dict(fraction=0.5, target_macs=0.5), r"got \['fraction', 'target_macs'\]"),
            (dict(fraction=0.5, rounds=3), r"`rounds` \(3\) must be at most `epochs` "
                                           r"\(2\)"),
            (dict(target_latency_ms=-1.0), r"`target_latency_ms` must be a positive "
                                           r"number of milliseconds, got -1.0"),
            (dict(target_latency_ms=1.0, latency_format="int4"),
             r"`latency_format` must be 'float' or 'int8', got 'int4'"),
            (dict(fraction=0.5, pinned=("nope",)), r"`pinned` names layers \['nope'\]"),
            (dict(fraction=0.5, round_to="16x"), r"`round_to` must be a positive int or "
                                                 r"'auto' \(the channel tile of this "
                                                 r"machine's kernels\), got '16x'"),
            (dict(target_macs=1.5), r"`target_macs` must be a number in \(0, 1\), got 1.5"),
            (dict(target_macs=0.5, search="greedy"), r"`search` must be one of \('uniform', "
                                                     r"'grow'\)"),
            (dict(fraction=0.5, search="grow"), r"`search`='grow' applies to "
                                                r"target_params, target_macs and "
                                                r"target_latency_ms, not fraction"),
            (dict(target_macs=0.5, latency_threads=0), r"`latency_threads`"),
            (dict(fraction=0.5, crop_inputs=0.01), r"`crop_inputs` was given, but .* has "
                                                   r"no Flatten"),
        ]
        for kwargs, message in cases:
            with self.assertRaisesRegex(ValueError, message):
                runner.prepare(shrink_job.ShrinkJob(model=self.model_path, **kwargs),
                               job_helpers.mnist_training(out))
        self.assertFalse(os.path.exists(out) or os.path.exists(out + ".partial"))

    def test_parse_target(self):
        self.assertEqual(shrink_job.parse_target("macs:0.25"), {"target_macs": 0.25})
        self.assertEqual(shrink_job.parse_target("latency_ms:0.005"),
                         {"target_latency_ms": 0.005})
        self.assertEqual(shrink_job.parse_target("widths:stem=8"), {"widths": "stem=8"})
        with self.assertRaisesRegex(ValueError, r"`shrink_target` must be one of "
                                    r"fraction, params, macs, latency_ms .*got 'flops:2'"):
            shrink_job.parse_target("flops:2")

    def test_given_widths_are_the_shrunk_model_and_another_run_reuses_them(self):
        summary = self._run("out", widths="stem=8,hidden=16")
        # The stem's group (it adds to the projection) is named by its first producer.
        self.assertEqual(summary["shrink"]["widths"], {"project": 8, "hidden": 16})
        rows = {row["name"]: row for row in summary["shrink"]["layers"]}
        self.assertEqual(rows["logits"]["params_after"], (16 + 1) * 10)
        self.assertEqual(rows["stem"]["params_after"], 3 * 3 * 8)
        plan = os.path.join(self.root, "out", shrink_job.PLAN_FILE)
        self.assertEqual(shrink_job.parse_widths(plan), {"project": 8, "hidden": 16})

    def test_bad_widths_are_named(self):
        out = os.path.join(self.root, "bad")
        for widths, message in (
                ("stem8", r"`widths` must be layer=width pairs, e.g. 'conv1=8,dense=32', or "
                          r"a .json file of them \(a shrink run's shrink_plan.json\), got "
                          r"'stem8'"),
                ("stem=eight", r"`widths` must be layer=width pairs.*got 'stem=eight'"),
                (os.path.join(self.root, "none.json"), r"`widths` '.*none.json' cannot be "
                                                       r"read as a JSON file of widths"),
                ("stem=8,nothing=3", r"`widths` names \['nothing'\]"),
                ("stem=99", r"`widths\['stem'\]` must be an int in \[1, 16\]")):
            with self.subTest(widths=widths), self.assertRaisesRegex(ValueError, message):
                runner.prepare(shrink_job.ShrinkJob(model=self.model_path, widths=widths),
                               job_helpers.mnist_training(out))
        self.assertFalse(os.path.exists(out) or os.path.exists(out + ".partial"))


@pytest.mark.mnist
@pytest.mark.slow
class Keras3ResidualThroughCliTest(helpers.CliTestCase):

    def test_keras3_residual_model_shrunk_by_the_command_comes_back_as_keras3(self):
        root = self.create_tempdir().full_path
        keras3.utils.set_random_seed(0)
        K = keras3.layers
        x = inputs = keras3.Input((28, 28, 1))
        x = K.ReLU(6.0)(K.BatchNormalization()(K.Conv2D(16, 3, strides=2)(x)))
        y = K.ReLU(6.0)(K.BatchNormalization()(K.DepthwiseConv2D(3, padding="same")(x)))
        y = K.BatchNormalization()(K.Conv2D(16, 1)(y))
        x = K.GlobalAveragePooling2D()(K.Add()([x, y]))
        source = os.path.join(root, "user.keras")
        keras3.Model(inputs, K.Dense(10)(x)).save(source)
        out = os.path.join(root, "shrunk")
        result = helpers.run_cli(
            "shrink", f"--model={source}", "--target_macs=0.5", "--round_to=4",
            "--epochs=1", "--train_split=train[:512]", "--val_split=train[512:640]",
            "--test_split=test[:128]", f"--output_dir={out}", "--verbose=0")
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertIn("x fewer), MACs", result.stdout)
        model = keras3.saving.load_model(os.path.join(out, artifacts.KERAS_FILE))
        self.assertIsInstance(model, keras3.Model)
        widths = [layer.output.shape[-1] for layer in model.layers
                  if isinstance(layer, keras3.layers.Conv2D)
                  and not isinstance(layer, keras3.layers.DepthwiseConv2D)]
        self.assertTrue(all(w < 16 and w % 4 == 0 for w in widths), widths)
        batch = data.first_examples("mnist", "test[:32]", 32)
        tflite = runtime.TFLiteRunner(os.path.join(out, artifacts.TFLITE_FILE))(batch)
        self.assertAllClose(np.asarray(model(batch, training=False)), tflite, atol=1e-4)


if __name__ == "__main__":
    tf.test.main()
