"""Accuracy and loss of a Keras model or a .tflite file on a dataset."""

import numpy as np
import tensorflow as tf

from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.data import inputs
from tfcompress.runtime import TFLiteRunner
from tfcompress.keras3 import accepts_keras3


def _accumulate(batches):
    """Accuracy and mean cross-entropy from (logits, labels) numpy pairs."""
    correct, loss_sum, count = 0, 0.0, 0
    for logits, labels in batches:
        labels = labels.astype(np.int64)
        correct += int(np.sum(np.argmax(logits, axis=-1) == labels))
        loss_sum += float(tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        ))
        count += len(labels)
    if count == 0:
        raise _empty_error()
    return {"accuracy": correct / count, "loss": loss_sum / count,
            "num_examples": count}


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
      {"accuracy": float, "loss": float, "num_examples": int}.
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
    predict = tf.function(lambda x: model(x, training=False))

    def evaluate():
        return _accumulate(
            (predict(x).numpy().astype(np.float32), y.numpy()) for x, y in data)

    return evaluate


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
