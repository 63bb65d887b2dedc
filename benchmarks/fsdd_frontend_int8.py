"""int8 with the audio frontend quantized, against int8 keeping it in float.

A small ds_cnn trained briefly on FSDD clips (8 kHz, padded or cropped to
1 s), then exported: float, int8 as the converter makes it on its own (the
samples and the frontend quantized where it can), and tfcompress's int8
(the frontend float, `export.float_frontend`). Prints each file's test
accuracy, top-1 agreement with Keras and max logit error, and the ops each
file computes in float.

    .venv/bin/python benchmarks/fsdd_frontend_int8.py [--per_digit=60] [--epochs=15]
"""

import glob
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

from tfcompress import export
from tfcompress import models
from tfcompress._keras import keras
from tfcompress.export import converter as converter_lib
from tfcompress.export import float_frontend
from tfcompress.runtime import TFLiteRunner

_FSDD = flags.DEFINE_string("fsdd", "/work/shared/data/fsdd", "FSDD folder.")
_PER_DIGIT = flags.DEFINE_integer("per_digit", 60, "Training clips per digit.")
_EPOCHS = flags.DEFINE_integer("epochs", 15, "Training epochs (batches of 16).")
_FILTERS = flags.DEFINE_integer("filters", 64, "ds_cnn width.")
_RATE = 8000


def clips(split, per_digit=None):
    x, y = [], []
    for digit in range(10):
        files = sorted(glob.glob(os.path.join(_FSDD.value, split, str(digit), "*.wav")))
        if per_digit:
            files = files[::max(1, len(files) // per_digit)][:per_digit]
        for path in files:
            audio, _ = tf.audio.decode_wav(tf.io.read_file(path))
            audio = audio.numpy()[:_RATE]
            x.append(np.pad(audio, [(0, _RATE - len(audio)), (0, 0)]))
            y.append(digit)
    return np.stack(x).astype(np.float32), np.array(y)


def main(argv):
    del argv
    x_train, y_train = clips("train", _PER_DIGIT.value)
    x_test, y_test = clips("test")
    keras.utils.set_random_seed(0)
    model = models.build(f"ds_cnn:{_FILTERS.value}", input_shape=(_RATE, 1),
                         sample_rate=_RATE, num_classes=10)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    start = time.perf_counter()
    # Batches of 16: enough steps (about 40 an epoch) for batch norm's moving
    # statistics (momentum 0.99) to reach the data's.
    model.fit(x_train, y_train, batch_size=16, epochs=_EPOCHS.value, verbose=0)
    print(f"trained {_EPOCHS.value} epochs on {len(x_train)} clips in "
          f"{time.perf_counter() - start:.0f} s")
    expected = model.predict(x_test, verbose=0)
    print(f"keras: test accuracy {np.mean(expected.argmax(1) == y_test):.2%}")
    with tempfile.TemporaryDirectory() as tmp:
        files = {"float": os.path.join(tmp, "float.tflite"),
                 "int8, frontend float": os.path.join(tmp, "int8.tflite"),
                 "int8, frontend quantized": os.path.join(tmp, "naive.tflite")}
        export.export_tflite(model, files["float"], check_inputs=x_test)
        export.export_tflite(model, files["int8, frontend float"], quantization="int8",
                             representative_data=x_train, check_inputs=x_test)
        naive = converter_lib.make_converter(  # the converter on its own
            model, quantization="int8", representative_data=x_train).convert()
        with open(files["int8, frontend quantized"], "wb") as f:
            f.write(naive)
        for name, path in files.items():
            actual = TFLiteRunner(path).run_each(x_test)
            print(f"{name}: test accuracy {np.mean(actual.argmax(1) == y_test):.2%}, "
                  f"top-1 agreement with Keras {np.mean(actual.argmax(1) == expected.argmax(1)):.2%}, "
                  f"max |logit error| {np.max(np.abs(actual - expected)):.3g}; float ops: "
                  f"{', '.join(float_frontend.float_ops(path))}")


if __name__ == "__main__":
    app.run(main)
