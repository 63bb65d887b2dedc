"""Where a DS-CNN file's time and bytes go: its log-mel frontend, before and after.

Issue 26's compressed DS-CNN must be 2x faster and 3x smaller than the
reference int8 file, whose float frontend took most of its time. This
times the frontend stage by stage (each row a file that ends at that stage,
so a row's increment is that stage's cost) in its two forms:

- before: `tf.signal.stft` as the converter writes it for a batch of any
  size (MIRROR_PAD, GATHER framing with run-time shapes, RFFT2D, REAL,
  IMAG, SQRT, a tensordot);
- after: `models.stft_ops` (slices and REVERSE_V2, reshape framing, the
  DFT as two small matmuls and a twiddle product, all but REVERSE_V2 and
  LOG run by XNNPACK), what `spectrogram.MelSpectrogram` now uses for
  clips of a known length;

then whole `ds_cnn` files (untrained: time and size do not depend on the
weights), float and int8 (frontend kept float, `export.float_frontend`),
with the frontend in each form, and int8 files of narrower DS-CNNs (what a
compressed model can reach), with their bytes split into constants,
quantization parameters, tensor names and the rest (tables, ops, shapes).
The "before" files are built with `stft_ops.supports` patched to refuse,
which sends `MelSpectrogram` down its tf.signal path, and with
`float_frontend.compact` patched out (names kept, float32 constants): the
code before.

All timings: LiteRT, batch 1, XNNPACK, `--num_threads`, interleaved rounds
(`evaluate.compare_latency`), the median of the rounds' medians.

    .venv/bin/python benchmarks/fsdd_frontend_cost.py [--rounds=7] [--num_threads=1] \\
        [--widths=64,32,24,16] [--trained=W/fsdd/model.keras --fsdd=../shared/data/fsdd]

`--trained` also exports a trained 8 kHz ds_cnn's int8 file in both forms
and gives each file's accuracy on FSDD's 300 official test clips.
"""

import contextlib
import glob
import math
import os
from unittest import mock

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

import tfcompress
from tfcompress import evaluate
from tfcompress import models
from tfcompress._keras import keras
from tfcompress.evaluate import file_parts
from tfcompress.export import converter
from tfcompress.export import float_frontend
from tfcompress.models import spectrogram
from tfcompress.models import stft_ops
from tfcompress.runtime import TFLiteRunner

_ROUNDS = flags.DEFINE_integer("rounds", 7, "Interleaved timing rounds.", lower_bound=1)
_THREADS = flags.DEFINE_integer("num_threads", 1, "LiteRT threads.", lower_bound=1)
_WIDTHS = flags.DEFINE_list("widths", ["64", "32", "24", "16"],
                            "ds_cnn widths whose int8 files are measured (64: the reference).")
_TRAINED = flags.DEFINE_string("trained", None, "A trained 8 kHz ds_cnn .keras file "
                               "(input (8000, 1)) to check accuracy in both forms.")
_FSDD = flags.DEFINE_string("fsdd", "/work/shared/data/fsdd", "FSDD folder (for --trained).")

_RATE = 8000
_SAMPLES = 8000
_FFT, _WINDOW, _STEP, _MELS, _MIN_POWER = 256, 240, 160, 10, 1e-6
_FRAMES = 1 + _SAMPLES // _STEP


def _tflite(function):
    """Flatbuffer of `function` on float clips `(batch, samples)`, batch of any size."""
    concrete = tf.function(function, input_signature=[
        tf.TensorSpec([None, _SAMPLES], tf.float32)]).get_concrete_function()
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()


def _window():
    with tf.init_scope():  # eager, also while tracing: a constant
        window = tf.signal.hann_window(_WINDOW, periodic=True).numpy()
    left = (_FFT - _WINDOW) // 2
    return np.pad(window, [left, _FFT - _WINDOW - left]).astype(np.float32)


def _mel():
    return spectrogram.linear_to_mel_weight_matrix(_MELS, _FFT // 2 + 1, _RATE, 20.0,
                                                   _RATE / 2)


def _db(mel):
    return 10.0 * tf.math.log(tf.maximum(mel, _MIN_POWER)) / math.log(10.0)


def _before(stage):
    """The tf.signal frontend (`MelSpectrogram`'s code before), cut after `stage`."""
    def frontend(x):
        half = _FFT // 2
        x = tf.pad(x, [[0, 0], [half, half]], mode="REFLECT")
        if stage == "pad":
            return x
        frames = tf.signal.frame(x, _FFT, _STEP)
        if stage == "frame":
            return frames
        frames = frames * _window()
        if stage == "window":
            return frames
        stft = tf.signal.rfft(frames, [_FFT])
        if stage == "dft":
            return tf.math.real(stft)
        power = tf.pow(tf.sqrt(tf.square(tf.math.real(stft)) + tf.square(tf.math.imag(stft))),
                       2.0)
        if stage == "power":
            return power
        mel = tf.tensordot(power, _mel(), axes=1)
        return mel if stage == "mel" else _db(mel)
    return frontend


def _after(stage):
    """The `stft_ops` frontend (`MelSpectrogram`'s code now), cut after `stage`."""
    def frontend(x):
        if stage == "pad":
            return stft_ops.reflect_pad(x, _FFT, _STEP)
        frames = stft_ops.reflect_frames(x, _FFT, _STEP)
        if stage == "frame":
            return frames
        frames = frames * _window()
        if stage == "window":
            return frames
        needed = int(np.max(np.nonzero(np.any(_mel() != 0, axis=1))[0])) + 1
        power = stft_ops.power_spectrum(frames, _FFT, needed)
        if stage in ("dft", "power"):  # one function: its last matmul feeds the squares
            return power
        order = stft_ops.bin_order(_FFT, needed)
        rows = np.where((order < _FFT // 2 + 1)[:, None], _mel()[np.minimum(order, _FFT // 2)],
                        0.0).astype(np.float32)
        mel = tf.reshape(tf.matmul(tf.reshape(power, [-1, len(order)]), rows),
                         [-1, _FRAMES, _MELS])
        return mel if stage == "mel" else _db(mel)
    return frontend


_STAGES = ("pad", "frame", "window", "dft", "power", "mel", "log")


def _layer(x):
    """The zoo's frontend itself (`speech.log_mel_frontend`), as ds_cnn holds it."""
    return models.speech.log_mel_frontend(_RATE)(x)


@contextlib.contextmanager
def _rfft_path():
    """Files as before this change: `MelSpectrogram` on tf.signal's STFT for
    every clip, and int8 files with a float frontend not `compact`ed."""
    with mock.patch.object(stft_ops, "supports", lambda *args: False), \
            mock.patch.object(float_frontend, "compact", lambda flatbuffer: flatbuffer):
        yield


def _calibration():
    return (np.random.default_rng(0).standard_normal((64, _SAMPLES, 1)) * 0.1).astype(
        np.float32)


def _ds_cnn(filters):
    keras.utils.set_random_seed(0)
    return models.ds_cnn(filters, sample_rate=_RATE, input_shape=(_SAMPLES, 1),
                         num_classes=10)


def _clips(split, per_digit=None):
    x, y = [], []
    for digit in range(10):
        paths = sorted(glob.glob(os.path.join(_FSDD.value, split, str(digit), "*.wav")))
        for path in paths[::len(paths) // per_digit] if per_digit else paths:
            audio, _ = tf.audio.decode_wav(tf.io.read_file(path))
            audio = audio.numpy()[:_SAMPLES]
            x.append(np.pad(audio, [(0, _SAMPLES - len(audio)), (0, 0)]))
            y.append(digit)
    return np.stack(x).astype(np.float32), np.array(y)


def _table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")
    print()


def main(argv):
    del argv
    timing = {"num_threads": _THREADS.value, "rounds": _ROUNDS.value}
    stage_files = {}
    for form, build in (("before", _before), ("after", _after)):
        for stage in _STAGES:
            stage_files[(form, stage)] = _tflite(build(stage))
        with _rfft_path() if form == "before" else contextlib.nullcontext():
            stage_files[(form, "layer")] = _tflite(_layer)
    stage_files[("empty", "")] = _tflite(lambda x: x * 2.0)  # an invoke's own cost
    times = evaluate.compare_latency({f"{k[0]} {k[1]}": v for k, v in stage_files.items()},
                                     **timing)
    ms = {k: times[f"{k[0]} {k[1]}"]["median_ms"] for k in stage_files}
    print(f"Frontend alone, 8 kHz 1 s clips ({_FRAMES} frames of {_FFT}), ms per invoke "
          f"(an invoke of a one-MUL file: {ms[('empty', '')]:.4f} ms):\n")
    rows, previous = [], {"before": ms[("empty", "")], "after": ms[("empty", "")]}
    for stage in (*_STAGES, "layer"):
        if stage == "layer":  # not cumulative: the zoo's layer, to check the cuts add up
            previous = {"before": ms[("empty", "")], "after": ms[("empty", "")]}
        row = [stage if stage != "layer" else "log_mel_frontend layer"]
        for form in ("before", "after"):
            row += [f"{ms[(form, stage)]:.4f}", f"{ms[(form, stage)] - previous[form]:+.4f}"]
            previous[form] = ms[(form, stage)]
        row += [len(stage_files[("before", stage)]), len(stage_files[("after", stage)])]
        rows.append(row)
    _table(["up to stage", "before ms", "stage", "after ms", "stage", "before bytes",
            "after bytes"], rows)

    files = {}
    with _rfft_path():
        reference = _ds_cnn(64)
        files["float, before"] = converter.convert(reference)
        files["int8, before"] = converter.convert(reference, quantization="int8",
                                                  representative_data=_calibration())
    files["float, after"] = converter.convert(reference)
    with mock.patch.object(float_frontend, "compact", lambda flatbuffer: flatbuffer):
        files["int8, after, not compact"] = converter.convert(
            reference, quantization="int8", representative_data=_calibration())
    for width in _WIDTHS.value:
        model = reference if int(width) == 64 else _ds_cnn(int(width))
        files[f"int8 ds_cnn:{width}, after"] = converter.convert(
            model, quantization="int8", representative_data=_calibration())
    times = evaluate.compare_latency(files, **timing)
    base = times["int8, before"]["median_ms"], len(files["int8, before"])
    print("Whole ds_cnn files (8 kHz 1 s clips), against the reference int8 file "
          "before:\n")
    rows = []
    for name, flatbuffer in files.items():
        parts = file_parts.bytes_by_part(flatbuffer)
        t = times[name]["median_ms"]
        rows.append([name, f"{t:.4f}", f"{base[0] / t:.2f}x", parts["total"],
                     f"{base[1] / parts['total']:.2f}x", parts["float constants"],
                     parts["int constants"], parts["quantization params"],
                     parts["tensor names"], parts["rest"]])
    _table(["file", "ms", "faster", "bytes", "smaller", "float consts", "int consts",
            "quant params", "names", "rest"], rows)

    if _TRAINED.value:
        model = tfcompress.load_keras_model(_TRAINED.value)
        x, y = _clips("test")
        calibration, _ = _clips("train", per_digit=10)
        trained = {}
        with _rfft_path():
            trained["before"] = converter.convert(model, quantization="int8",
                                                  representative_data=calibration)
        trained["after"] = converter.convert(model, quantization="int8",
                                             representative_data=calibration)
        keras_accuracy = np.mean(np.argmax(model.predict(x, verbose=0), 1) == y)
        rows = []
        for form, flatbuffer in trained.items():
            logits = TFLiteRunner(flatbuffer).run_each(x)
            rows.append([form, f"{np.mean(np.argmax(logits, 1) == y):.2%}", len(flatbuffer)])
        print(f"Trained {_TRAINED.value} (Keras {keras_accuracy:.2%}), int8 calibrated on "
              f"{len(calibration)} training clips, on FSDD's {len(y)} official test "
              "clips:\n")
        _table(["frontend", "int8 accuracy", "bytes"], rows)


if __name__ == "__main__":
    app.run(main)
