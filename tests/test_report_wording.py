"""Speed and size ratios in words: a slower file reads "slower", everywhere."""

from absl.testing import parameterized
import tensorflow as tf

from tfcompress.evaluate import ratios
from tfcompress.jobs import quantize as quantize_job


class RatioWordsTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(
        (2.0, 1, "2.0x faster"),
        (0.6, 1, "1.7x slower"),    # never "0.6x faster"
        (0.6, 2, "1.67x slower"),
        (1 / 3, 1, "3.0x slower"),
        (1.04, 1, "about as fast"),
        (0.96, 1, "about as fast"),
        (1.04, 2, "1.04x faster"),
    )
    def test_faster_or_slower(self, speedup, digits, words):
        self.assertEqual(ratios.faster_or_slower(speedup, digits=digits), words)

    @parameterized.parameters((4.0, "4.0x smaller"), (0.5, "2.0x larger"),
                              (1.01, "about the same size"))
    def test_smaller_or_larger(self, reduction, words):
        self.assertEqual(ratios.smaller_or_larger(reduction), words)

    @parameterized.parameters(0, -1.5, None, float("inf"), float("nan"), "fast")
    def test_a_ratio_that_is_not_positive_and_finite_is_refused(self, speedup):
        with self.assertRaisesRegex(ValueError, r"`speedup` must be a positive, finite "
                                    r"ratio \(before / after\), got "):
            ratios.faster_or_slower(speedup)


def _quantize_summary(float_ms, int8_ms, float_bytes=4000, int8_bytes=1000):
    reference = {"test_accuracy": 0.98, "bytes": float_bytes, "gzip_bytes": float_bytes,
                 "latency_ms_batch1": float_ms}
    result = {"test_accuracy": 0.97, "bytes": int8_bytes, "gzip_bytes": int8_bytes,
              "latency_ms_batch1": int8_ms}
    return {"config": {"mode": "int8"}, "float_reference": reference, "tflite": result,
            "tflite_weights": {"sparsity": 0.0, "max_distinct_values": 255},
            "ratios": {"bytes": float_bytes / int8_bytes,
                       "gzip_bytes": float_bytes / int8_bytes,
                       "latency": float_ms / int8_ms}}


class QuantizeSummaryTest(tf.test.TestCase):

    def test_an_int8_file_slower_than_the_float_file_reads_slower(self):
        text = quantize_job.format_summary(_quantize_summary(0.006, 0.010), "out")
        self.assertIn("Latency, batch 1, 2 threads: 0.0060 -> 0.0100 ms (1.67x slower)",
                      text)
        self.assertNotIn("faster", text)

    def test_a_faster_smaller_file_reads_faster_and_smaller(self):
        text = quantize_job.format_summary(_quantize_summary(0.010, 0.005), "out")
        self.assertIn("(2.00x faster)", text)
        self.assertIn("Size: 3.9 -> 1.0 KiB (4.0x smaller); gzipped 3.9 -> 1.0 KiB "
                      "(4.0x smaller)", text)

    def test_a_file_that_grew_reads_larger(self):
        text = quantize_job.format_summary(
            _quantize_summary(0.01, 0.01, float_bytes=1000, int8_bytes=1500), "out")
        self.assertIn("(1.5x larger)", text)
        self.assertIn("(about as fast)", text)


if __name__ == "__main__":
    tf.test.main()
