"""A centered STFT's power spectrum in ops LiteRT's XNNPACK delegate runs.

`tf.signal.stft` on a clip of known length converts to TFLite ops that cost
most of a small audio model's time: MIRROR_PAD, a GATHER-based framing with
run-time shape arithmetic, RFFT2D (one small 2-D FFT per frame), then
REAL, IMAG, SQRT and friends, none of which XNNPACK runs. On 8 kHz 1 s clips
(51 frames of 256) that frontend took 0.25 ms of a DS-CNN's 0.32 ms at 1
thread (benchmarks/fsdd_frontend_cost.py). Here the same numbers come from:

- a reflect pad by slices, REVERSE_V2 and CONCATENATION;
- framing by reshapes of the padded clip (frame i is chunk i of `step`
  samples, then the start of chunk i + 1, ...): static shapes, no GATHER;
- the DFT split Cooley-Tukey style into two small dense transforms and a
  twiddle product (fft_length = A * B: A-point DFTs across rows, twiddles,
  B-point DFTs along them), as FULLY_CONNECTED, TRANSPOSE and MUL, which
  XNNPACK runs; only the bins the caller needs are computed.

Hand-written: no library emits an STFT as XNNPACK-friendly TFLite ops. The
result equals `|tf.signal.stft(...)| ** 2` to float32 rounding; its bins
come in a permuted order (`power_spectrum` returns it).
"""

import math

import numpy as np
import tensorflow as tf

# Longest fft_length written as matmuls: the constants grow as about
# 8 * fft_length floats (plus the caller's mel rows), the work as
# fft_length ** 1.5 per frame; beyond this RFFT2D is kept. At 512 (the zoo's
# frontend at 16 kHz, 1 s clips) the matmuls still took 0.137 ms against
# RFFT2D's 0.504 (1 thread), for 21 KB more float32 constants.
MAX_MATMUL_FFT_LENGTH = 512


def supports(samples, fft_length, sequence_stride):
    """Whether `power_spectrum` takes clips of `samples` (a static length)."""
    half = fft_length // 2
    return (samples is not None and fft_length % 2 == 0 and 16 <= fft_length
            <= MAX_MATMUL_FFT_LENGTH and fft_length & (fft_length - 1) == 0
            and samples - 1 >= half + _tail(samples, fft_length, sequence_stride))


def _frame_count(samples, fft_length, step):
    return 1 + (samples + 2 * (fft_length // 2) - fft_length) // step


def _tail(samples, fft_length, step):
    """Samples past the reflect pad that the reshape framing reads (then drops)."""
    chunks = math.ceil(fft_length / step)
    frames = _frame_count(samples, fft_length, step)
    return max(0, (chunks - 1 + frames) * step - (samples + 2 * (fft_length // 2)))


def reflect_pad(x, fft_length, step):
    """`(batch, samples)` reflect-padded by half a frame at each end, and a tail.

    As `tf.pad(x, REFLECT)`, then `_tail` more samples that the reshape
    framing reads and drops (any values do): slices, REVERSE_V2 and
    CONCATENATION instead of MIRROR_PAD, which XNNPACK does not run.
    """
    samples = x.shape[-1]
    half = fft_length // 2
    tail = _tail(samples, fft_length, step)
    left = tf.reverse(x[:, 1:half + 1], [1])
    right = tf.reverse(x[:, samples - 1 - half - tail:samples - 1], [1])
    return tf.concat([left, x, right], 1)


def reflect_frames(x, fft_length, step):
    """`(batch, samples)` -> `(batch, frames, fft_length)`, reflect-padded by half a frame.

    Frames as `tf.signal.frame(tf.pad(x, REFLECT), fft_length, step)`.
    """
    samples = x.shape[-1]
    padded = reflect_pad(x, fft_length, step)
    frames = _frame_count(samples, fft_length, step)
    chunks = []
    for start in range(0, fft_length, step):
        chunk = tf.reshape(padded[:, start:start + frames * step], [-1, frames, step])
        width = min(step, fft_length - start)
        chunks.append(chunk if width == step else chunk[:, :, :width])  # no no-op slices
    return chunks[0] if len(chunks) == 1 else tf.concat(chunks, 2)


def _factors(fft_length):
    """(A, B), A * B = fft_length, A <= B, powers of two."""
    rows = 2 ** (int(math.log2(fft_length)) // 2)
    return rows, fft_length // rows


def bin_order(fft_length, num_bins):
    """The bins `power_spectrum` returns, in its order (numpy ints).

    Bin k1 + A * k2 sits at k1 * K2 + k2; positions past the last bin of
    the one-sided spectrum hold bins above Nyquist (give them zero weight).
    """
    rows, _ = _factors(fft_length)
    cols = math.ceil(num_bins / rows)
    k1, k2 = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return (k1 + rows * k2).reshape(-1)


def _constants(fft_length, num_bins):
    """The three transforms' matrices, float32 (see the module docstring)."""
    rows, cols = _factors(fft_length)
    out_cols = math.ceil(num_bins / rows)
    a = np.arange(rows)
    # Stage 1, A-point DFTs over the rows: outputs (re k1, im k1) interleaved.
    angle = 2 * np.pi * np.outer(a, a) / rows  # [k1, a]
    stage1 = np.stack([np.cos(angle), -np.sin(angle)], 1).reshape(2 * rows, rows).T
    # Twiddles W_L^(b k1) = c - i s, as [k1, (c, s), 1, b].
    angle = 2 * np.pi * np.outer(a, np.arange(cols)) / fft_length
    twiddle = np.stack([np.cos(angle), np.sin(angle)], 1)[:, :, None, :]
    # Stage 3, B-point DFTs, from [Zr c | Zi c | Zr s | Zi s] (T = Z W:
    # T_re = Zr c + Zi s, T_im = Zi c - Zr s) to [re k2 | im k2].
    angle = 2 * np.pi * np.outer(np.arange(cols), np.arange(out_cols)) / cols
    cos, sin = np.cos(angle), np.sin(angle)
    from_re = np.concatenate([cos, -sin], 1)
    from_im = np.concatenate([sin, cos], 1)
    stage3 = np.concatenate([from_re, from_im, -from_im, from_re], 0)
    return tuple(m.astype(np.float32) for m in (stage1, twiddle, stage3))


def power_spectrum(frames, fft_length, num_bins):
    """|DFT|^2 of `(batch, frames, fft_length)` frames: `(batch, frames, len(bin_order))`.

    Computes the bins 0 .. num_bins - 1 (and a few above, up to a multiple
    of A) in `bin_order(fft_length, num_bins)`'s order.
    """
    rows, cols = _factors(fft_length)
    out_cols = math.ceil(num_bins / rows)
    count = frames.shape[1]
    stage1, twiddle, stage3 = (tf.constant(m, frames.dtype)
                               for m in _constants(fft_length, num_bins))
    x = tf.transpose(tf.reshape(frames, [-1, rows, cols]), [0, 2, 1])  # [.., b, a]
    z = tf.matmul(tf.reshape(x, [-1, rows]), stage1)  # [.. b, (k1, re/im)]
    z = tf.transpose(tf.reshape(z, [-1, cols, rows, 2]), [0, 2, 3, 1])  # [.., k1, re/im, b]
    # [.., k1, (c, s), (re, im), b]: [Zr c | Zi c | Zr s | Zi s] per k1.
    z = tf.reshape(tf.reshape(z, [-1, rows, 1, 2, cols]) * twiddle, [-1, 4 * cols])
    y = tf.matmul(z, stage3)  # [.. k1, (re k2 | im k2)]
    # Two slices, not tf.split: the converter names SPLIT's outputs outside
    # the layer's scope, so int8 export's float denylist would miss it.
    power = tf.square(y[:, :out_cols]) + tf.square(y[:, out_cols:])
    return tf.reshape(power, [-1, count, rows * out_cols])
