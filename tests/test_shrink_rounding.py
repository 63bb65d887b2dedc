"""shrink's widths follow the machine's kernel tile when latency is the goal.

The tile comes from the CPU's flags (`runtime.kernel_tiles`, checked here on
cpuinfo text of other machines); latency targets are met against a
stand-in clock (a file's milliseconds are its model's hidden units), so
which widths meet them does not depend on this machine's load.
"""

import re
from unittest import mock

import tensorflow as tf
from absl.testing import parameterized

from tfcompress import shrink
from tfcompress._keras import keras
from tfcompress.runtime import kernel_tiles
from tfcompress.shrink import latency
from tfcompress.shrink import rounding

_AVX512 = ("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse sse2 ssse3 fma "
           "sse4_1 sse4_2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl "
           "avx512_vnni\n\nprocessor\t: 1\nflags\t\t: fpu\n")
_AVX2 = "flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2\n"
_SSE = "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2\n"
_ARM_DOT = ("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull "
            "sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n")
_ARM = "Features\t: fp asimd evtstrm crc32 cpuid\n"


class KernelTileTest(parameterized.TestCase):

    @parameterized.parameters(
        (_AVX512, "x86_64", "float", 16, "avx512f float"),
        (_AVX512, "x86_64", "int8", 16, "avx512_vnni int8"),
        (_AVX2, "x86_64", "float", 16, "avx2 float"),
        (_AVX2, "x86_64", "int8", 8, "avx2 int8"),
        (_SSE, "x86_64", "float", 8, "sse float"),
        (_SSE, "x86_64", "int8", 4, "sse int8"),
        (_ARM_DOT, "aarch64", "float", 8, "aarch64 neon float"),
        (_ARM_DOT, "aarch64", "int8", 16, "aarch64 dotprod int8"),
        (_ARM, "aarch64", "int8", 8, "aarch64 neon int8"),
        ("", "arm64", "float", 8, "aarch64 neon float"),  # macOS: no /proc/cpuinfo
        ("", "riscv64", "float", 1, "unknown CPU riscv64 float: no rounding"),
    )
    def test_tile_from_cpu_flags(self, cpuinfo, machine, latency_format, channels, reason):
        self.assertEqual(kernel_tiles.kernel_tile(latency_format, cpuinfo=cpuinfo,
                                                  machine=machine),
                         kernel_tiles.KernelTile(channels, reason))

    def test_flags_of_the_first_processor_only(self):
        self.assertIn("avx512_vnni", kernel_tiles.cpu_flags(_AVX512))
        self.assertEqual(kernel_tiles.cpu_flags("model name\t: ?\n"), frozenset())

    def test_bad_format_is_named(self):
        with self.assertRaisesRegex(ValueError, re.escape(
                "`latency_format` must be 'float' or 'int8', got 'fp16'.")):
            kernel_tiles.kernel_tile("fp16", cpuinfo=_AVX512, machine="x86_64")


def _mlp(seed=0):
    """784 -> 30 -> 20 -> 10: two groups of hidden units."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((784,))
    x = keras.layers.Dense(30, activation="relu", name="dense")(inputs)
    x = keras.layers.Dense(20, activation="relu", name="dense_1")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))


def _widths(result):
    return {group.producers[0]: group.after for group in result.groups}


def _fake_tile(channels):
    return mock.patch.object(rounding.kernel_tiles, "kernel_tile",
                             lambda fmt: kernel_tiles.KernelTile(channels, f"fake {fmt}"))


def _stand_in_clock():
    """Patches latency's converter and clock: a file's ms = its hidden units."""
    def units(candidate, latency_format):
        return sum(layer.units for layer in candidate.layers if layer.name in ("dense", "dense_1"))

    def timed(files, **options):
        return {name: {"median_ms": float(value)} for name, value in files.items()}

    patches = [mock.patch.object(latency, "tflite_bytes", units),
               mock.patch.object(latency, "measure_latency", lambda *a, **k: None),
               mock.patch.object(latency, "compare_latency", timed)]
    return patches


class RoundToTest(tf.test.TestCase, parameterized.TestCase):

    def _shrink(self, **kwargs):
        patches = _stand_in_clock()
        for patch in patches:
            patch.start()
        try:
            return shrink.shrink(_mlp(), **kwargs)
        finally:
            for patch in patches:
                patch.stop()

    def test_latency_target_rounds_to_the_machines_tile(self):
        with _fake_tile(8):
            result = self._shrink(target_latency_ms=33.0)
        widths = _widths(result)
        self.assertLessEqual(sum(widths.values()), 33)
        self.assertTrue(all(w % 8 == 0 for w in widths.values()), widths)
        self.assertEqual(result.round_to, {"multiple": 8, "from": "auto: fake float"})
        self.assertEqual(result.to_json()["round_to"], result.round_to)

    def test_latency_format_picks_the_tile(self):
        seen = []
        with mock.patch.object(rounding.kernel_tiles, "kernel_tile",
                               lambda fmt: seen.append(fmt) or kernel_tiles.KernelTile(
                                   4, f"fake {fmt}")):
            result = self._shrink(target_latency_ms=33.0, latency_format="int8")
        self.assertEqual(seen, ["int8"])
        self.assertEqual(result.round_to["from"], "auto: fake int8")

    def test_macs_target_is_not_rounded_unless_asked(self):
        with _fake_tile(8):
            plain = shrink.shrink(_mlp(), target_macs=0.5)
            auto = shrink.shrink(_mlp(), target_macs=0.5, round_to="auto")
        self.assertEqual(plain.round_to, {"multiple": 1, "from": "default"})
        self.assertEqual(_widths(plain), {"dense": 15, "dense_1": 10})  # not multiples of 8
        self.assertEqual(auto.round_to, {"multiple": 8, "from": "auto: fake float"})
        full = {"dense": 30, "dense_1": 20}  # a layer may also stay whole
        self.assertTrue(all(w % 8 == 0 or w == full[name]
                            for name, w in _widths(auto).items()), _widths(auto))

    @parameterized.parameters((4, 4), ("4", 4), (1, 1))
    def test_explicit_round_to_wins_over_the_tile(self, given, multiple):
        with _fake_tile(8):
            result = self._shrink(target_latency_ms=33.0, round_to=given)
        self.assertEqual(result.round_to, {"multiple": multiple, "from": "user"})
        widths = _widths(result)
        self.assertTrue(all(w % multiple == 0 for w in widths.values()), widths)
        self.assertLessEqual(sum(widths.values()), 33)

    def test_a_target_met_whole_keeps_every_width(self):
        with _fake_tile(16):  # 20 is no multiple of 16, but nothing need go
            result = self._shrink(target_latency_ms=60.0)
        self.assertEqual(_widths(result), {"dense": 30, "dense_1": 20})

    def test_unreachable_target_names_the_rounding(self):
        with _fake_tile(16), self.assertRaisesRegex(ValueError, re.escape(
                "a smaller `round_to` (widths were multiples of 16, auto: fake float)")):
            self._shrink(target_latency_ms=20.0)  # 16 + 16 units at the narrowest

    def test_unreachable_macs_target_names_the_rounding(self):
        with _fake_tile(16), self.assertRaisesRegex(ValueError, re.escape(
                "`target_macs`=0.1 cannot be reached: with every group at its minimum width "
                "the model keeps ") + r"0\.\d+" + re.escape(
                " of them (pinned layers and minimum widths keep the rest; widths are "
                "multiples of 16, auto: fake float: a smaller `round_to` may reach it).")):
            shrink.shrink(_mlp(), target_macs=0.1, round_to="auto")

    @parameterized.parameters(0, -8, 2.5, True, "eight", "", "Auto")
    def test_bad_round_to_is_named(self, value):
        with self.assertRaisesRegex(ValueError, "^" + re.escape(
                "`round_to` must be a positive int or 'auto' (the channel tile of this "
                f"machine's kernels), got {value!r}.") + "$"):
            shrink.shrink(_mlp(), fraction=0.5, round_to=value)

    def test_describe(self):
        self.assertEqual(rounding.describe(16, "auto: avx512f float"),
                         "multiples of 16 (auto: avx512f float)")
        self.assertEqual(rounding.describe(1, "default"), "not rounded (round_to 1, default)")


if __name__ == "__main__":
    tf.test.main()
