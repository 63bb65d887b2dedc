"""Pruning schedules whose last mask update falls between updates: reached or warned of."""

import warnings

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from absl.testing import parameterized

from tfcompress import prune
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.prune import reach

# The issue's case: TFMOT's default frequency 100 and a ramp of 188 steps.
_ISSUE_MESSAGE = (
    "`frequency` 100 puts the last mask update at step 100, 88 steps before `end_step` "
    "188, so pruning stops at 44.9% sparsity, short of the 50.0% target. Pass a "
    "`frequency` that divides `end_step` - `begin_step` = 188 (94 is the largest up to "
    "100), or leave `frequency` unset to have one chosen so.")


def _mlp():
    """Dense 16 -> 64 -> 32 -> 4 (layers d1, d2, out): 1024, 2048 and 128 weights."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16,))
    x = keras.layers.Dense(64, activation="relu", name="d1")(inputs)
    x = keras.layers.Dense(32, activation="relu", name="d2")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="out")(x))


def _train_steps(model, steps):
    """Trains `model` for exactly `steps` batches of 4, with the pruning callbacks."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * steps, 16)).astype(np.float32)
    y = (np.abs(x[:, :4]).argmax(-1)).astype(np.int32)
    training.compile_classifier(model, learning_rate=1e-3)
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(4), epochs=1, verbose=0,
              callbacks=prune.callbacks())
    return model


def _stripped_kernel_sparsity(result, steps):
    stripped = prune.strip(_train_steps(result.model, steps))
    return {row["name"]: row["kernel_sparsity"]
            for row in prune.sparsity_report(stripped)["layers"]}


def _prune_without_warnings(model, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", reach.ScheduleWarning)
        return prune.prune(model, **kwargs)


class ReachRuleTest(tf.test.TestCase, parameterized.TestCase):
    """`reach`'s rule against TFMOT's own schedules, step by step."""

    @parameterized.parameters((0, 188, 100), (0, 188, 94), (0, 10, 3), (5, 25, 7),
                              (3, 10, 20), (0, 8, 8), (0, 50, 100))
    def test_last_update_and_its_sparsity_are_tfmot_schedules(self, begin, end, frequency):
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.1, final_sparsity=0.8, begin_step=begin, end_step=end,
            frequency=frequency)
        # Steps run from 1 (UpdatePruningStep starts at 0, each batch adds 1 first).
        updates = [step for step in range(1, end + 2 * frequency)
                   if schedule(tf.constant(step, tf.int64))[0]]
        last = reach.last_update_step(begin, end, frequency)
        self.assertEqual(last, updates[-1] if updates else None)
        reached = reach.reached_sparsity(schedule)
        if last is None:
            self.assertEqual(reached, 0.0)
        else:
            self.assertAllClose(reached, schedule(tf.constant(last, tf.int64))[1], atol=1e-6)

    @parameterized.parameters((0, 188, 100, 94), (0, 938, 100, 67), (0, 197, 100, 1),
                              (0, 50, 100, 50), (10, 30, 100, 20), (0, 8, 10, 8))
    def test_reaching_frequency_is_the_largest_divisor_up_to_the_limit(
            self, begin, end, at_most, expected):
        frequency = reach.reaching_frequency(begin, end, at_most)
        self.assertEqual(frequency, expected)
        self.assertEqual(reach.last_update_step(begin, end, frequency), end)


class ScheduleReachTest(tf.test.TestCase, parameterized.TestCase):

    def test_explicit_frequency_between_updates_warns_what_is_reached(self):
        with self.assertWarns(prune.ScheduleWarning) as caught:
            result = prune.prune(_mlp(), sparsity=0.5, end_step=188, frequency=100)
        self.assertEqual(str(caught.warning), _ISSUE_MESSAGE)
        self.assertEqual(result.warnings, (_ISSUE_MESSAGE,))
        # What the warning says is what training gives, but for TFMOT's rounding
        # of each layer's count of kept weights (half a weight of out's 128).
        for name, value in _stripped_kernel_sparsity(result, steps=188).items():
            self.assertAllClose(value, 0.4487, atol=0.004, msg=name)

    def test_frequency_left_unset_reaches_the_target_at_end_step(self):
        result = _prune_without_warnings(_mlp(), sparsity=0.5, end_step=188)
        schedule = result.model.get_layer("prune_low_magnitude_d1").pruning_schedule
        self.assertEqual(schedule.frequency, 94)
        self.assertEqual(result.warnings, ())
        for name, value in _stripped_kernel_sparsity(result, steps=188).items():
            self.assertEqual(value, 0.5, msg=name)  # every layer's count is even

    def test_per_layer_targets_reach_each_target_or_are_each_named(self):
        targets = {"d1": 0.8, "d2": 0.5}
        result = _prune_without_warnings(_mlp(), sparsity=targets, end_step=188)
        sparsity = _stripped_kernel_sparsity(result, steps=188)
        self.assertAllClose(sparsity["d1"], 0.8, atol=0.001)
        self.assertEqual(sparsity["d2"], 0.5)
        self.assertEqual(sparsity["out"], 0.0)
        with self.assertWarns(prune.ScheduleWarning) as caught:
            prune.prune(_mlp(), sparsity=targets, end_step=188, frequency=100)
        self.assertEqual(
            str(caught.warning),
            "`frequency` 100 puts the last mask update at step 100, 88 steps before "
            "`end_step` 188, so pruning stops short of the targets: 'd1' at 71.8% "
            "(target 80.0%), 'd2' at 44.9% (target 50.0%). Pass a `frequency` that "
            "divides `end_step` - `begin_step` = 188 (94 is the largest up to 100), or "
            "leave `frequency` unset to have one chosen so.")

    def test_tfmot_schedule_object_between_updates_warns(self):
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0, final_sparsity=0.5, begin_step=0, end_step=188)
        with self.assertWarns(prune.ScheduleWarning) as caught:
            prune.prune(_mlp(), schedule=schedule)
        self.assertEqual(
            str(caught.warning),
            "The PolynomialDecay `schedule`, with `frequency` 100, puts the last mask "
            "update at step 100, 88 steps before `end_step` 188, so pruning stops at "
            "44.9% sparsity, short of the 50.0% target. Give the schedule a `frequency` "
            "that divides `end_step` - `begin_step` = 188 (94 is the largest up to 100).")

    def test_constant_schedule_object_that_never_updates_warns(self):
        schedule = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, end_step=50)
        with self.assertWarns(prune.ScheduleWarning) as caught:
            result = prune.prune(_mlp(), schedule=schedule)
        self.assertEqual(
            str(caught.warning),
            "The ConstantSparsity `schedule`, with `frequency` 100, leaves no mask update "
            "between step 1 and `end_step` 50: with `begin_step` 0 the first would come "
            "at step 100 (TFMOT counts steps from 1), so the pruned layers stay dense. "
            "Give the schedule a `frequency` that divides `end_step` - `begin_step` = 50 "
            "(50 is the largest up to 100).")
        self.assertEqual(set(_stripped_kernel_sparsity(result, steps=60).values()), {0.0})

    def test_schedule_object_ending_at_step_zero_warns(self):
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0, final_sparsity=0.5, begin_step=0, end_step=0)
        with self.assertWarns(prune.ScheduleWarning) as caught:
            prune.prune(_mlp(), schedule=schedule)
        self.assertEqual(
            str(caught.warning),
            "The PolynomialDecay `schedule`, with `frequency` 100, leaves no mask update "
            "between step 1 and `end_step` 0: with `begin_step` 0 the first would come "
            "at step 100 (TFMOT counts steps from 1), so the pruned layers stay dense. "
            "Give the schedule an `end_step` after its `begin_step`.")

    def test_constant_schedule_that_would_never_update_is_refused(self):
        with self.assertRaisesRegex(
                ValueError,
                r"^`frequency` \(100\) leaves no mask update between step 1 and `end_step` "
                r"\(50\): with `begin_step` 0 the first update comes at step 100 \(TFMOT "
                r"counts steps from 1\)\. Use a frequency of at most 50, or leave it "
                r"unset\.$"):
            prune.prune(_mlp(), sparsity=0.5, schedule="constant", end_step=50,
                        frequency=100)

    def test_constant_schedule_with_frequency_unset_updates_at_end_step(self):
        result = _prune_without_warnings(_mlp(), sparsity=0.5, schedule="constant",
                                         end_step=50)
        for name, value in _stripped_kernel_sparsity(result, steps=50).items():
            self.assertEqual(value, 0.5, msg=name)

    @parameterized.named_parameters(
        # 938 steps, update at 900: the cubic has flattened, 0.006 points short.
        ("shortfall_below_a_tenth_of_a_point", dict(sparsity=0.9, end_step=938,
                                                    frequency=100)),
        ("frequency_divides_the_ramp", dict(sparsity=0.9, begin_step=12, end_step=188,
                                            frequency=88)),
        ("n_by_m_masks_are_set_at_step_one", dict(m_by_n=(2, 4), end_step=188,
                                                  frequency=100)))
    def test_no_warning(self, kwargs):
        self.assertEqual(_prune_without_warnings(_mlp(), **kwargs).warnings, ())

    def test_iterative_rounds_reach_each_target_with_frequency_unset(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(52, 16)).astype(np.float32)  # 13 batches: prime
        y = (np.abs(x[:, :4]).argmax(-1)).astype(np.int32)
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
        with warnings.catch_warnings():
            warnings.simplefilter("error", reach.ScheduleWarning)
            model, rounds = prune.prune_iteratively(
                _mlp(), data, data, sparsities=(0.5,), epochs_per_round=1, verbose=0,
                compile_model=lambda m: training.compile_classifier(m, learning_rate=1e-3))
        self.assertLen(rounds, 1)
        report = prune.sparsity_report(model)
        for row in report["layers"]:
            self.assertEqual(row["kernel_sparsity"], 0.5, msg=row["name"])


if __name__ == "__main__":
    tf.test.main()
