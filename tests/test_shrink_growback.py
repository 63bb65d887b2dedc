"""Grow back: after the uniform cut, groups widen one tile at a time.

Counted targets (MACs, parameters) are exact, so the widths must stay
within the target, spend more of it than the uniform cut, and repeat
exactly; a latency target is met against a stand-in clock (a file's
milliseconds are its model's hidden units), so which widenings meet it does
not depend on this machine's load.
"""

from unittest import mock

import tensorflow as tf

from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.models import zoo
from tfcompress.runtime import kernel_tiles
from tfcompress.shrink import growback
from tfcompress.shrink import latency
from tfcompress.shrink import rounding


def _widths(result):
    return {group.producers[0]: group.after for group in result.groups}


def _share(result, kind="macs"):
    counts = getattr(result, kind)
    return counts["after"] / counts["before"]


class GrowTest(tf.test.TestCase):

    def test_next_width_is_the_next_multiple_or_the_whole_group(self):
        self.assertEqual([growback.next_width(w, 20, 8) for w in (1, 8, 12, 16, 20)],
                         [8, 16, 16, 20, None])

    def test_widest_gain_per_cost_is_taken_until_nothing_fits(self):
        # Cost: 1 per channel of group 0, 3 per channel of group 1; every
        # channel gives back the same share of its group. Budget 40.
        def assess(current, candidates):
            costs = [w[0] + 3 * w[1] for w in (c.widths for c in candidates)]
            return None, costs, [c <= 40 for c in costs]
        even = growback.gains([1.0] * 16, list(range(16)))
        widths, cost, steps, judged = growback.grow((4, 4), (16, 16), 4, [even, even],
                                                    assess, 16)
        # Group 0 is cheaper per share: 8, 12, 16; then group 1 fits once (16 + 24).
        self.assertEqual(widths, (16, 8))
        self.assertEqual(cost, 40)
        self.assertEqual([(s["group"], s["width"], s["cost"]) for s in steps],
                         [(0, 8, 20), (0, 12, 24), (0, 16, 28), (1, 8, 40)])
        self.assertEqual(judged, 2 + 2 + 2 + 1 + 1)

    def test_gains_are_shares_of_the_group_most_important_first(self):
        gain = growback.gains([1.0, 3.0, 0.0, 4.0], [3, 1, 0, 2])
        self.assertAlmostEqual(gain(0, 1), 0.5)
        self.assertAlmostEqual(gain(1, 3), 0.5)
        self.assertAlmostEqual(growback.gains([0.0, 0.0], [0, 1])(0, 1), 0.5)


class CountedTargetTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        keras.utils.set_random_seed(0)
        cls.model = zoo.residual_cnn((16, 32), input_shape=(8, 8, 1))

    def test_grow_back_spends_more_of_the_budget_and_stays_within_it(self):
        uniform = shrink.shrink(self.model, target_macs=0.5, round_to=8, search="uniform")
        grown = shrink.shrink(self.model, target_macs=0.5, round_to=8)
        self.assertEqual(grown.search["method"], "grow")
        self.assertEqual(grown.search["from"], "default: widths are multiples of 8")
        self.assertLessEqual(_share(grown), 0.5)
        self.assertGreater(_share(grown), _share(uniform))
        self.assertEqual(grown.search["start"], _widths(uniform))
        self.assertNotEqual(_widths(grown), _widths(uniform))
        sizes = {g.producers[0]: g.before for g in grown.groups}
        for name, width in _widths(grown).items():
            self.assertTrue(width % 8 == 0 or width == sizes[name], (name, width))
        self.assertAlmostEqual(grown.search["steps"][-1]["cost"], _share(grown))
        costs = [step["cost"] for step in grown.search["steps"]]
        self.assertEqual(costs, sorted(costs))
        self.assertTrue(all(cost <= 0.5 for cost in costs), costs)
        # The same call gives the same widths.
        again = shrink.shrink(self.model, target_macs=0.5, round_to=8)
        self.assertEqual(_widths(again), _widths(grown))
        self.assertEqual(again.search, grown.search)

    def test_rebuilds_are_bounded(self):
        with mock.patch.object(shrink.structured, "GROW_REBUILDS", 1):
            result = shrink.shrink(self.model, target_macs=0.5, round_to=8)
        # Four widenings to count, one allowed: the uniform cut stays.
        self.assertEqual((result.search["judged"], result.search["steps"]), (0, []))

    def test_params_target_grows_by_parameters(self):
        grown = shrink.shrink(self.model, target_params=0.4, round_to=8)
        self.assertEqual(grown.search["cost"], "params")
        self.assertLessEqual(_share(grown, "params"), 0.4)

    def test_unrounded_widths_keep_the_uniform_cut(self):
        result = shrink.shrink(self.model, target_macs=0.5)
        self.assertEqual((result.search["method"], result.search["steps"]), ("uniform", []))
        self.assertIn("uniform fraction", shrink.describe_search(result.search))

    def test_search_is_refused_where_nothing_is_searched(self):
        with self.assertRaisesRegex(ValueError, "`search`='grow' applies to "
                                                "`target_params`"):
            shrink.shrink(self.model, fraction=0.5, search="grow")
        with self.assertRaisesRegex(ValueError, r"`search` must be one of \('uniform', "
                                                r"'grow'\) .*got 'all'"):
            shrink.shrink(self.model, target_macs=0.5, search="all")


def _mlp():
    """784 -> 30 -> 20 -> 10: two groups of hidden units."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((784,))
    x = keras.layers.Dense(30, activation="relu", name="dense")(inputs)
    x = keras.layers.Dense(20, activation="relu", name="dense_1")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))


class LatencyTargetTest(tf.test.TestCase):

    def _shrink(self, **kwargs):
        """shrink with a stand-in clock (ms = hidden units) and a tile of 8."""
        calls = []

        def units(candidate, latency_format):
            return sum(layer.units for layer in candidate.layers
                       if layer.name in ("dense", "dense_1"))

        def timed(files, **options):
            calls.append((sorted(files), options["num_threads"]))
            return {name: {"median_ms": float(value)} for name, value in files.items()}

        tile = kernel_tiles.KernelTile(8, "fake float")
        with mock.patch.object(latency, "tflite_bytes", units), \
                mock.patch.object(latency, "measure_latency", lambda *a, **k: None), \
                mock.patch.object(latency, "compare_latency", timed), \
                mock.patch.object(rounding.kernel_tiles, "kernel_tile", lambda fmt: tile):
            return shrink.shrink(_mlp(), **kwargs), calls

    def test_latency_target_grows_to_non_uniform_widths(self):
        uniform, _ = self._shrink(target_latency_ms=37.0, search="uniform")
        grown, calls = self._shrink(target_latency_ms=37.0, latency_threads=1)
        self.assertEqual(sum(_widths(uniform).values()), 32)  # 16 + 16
        self.assertEqual(_widths(grown), {"dense": 16, "dense_1": 20})
        self.assertEqual(grown.latency["after_ms"], 36.0)
        self.assertEqual(grown.latency["num_threads"], 1)
        self.assertEqual({threads for _, threads in calls}, {1})
        # Each grow-back round times the unshrunk file, the current widths and
        # every widening together.
        grow_calls = [names for names, _ in calls if "current" in names]
        self.assertEqual(grow_calls[0], ["before", "current", "widening 0", "widening 1"])
        self.assertEqual(grown.latency["grow_back_timings"], grown.search["judged"])
        self.assertEqual(grown.search["judged"],
                         sum(len(names) - 2 for names in grow_calls))
        self.assertEqual(grown.search["steps"],
                         [{"group": "dense_1", "width": 20, "cost": 36.0}])
        self.assertEqual(grown.search["cost"], "latency_ms")
        self.assertIn(" ms)", shrink.describe_search(grown.search))

    def test_timings_are_bounded(self):
        with mock.patch.object(latency, "GROW_TIMINGS", 1):
            result, _ = self._shrink(target_latency_ms=37.0)
        # Two widenings to time, one allowed: the round is not timed.
        self.assertEqual((result.search["judged"], result.search["steps"]), (0, []))


if __name__ == "__main__":
    tf.test.main()
