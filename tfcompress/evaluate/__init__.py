"""Evaluation: accuracy of Keras and TFLite models, parameters, MACs and sizes."""

from tfcompress.evaluate.accuracy import classifier_evaluator
from tfcompress.evaluate.accuracy import evaluate_classifier
from tfcompress.evaluate.accuracy import evaluate_tflite
from tfcompress.evaluate.latency import compare_latency
from tfcompress.evaluate.latency import measure_latency
from tfcompress.evaluate.macs import count_macs
from tfcompress.evaluate.macs import layer_changes
from tfcompress.evaluate.size import artifact_size
from tfcompress.evaluate.size import count_params
from tfcompress.evaluate.tflite_ops import op_names
from tfcompress.evaluate.tflite_weights import weight_stats

__all__ = ["artifact_size", "classifier_evaluator", "compare_latency", "count_macs",
           "count_params", "evaluate_classifier", "evaluate_tflite", "layer_changes",
           "measure_latency", "op_names", "weight_stats"]
