"""Prune a trained MNIST model with tfcompress, guided by layer sensitivity.

A script to copy and change: train (or load) LeNet-300-100, measure how much
each layer can be pruned alone, plan per-layer targets for an overall
sparsity, prune while distilling from the dense model, strip and export.

  python examples/mnist_prune.py --sparsity=0.9 --epochs=6
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
from tfcompress import prune
from tfcompress._keras import keras

_MODEL = flags.DEFINE_string("model", None, "Trained .keras model; LeNet-300-100 is "
                             "trained here when not given.")
_TRAIN_EPOCHS = flags.DEFINE_integer("train_epochs", 10, "Epochs to train the dense "
                                     "model when --model is not given.", lower_bound=1)
_SPARSITY = flags.DEFINE_float("sparsity", 0.9, "Overall target sparsity.")
_EPOCHS = flags.DEFINE_integer("epochs", 6, "Pruning + fine-tuning epochs.",
                               lower_bound=2)
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "saved_models/example_prune",
                                  "Where the pruned model is exported.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    keras.utils.set_random_seed(_SEED.value)
    train = data.load("mnist", "train[5000:]", shuffle=True, seed=_SEED.value)
    val = data.load("mnist", "train[:5000]")
    test = data.load("mnist", "test")
    if _MODEL.value:
        dense = tfcompress.load_keras_model(_MODEL.value)
    else:
        dense = models.lenet_300_100()
        tfcompress.train_classifier(dense, train, epochs=_TRAIN_EPOCHS.value,
                                    validation_data=val)
    print("Dense:", tfcompress.evaluate_classifier(dense, test))

    analysis = prune.sensitivity.analyze(dense, val)
    print(prune.sensitivity.format_table(analysis))
    targets = prune.sensitivity.plan(analysis, _SPARSITY.value)
    print("Per-layer targets:", targets)

    # Sparsity ramps up over the first two thirds of the epochs, then holds.
    steps_per_epoch = int(train.cardinality())
    begin, end = prune.epochs_to_steps(0, 2 * _EPOCHS.value // 3, steps_per_epoch)
    pruned = prune.prune(dense, sparsity=targets, begin_step=begin, end_step=end)
    distiller = distill.Distiller(pruned.model, dense, temperature=4.0, alpha=0.1)
    distiller.compile(keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    distiller.fit(train, epochs=_EPOCHS.value, validation_data=val,
                  callbacks=prune.callbacks())  # forget these: a clear error

    stripped = prune.strip(pruned.model)
    print(prune.format_report(prune.sparsity_report(stripped)))
    print("Pruned:", tfcompress.evaluate_classifier(stripped, test))
    path = os.path.join(_OUTPUT_DIR.value, "pruned.tflite")
    tfcompress.export_tflite(stripped, path,
                             check_inputs=data.examples_of_every_class("mnist", "test"))
    print(f"Wrote {path}:", tfcompress.artifact_size(path))


if __name__ == "__main__":
    app.run(main)
