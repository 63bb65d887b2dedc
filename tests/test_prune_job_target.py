"""The prune job checks each layer's final sparsity against its target, and says so."""

import json
import os
import shutil
import tempfile

import pytest
import tensorflow as tf

import job_helpers
from tfcompress import prune as prune_lib
from tfcompress.jobs import artifacts
from tfcompress.jobs import prune
from tfcompress.jobs import runner
from tfcompress.jobs import train

# On the MNIST slice an epoch is 8 steps; 2 epochs ramp over the first (8 steps).
# frequency=5 puts the last mask update at step 5: the ramp stops at
# 0.9 * (1 - (3/8)**3) = 85.3% of a 90% target, 4.7 points short.
_SHORT = 0.9 * (1 - (3 / 8) ** 3)


class TargetMissesTest(tf.test.TestCase):

    def test_only_layers_more_than_a_point_short_or_off_pattern_are_misses(self):
        report = {"layers": [
            {"name": "short", "kernel_sparsity": 0.85},
            {"name": "within", "kernel_sparsity": 0.895},
            {"name": "sparser", "kernel_sparsity": 0.97},  # zeros before pruning
            {"name": "broken", "kernel_sparsity": 0.5, "m_by_n_ok": False},
            {"name": "pattern", "kernel_sparsity": 0.4, "m_by_n_ok": True},
            {"name": "own_schedule", "kernel_sparsity": 0.0},
            {"name": "batch_norm"}]}
        targets = {"short": 0.9, "within": 0.9, "sparser": 0.9, "broken": 0.5,
                   "pattern": 0.5, "own_schedule": None, "batch_norm": 0.9}
        misses = prune_lib.target_misses(report, targets)
        self.assertEqual(misses, {
            "short": {"target": 0.9, "sparsity": 0.85},
            "broken": {"target": 0.5, "sparsity": 0.5, "m_by_n_ok": False}})
        self.assertEqual(prune_lib.format_misses(misses),
                         "Sparsity target missed by more than 1 point in 2 layers: "
                         "short 85.0% (target 90.0%), broken (N:M pattern broken).")
        self.assertEqual(prune_lib.format_misses({}), "")


@pytest.mark.mnist
class PruneJobTargetTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.root = tempfile.mkdtemp()
        cls.dense = os.path.join(cls.root, "dense")
        runner.run(train.TrainJob("mlp:32"),
                   job_helpers.mnist_training(cls.dense, epochs=1), log=lambda *_: None)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)
        super().tearDownClass()

    def _prune(self, name, **job_args):
        lines = []
        output_dir = os.path.join(self.root, name)
        summary = runner.run(prune.PruneJob(model=self.dense, **job_args),
                             job_helpers.mnist_training(output_dir), log=lines.append)
        with open(os.path.join(output_dir, artifacts.SUMMARY_FILE), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["sparsity_target"], summary["sparsity_target"])
        with open(os.path.join(output_dir, prune.PRUNE_REPORT_FILE), encoding="utf-8") as f:
            report = json.load(f)
        kernels = {row["name"]: row["kernel_sparsity"] for row in report["layers"]}
        return summary, "\n".join(lines), kernels, report["targets"]

    def test_frequency_left_unset_reaches_every_target(self):
        summary, log, kernels, _ = self._prune("reached", sparsity=0.9)
        self.assertEqual(summary["sparsity_target"],
                         {"reached": True, "tolerance": 0.01, "misses": {}})
        self.assertIn("(polynomial, target by epoch 1 of 2, masks updated every 8 steps)",
                      log)
        self.assertNotIn("missed", log)
        for name, value in kernels.items():
            self.assertAllClose(value, 0.9, atol=0.001, msg=name)

    def test_miss_of_more_than_one_point_is_in_the_summary_and_the_log(self):
        summary, log, kernels, _ = self._prune("missed", sparsity=0.9, frequency=5)
        self.assertIn(
            "Warning: pruning ramps over 8 steps (1 epoch of 8): `frequency` 5 puts the "
            "last mask update at step 5, 3 steps before `end_step` 8, so pruning stops "
            "at 85.3% sparsity, short of the 90.0% target. Pass a `frequency` that "
            "divides `end_step` - `begin_step` = 8 (4 is the largest up to 5), or leave "
            "`frequency` unset to have one chosen so.", log)
        for value in kernels.values():
            self.assertAllClose(value, _SHORT, atol=0.002)
        self.assertEqual(summary["sparsity_target"], {
            "reached": False, "tolerance": 0.01,
            "misses": {name: {"target": 0.9, "sparsity": value}
                       for name, value in kernels.items()}})
        self.assertIn(
            "Sparsity target missed by more than 1 point in 2 layers: "
            + ", ".join(f"{name} {value:.1%} (target 90.0%)"
                        for name, value in kernels.items()) + ".", log)

    def test_per_layer_targets_are_each_checked(self):
        summary, log, kernels, targets = self._prune("plan", sparsity=0.9, frequency=5,
                                                     sensitivity=True)
        with open(os.path.join(self.root, "plan", prune.SENSITIVITY_FILE),
                  encoding="utf-8") as f:
            plan = json.load(f)["plan"]
        self.assertEqual(targets, plan)
        short = {name: {"target": target, "sparsity": kernels[name]}
                 for name, target in plan.items() if target - kernels[name] > 0.01}
        for name, target in plan.items():  # each layer 5.3% short of its own target
            self.assertAllClose(kernels[name], target * _SHORT / 0.9, atol=0.002)
        self.assertNotEmpty(short)
        self.assertEqual(summary["sparsity_target"]["misses"], short)
        self.assertIn(f"Sparsity target missed by more than 1 point in {len(short)} "
                      f"layer", log)

    def test_layer_sparsity_from_a_file_prunes_those_layers_alone(self):
        path = os.path.join(self.root, "targets.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"dense_1": 0.8}, f)  # mlp:32's hidden layer
        summary, log, kernels, targets = self._prune("given", layer_sparsity=path)
        self.assertEqual(targets, {"dense_1": 0.8})
        self.assertAllClose(kernels["dense_1"], 0.8, atol=0.001)
        self.assertEqual(kernels["logits"], 0.0)
        self.assertTrue(summary["sparsity_target"]["reached"])
        self.assertIn("Pruning mlp to per-layer targets (dense_1 80%)", log)


class LayerSparsityTest(tf.test.TestCase):

    def test_pairs_and_files_are_read(self):
        self.assertEqual(prune.parse_layer_sparsity("a=0.9, b=0.5"), {"a": 0.9, "b": 0.5})
        path = os.path.join(self.create_tempdir().full_path, "sensitivity.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"baseline": 0.9, "plan": {"a": 0.7}}, f)
        self.assertEqual(prune.parse_layer_sparsity(path), {"a": 0.7})

    def test_bad_values_are_refused_by_name(self):
        for text in ("a=1.0", "a=x", "a", "missing.json"):
            with self.subTest(text=text), self.assertRaisesRegex(
                    ValueError, rf"`layer_sparsity` .*{text!r}"):
                prune.parse_layer_sparsity(text)


if __name__ == "__main__":
    tf.test.main()
