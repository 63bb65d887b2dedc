"""Spoken digits: a Keras 3 user's audio model, pruned and exported by tfcompress.

A script to copy and change. It loads the Free Spoken Digit Dataset's clips
the way Keras 3 users do (`keras.utils.audio_dataset_from_directory`),
builds a model whose first layer is Keras 3's own `MelSpectrogram`, so the
model takes raw samples and a device needs no feature code, trains it with
`fit`, then prunes it to 50% with tfcompress (`prune.prune`, `fit` with
`prune.callbacks()`, `prune.strip`, which hands a Keras 3 model back) and
writes a checked int8 .tflite file, whose log-mel frontend stays float
(README, "Audio models"). Last, it runs that file on the
test folder as a device would, one clip per invoke, and prints the Keras and
TFLite accuracies. A full run takes about 2 minutes on 2 cores.

  python examples/spoken_digits.py --epochs=15   # from the project root

FSDD's layout: DATA/train/<digit>/<speaker>_<i>.wav (2,700 clips) and
DATA/test/... (300), mono 16-bit WAV at 8 kHz, 0.14 to 2.3 s long.
"""

import math
import os
import wave

from absl import app
from absl import flags

from tfcompress import quiet

quiet.start()  # before TensorFlow loads, so its start-up lines stay hidden

# pylint: disable=g-import-not-at-top
import keras  # Keras 3: what `import keras` gives with TensorFlow 2.16+
import numpy as np
import tensorflow as tf  # tf.data, which audio_dataset_from_directory returns
from ai_edge_litert.interpreter import Interpreter

import tfcompress
from tfcompress import prune

_DATA = flags.DEFINE_string("data", "../shared/data/fsdd",
                            "Folder with train/<digit>/*.wav and test/<digit>/*.wav.")
_EPOCHS = flags.DEFINE_integer("epochs", 15, "Training epochs.", lower_bound=1)
_PRUNE_EPOCHS = flags.DEFINE_integer("prune_epochs", 5, "Pruning + fine-tuning epochs.",
                                     lower_bound=1)
_SPARSITY = flags.DEFINE_float("sparsity", 0.5, "Sparsity of the pruned model.")
_MAX_CLIPS = flags.DEFINE_integer(
    "max_clips", None, "Train on this many clips only (a quick run); default: all of "
    "the training split.", lower_bound=1)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "saved_models/example_spoken_digits",
                                  "Where model.keras, pruned.keras and int8.tflite go.")

SAMPLE_RATE = 8000  # FSDD's; the spectrogram's mel bands are placed for it
CLIP_SAMPLES = SAMPLE_RATE  # 1 s: shorter clips are padded with zeros, longer cut
BATCH_SIZE = 32


def _check_sample_rate(folder):
    """Every clip must be at SAMPLE_RATE: the loader does not resample.

    (audio_dataset_from_directory resamples only with tensorflow-io installed.)
    """
    for root, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".wav"):
                with wave.open(os.path.join(root, name)) as clip:
                    if clip.getframerate() != SAMPLE_RATE:
                        raise app.UsageError(
                            f"{os.path.join(root, name)} is at {clip.getframerate()} Hz; "
                            f"this script expects {SAMPLE_RATE} Hz clips (FSDD's).")


def _clips(folder, **kwargs):
    """(samples, label) examples of a folder, 1 s each, unbatched."""
    return keras.utils.audio_dataset_from_directory(
        folder, batch_size=None, output_sequence_length=CLIP_SAMPLES, seed=0,
        verbose=False, **kwargs)


def _mono(dataset):
    # decode_wav gives (samples, channels); the model takes (samples,).
    return dataset.map(lambda audio, label: (tf.squeeze(audio, axis=-1), label))


def _load():
    train, val = _clips(os.path.join(_DATA.value, "train"), validation_split=0.2,
                        subset="both")
    test = _clips(os.path.join(_DATA.value, "test"), shuffle=False)
    if test.class_names != train.class_names:
        raise app.UsageError(f"test/ has classes {test.class_names}, train/ has "
                             f"{train.class_names}: they must be the same folders.")
    class_names = train.class_names
    train = _mono(train)
    if _MAX_CLIPS.value:
        train = train.take(_MAX_CLIPS.value)  # of the seeded shuffle: every digit
    # Decoded once, then reshuffled every epoch.
    train = train.cache().shuffle(2048, seed=0).batch(BATCH_SIZE).prefetch(2)
    val = _mono(val).cache().batch(BATCH_SIZE)
    return train, val, _mono(test).cache().batch(BATCH_SIZE), class_names


def _model(num_classes):
    inputs = keras.Input((CLIP_SAMPLES,), name="samples")
    # 30 ms windows every 20 ms, 40 mel bands in dB: (40, 51) per clip.
    # top_db=inf: no clip. Keras 3's default top_db=80 clips against the
    # loudest value of the whole batch, so a clip's features would depend
    # on its batchmates, while a device sees one clip at a time (Keras 3
    # takes no top_db=None; tfcompress reads inf as its per-clip None).
    x = keras.layers.MelSpectrogram(
        fft_length=256, sequence_length=240, sequence_stride=160, sampling_rate=SAMPLE_RATE,
        num_mel_bins=40, top_db=math.inf, min_power=1e-6, name="log_mel")(inputs)
    frames = CLIP_SAMPLES // 160 + 1
    x = keras.layers.Permute((2, 1))(x)  # (time, bands)
    x = keras.layers.Reshape((frames, 40, 1))(x)
    # min_power=1e-6 floors silence (and the zero padding) at -60 dB; loud
    # speech is about +40 dB. Mapped to 0 ... 2.5: silence is 0, as the
    # convolutions' own zero padding, and the features are near unit scale.
    x = keras.layers.Rescaling(1 / 40, offset=1.5)(x)
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(num_classes)(x)  # logits: tfcompress checks logits
    return keras.Model(inputs, outputs, name="spoken_digits")


def _compile(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])


def _keras_accuracy(model, test):
    labels = np.concatenate([y.numpy() for _, y in test])
    return float(np.mean(np.argmax(model.predict(test, verbose=0), -1) == labels))


def _tflite_accuracy(path, test):
    """As a device runs the file: one clip of float samples per invoke."""
    interpreter = Interpreter(model_path=path)  # XNNPACK, as on a device
    interpreter.allocate_tensors()
    model_input = interpreter.get_input_details()[0]
    model_output = interpreter.get_output_details()[0]
    print(f"The int8 file takes {model_input['dtype'].__name__} samples "
          f"{list(model_input['shape'])}, one clip per invoke.")
    correct = total = 0
    for clips, labels in test:
        for clip, label in zip(clips.numpy(), labels.numpy()):
            interpreter.set_tensor(model_input["index"], clip[np.newaxis])
            interpreter.invoke()  # nothing to reset between clips
            logits = interpreter.get_tensor(model_output["index"])[0]
            correct += int(np.argmax(logits) == label)
            total += 1
    return correct / total, total


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    _check_sample_rate(_DATA.value)
    keras.utils.set_random_seed(0)
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    train, val, test, class_names = _load()

    model = _model(len(class_names))
    steps_per_epoch = int(train.cardinality())
    # Decayed to 0 along a cosine over the run: a steady end.
    _compile(model, keras.optimizers.schedules.CosineDecay(
        3e-3, decay_steps=steps_per_epoch * _EPOCHS.value))
    model.fit(train, epochs=_EPOCHS.value, validation_data=val, verbose=2)
    model.save(os.path.join(_OUTPUT_DIR.value, "model.keras"))
    print(f"Keras model: test accuracy {_keras_accuracy(model, test):.2%}")

    # Pruning trains a tf_keras copy (TFMOT's; the spectrogram has no
    # weights and is left alone); strip() hands Keras 3 back.
    steps = steps_per_epoch * _PRUNE_EPOCHS.value
    result = prune.prune(model, sparsity=_SPARSITY.value, end_step=max(1, steps * 2 // 3))
    # A number: the tf_keras copy cannot rebuild a Keras 3 schedule.
    _compile(result.model, 3e-4)
    result.model.fit(train, epochs=_PRUNE_EPOCHS.value, validation_data=val, verbose=2,
                     callbacks=prune.callbacks())
    pruned = prune.strip(result.model)
    if not isinstance(pruned, keras.Model):
        raise RuntimeError(f"prune.strip handed back a {type(pruned)}, not Keras 3.")
    print(f"Pruned model handed back: {type(pruned).__module__}.{type(pruned).__name__}")
    print(prune.format_report(prune.sparsity_report(pruned)))
    pruned_path = os.path.join(_OUTPUT_DIR.value, "pruned.keras")
    pruned.save(pruned_path)
    reloaded = keras.saving.load_model(pruned_path)
    clips = next(iter(test))[0]
    difference = float(np.max(np.abs(reloaded.predict(clips, verbose=0)
                                     - pruned.predict(clips, verbose=0))))
    print(f"pruned.keras reloads with keras.saving.load_model: "
          f"{type(reloaded).__module__}, logits within {difference:.1e} of the model's")

    # int8: calibrated on training clips, checked in LiteRT against Keras on
    # validation clips before it is written. The frontend stays float.
    path = os.path.join(_OUTPUT_DIR.value, "int8.tflite")
    tfcompress.export_tflite(pruned, path, quantization="int8", representative_data=train,
                             check_inputs=val)
    keras_accuracy = _keras_accuracy(pruned, test)
    tflite_accuracy, clips_run = _tflite_accuracy(path, test)
    print(f"Pruned Keras model: test accuracy {keras_accuracy:.2%} on {clips_run} clips")
    print(f"int8 file {path}: test accuracy {tflite_accuracy:.2%} on {clips_run} clips, "
          f"one per invoke; {tfcompress.artifact_size(path)}")


if __name__ == "__main__":
    app.run(main)
