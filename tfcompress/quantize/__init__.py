"""Quantization and weight sharing: calibration data, quantization-aware
training (plain, sparsity- or cluster-preserving) and weight clustering.

Post-training quantization is an export option: `tfcompress.export.
export_tflite(model, path, quantization="int8", representative_data=...)`.
"""

from tfcompress._tfmot_wrappers import is_clustered
from tfcompress._tfmot_wrappers import is_quantization_aware
from tfcompress.quantize.calibration import DEFAULT_SAMPLES
from tfcompress.quantize.calibration import calibration_examples
from tfcompress.quantize.clustering import cluster
from tfcompress.quantize.clustering import distinct_values
from tfcompress.quantize.clustering import strip_clusters
from tfcompress.quantize.float_weights import float_model
from tfcompress.quantize.qat import PRESERVE
from tfcompress.quantize.qat import layer_without_qat
from tfcompress.quantize.qat import quantize_aware

__all__ = ["DEFAULT_SAMPLES", "PRESERVE", "calibration_examples", "cluster", "distinct_values",
           "float_model", "is_clustered", "is_quantization_aware", "layer_without_qat",
           "quantize_aware", "strip_clusters"]
