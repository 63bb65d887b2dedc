"""`budget.sparse_plan` and `budget.search.sparse_path`: per-layer zeros for a size aim.

What the size search relies on: the plan saves the bytes asked for, where
they cost the least predicted accuracy per byte; never prunes a layer
where the encoding would cost bytes (an int8 kernel at half zeros); says
None when even the highest measured sparsities save too little; and a
path's plans over the aim come back completed, those under it left out.
"""

import tensorflow as tf

from tfcompress import budget
from tfcompress.budget import search
from tfcompress.budget import sparse_bytes
from tfcompress.budget import sparse_plan
from tfcompress.prune.sensitivity import Sensitivity

# Two Dense kernels of 784x300 and 300x100 weights (LeNet-300-100's first two).
_KERNELS = {"big": [(784 * 300, 784, 300)], "small": [(300 * 100, 300, 100)]}


def _sensitivity(big_drop, small_drop):
    """Accuracy 0.98 unpruned; each layer loses its drop (a share) at 0.9."""
    curves = {"big": {0.5: 0.98, 0.7: 0.98, 0.9: 0.98 - big_drop},
              "small": {0.5: 0.98, 0.7: 0.98, 0.9: 0.98 - small_drop}}
    return Sensitivity(baseline=0.98, params={"big": 235_200, "small": 30_000},
                       accuracy=curves)


class SparsePlanTest(tf.test.TestCase):

    def test_int8_prunes_only_where_the_encoding_saves_bytes(self):
        # At 0.5 and 0.7 an int8 kernel stored sparse is larger (3 bytes a kept weight).
        planned, saved, lost = sparse_plan.plan(_sensitivity(0.0, 0.0), _KERNELS, 1_000, 1)
        self.assertEqual(planned, {"big": 0.9})
        self.assertEqual(saved, sparse_bytes.saved(784 * 300, 784, 0.9, 1, 300))
        self.assertGreater(saved, 1_000)
        self.assertEqual(lost, 0.0)

    def test_the_layer_losing_least_per_byte_is_pruned_first(self):
        # Free steps first (nothing lost up to 0.7), the most bytes among them.
        planned, _, lost = sparse_plan.plan(_sensitivity(0.2, 0.01), _KERNELS, 100, 4)
        self.assertEqual(planned, {"big": 0.7})
        self.assertEqual(lost, 0.0)
        # Past the free steps, big at 0.9 would save 8x the bytes of small at
        # 0.9 but lose 20x the accuracy: small goes to 0.9.
        planned, saved, lost = sparse_plan.plan(_sensitivity(0.2, 0.01), _KERNELS,
                                                 600_000, 4)
        self.assertEqual(planned, {"big": 0.7, "small": 0.9})
        self.assertGreaterEqual(saved, 600_000)
        self.assertAllClose(lost, 1.0)  # points: the small layer's 0.01

    def test_too_many_bytes_to_save_gives_none(self):
        self.assertIsNone(sparse_plan.plan(_sensitivity(0.0, 0.0), _KERNELS, 10**7, 1))


class SparsePathTest(tf.test.TestCase):

    def test_plans_over_the_aim_are_completed_with_zeros(self):
        def plan(step, size, drop):
            return search.Plan("int8", {"g": 300 - step}, {
                "latency_ms": 0.0, "size_bytes": size, "accuracy_drop": drop}, step)

        path = [plan(0, 280_000, 0.0), plan(1, 150_000, 2.0), plan(2, 60_000, 9.0)]
        aims = budget.Targets(size_kb=110)
        completed = search.sparse_path(path, _sensitivity(0.0, 0.01), lambda widths: _KERNELS,
                                       aims, value_bytes=1)
        self.assertEqual([p.step for p in completed], [0, 1])
        for before, after in zip(path, completed):
            self.assertLessEqual(after.predicted["size_bytes"], 110_000)
            self.assertEqual(after.widths, before.widths)
            self.assertTrue(after.sparsity)
            self.assertGreaterEqual(after.predicted["accuracy_drop"],
                                    before.predicted["accuracy_drop"])
        # The wide plan with zeros is chosen: it is predicted to lose the least.
        self.assertEqual(search.choose([path, completed], aims), completed[0])


if __name__ == "__main__":
    tf.test.main()
