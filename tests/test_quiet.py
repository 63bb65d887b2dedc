"""tfcompress.quiet hides TensorFlow's notices and keeps every other line."""

import logging
import os
import sys
import tempfile
from unittest import mock

import tensorflow as tf
from absl.testing import parameterized

import helpers
from tfcompress import evaluate
from tfcompress import quiet

# Lines TensorFlow 2.21 printed at start-up on this CPU-only machine.
_ONEDNN = ("I0000 00:00:1796602733.516617   16587 port.cc:153] oneDNN custom operations "
           "are on. You may see slightly different numerical results due to "
           "floating-point round-off errors from different computation orders.")
_CUDART = ("I0000 00:00:1796602733.516943   16587 cudart_stub.cc:31] Could not find cuda "
           "drivers on your machine, GPU will not be used.")
_BANNER = ("WARNING: All log messages before absl::InitializeLog() is called are "
           "written to STDERR")
_CUINIT = ("E0000 00:00:1796602810.084362   19042 cuda_platform.cc:52] failed call to "
           "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)")
_CONVERTER = ("W0000 00:00:1796603237.193083   29051 tf_tfl_flatbuffer_helpers.cc:364] "
              "Ignored output_format.")
_OTHER_ERROR = ("E0000 00:00:1796603237.193083   29051 op_kernel.cc:1830] OP_REQUIRES "
                "failed at whatever.cc:12 : INVALID_ARGUMENT: bad input")


class IsNoticeTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("onednn", _ONEDNN), ("cudart", _CUDART), ("banner", _BANNER),
        ("converter_warning", _CONVERTER),
        ("quantizer_settings", "fully_quantize: 0, inference_type: 6, input_inference_type: "
                               "FLOAT32, output_inference_type: FLOAT32\n"),
        ("xnnpack", "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"))
    def test_start_up_and_converter_lines_are_notices(self, line):
        self.assertTrue(quiet.is_notice(line, min_cpp_level=2, nvidia_device=False))

    def test_cuinit_error_is_a_notice_only_on_a_machine_without_nvidia_device(self):
        self.assertTrue(quiet.is_notice(_CUINIT, min_cpp_level=2, nvidia_device=False))
        self.assertFalse(quiet.is_notice(_CUINIT, min_cpp_level=2, nvidia_device=True))

    @parameterized.named_parameters(
        ("other_cpp_error", _OTHER_ERROR),
        ("traceback", "Traceback (most recent call last):"),
        ("own_line", "tfcompress evaluate: `tflite`: no .tflite file at 'x'"))
    def test_errors_and_other_lines_are_kept(self, line):
        self.assertFalse(quiet.is_notice(line, min_cpp_level=2, nvidia_device=False))

    def test_cpp_lines_at_or_above_the_level_are_kept(self):
        self.assertFalse(quiet.is_notice(_CONVERTER, min_cpp_level=1))
        self.assertFalse(quiet.is_notice(_ONEDNN, min_cpp_level=0))


class AsksForLogsTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("info", ["--verbosity=0"], True), ("debug_short", ["-v", "1"], True),
        ("short_equals", ["-v=2"], True), ("spaced", ["--verbosity", "0"], True),
        ("not_a_number", ["--verbosity=info"], True),
        ("warnings", ["--verbosity=-1"], False), ("none", ["--epochs=3"], False),
        ("after_double_dash", ["--", "--verbosity=1"], False))
    def test_verbosity_flag(self, argv, expected):
        self.assertEqual(quiet.asks_for_logs(argv), expected)


class NativeNoticesHiddenTest(tf.test.TestCase):

    def _stderr_of(self, write, raises=False):
        """What fd 2 shows of `write()` run inside `native_notices_hidden`."""
        with tempfile.TemporaryFile() as shown, \
                mock.patch.object(quiet, "_started", True):
            sys.stderr.flush()
            saved = os.dup(2)
            os.dup2(shown.fileno(), 2)
            try:
                with quiet.native_notices_hidden():
                    write()
                    if raises:
                        raise RuntimeError("failed")
            except RuntimeError:
                pass
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            shown.seek(0)
            return shown.read().decode()

    def test_notices_written_by_native_code_are_dropped_and_the_rest_kept(self):
        def write():  # os.write: to the file descriptor, as C++ writes
            for line in (_BANNER, _ONEDNN, _OTHER_ERROR, _CUDART, "a line of yours"):
                os.write(2, (line + "\n").encode())

        with mock.patch.dict(os.environ, {"TF_CPP_MIN_LOG_LEVEL": "2"}):
            self.assertEqual(self._stderr_of(write), f"{_OTHER_ERROR}\na line of yours\n")

    def test_everything_is_kept_when_the_block_raises(self):
        def write():
            os.write(2, (_ONEDNN + "\n").encode())

        self.assertEqual(self._stderr_of(write, raises=True), _ONEDNN + "\n")

    def test_does_nothing_unless_started(self):
        with quiet.native_notices_hidden():  # no capture: nothing to restore
            pass
        self.assertFalse(quiet._started)  # pylint: disable=protected-access


class RetracingTest(tf.test.TestCase):

    def test_evaluating_many_models_warns_of_no_retracing(self):
        data = helpers.labelled_data(n=8)
        with self.assertNoLogs("tensorflow", level=logging.WARNING):
            for seed in range(7):
                evaluate.evaluate_classifier(helpers.tiny_mlp(seed=seed), data)

    def test_retracing_warnings_are_filtered(self):
        hide = quiet._NoRetracingWarnings()  # pylint: disable=protected-access
        record = logging.LogRecord(
            "tensorflow", logging.WARNING, __file__, 1, "5 out of the last 5 calls to %s "
            "triggered tf.function retracing. Tracing is expensive", ("<fn>",), None)
        self.assertFalse(hide.filter(record))
        record.msg, record.args = "Compiled the loaded model, but the metrics...", ()
        self.assertTrue(hide.filter(record))


if __name__ == "__main__":
    tf.test.main()
