"""The budget search's plan (`budget.search`): NetAdapt's narrowing path on predictions.

What users rely on: the path starts at the full model and narrows one group
by one tile per step, the least accuracy lost per cost saved first; it stops
as soon as the predicted costs meet the targets (or, for an accuracy budget
alone, before the predicted drop exceeds it); the chosen plan is the least
predicted drop among those meeting the targets; after a miss, the target is
mapped through the files measured so far.
"""

import tensorflow as tf

from tfcompress import budget
from tfcompress import evaluate
from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.budget import search

L = keras.layers


def _cnn():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="a")(inputs)
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="b")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(10, name="logits")(x))


def _predict(model):
    """A stand-in for the lookup tables: 1 ms per MMAC, 4 bytes a parameter."""
    return {"latency_ms": evaluate.count_macs(model)["total"] / 1e6,
            "size_bytes": 4 * evaluate.count_params(model)["total"]}


def _loss(sensitive):
    """Points lost per 8 channels removed: 16 from `sensitive`, 2 from another group."""
    def loss_of(widths):
        return sum((8.0 if name == sensitive else 1.0) * (32 - width) / 4
                   for name, width in widths.items())
    return loss_of


class NarrowingPathTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.narrow = shrink.narrowing(_cnn())
        self.full = _predict(_cnn())

    def predict(self, widths):
        return _predict(self.narrow.build(widths))

    def test_narrows_the_insensitive_group_first_one_tile_a_step_until_met(self):
        targets = budget.Targets(latency_ms=0.6 * self.full["latency_ms"])
        path = search.narrowing_path(self.narrow, self.predict, _loss("a"), targets, "float",
                                     step=8)
        self.assertEqual(path[0].widths, {"a": 32, "b": 32})
        self.assertEqual(path[0].predicted["accuracy_drop"], 0.0)
        for before, after in zip(path, path[1:]):
            changed = {n for n in before.widths if before.widths[n] != after.widths[n]}
            self.assertEqual(len(changed), 1)
            (name,) = changed
            self.assertEqual(before.widths[name] - after.widths[name], 8)
        # A tile of "b" costs 2 points, one of "a" 16: b goes first.
        self.assertEqual(path[1].widths, {"a": 32, "b": 24})
        self.assertLessEqual(path[-1].predicted["latency_ms"], targets.latency_ms)
        self.assertGreater(path[-2].predicted["latency_ms"], targets.latency_ms)
        self.assertEqual([p.step for p in path], list(range(len(path))))

    def test_size_and_latency_together_stop_when_the_worse_is_met(self):
        targets = budget.Targets(latency_ms=0.9 * self.full["latency_ms"],
                                 size_kb=0.5 * self.full["size_bytes"] / 1000)
        path = search.narrowing_path(self.narrow, self.predict, _loss("a"), targets, "int8",
                                     step=8)
        last = path[-1].predicted
        self.assertLessEqual(last["size_bytes"], 1000 * targets.size_kb)
        self.assertLessEqual(last["latency_ms"], targets.latency_ms)
        self.assertTrue(all(p.latency_format == "int8" for p in path))

    def test_accuracy_budget_alone_narrows_while_within_it(self):
        targets = budget.Targets(max_accuracy_drop=5.0)
        path = search.narrowing_path(self.narrow, self.predict, _loss("a"), targets, "float",
                                     step=8)
        # b down to 16 costs 4 points; the next step would cost 6 (b) or 20 (a).
        self.assertEqual(path[-1].widths, {"a": 32, "b": 16})
        self.assertEqual(path[-1].predicted["accuracy_drop"], 4.0)
        self.assertEqual(search.choose([path], targets), path[-1])

    def test_unreachable_target_ends_at_the_narrowest(self):
        targets = budget.Targets(latency_ms=1e-6)
        path = search.narrowing_path(self.narrow, self.predict, _loss("a"), targets, "float",
                                     step=8)
        self.assertEqual(path[-1].widths, {"a": 8, "b": 8})
        self.assertIsNone(search.choose([path], targets))
        self.assertEqual(search.closest([path], targets), path[-1])


class ChooseTest(tf.test.TestCase):

    def _plan(self, fmt, ms, size, drop):
        return search.Plan(fmt, {"a": 1}, {"latency_ms": ms, "size_bytes": size,
                                           "accuracy_drop": drop})

    def test_least_drop_among_plans_meeting_the_costs(self):
        targets = budget.Targets(latency_ms=1.0, max_accuracy_drop=0.5)
        float_path = [self._plan("float", 2.0, 9000, 0.0), self._plan("float", 0.9, 5000, 4.0)]
        int8_path = [self._plan("int8", 1.2, 3000, 0.3), self._plan("int8", 0.8, 2000, 1.5)]
        # The predicted drop (before recovery) ranks; the budget is judged on the trained file.
        self.assertEqual(search.choose([float_path, int8_path], targets), int8_path[1])

    def test_plan_round_trips_json(self):
        plan = self._plan("int8", 0.8, 2000, 1.5)
        self.assertEqual(search.Plan.from_json(plan.to_json()), plan)


class AimedTest(tf.test.TestCase):

    def test_one_measured_file_scales_the_target_by_its_error(self):
        targets = budget.Targets(latency_ms=1.0, size_kb=10.0, max_accuracy_drop=1.0)
        aim = search.aimed(targets, [({"latency_ms": 0.9, "size_bytes": 9000},
                                      {"latency_ms": 1.2, "size_bytes": 7500})])
        self.assertAllClose(aim.latency_ms, 0.75)  # slower than predicted: tighter
        self.assertAllClose(aim.size_kb, 12.0)  # smaller than predicted: looser
        self.assertEqual(aim.max_accuracy_drop, 1.0)

    def test_two_files_bracketing_the_target_give_the_secant_point(self):
        # Predicted 1.8 measured 4.1 (too slow); predicted 1.6 measured 1.4 (fast enough).
        pairs = [({"latency_ms": 1.8, "size_bytes": 1}, {"latency_ms": 4.1, "size_bytes": 1}),
                 ({"latency_ms": 1.6, "size_bytes": 1}, {"latency_ms": 1.4, "size_bytes": 1})]
        aim = search.aimed(budget.Targets(latency_ms=2.0), pairs)
        self.assertAllClose(aim.latency_ms, 1.6 + (2.0 - 1.4) * 0.2 / 2.7)
        # Between the two predictions, where one plan the ratio rule would skip lies.
        self.assertGreater(aim.latency_ms, 1.6)
        self.assertLess(aim.latency_ms, 1.8)

    def test_no_measurement_and_targets_not_given(self):
        targets = budget.Targets(latency_ms=1.0)
        self.assertIs(search.aimed(targets, []), targets)
        aim = search.aimed(targets, [({"latency_ms": 1.0, "size_bytes": 100},
                                      {"latency_ms": 2.0, "size_bytes": 200})])
        self.assertIsNone(aim.size_kb)
        self.assertAllClose(aim.latency_ms, 0.5)

    def test_choose_judges_each_format_against_its_own_aim(self):
        plan = lambda fmt, ms: search.Plan(fmt, {"a": 1}, {  # noqa: E731
            "latency_ms": ms, "size_bytes": 1, "accuracy_drop": 0.0})
        paths = [[plan("float", 0.9)], [plan("int8", 0.5)]]
        aims = {"float": budget.Targets(latency_ms=0.8), "int8": budget.Targets(latency_ms=0.6)}
        self.assertEqual(search.choose(paths, aims).latency_format, "int8")
        aims["float"] = budget.Targets(latency_ms=1.0)
        # Both meet their aims at no predicted drop: the faster.
        self.assertEqual(search.choose(paths, aims).latency_format, "int8")

    def test_a_variant_is_judged_against_its_own_aim_once_it_has_one(self):
        def plan(ms, drop, variant=None):
            return search.Plan("int8", {"a": 1}, {"latency_ms": ms, "size_bytes": 1,
                                                  "accuracy_drop": drop},
                               variant=variant or {})
        own, variant = plan(0.7, 1.0), plan(0.9, 0.0, {"stride_ms": 32.0, "blocks": 2})
        self.assertEqual(variant.aim_key, "int8 blocks=2,stride_ms=32")
        self.assertEqual(own.aim_key, "int8")
        aims = {"int8": budget.Targets(latency_ms=1.0)}
        # No file of the variant measured: the format's aim; it meets it, losing less.
        self.assertIs(search.choose([[own], [variant]], aims), variant)
        # Its file measured slower than predicted: its own aim is tighter.
        aims[variant.aim_key] = budget.Targets(latency_ms=0.8)
        self.assertIs(search.choose([[own], [variant]], aims), own)
        self.assertEqual(search.Plan.from_json(variant.to_json()), variant)


    def test_proposals_try_each_setting_a_summed_drop_may_misjudge(self):
        def plan(ms, drop, widths, variant=None, fmt="int8"):
            return search.Plan(fmt, widths, {"latency_ms": ms, "size_bytes": 1,
                                             "accuracy_drop": drop}, variant=variant or {})
        one_block = plan(0.5, 10.0, {"a": 32}, {"blocks": 1})
        one_block_narrower = plan(0.4, 12.0, {"a": 16}, {"blocks": 1})
        one_block_float = plan(0.6, 10.5, {"a": 32}, {"blocks": 1}, fmt="float")
        two_blocks = plan(0.6, 60.0, {"a": 16}, {"blocks": 2})
        own = plan(0.7, 90.0, {"a": 8})
        too_slow = plan(2.0, 0.0, {"a": 64}, {"blocks": 3})
        paths = [[too_slow], [one_block, one_block_narrower, one_block_float], [two_blocks],
                 [own]]
        aims = budget.Targets(latency_ms=1.0)
        # The least summed drop, then the best of each setting (blocks 2 and
        # the model's own, however large their summed drops), one per model:
        # the float file of a model already proposed is the same model.
        self.assertEqual(search.proposals(paths, aims, count=2),
                         [one_block, two_blocks, own])
        self.assertEqual(search.proposals(paths, aims, count=4),
                         [one_block, one_block_narrower, two_blocks, own])
        self.assertEqual(search.model_key(one_block), search.model_key(one_block_float))
        # The choice ranks by the score given, leaving out plans without one.
        tuned = {search.model_key(two_blocks): 1.0, search.model_key(one_block): 9.0}
        self.assertIs(search.choose(paths, aims,
                                    score=lambda p: tuned.get(search.model_key(p))),
                      two_blocks)
        self.assertIs(search.choose(paths, aims), one_block)


if __name__ == "__main__":
    tf.test.main()
