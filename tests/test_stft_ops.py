"""The STFT written as reshapes and matmuls (`models.stft_ops`).

It must give the numbers tf.signal's reflect-padded STFT gives (the mel
twin's agreement with Keras 3 rests on it), for any frame, step and clip
length it takes, and it must say which lengths it does not take.
"""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfcompress.models import stft_ops

_CASES = (  # fft_length, step, samples: steps below, equal to and above the frame
    ("fsdd", 256, 160, 8000),
    ("short_frames", 16, 5, 101),
    ("step_equals_frame", 64, 64, 1000),
    ("step_above_frame", 32, 50, 777),
    # The compressed FSDD DS-CNN's frames: 16 ms windows every 32 ms at 8 kHz.
    ("fsdd_compressed", 128, 256, 8000),
    ("rectangular_factors", 128, 48, 3001),
    ("longest", 512, 160, 4000),
)


def _clips(samples, seed=0):
    x = np.random.default_rng(seed).standard_normal((3, samples)).astype(np.float32)
    x[1] *= 1e-3  # a quiet clip: errors must be relative to its own level
    return x


class StftOpsTest(parameterized.TestCase):

    @parameterized.named_parameters(*_CASES)
    def test_frames_are_tf_signals(self, fft_length, step, samples):
        x = _clips(samples)
        half = fft_length // 2
        expected = tf.signal.frame(tf.pad(x, [[0, 0], [half, half]], mode="REFLECT"),
                                   fft_length, step).numpy()
        self.assertTrue(stft_ops.supports(samples, fft_length, step))
        np.testing.assert_array_equal(stft_ops.reflect_frames(x, fft_length, step).numpy(),
                                      expected)

    @parameterized.named_parameters(*_CASES)
    def test_power_is_rfft_power(self, fft_length, step, samples):
        frames = stft_ops.reflect_frames(_clips(samples, seed=1), fft_length, step)
        bins = fft_length // 2 + 1
        expected = np.abs(np.fft.rfft(frames.numpy().astype(np.float64), fft_length)) ** 2
        order = stft_ops.bin_order(fft_length, bins)
        actual = stft_ops.power_spectrum(frames, fft_length, bins).numpy()
        self.assertEqual(actual.shape, (3, frames.shape[1], len(order)))
        inside = order < bins
        self.assertEqual(set(order[inside]), set(range(bins)))  # every bin, once
        for clip in range(3):
            scale = np.max(expected[clip])
            np.testing.assert_allclose(actual[clip][..., inside], expected[clip][..., order[inside]],
                                       rtol=0, atol=1e-5 * scale)

    def test_fewer_bins_computes_fewer(self):
        frames = stft_ops.reflect_frames(_clips(2000), 256, 160)
        self.assertLen(stft_ops.bin_order(256, 100), 16 * 7)
        self.assertEqual(stft_ops.power_spectrum(frames, 256, 100).shape[-1], 16 * 7)

    def test_what_it_does_not_take(self):
        self.assertFalse(stft_ops.supports(None, 256, 160))  # unknown length
        self.assertFalse(stft_ops.supports(8000, 1024, 160))  # above MAX_MATMUL_FFT_LENGTH
        self.assertFalse(stft_ops.supports(8000, 240, 160))  # not a power of two
        self.assertFalse(stft_ops.supports(100, 256, 160))  # shorter than the reflect pad


if __name__ == "__main__":
    tf.test.main()
