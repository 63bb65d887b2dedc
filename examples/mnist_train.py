"""Train LeNet-300-100 on MNIST and export it, with the tfcompress library.

A script to copy and change: it uses the library functions directly (the
`tfcompress train` command does the same with more checks and a summary).

  python examples/mnist_train.py --epochs=10 --output_dir=/tmp/lenet
"""

import os

from absl import app
from absl import flags

from tfcompress import quiet

quiet.start()  # before TensorFlow loads, so its start-up lines stay hidden

# pylint: disable=g-import-not-at-top
import tfcompress
from tfcompress import data
from tfcompress import models
from tfcompress._keras import keras

_EPOCHS = flags.DEFINE_integer("epochs", 10, "Training epochs.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "saved_models/example_lenet",
                                  "Where the exports go.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    keras.utils.set_random_seed(_SEED.value)
    train = data.load("mnist", "train[5000:]", shuffle=True, seed=_SEED.value)
    val = data.load("mnist", "train[:5000]")
    test = data.load("mnist", "test")

    model = models.lenet_300_100()
    tfcompress.train_classifier(model, train, epochs=_EPOCHS.value,
                                validation_data=val)
    print("Test:", tfcompress.evaluate_classifier(model, test))

    check_batch = data.examples_of_every_class("mnist", "test")  # real images to check on
    tflite_path = os.path.join(_OUTPUT_DIR.value, "model.tflite")
    result = tfcompress.export_tflite(model, tflite_path, check_inputs=check_batch)
    print(f"Wrote {tflite_path} (max abs diff vs Keras {result.max_abs_diff:.2g}),",
          tfcompress.artifact_size(tflite_path))
    print("TFLite test:", tfcompress.evaluate_tflite(tflite_path, test))


if __name__ == "__main__":
    app.run(main)
