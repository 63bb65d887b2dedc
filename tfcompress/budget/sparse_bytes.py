"""What TFLite's sparse weight encoding makes of a pruned kernel, in file bytes.

The converter (`tf.lite.Optimize.EXPERIMENTAL_SPARSITY`) stores a kernel
holding zeros as CSR over its last TFLite axis (a Dense or Conv kernel's
input channels): the other axes stay dense, and each of their positions (a
row) gets a segment of the non-zeros' values and their indices along the
last axis. An index array takes the narrowest type that holds its largest
value: uint8 up to 255, uint16 up to 65,535, else int32 (the indices'
largest is the last axis' size less one, the segments' the count of
non-zeros). Each encoded tensor also carries its dimension tables, about
`METADATA_BYTES`, and in an int8 file the tensor DENSIFY writes repeats
the kernel's per-channel scales and zero points (`QUANTIZATION_BYTES` a
channel). Read off the files the converter writes here
(tests/test_sparse_bytes.py checks it against them).

The converter adds a DENSIFY op: LiteRT expands the kernel once, at load,
so the encoding saves file bytes, not memory or time. It encodes any
kernel whose zeros pass its threshold, even where that is larger than the
dense kernel (an int8 kernel at half zeros: 1.5 bytes a weight against 1),
so a plan prunes a layer only where the encoding saves bytes (`saved`).
Hand-written: TFLite has no API that predicts an encoded size.
"""

from tfcompress._checks import check_positive_int

# The dimension tables of one encoded 2-D kernel, measured: LeNet-300-100's
# three kernels at 90% and 95% zeros came out 966 and 967 bytes above the
# arrays' sum.
METADATA_BYTES = 322
# A float32 scale and an int64 zero point per output channel.
QUANTIZATION_BYTES = 12


def index_bytes(largest):
    """Bytes per entry of an index array whose largest value is `largest`."""
    return 1 if largest <= 0xFF else 2 if largest <= 0xFFFF else 4


def nonzeros(count, sparsity):
    """The weights pruning to `sparsity` keeps of `count` (TFMOT rounds the zeros)."""
    return count - int(round(sparsity * count))


def encoded_bytes(count, last_axis, sparsity, value_bytes, channels=0):
    """Bytes of a kernel of `count` weights at `sparsity`, stored sparse.

    Args:
      count: the kernel's weights.
      last_axis: the size of its last axis in the .tflite file (a Dense or
        Conv kernel's input channels; `last_axis_of`).
      sparsity: its share of zeros, in [0, 1).
      value_bytes: bytes per stored weight (4 float, 1 int8).
      channels: its quantized (output) channels in an int8 file, else 0.
    """
    check_positive_int("count", count)
    check_positive_int("last_axis", last_axis)
    kept = nonzeros(count, sparsity)
    rows = count // last_axis
    return (kept * (value_bytes + index_bytes(last_axis - 1))
            + (rows + 1) * index_bytes(kept) + METADATA_BYTES
            + QUANTIZATION_BYTES * channels)


def saved(count, last_axis, sparsity, value_bytes, channels=0):
    """Bytes the encoding saves against the dense kernel (negative: it costs)."""
    if sparsity == 0:
        return 0
    return count * value_bytes - encoded_bytes(count, last_axis, sparsity, value_bytes,
                                               channels)


def channels_of(variable):
    """A Keras kernel's output channels (its last axis; a depthwise kernel's
    in * multiplier), along which int8 weights are quantized."""
    shape = [int(d) for d in variable.shape]
    if "depthwise" in variable.name:
        return shape[-2] * shape[-1]
    return shape[-1]


def last_axis_of(variable):
    """The size of a Keras kernel's last axis in the .tflite file.

    Dense [in, out] becomes [out, in], Conv [..., in, out] becomes
    [out, ..., in]: the input channels, Keras' second to last axis. A
    depthwise kernel [h, w, in, multiplier] becomes [1, h, w, in *
    multiplier].
    """
    shape = [int(d) for d in variable.shape]
    if "depthwise" in variable.name:
        return shape[-2] * shape[-1]
    return shape[-2]
