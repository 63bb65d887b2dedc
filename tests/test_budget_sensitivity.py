"""Channel groups' accuracy sensitivity (`budget.sensitivity`) and formats' costs.

What users rely on: a measured drop is the full model's accuracy minus the
accuracy of the model rebuilt with that group alone narrowed, in points;
the widths measured are multiples of the step below the full width; `drop`
is 0 at the full width, linear between measured widths and extrapolated
below them as documented; `loss_of` sums the groups' drops; the JSON a
resumed run reads back is the same sensitivity.
"""

import json

import numpy as np
import tensorflow as tf

from tfcompress import budget
from tfcompress import evaluate
from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.budget import search
from tfcompress.budget import sensitivity
from tfcompress.budget.sensitivity import GroupSensitivity

L = keras.layers


def _cnn(activation=None):
    """Conv 'a' (16 filters), conv 'b' (12), pooled, a Dense head of 3 classes."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="a")(inputs)
    x = L.Conv2D(12, 3, padding="same", activation="relu", name="b")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(3, activation=activation, name="logits")(x))


def _trained():
    """`_cnn` fit 2 epochs on 400 noisy images whose class brightens one color
    channel (about 92% right on 200 more), and those 200 as (x, y)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x = rng.normal(size=(600, 8, 8, 3)).astype(np.float32)
    x[np.arange(600), :, :, y] += 0.3
    model = _cnn()
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:400], y[:400], epochs=2, batch_size=32, verbose=0)
    return model, (x[400:], y[400:])


def _hand_made(accuracy=0.9):
    """Group "a" of 32 channels measured at 24, 16, 8; group "b" of 16 at 8."""
    return GroupSensitivity(accuracy=accuracy, num_examples=100, step=8,
                            sizes={"a": 32, "b": 16},
                            drops={"a": {24: 1.0, 16: 3.0, 8: 9.0}, "b": {8: 2.0}})


class MeasureGroupsTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model, cls.data = _trained()
        cls.narrow = shrink.narrowing(cls.model)
        cls.lines = []
        cls.measured = sensitivity.measure_groups(cls.narrow, cls.data, step=4,
                                                  log=cls.lines.append)

    def test_measured_drop_is_full_minus_the_rebuilt_models_accuracy_in_points(self):
        full = evaluate.evaluate_classifier(self.model, self.data)["accuracy"]
        self.assertEqual(self.measured.accuracy, full)
        self.assertEqual(self.measured.num_examples, 200)
        sizes = self.narrow.sizes
        checked = 0
        for index, name in enumerate(self.narrow.names):
            for width, points in self.measured.drops[name].items():
                widths = sizes[:index] + (width,) + sizes[index + 1:]
                narrowed = evaluate.evaluate_classifier(self.narrow.build(widths),
                                                        self.data)["accuracy"]
                self.assertAlmostEqual(points, 100 * (full - narrowed), places=9)
                checked += 1
        self.assertEqual(checked, 5)  # a: 12, 8, 4; b: 8 (9 and 6 round to 8), 4

    def test_some_narrowing_loses_accuracy_and_none_can_exceed_full_accuracy(self):
        self.assertGreater(self.measured.accuracy, 0.5)  # 3 classes: chance is 1/3
        drops = [p for curve in self.measured.drops.values() for p in curve.values()]
        self.assertGreater(max(drops), 0.0)
        self.assertLessEqual(max(drops), 100 * self.measured.accuracy)

    def test_widths_are_multiples_of_step_below_full_widest_first(self):
        self.assertEqual(self.measured.sizes, {"a": 16, "b": 12})
        self.assertEqual(list(self.measured.drops["a"]), [12, 8, 4])
        self.assertEqual(list(self.measured.drops["b"]), [8, 4])

    def test_whole_width_drop_is_exactly_zero(self):
        for name, size in self.measured.sizes.items():
            self.assertEqual(self.measured.drop(name, size), 0.0)
        self.assertEqual(self.measured.loss_of(self.measured.sizes), 0.0)

    def test_json_round_trip_gives_int_widths_back(self):
        record = json.loads(json.dumps(self.measured.to_json()))
        self.assertIn("12", record["drops"]["a"])
        self.assertEqual(GroupSensitivity.from_json(record), self.measured)

    def test_logs_one_line_per_group(self):
        self.assertLen(self.lines, 2)
        self.assertStartsWith(self.lines[0], "Sensitivity 1/2 a (16 channels): points lost")
        self.assertRegex(self.lines[1], r"^Sensitivity 2/2 b .* in \d+\.\d s\.$")

    def test_dataset_of_batches_gives_the_same_drops(self):
        dataset = tf.data.Dataset.from_tensor_slices(self.data).batch(128)
        again = sensitivity.measure_groups(self.narrow, dataset, step=4,
                                           fractions=(0.5,))
        self.assertEqual(again.drops, {"a": {8: self.measured.drops["a"][8]},
                                       "b": {8: self.measured.drops["b"][8]}})

    def test_probabilities_model_gives_the_same_drops_as_its_logits(self):
        probabilities = _cnn(activation="softmax")
        probabilities.set_weights(self.model.get_weights())
        again = sensitivity.measure_groups(shrink.narrowing(probabilities), self.data,
                                           step=4, fractions=(0.5,))
        self.assertEqual(again.accuracy, self.measured.accuracy)
        self.assertEqual(again.drops, {"a": {8: self.measured.drops["a"][8]},
                                       "b": {8: self.measured.drops["b"][8]}})

    def test_search_path_predicts_each_plans_drop_with_loss_of(self):
        def predict(widths):  # a stand-in for the lookup tables: 1 ms per MMAC
            model = self.narrow.build(widths)
            return {"latency_ms": evaluate.count_macs(model)["total"] / 1e6,
                    "size_bytes": 4 * evaluate.count_params(model)["total"]}

        full = predict(self.narrow.sizes)["latency_ms"]
        path = search.narrowing_path(self.narrow, predict, self.measured.loss_of,
                                     budget.Targets(latency_ms=0.5 * full), "float", step=4)
        self.assertGreater(len(path), 1)
        for plan in path:
            self.assertEqual(plan.predicted["accuracy_drop"],
                             self.measured.loss_of(plan.widths))


    def test_each_model_is_tuned_before_it_is_measured(self):
        tuned = []

        def tune(model):
            tuned.append(tuple(model.get_layer(name).filters for name in ("a", "b")))
            model.get_layer("logits").bias.assign([0.0, 0.0, 100.0])  # answers 2 for all

        measured = sensitivity.measure_groups(self.narrow, self.data, step=4, tune=tune)
        widths = sensitivity.candidate_widths(self.narrow, 4)
        self.assertEqual(tuned[0], (16, 12))  # the full model first
        self.assertLen(tuned, 1 + sum(len(w) for w in widths.values()))
        share = float(np.mean(self.data[1] == 2))
        self.assertAllClose(measured.accuracy, share)
        for curve in measured.drops.values():  # every tuned model answers alike
            for points in curve.values():
                self.assertAllClose(points, 0.0)

class CandidateWidthsTest(tf.test.TestCase):

    def test_group_narrower_than_two_steps_gives_at_most_one_width(self):
        narrow = shrink.narrowing(_cnn())
        self.assertEqual(sensitivity.candidate_widths(narrow, 8), {"a": [8], "b": [8]})
        self.assertEqual(sensitivity.candidate_widths(narrow, 12), {"a": [12], "b": []})
        self.assertEqual(sensitivity.candidate_widths(narrow, 16), {"a": [], "b": []})

    def test_widths_are_rounded_multiples_of_step_below_full(self):
        narrow = shrink.narrowing(_cnn())
        for step in (1, 2, 3, 4, 5):
            for name, widths in sensitivity.candidate_widths(narrow, step).items():
                size = dict(zip(narrow.names, narrow.sizes))[name]
                self.assertEqual(widths, sorted(set(widths), reverse=True))
                for width in widths:
                    self.assertEqual(width % step, 0)
                    self.assertBetween(width, step, size - 1)
        self.assertEqual(sensitivity.candidate_widths(narrow, 1), {"a": [12, 8, 4],
                                                                   "b": [9, 6, 3]})

    def test_bad_step_and_fractions_are_refused_naming_the_argument(self):
        narrow = shrink.narrowing(_cnn())
        data = (np.zeros((4, 8, 8, 3), np.float32), np.zeros(4, np.int64))
        with self.assertRaisesRegex(ValueError, "`step` must be a positive int, got 0"):
            sensitivity.measure_groups(narrow, data, step=0)
        with self.assertRaisesRegex(ValueError, r"`fractions` must be a number in \(0, "
                                    r"1\), got 1.5"):
            sensitivity.measure_groups(narrow, data, step=4, fractions=(0.5, 1.5))
        with self.assertRaisesRegex(ValueError, "`fractions` must be a sequence"):
            sensitivity.measure_groups(narrow, data, step=4, fractions=0.5)


class DropTest(tf.test.TestCase):

    def test_linear_between_measured_widths_and_to_zero_at_full(self):
        table = _hand_made()
        self.assertEqual(table.drop("a", 32), 0.0)
        self.assertAlmostEqual(table.drop("a", 28), 0.5)
        self.assertAlmostEqual(table.drop("a", 24), 1.0)
        self.assertAlmostEqual(table.drop("a", 20), 2.0)
        self.assertAlmostEqual(table.drop("a", 12), 6.0)
        self.assertAlmostEqual(table.drop("b", 12), 1.0)

    def test_below_narrowest_the_last_segment_continues_up_to_full_accuracy(self):
        table = _hand_made(accuracy=0.9)
        self.assertAlmostEqual(table.drop("a", 4), 12.0)  # 9 + (9 - 3) / 8 * 4
        self.assertAlmostEqual(table.drop("a", 1), 14.25)
        self.assertAlmostEqual(table.drop("b", 4), 3.0)  # the segment from (16, 0)
        self.assertAlmostEqual(_hand_made(accuracy=0.11).drop("a", 1), 11.0)

    def test_a_measured_gain_counts_as_zero_and_never_makes_narrower_cheaper(self):
        table = GroupSensitivity(accuracy=0.5, num_examples=10, step=8, sizes={"a": 32},
                                 drops={"a": {24: -2.0, 16: 4.0, 8: 1.0}})
        self.assertEqual(table.drop("a", 24), 0.0)
        self.assertEqual(table.drop("a", 28), 0.0)
        self.assertAlmostEqual(table.drop("a", 20), 2.0)
        self.assertAlmostEqual(table.drop("a", 4), 1.0)  # the falling segment: flat

    def test_loss_of_sums_the_groups_drops_left_out_groups_whole(self):
        table = _hand_made()
        self.assertAlmostEqual(table.loss_of({"a": 20, "b": 12}), 2.0 + 1.0)
        self.assertAlmostEqual(table.loss_of({"a": 12}), 6.0)
        self.assertEqual(table.loss_of({}), 0.0)

    def test_bad_group_width_or_unmeasured_group_is_refused(self):
        table = GroupSensitivity(accuracy=0.5, num_examples=10, step=16,
                                 sizes={"a": 32, "b": 16}, drops={"a": {16: 1.0}, "b": {}})
        with self.assertRaisesRegex(ValueError, r"`name` must be a channel group .*'c'"):
            table.drop("c", 8)
        with self.assertRaisesRegex(ValueError, r"`width` of group 'a' must be an int in "
                                    r"\[1, 32\], got 33"):
            table.drop("a", 33)
        with self.assertRaisesRegex(ValueError, r"`width` of group 'a' .* got 0"):
            table.loss_of({"a": 0})
        self.assertEqual(table.drop("b", 16), 0.0)
        with self.assertRaisesRegex(ValueError, "Group 'b' .* no narrower width measured "
                                    r"\(step 16\).*smaller `step`"):
            table.drop("b", 8)


class FormatCostsTest(tf.test.TestCase):

    def test_points_lost_against_the_reference_file_a_gain_costs_nothing(self):
        costs = sensitivity.format_costs({"float": 0.9, "int8": 0.885, "float16": 0.91})
        self.assertEqual(costs["float"], 0.0)
        self.assertAlmostEqual(costs["int8"], 1.5)
        self.assertEqual(costs["float16"], 0.0)

    def test_bad_accuracies_are_refused(self):
        with self.assertRaisesRegex(ValueError, "`reference` 'float' among them"):
            sensitivity.format_costs({"int8": 0.9})
        with self.assertRaisesRegex(ValueError, r"`accuracies\['int8'\]` must be an "
                                    r"accuracy in \[0, 1\], got 88.5"):
            sensitivity.format_costs({"float": 0.9, "int8": 88.5})


if __name__ == "__main__":
    tf.test.main()
