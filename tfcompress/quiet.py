"""A quiet start: your program's lines and Keras progress, not TensorFlow's notices.

TensorFlow prints lines its users cannot act on. Its C++ writes oneDNN and
CUDA notices while it loads, before it reads `TF_CPP_MIN_LOG_LEVEL`; on a
machine without a GPU it probes for one and logs "failed call to cuInit" as
an error; tf.function warns of "retracing" when a process builds several
models (each new model is traced anew, as it must be); and the TFLite
converter logs its internals. absl programs also log INFO lines (TFDS's
"Load dataset info") by default.

`start()` hides all of that unless `--verbosity` (`-v`) asks for INFO or
more; every other line still prints. Call it before anything imports
TensorFlow, at the top of an absl script:

    from absl import app
    from tfcompress import quiet
    quiet.start()  # before TensorFlow loads, so its start-up lines can be hidden

    import tfcompress  # pylint: disable=g-import-not-at-top

The `tfcompress` command calls it for every command.
"""

import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings

# TF_CPP_MIN_LOG_LEVEL: 0 shows C++ INFO, 1 from WARNING, 2 from ERROR.
_MIN_CPP_LEVEL = "2"
# A line of absl's C++ log: severity, MMDD hh:mm:ss.micros, thread, file:line].
# Before absl is initialized, the seconds are Unix time: "00:00:1796602733.516617".
_CPP_LINE = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]]+\] ")
_CPP_LEVELS = {"I": 0, "W": 1, "E": 2, "F": 3}
# Printed by every TF library that logs before absl::InitializeLog(), which
# nothing calls.
_BEFORE_INIT = "WARNING: All log messages before absl::InitializeLog() is called"
# TF's error when it finds no CUDA driver: on a machine with no NVIDIA
# device that is the expected answer, not a problem.
_NO_CUDA = "failed call to cuInit"
_NVIDIA_DEVICES = ("/dev/nvidiactl", "/dev/dxg", "/proc/driver/nvidia")
# LiteRT's line at the first interpreter with its default delegate.
_XNNPACK = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_RETRACING = "triggered tf.function retracing"
# The converter warns so of every quantization-aware model (int8 inference
# without post-training calibration); tfcompress checks each file it writes.
_QUANTIZED_INPUT_STATS = "Statistics for quantized inputs were expected"
# The calibrating quantizer echoes its settings to stderr on every int8 file.
_QUANTIZER_SETTINGS = "fully_quantize: "

_started = False


def start(argv=None):
    """Hides TensorFlow's notices from here on, unless `argv` asks for logs.

    Sets `TF_CPP_MIN_LOG_LEVEL` (unless set), imports TensorFlow and probes
    its devices while hiding the lines they print below that level (plus the
    absl banner and the no-GPU cuInit error), drops retracing warnings and
    the converter's notices, and lowers absl's INFO default to WARNING once
    `app.run` has parsed the flags. Does nothing if `argv` holds
    `--verbosity` / `-v` at 0 (INFO) or more.

    Args:
      argv: the command line's arguments (default: `sys.argv[1:]`).

    Returns:
      Whether the process is now quiet.
    """
    global _started
    if asks_for_logs(sys.argv[1:] if argv is None else argv):
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", _MIN_CPP_LEVEL)
    _started = True
    if "tensorflow" not in sys.modules:
        with native_notices_hidden():
            import tensorflow as tf  # pylint: disable=g-import-not-at-top
            # The CUDA probe runs once, at the first device query: now, inside
            # the capture, rather than at the first op. Devices stay
            # configurable (tf.config) after a query.
            tf.config.list_physical_devices("GPU")
    _quiet_python_logs()
    return True


def asks_for_logs(argv):
    """Whether `argv` sets absl's `--verbosity` (or `-v`) to 0 (INFO) or more.

    Read before absl parses the flags (TensorFlow must be told before it
    loads); a `--flagfile` setting is seen only by `app.run`, which then
    shows absl's lines but not TensorFlow's start-up lines.
    """
    args = iter(argv)
    for arg in args:
        if arg == "--":
            break
        if not arg.startswith("-"):
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        if name not in ("verbosity", "v"):
            continue
        if not has_value:
            value = next(args, "")
        try:
            return int(value) >= 0
        except ValueError:
            return True  # absl refuses it; hide nothing until then
    return False


def is_notice(line, min_cpp_level=None, nvidia_device=None):
    """Whether `line` (of TensorFlow's stderr) is a notice `start()` hides.

    Args:
      line: one line, with or without its newline.
      min_cpp_level: C++ lines below this severity (0 INFO, 1 WARNING,
        2 ERROR) are notices; default: `TF_CPP_MIN_LOG_LEVEL`'s.
      nvidia_device: whether the machine has an NVIDIA device, whose failed
        cuInit is then a real error (default: looked up).
    """
    if min_cpp_level is None:
        min_cpp_level = _cpp_level()
    line = line.rstrip("\n")
    if line.startswith((_BEFORE_INIT, _QUANTIZER_SETTINGS)) or line == _XNNPACK:
        return True
    match = _CPP_LINE.match(line)
    if not match:
        return False
    level = _CPP_LEVELS[match.group(1)]
    if level < min_cpp_level:
        return True
    if nvidia_device is None:
        nvidia_device = any(os.path.exists(p) for p in _NVIDIA_DEVICES)
    return level == 2 and _NO_CUDA in line and not nvidia_device


@contextlib.contextmanager
def native_notices_hidden():
    """Within it, notices written to file descriptor 2 (C++ too) are dropped.

    Output to stderr is held until the block ends, then every line that is
    not a notice (`is_notice`) is written out, all of it if the block raised.
    A no-op unless `start()` made the process quiet.
    """
    if not _started:
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to hold
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        finished = False
        try:
            yield
            finished = True
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = [line for line in lines if not is_notice(line)] if finished else lines
            _write_stderr("".join(kept).encode("utf-8"))


def _write_stderr(data):
    """Writes `data` to file descriptor 2, where the held lines were written."""
    while data:
        data = data[os.write(2, data):]


def _cpp_level():
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


class _NoRetracingWarnings(logging.Filter):
    """Drops tf.function's retracing warnings: one per model is what a run needs."""

    def filter(self, record):
        return _RETRACING not in record.getMessage()


def _quiet_python_logs():
    tf_logger = logging.getLogger("tensorflow")
    tf_logger.addFilter(_NoRetracingWarnings())
    # TensorFlow gives its logger a handler of its own when the root logger
    # has none yet; absl adds one to the root later, and every TF warning
    # would print twice.
    if tf_logger.handlers:
        tf_logger.propagate = False
    warnings.filterwarnings("ignore", message=_QUANTIZED_INPUT_STATS)
    from absl import app  # pylint: disable=g-import-not-at-top
    app.call_after_init(_warnings_unless_asked)


def _warnings_unless_asked():
    """absl raises its verbosity to INFO after parsing, unless --verbosity was given."""
    from absl import flags  # pylint: disable=g-import-not-at-top
    from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
    if not flags.FLAGS["verbosity"].present:
        absl_logging.set_verbosity(absl_logging.WARNING)
