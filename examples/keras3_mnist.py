"""A Keras 3 user's script: `import keras`, build, fit, then tfcompress.

A script to copy and change. It trains a teacher and a smaller student the
way Keras 3 users do (`keras.Sequential`, `compile`, `fit`), then uses
tfcompress on those Keras 3 models: distills the student from the teacher,
prunes it to 80% with Keras 3 callbacks in `fit`, and writes a checked int8
.tflite file. Every model it gets back is a Keras 3 model, and every .keras
file it writes loads with `keras.saving.load_model`.

  python examples/keras3_mnist.py --epochs=3
"""

import os

from absl import app
from absl import flags

from tfcompress import quiet

quiet.start()  # before TensorFlow loads, so its start-up lines stay hidden

# pylint: disable=g-import-not-at-top
import keras  # Keras 3: what `import keras` gives with TensorFlow 2.16+

import tfcompress
from tfcompress import data
from tfcompress import prune

_EPOCHS = flags.DEFINE_integer("epochs", 3, "Epochs of each training step.",
                               lower_bound=1)
_TRAIN_SPLIT = flags.DEFINE_string("train_split", "train[5000:]",
                                   "Training split, e.g. train[5000:15000] for a quick run.")
_SPARSITY = flags.DEFINE_float("sparsity", 0.8, "Sparsity of the pruned student.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "saved_models/example_keras3",
                                  "Where student.keras, pruned.keras and int8.tflite go.")


def _mlp(widths, name):
    return keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten()]
        + [keras.layers.Dense(width, activation="relu") for width in widths]
        + [keras.layers.Dense(10)],  # logits: tfcompress distills and checks logits
        name=name)


def _compile(model):
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    keras.utils.set_random_seed(0)
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    # tf.data pipelines of (image, label) batches; any Keras 3 input works too.
    train = data.load("mnist", _TRAIN_SPLIT.value, shuffle=True, seed=0)
    val, test = data.load("mnist", "train[:5000]"), data.load("mnist", "test")

    teacher, student = _mlp((1200, 1200), "teacher"), _mlp((300, 100), "student")
    for model in (teacher, student):
        _compile(model)
    teacher.fit(train, epochs=_EPOCHS.value, validation_data=val, verbose=2)
    print("Teacher:", tfcompress.evaluate_classifier(teacher, test))

    # Distillation trains your Keras 3 student: `distiller.student` is it.
    distiller = tfcompress.Distiller(student, teacher, temperature=4.0, alpha=0.1)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(train, epochs=_EPOCHS.value, validation_data=val, verbose=2,
                  callbacks=[keras.callbacks.EarlyStopping(
                      monitor="val_accuracy", patience=2, restore_best_weights=True)])
    student.save(os.path.join(_OUTPUT_DIR.value, "student.keras"))
    print("Student distilled:", tfcompress.evaluate_classifier(student, test))

    # Pruning trains a tf_keras copy (TFMOT's); strip() hands Keras 3 back.
    steps = int(train.cardinality()) * _EPOCHS.value
    result = prune.prune(student, sparsity=_SPARSITY.value, end_step=steps // 2)
    _compile(result.model)
    result.model.fit(train, epochs=_EPOCHS.value, validation_data=val, verbose=2,
                     callbacks=prune.callbacks() + [keras.callbacks.CSVLogger(
                         os.path.join(_OUTPUT_DIR.value, "pruning.csv"))])
    pruned = prune.strip(result.model)
    pruned.save(os.path.join(_OUTPUT_DIR.value, "pruned.keras"))
    print(f"Pruned ({type(pruned).__module__}):",
          tfcompress.evaluate_classifier(pruned, test))
    print(prune.format_report(prune.sparsity_report(pruned)))

    path = os.path.join(_OUTPUT_DIR.value, "int8.tflite")
    tfcompress.export_tflite(pruned, path, quantization="int8", representative_data=train,
                             check_inputs=data.examples_of_every_class("mnist", "test"))
    print("int8 file:", tfcompress.evaluate_tflite(path, test),
          tfcompress.artifact_size(path))


if __name__ == "__main__":
    app.run(main)
