"""Per-layer sparsities that bring a file under a size aim, losing the least.

For a size budget, zeros stored in TFLite's sparse encoding are a second
way to save bytes besides narrower widths. From every layer dense, the
plan repeatedly moves one layer to a higher measured sparsity, the move
that loses the least predicted accuracy per byte it saves
(`sparse_bytes.saved`), until the bytes to save are saved: Han et al.
2015's per-layer pruning by sensitivity (arXiv:1506.02626, section 4),
spent on file bytes instead of a weight count.

Accuracy comes from `prune.sensitivity.Sensitivity`, measured once on the
input model: a layer pruned alone, one-shot. Applied to a narrower model
of the same layers it ranks moves rather than forecasting the trained
file. Only Dense and convolution kernels are planned (the encoding's CSR
over input channels is what `sparse_bytes` predicts); other layers stay
dense. Hand-written: no library plans sparsity against file bytes.
"""

from tfcompress import graph
from tfcompress.budget import sparse_bytes
from tfcompress.prune import prunable
from tfcompress.prune import selection

_PLANNED = ("Dense", "Conv1D", "Conv2D", "DepthwiseConv2D")


def kernels(model):
    """{layer path: [(weights, last axis in the file, output channels)]} of the
    layers a plan may prune."""
    found = {}
    for path, layer in selection.named_layers(model):
        if graph.is_nested_model(layer) or type(layer).__name__ not in _PLANNED:
            continue
        variables = prunable.prunable_weights(layer)
        if variables:
            found[path] = [(int(v.shape.num_elements()), sparse_bytes.last_axis_of(v),
                            sparse_bytes.channels_of(v)) for v in variables]
    return found


def kernels_at(layers, cache):
    """`kernels` of a model given as its `latency_table.TableLayer`s (a width
    search's, `latency_table.layers_at`: no model built), each layer counted
    alone. `cache`: {layer key: its kernels' shapes}, kept by the caller
    across width sets (a layer is built once per key; keys leave out names,
    which the layers alike in a model share)."""
    found = {}
    for layer in layers:
        if layer.key not in cache:
            cache[layer.key] = list(kernels(layer.alone()).values())
        if cache[layer.key]:
            (found[layer.config["name"]],) = cache[layer.key]
    return found


def _saved(shapes, sparsity, value_bytes):
    quantized = value_bytes == 1  # int8: per-channel scales repeated
    return sum(sparse_bytes.saved(count, last, sparsity, value_bytes,
                                  channels if quantized else 0)
               for count, last, channels in shapes)


def plan(sensitivity, kernel_shapes, bytes_to_save, value_bytes):
    """The per-layer sparsities that save `bytes_to_save`, or None if none do.

    Args:
      sensitivity: `prune.sensitivity.Sensitivity` of the input model;
        its measured sparsities are the steps.
      kernel_shapes: `kernels(model)` of the model the plan prunes (layers
        the sensitivity did not measure stay dense).
      bytes_to_save: bytes the file must lose, > 0.
      value_bytes: bytes per stored weight of the file format (4 float, 1
        int8).

    Returns:
      ({layer path: sparsity}, bytes saved, points lost) with only the
      layers pruned; None when even every layer at its highest measured
      sparsity saves too little.
    """
    layers = [name for name in sensitivity.accuracy if name in kernel_shapes]
    chosen = {name: 0.0 for name in layers}
    saved = 0
    while saved < bytes_to_save:
        best = None
        for name in layers:
            here = _saved(kernel_shapes[name], chosen[name], value_bytes)
            lost_here = sensitivity.drop(name, chosen[name])
            for step in sorted(sensitivity.accuracy[name]):
                if step <= chosen[name]:
                    continue
                gain = _saved(kernel_shapes[name], step, value_bytes) - here
                if gain <= 0:
                    continue
                lost = max(0.0, sensitivity.drop(name, step) - lost_here)
                value = (lost / gain, -gain)  # least lost per byte; ties: most saved
                if best is None or value < best[0]:
                    best = (value, name, step, gain)
        if best is None:
            return None
        _, name, step, gain = best
        chosen[name] = step
        saved += gain
    pruned = {name: s for name, s in chosen.items() if s > 0}
    lost = 100.0 * sum(sensitivity.drop(name, s) for name, s in pruned.items())
    return pruned, saved, lost
