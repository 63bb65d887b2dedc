"""Distill a small MNIST student from a bigger teacher with tfcompress.

A script to copy and change. It trains the teacher first unless --teacher
names a trained one (a .keras file), then trains the student twice from the
same initial weights: alone, and through the Distiller with the teacher cache.

  python examples/mnist_distill.py --teacher_epochs=10 --epochs=10
"""

import os

from absl import app
from absl import flags

from tfcompress import quiet

quiet.start()  # before TensorFlow loads, so its start-up lines stay hidden

# pylint: disable=g-import-not-at-top
import tfcompress
from tfcompress import data
from tfcompress import distill
from tfcompress import models
from tfcompress._keras import keras

_TEACHER = flags.DEFINE_string("teacher", None, "Trained teacher .keras file; "
                               "trained here (mlp:1200,1200) when not given.")
_TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 10, "Teacher epochs.",
                                       lower_bound=1)
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Student epochs.", lower_bound=1)
_TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "Distillation temperature.")
_ALPHA = flags.DEFINE_float("alpha", 0.1, "Weight of the hard-label loss.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "saved_models/example_distill",
                                  "Where the distilled student is exported.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    keras.utils.set_random_seed(_SEED.value)
    train = data.load("mnist", "train[5000:]", shuffle=True, seed=_SEED.value)
    val = data.load("mnist", "train[:5000]")
    test = data.load("mnist", "test")

    if _TEACHER.value:
        teacher = tfcompress.load_keras_model(_TEACHER.value)
    else:
        teacher = models.mlp((1200, 1200), dropout=0.5)
        tfcompress.train_classifier(teacher, train, epochs=_TEACHER_EPOCHS.value,
                                    validation_data=val)
    print("Teacher:", tfcompress.evaluate_classifier(teacher, test))

    keras.utils.set_random_seed(_SEED.value)
    alone = models.mlp((800, 800))
    distilled = keras.models.clone_model(alone)  # same architecture...
    distilled.set_weights(alone.get_weights())  # ...and the same start

    tfcompress.train_classifier(alone, train, epochs=_EPOCHS.value,
                                validation_data=val)
    print("Student alone:", tfcompress.evaluate_classifier(alone, test))

    distiller = distill.Distiller(distilled, teacher, temperature=_TEMPERATURE.value,
                                  alpha=_ALPHA.value)
    distiller.compile(keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    # The teacher runs once over the (unshuffled) training split; its logits
    # then travel with their examples through every epoch's shuffle.
    cached_train = distill.with_teacher_outputs(
        distiller, data.load("mnist", "train[5000:]"), batch_size=128,
        seed=_SEED.value)
    tfcompress.training.fit(distiller, cached_train, epochs=_EPOCHS.value,
                            validation_data=val)
    print("Student distilled:", tfcompress.evaluate_classifier(distilled, test))

    path = os.path.join(_OUTPUT_DIR.value, "student.tflite")
    check_batch = data.examples_of_every_class("mnist", "test")  # real images to check on
    tfcompress.export_tflite(distilled, path, check_inputs=check_batch)
    print(f"Wrote {path}:", tfcompress.artifact_size(path))


if __name__ == "__main__":
    app.run(main)
