"""The budget's targets: refused when bad, compared with measurements, kept in JSON."""

import json
import math

import tensorflow as tf
from absl.testing import parameterized

from tfcompress.budget import Targets


class TargetsCheckTest(tf.test.TestCase, parameterized.TestCase):

    def test_no_target_is_refused_naming_the_three_flags(self):
        with self.assertRaisesRegex(ValueError, "^No target given: give at least one of "
                                    "`target_latency_ms` .*`target_size_kb` .*or "
                                    "`max_accuracy_drop`"):
            Targets()

    @parameterized.named_parameters(
        ("negative_latency", {"latency_ms": -1.0},
         "`target_latency_ms` must be a positive number of milliseconds, got -1.0."),
        ("zero_latency", {"latency_ms": 0},
         "`target_latency_ms` must be a positive number of milliseconds, got 0."),
        ("nan_latency", {"latency_ms": math.nan},
         "`target_latency_ms` must be a positive number of milliseconds, got nan."),
        ("string_size", {"size_kb": "100"},
         "`target_size_kb` must be a positive number of kilobytes (1 KB = 1,000 bytes), "
         "got '100'."),
        ("infinite_size", {"size_kb": math.inf},
         "`target_size_kb` must be a positive number of kilobytes (1 KB = 1,000 bytes), "
         "got inf."),
        ("bool_size", {"size_kb": True},
         "`target_size_kb` must be a positive number of kilobytes (1 KB = 1,000 bytes), "
         "got True."),
        ("drop_of_100", {"max_accuracy_drop": 100},
         "`max_accuracy_drop` must be a number of accuracy points in [0, 100) (1.0 = one "
         "point), got 100."),
        ("negative_drop", {"max_accuracy_drop": -0.5},
         "`max_accuracy_drop` must be a number of accuracy points in [0, 100) (1.0 = one "
         "point), got -0.5."),
        # A bad value is refused even beside a good one.
        ("bad_beside_good", {"latency_ms": 1.0, "max_accuracy_drop": math.nan},
         "`max_accuracy_drop` must be a number of accuracy points in [0, 100) (1.0 = one "
         "point), got nan."),
    )
    def test_bad_target_is_refused_naming_flag_and_value(self, given, message):
        with self.assertRaises(ValueError) as caught:
            Targets(**given)
        self.assertEqual(str(caught.exception), message)

    def test_good_targets_are_kept_as_floats(self):
        targets = Targets(latency_ms=2, max_accuracy_drop=0)
        self.assertEqual((targets.latency_ms, targets.size_kb, targets.max_accuracy_drop),
                         (2.0, None, 0.0))
        self.assertIsInstance(targets.latency_ms, float)
        self.assertEqual(targets.given(), ["latency_ms", "max_accuracy_drop"])


class TargetsMissesTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.targets = Targets(latency_ms=0.05, size_kb=100, max_accuracy_drop=1.0)

    def test_measurement_within_every_target_is_met(self):
        # At the target exactly meets it; a gain in accuracy meets any drop.
        measured = {"latency_ms": 0.05, "size_bytes": 100_000, "accuracy_drop": -0.3}
        self.assertEqual(self.targets.misses(measured), {})
        self.assertTrue(self.targets.met(measured))
        self.assertEqual(self.targets.describe_miss({}),
                         "met target_latency_ms=0.05; met target_size_kb=100; "
                         "met max_accuracy_drop=1")

    def test_misses_say_by_how_much_in_the_targets_units(self):
        measured = {"latency_ms": 0.062, "size_bytes": 84_213, "accuracy_drop": 1.6}
        misses = self.targets.misses(measured)
        self.assertFalse(self.targets.met(measured))
        self.assertEqual(sorted(misses), ["max_accuracy_drop", "target_latency_ms"])
        latency = misses["target_latency_ms"]
        self.assertEqual((latency["target"], latency["measured"]), (0.05, 0.062))
        self.assertAllClose([latency["over_by"], latency["over_by_ratio"]], [0.012, 0.24])
        drop = misses["max_accuracy_drop"]
        self.assertAllClose([drop["target"], drop["measured"], drop["over_by"]],
                            [1.0, 1.6, 0.6])
        self.assertIsNone(drop["over_by_ratio"])
        self.assertEqual(self.targets.describe_miss(misses),
                         "missed target_latency_ms=0.05 (measured 0.062 ms: 0.012 ms or "
                         "24% over); met target_size_kb=100; missed max_accuracy_drop=1 "
                         "(measured 1.6 points: 0.6 points over)")

    def test_size_is_compared_in_kb_of_1000_bytes(self):
        targets = Targets(size_kb=100)
        self.assertTrue(targets.met({"size_bytes": 100_000}))
        miss = targets.misses({"size_bytes": 102_400})["target_size_kb"]  # 100 KiB
        self.assertAllClose([miss["measured"], miss["over_by"], miss["over_by_ratio"]],
                            [102.4, 2.4, 0.024])
        self.assertEqual(targets.describe_miss({"target_size_kb": miss}),
                         "missed target_size_kb=100 (measured 102.4 KB: 2.4 KB or 2.4% over)")

    def test_only_the_given_targets_are_read(self):
        targets = Targets(latency_ms=1.0)
        self.assertTrue(targets.met({"latency_ms": 0.5}))  # no size or accuracy needed
        with self.assertRaisesRegex(ValueError, "`measured` has no 'latency_ms', which "
                                    "`target_latency_ms` needs"):
            targets.misses({"size_bytes": 10})


class TargetsJsonTest(tf.test.TestCase):

    def test_json_round_trip_keeps_the_targets(self):
        for targets in (Targets(latency_ms=0.5), Targets(size_kb=12.5, max_accuracy_drop=0),
                        Targets(latency_ms=1, size_kb=2, max_accuracy_drop=3)):
            record = json.loads(json.dumps(targets.to_json()))
            self.assertEqual(Targets.from_json(record), targets)
        self.assertEqual(Targets(size_kb=12.5).to_json(),
                         {"target_latency_ms": None, "target_size_kb": 12.5,
                          "max_accuracy_drop": None})

    def test_bad_json_is_refused_as_a_bad_flag(self):
        with self.assertRaisesRegex(ValueError, "`target_size_kb` must be a positive"):
            Targets.from_json({"target_size_kb": -3})
