"""How many output channels this machine's LiteRT kernels compute at a time.

LiteRT runs convolutions and dense layers on CPUs through XNNPACK, whose
GEMM micro-kernels make `nr` output channels per step: a layer of 17
channels costs two steps of 16 on AVX-512, as much as one of 32 (measured:
BENCHMARKS.md, "Why a CNN shrunk to half its MACs is not twice as fast").
Widths that are multiples of `nr` waste nothing, so `shrink` rounds to it
when latency is the goal.

The tile widths are XNNPACK's own choices per instruction set (google/XNNPACK
src/configs/gemm-config.c: `init_f32_gemm_config` for float files,
`init_qs8_qc8w_gemm_config` for int8 files with per-channel weight scales, as
the TFLite converter writes them). Only x86-64 with AVX-512 (float 16, int8
16) was measured here; the other rows are read from that source. On ARM
Linux builds, XNNPACK picks some kernels by core rather than by feature; the
feature-based choice below is what its non-assembly builds use.
"""

import dataclasses
import platform

FORMATS = ("float", "int8")

# {format: ((required CPU flags, name, channels per step), ...)}, first match
# wins. x86-64: float GEMMs are 16 wide with AVX-512 (one 16-lane register)
# and with AVX or FMA3 (two 8-lane ones), 8 with SSE; int8 GEMMs are 16 wide
# with AVX-512 (VNNI, or SKX's F+BW+DQ+VL), 8 with AVX2 or AVX-VNNI, 4 below.
_X86 = {
    "float": ((("avx512f",), "avx512f", 16), (("fma", "avx2"), "avx2", 16),
              (("avx",), "avx", 16), ((), "sse", 8)),
    "int8": ((("avx512_vnni",), "avx512_vnni", 16),
             (("avx512f", "avx512bw", "avx512dq", "avx512vl"), "avx512bw", 16),
             (("avx_vnni",), "avx_vnni", 8), (("avx2",), "avx2", 8), ((), "sse", 4)),
}
# aarch64 (cpuinfo "Features"): float GEMMs 6x8 or 4x8 on every NEON core;
# int8 16 wide with the dot-product (asimddp) or i8mm extensions, else 8.
_ARM64 = {
    "float": (((), "aarch64 neon", 8),),
    "int8": ((("i8mm",), "aarch64 i8mm", 16), (("asimddp",), "aarch64 dotprod", 16),
             ((), "aarch64 neon", 8)),
}
_ARM32 = {"float": (((), "arm neon", 8),), "int8": (((), "arm neon", 8),)}
_ARCHES = {"x86_64": _X86, "amd64": _X86, "i686": _X86, "i386": _X86,
           "aarch64": _ARM64, "arm64": _ARM64, "armv7l": _ARM32, "armv8l": _ARM32}


@dataclasses.dataclass(frozen=True)
class KernelTile:
    """Channels per kernel step for one file format on this machine.

    Attributes:
      channels: the multiple widths should be (1: unknown CPU, no rounding).
      reason: where it comes from, e.g. "avx512f float".
    """

    channels: int
    reason: str


def cpu_flags(cpuinfo_text):
    """The feature flags of the first processor in /proc/cpuinfo text.

    x86 lists them under "flags", ARM under "Features".
    """
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


def _read_cpuinfo():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:  # not Linux: the architecture alone decides
        return ""


def kernel_tile(latency_format="float", *, cpuinfo=None, machine=None):
    """The channel multiple XNNPACK's GEMMs favour here, for a `latency_format` file.

    Args:
      latency_format: "float" or "int8": which kernels run the file.
      cpuinfo: /proc/cpuinfo text (default: read it; "" when absent).
      machine: `platform.machine()` value (default: this machine's).

    Returns:
      `KernelTile`. Without flags (macOS, say) an architecture's baseline
      row applies; an unknown architecture gets 1 (no rounding).

    Raises:
      ValueError: `latency_format` is not "float" or "int8".
    """
    if latency_format not in FORMATS:
        raise ValueError(f"`latency_format` must be 'float' or 'int8', got "
                         f"{latency_format!r}.")
    machine = (platform.machine() if machine is None else machine).lower()
    flags = cpu_flags(_read_cpuinfo() if cpuinfo is None else cpuinfo)
    table = _ARCHES.get(machine)
    if table is None:
        return KernelTile(1, f"unknown CPU {machine or '?'} {latency_format}: no rounding")
    for required, name, channels in table[latency_format]:
        if flags.issuperset(required):
            return KernelTile(channels, f"{name} {latency_format}")
    raise AssertionError("every table ends with a row that needs no flag")
