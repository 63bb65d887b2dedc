"""Accuracy and loss of a Keras model or a .tflite file on a dataset.

For a model with 2 outputs, also precision, recall and F1 of the positive
class (`binary_metrics`).
"""

import functools

import numpy as np
import tensorflow as tf

from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.data import inputs
from tfcompress.runtime import TFLiteRunner
from tfcompress.keras3 import accepts_keras3


def binary_metrics(confusion):
    """Precision, recall and F1 of the positive class of a 2-class confusion count.

    The positive class is the minority class of the labels (class 1 on a
    tie): on imbalanced data it is the class accuracy hides. A ratio whose
    denominator is 0 is 0.0, as scikit-learn's `zero_division=0`: precision
    when nothing is predicted positive, recall when no label is positive
    (every label is the other class), F1 when precision and recall are both 0.

    Args:
      confusion: int array [2, 2], `confusion[label, prediction]` = examples.

    Returns:
      {"precision", "recall", "f1": float, "positive_class": 0 or 1}.
    """
    confusion = np.asarray(confusion)
    label_counts = confusion.sum(axis=1)
    positive = 0 if label_counts[0] < label_counts[1] else 1
    true_positives = int(confusion[positive, positive])
    predicted_positive = int(confusion[:, positive].sum())
    labelled_positive = int(label_counts[positive])
    precision = true_positives / predicted_positive if predicted_positive else 0.0
    recall = true_positives / labelled_positive if labelled_positive else 0.0
    f1 = (2 * precision * recall / (precision + recall)) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "positive_class": positive}


def _confusion(labels, predictions):
    """[2, 2] counts of one batch of 2-class labels and predictions."""
    return np.bincount(labels * 2 + predictions, minlength=4).reshape(2, 2)


def _accumulate(batches):
    """Metrics from (logits, labels) numpy pairs, counted batch by batch.

    Accuracy and mean cross-entropy; for 2-class logits also `binary_metrics`.
    """
    correct, loss_sum, count = 0, 0.0, 0
    confusion = np.zeros((2, 2), np.int64)  # [label, prediction], if 2 classes
    two_classes = False
    for logits, labels in batches:
        labels = labels.astype(np.int64)
        predictions = np.argmax(logits, axis=-1)
        correct += int(np.sum(predictions == labels))
        loss_sum += float(tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)))
        count += len(labels)
        two_classes = logits.shape[-1] == 2
        if two_classes:  # after the loss, which rejects labels outside 0..1
            confusion += _confusion(labels, predictions)
    if count == 0:
        raise _empty_error()
    metrics = {"accuracy": correct / count, "loss": loss_sum / count,
               "num_examples": count}
    if two_classes:
        metrics.update(binary_metrics(confusion))
    return metrics


def _empty_error():
    return ValueError("The dataset is empty (`data` yields no examples): nothing to "
                      "evaluate. Pass a dataset of at least one (x, y) batch (is the "
                      "split empty?).")


def _check_data(data):
    """`data` as a finite tf.data.Dataset of batches not known to be empty, or raises."""
    data = inputs.as_batches(data)
    if data.cardinality() == 0:
        raise _empty_error()
    if data.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError("`data` is infinite (repeat()?): pass one pass over the "
                         "examples to evaluate on.")
    return data


@accepts_keras3("model")
def evaluate_classifier(model, data):
    """Top-1 accuracy and mean cross-entropy of a logits model.

    Does not need the model to be compiled and leaves it as it is.

    Args:
      model: tf_keras model that outputs logits.
      data: `tf.data.Dataset` of (x, y) batches, or an (x, y) tuple of
        NumPy arrays.

    Returns:
      {"accuracy": float, "loss": float, "num_examples": int}; for a model
      with 2 outputs also `binary_metrics`' "precision", "recall", "f1" and
      "positive_class".
    """
    return classifier_evaluator(model, data)()


def classifier_evaluator(model, data):
    """fn() -> `evaluate_classifier(model, data)`, the model traced once.

    For evaluating one model many times while its weights change (each
    call reads them anew), as sensitivity analysis does: `evaluate_classifier`
    traces the model at every call, about a second for a MobileNet.

    Args:
      model: tf_keras model that outputs logits.
      data: as `evaluate_classifier`'s.
    """
    require_keras2_model(model)
    data = _check_data(data)
    # A partial, not a lambda: tf.function's retracing check counts traces per
    # function code, and a lambda here has the same code for every model, so a
    # run that evaluated five models was warned of "excessive retracing".
    predict = tf.function(functools.partial(_logits, model))

    def evaluate():
        return _accumulate(
            (predict(x).numpy().astype(np.float32), y.numpy()) for x, y in data)

    return evaluate


def _logits(model, x):
    return model(x, training=False)


def evaluate_tflite(tflite_model, data, num_threads=None, xnnpack=True, verbose=0):
    """Top-1 accuracy and mean cross-entropy of a .tflite model.

    Quantized models are handled: int8 inputs are quantized and int8 outputs
    dequantized with the file's own scales.

    Args:
      tflite_model: path of a .tflite file, or its bytes.
      data: `tf.data.Dataset` of (x, y) batches of float inputs, or an
        (x, y) tuple of NumPy arrays.
      num_threads: LiteRT threads; None lets LiteRT choose.
      xnnpack: run with LiteRT's default XNNPACK delegate.
      verbose: 1 shows a progress bar over the batches, 2 one line at the end.

    Returns:
      As `evaluate_classifier`.
    """
    data = _check_data(data)
    runner = TFLiteRunner(tflite_model, num_threads=num_threads, xnnpack=xnnpack,
                          arg_name="tflite_model")
    batches = int(data.cardinality())
    progress = keras.utils.Progbar(batches if batches > 0 else None, unit_name="batch",
                                   verbose=verbose)

    def run_batches():
        for x, y in data:
            yield runner(x.numpy()).astype(np.float32), y.numpy()
            progress.add(1)

    return _accumulate(run_batches())
