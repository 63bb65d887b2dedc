"""Compress an SMS spam classifier with tfcompress: distill, prune, int8.

A script to copy and change. On a file of `label<TAB>text` lines (the UCI SMS
Spam Collection by default) it trains a teacher, trains a student 4x smaller
twice from the same initial weights (alone on the labels, and distilled from
the teacher), prunes the distilled student while distilling again, converts
it to int8 and measures every step on the test split: accuracy and the
precision, recall and F1 of the spam class (the minority, which accuracy
hides: always saying "ham" is 87% accurate). The .tflite file takes int32
token ids; vocabulary.txt beside it turns new text into them.

  python examples/sms_spam.py --teacher_epochs=8 --epochs=8
"""

import os

import numpy as np
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
from tfcompress.runtime import TFLiteRunner

_DATA = flags.DEFINE_string(
    "data", "../shared/data/sms_spam/SMSSpamCollection",
    "A file of `label<TAB>text` lines; split 80/10/10 into train, val and test "
    "(seeded), the vocabulary fitted on train only.")
_TRAIN_SPLIT = flags.DEFINE_string("train_split", "train",
                                   "Training split, e.g. train[:500] for a quick run.")
_TEACHER = flags.DEFINE_string("teacher", "text_cnn:64,128", "Teacher model spec.")
_STUDENT = flags.DEFINE_string("student", "text_cnn:16,32",
                               "Student model spec (embedding dims set most of the size).")
_TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 8, "Teacher epochs.",
                                       lower_bound=1)
_EPOCHS = flags.DEFINE_integer("epochs", 8, "Student epochs (alone and distilled).",
                               lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Adam's learning rate.",
                                    lower_bound=0.0)
_SPARSITY = flags.DEFINE_float("sparsity", 0.8, "Sparsity of the pruned student.")
_PRUNE_EPOCHS = flags.DEFINE_integer("prune_epochs", 4, "Pruning + fine-tuning epochs.",
                                     lower_bound=2)
_TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "Distillation temperature.")
_ALPHA = flags.DEFINE_float("alpha", 0.5, "Weight of the hard-label loss.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "saved_models/example_sms_spam",
                                  "Where spam.tflite and vocabulary.txt are written.")


def _describe(metrics):
    return (f"accuracy {metrics['accuracy']:.2%}, spam precision "
            f"{metrics['precision']:.2%}, recall {metrics['recall']:.2%}, "
            f"F1 {metrics['f1']:.3f}")


def _distill(student, teacher, train, val, epochs, callbacks=()):
    distiller = distill.Distiller(student, teacher, temperature=_TEMPERATURE.value,
                                  alpha=_ALPHA.value)
    distiller.compile(keras.optimizers.Adam(_LEARNING_RATE.value), metrics=["accuracy"])
    distiller.fit(train, epochs=epochs, validation_data=val, callbacks=list(callbacks),
                  verbose=2)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    dataset = "tsv:" + _DATA.value
    source = data.open_source(dataset)  # the split and the vocabulary, once
    sizes = {"num_classes": source.num_classes, "vocab_size": source.vocabulary_size,
             "sequence_length": source.sequence_length}
    print(f"{dataset}: {source.split_sizes} examples, classes {source.class_names}, "
          f"{source.vocabulary_size:,} tokens, {source.sequence_length} ids per text")
    keras.utils.set_random_seed(_SEED.value)
    train = data.load(dataset, _TRAIN_SPLIT.value, batch_size=_BATCH_SIZE.value,
                      shuffle=True, seed=_SEED.value)
    val, test = data.load(dataset, "val"), data.load(dataset, "test")

    labels = np.concatenate([y for _, y in data.load(dataset, _TRAIN_SPLIT.value)])
    majority = np.bincount(labels).argmax()
    test_labels = np.concatenate([y for _, y in test])
    print(f"Majority class ({source.class_names[majority]}) on test: accuracy "
          f"{np.mean(test_labels == majority):.2%}, spam F1 0.000")

    teacher = models.build(_TEACHER.value, **sizes)
    tfcompress.train_classifier(teacher, train, epochs=_TEACHER_EPOCHS.value,
                                learning_rate=_LEARNING_RATE.value,
                                validation_data=val, verbose=2)
    print(f"Teacher ({teacher.count_params():,} parameters):",
          _describe(tfcompress.evaluate_classifier(teacher, test)))

    keras.utils.set_random_seed(_SEED.value)
    alone = models.build(_STUDENT.value, **sizes)
    student = keras.models.clone_model(alone)  # same architecture...
    student.set_weights(alone.get_weights())  # ...and the same start
    tfcompress.train_classifier(alone, train, epochs=_EPOCHS.value,
                                learning_rate=_LEARNING_RATE.value,
                                validation_data=val, verbose=2)
    print(f"Student alone ({alone.count_params():,} parameters):",
          _describe(tfcompress.evaluate_classifier(alone, test)))
    _distill(student, teacher, train, val, _EPOCHS.value)
    print("Student distilled:", _describe(tfcompress.evaluate_classifier(student, test)))

    # Sparsity ramps up over the first half of the epochs, then holds (masks
    # updated at a frequency that lands on the ramp's end, so the target is
    # reached); TFMOT prunes the embedding and the Conv1D (or LSTM) kernels alike.
    steps_per_epoch = int(train.cardinality())
    begin, end = prune.epochs_to_steps(0, _PRUNE_EPOCHS.value // 2, steps_per_epoch)
    pruned = prune.prune(student, sparsity=_SPARSITY.value, begin_step=begin,
                         end_step=end)
    _distill(pruned.model, teacher, train, val, _PRUNE_EPOCHS.value,
             callbacks=prune.callbacks())
    stripped = prune.strip(pruned.model)
    print(prune.format_report(prune.sparsity_report(stripped)))
    print("Student pruned:", _describe(tfcompress.evaluate_classifier(stripped, test)))

    # Post-training int8: TFMOT has no quantization-aware training for
    # Embedding or recurrent layers. The calibration reads training token ids.
    path = os.path.join(_OUTPUT_DIR.value, "spam.tflite")
    tfcompress.export_tflite(stripped, path, quantization="int8",
                             representative_data=data.load(dataset, _TRAIN_SPLIT.value),
                             check_inputs=data.examples_of_every_class(dataset, "test"))
    vocabulary = data.write_vocabulary(source.vocabulary, _OUTPUT_DIR.value)
    print(f"int8 file {path}:", _describe(tfcompress.evaluate_tflite(path, test)),
          tfcompress.artifact_size(path))

    # New text -> token ids -> the file; class 1 is "spam" (class_names).
    texts = ["WINNER! Claim your free prize now, text WIN to 80086",
             "Are we still on for lunch tomorrow?"]
    ids = data.text_to_ids(texts, vocabulary, source.sequence_length)
    for text, logits in zip(texts, TFLiteRunner(path)(ids)):
        print(f"{source.class_names[int(np.argmax(logits))]:>5}: {text}")


if __name__ == "__main__":
    app.run(main)
