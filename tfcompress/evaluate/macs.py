"""Multiply-accumulates of one inference, per layer.

What structured pruning reduces and what a latency budget is spent on.
Counted: Dense, convolutions (grouped, depthwise, separable, transposed) and
recurrent layers, one MAC per weight use. Batch norm (folded into the
convolution by the TFLite converter), activations, pooling and merges are
not counted: they cost little next to the layers that multiply. Written
here: TensorFlow's profiler counts FLOPs of a graph, not per Keras layer.

An audio feature frontend (`models.spectrogram`) is counted apart, as
`"frontend"`, not in `"total"`: it has no weights, no compression changes it,
and the published counts of audio models start at their features.
"""

import numpy as np

from tfcompress import graph
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.keras3 import accepts_keras3
from tfcompress.models import spectrogram

_RNN = (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN)
_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
               keras.layers.Conv3DTranspose)


def _positions(shape, channels_first=False):
    """Spatial (or time) positions of one example of a batch `shape`."""
    dims = shape[2:] if channels_first else shape[1:-1]
    return int(np.prod(dims, dtype=np.int64)) if dims else 1


def _size(variable):
    return int(np.prod(variable.shape))


def layer_macs(layer, input_shape, output_shape):
    """MACs of one call of `layer` on one example, from its shapes and weights."""
    channels_first = getattr(layer, "data_format", None) == "channels_first"
    if isinstance(layer, keras.layers.Bidirectional):
        return (layer_macs(layer.forward_layer, input_shape, None)
                + layer_macs(layer.backward_layer, input_shape, None))
    if isinstance(layer, _RNN):
        steps = input_shape[1] or 1
        return steps * (_size(layer.cell.kernel) + _size(layer.cell.recurrent_kernel))
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        return _positions(output_shape, channels_first) * (
            _size(layer.depthwise_kernel) + _size(layer.pointwise_kernel))
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        return _positions(output_shape, channels_first) * _size(layer.depthwise_kernel)
    if isinstance(layer, _TRANSPOSED):
        return _positions(input_shape, channels_first) * _size(layer.kernel)
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
        return _positions(output_shape, channels_first) * _size(layer.kernel)
    if isinstance(layer, keras.layers.Dense):
        return _positions(input_shape) * _size(layer.kernel)
    return 0


def frontend_macs(layer, input_shape, output_shape):
    """Multiplies of one call of a spectrogram layer on one example.

    STFTSpectrogram is a strided convolution: counted exactly. MelSpectrogram
    is estimated per frame: the window (one per sample), an N-point real FFT
    as N log2 N (a radix-2 estimate), 2 per bin for the power and bins x
    mel bands for the mel matrix.
    """
    if isinstance(layer, spectrogram.STFTSpectrogram):
        kernels = [k for k in (getattr(layer, "real_kernel", None),
                               getattr(layer, "imag_kernel", None)) if k is not None]
        del output_shape  # the frames follow from the input and the conv's stride
        channels_first = layer.data_format == "channels_first"
        channels, time = (input_shape[1:3] if channels_first else input_shape[2:0:-1])
        step = layer.frame_step or layer.frame_length // 2  # Keras 3's default
        frames = (-(-time // step) if layer.padding == "same"
                  else (time - layer.frame_length) // step + 1)
        return int(frames * channels * sum(_size(k) for k in kernels))
    if isinstance(layer, spectrogram.MelSpectrogram):
        n = layer.fft_length
        bins = n // 2 + 1
        per_frame = (layer.sequence_length + n * int(np.log2(n)) + 2 * bins
                     + bins * layer.num_mel_bins)
        clips = int(np.prod(input_shape[1:-1], dtype=np.int64)) if len(input_shape) > 2 else 1
        return int(clips * output_shape[-1] * per_frame)
    return 0


def _in_model(model, layer, node_index):
    """Whether call `node_index` of `layer` is part of `model`'s graph.

    A layer keeps a node for every graph it was ever called in: a nested
    model's layers re-called by `graph.flatten`, say. Only `model`'s count.
    """
    nodes = getattr(model, "_network_nodes", None)  # tf_keras: "<layer>_ib-<index>"
    return nodes is None or f"{layer.name}_ib-{node_index}" in nodes


def _calls(model, layer):
    """[(input shape, output shape)] of each call of `layer` in `model`."""
    calls = []
    for i in range(len(layer.inbound_nodes)):
        if not _in_model(model, layer, i):
            continue
        try:
            calls.append((layer.get_input_shape_at(i), layer.get_output_shape_at(i)))
        except (AttributeError, RuntimeError, ValueError):
            continue
    return calls


def _rows(model, prefix="", times=1):
    for layer in model.layers:
        if graph.is_nested_model(layer):
            outer_calls = sum(_in_model(model, layer, i)
                              for i in range(len(layer.inbound_nodes)))
            yield from _rows(layer, f"{prefix}{layer.name}/", times * max(1, outer_calls))
            continue
        counted = layer
        # A pruning or quantization wrapper counts as its layer; Bidirectional
        # is counted itself (its `layer` is an unbuilt template of its halves).
        while (isinstance(getattr(counted, "layer", None), keras.layers.Layer)
               and not isinstance(counted, keras.layers.Bidirectional)):
            counted = counted.layer
        macs = sum(layer_macs(counted, i, o) for i, o in _calls(model, layer)
                   if not isinstance(i, list))
        row = {"name": f"{prefix}{layer.name}", "type": type(counted).__name__,
               "params": int(sum(_size(w) for w in counted.weights)),
               "macs": int(macs * times)}
        if spectrogram.is_frontend(counted):
            row["frontend_macs"] = int(times * sum(
                frontend_macs(counted, i, o) for i, o in _calls(model, layer)))
        yield row


@accepts_keras3("model")
def count_macs(model):
    """MACs of one example's inference, per layer and in total.

    Args:
      model: tf_keras functional or Sequential model (nested models and
        pruning wrappers are looked into).

    Returns:
      {"total": MACs, "layers": [{"name", "type", "params", "macs"}]}, and
      for a model with a spectrogram frontend, "frontend": its MACs (not in
      "total"; its rows carry them as "frontend_macs").
    """
    require_keras2_model(model)
    rows = list(_rows(model))
    result = {"total": sum(row["macs"] for row in rows), "layers": rows}
    if any("frontend_macs" in row for row in rows):
        result["frontend"] = sum(row.get("frontend_macs", 0) for row in rows)
    return result


def layer_changes(before, after):
    """Per layer of `before` that `after` still has: parameters and MACs of both.

    Layers that neither hold weights nor multiply are left out.

    Returns:
      [{"name", "type", "params_before", "params_after", "macs_before", "macs_after"}].
    """
    rows_after = {row["name"]: row for row in count_macs(after)["layers"]}
    return [{"name": row["name"], "type": row["type"],
             "params_before": row["params"], "params_after": rows_after[row["name"]]["params"],
             "macs_before": row["macs"], "macs_after": rows_after[row["name"]]["macs"]}
            for row in count_macs(before)["layers"]
            if row["name"] in rows_after and (row["params"] or row["macs"])]
