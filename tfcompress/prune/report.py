"""How sparse a model is, layer by layer, whether N:M patterns hold, and targets."""

import numpy as np

from tfcompress import graph
from tfcompress._keras import require_keras2_model
from tfcompress.prune import prunable
from tfcompress.prune import selection
from tfcompress.keras3 import accepts_keras3


def _rearranged(kernel):
    """Kernel as [rows, input channels]: the axis TFMOT's N:M groups run along.

    Dense [in, out] -> [out, in]; Conv2D [h, w, in, out] -> [out*h*w, in]
    (TFLite's layout), as in TFMOT's pruning_utils.weights_rearrange.
    """
    if kernel.ndim == 2:
        return kernel.T
    if kernel.ndim == 4:
        return np.transpose(kernel, (3, 0, 1, 2)).reshape(-1, kernel.shape[2])
    raise ValueError(f"N:M check needs a rank 2 or 4 kernel, got shape {kernel.shape}.")


def is_m_by_n_sparse(kernel, m_by_n):
    """Whether every group of M consecutive input-channel weights has >= N zeros.

    Args:
      kernel: numpy Dense or Conv2D kernel.
      m_by_n: (N, M), e.g. (2, 4). A last, shorter group needs
        max(0, N - (M - its length)) zeros, as TFMOT pads it with zeros.
    """
    zeros_needed, group = m_by_n
    rows = _rearranged(np.asarray(kernel))
    pad = (-rows.shape[1]) % group
    padded = np.pad(rows, [(0, 0), (0, pad)], constant_values=0.0)
    groups = padded.reshape(rows.shape[0], -1, group)
    return bool(np.all(np.sum(groups == 0, axis=-1) >= zeros_needed))


def _kernels(layer):
    """The weights `kernel_sparsity` is measured on: those pruning thins."""
    weights = prunable.prunable_weights(layer)
    if weights:
        return weights
    kernel = getattr(layer, "kernel", None)  # a kernel TFMOT cannot prune
    return [kernel] if kernel is not None else []


@accepts_keras3("model")
def sparsity_report(model, m_by_n=None, m_by_n_layers=None):
    """Per-layer and total parameter counts, non-zeros and sparsity.

    Works on models with or without pruning wrappers (a wrapper's own mask
    and step variables are not counted). Layers of nested functional and
    Sequential models are listed one by one under their paths
    ("base/Conv1"), the nested model itself not (its weights are theirs).

    Args:
      model: tf_keras model.
      m_by_n: optional (N, M); adds an "m_by_n_ok" entry for each layer with
        a Dense or Conv2D kernel.
      m_by_n_layers: paths of the layers to check for N:M (e.g. the keys of
        `PruneResult.targets`); None checks every kernel.

    Returns:
      {"layers": [{"name", "type", "params", "nonzero", "sparsity",
      "prunable"[, "kernel_sparsity", "m_by_n_ok"]}], "total": {"params",
      "nonzero", "sparsity"}} for layers with weights. "prunable" says
      whether magnitude pruning thins the layer (`prunable.skip_reason`);
      "kernel_sparsity" is over the weights pruning thins (depthwise and
      pointwise kernels, an RNN's input and recurrent kernels, an embedding
      table), or a kernel it cannot prune; batch norm layers have none.
    """
    require_keras2_model(model)
    rows = []
    for path, inner in selection.named_layers(model):
        if graph.is_nested_model(inner):
            continue  # its layers have their own rows
        weights = [w.numpy() for w in inner.weights]
        if not weights:
            continue
        params = sum(w.size for w in weights)
        nonzero = sum(int(np.count_nonzero(w)) for w in weights)
        row = {"name": path, "type": prunable.layer_type(inner), "params": params,
               "nonzero": nonzero, "sparsity": 1 - nonzero / params,
               "prunable": prunable.skip_reason(inner) is None}
        kernels = [k.numpy() for k in _kernels(inner)]
        if kernels:
            size = sum(k.size for k in kernels)
            row["kernel_sparsity"] = 1 - sum(np.count_nonzero(k) for k in kernels) / size
        kernel = getattr(inner, "kernel", None)
        if kernel is not None and m_by_n and kernel.shape.rank in (2, 4) and (
                m_by_n_layers is None or path in m_by_n_layers):
            row["m_by_n_ok"] = is_m_by_n_sparse(kernel.numpy(), m_by_n)
        rows.append(row)
    params = sum(r["params"] for r in rows)
    nonzero = sum(r["nonzero"] for r in rows)
    return {"layers": rows, "total": {"params": params, "nonzero": nonzero,
                                      "sparsity": 1 - nonzero / params if params else 0.0}}


MISS_TOLERANCE = 0.01  # one point: TFMOT rounds each layer's count of kept weights


def target_misses(report, targets, tolerance=MISS_TOLERANCE):
    """Pruned layers that fall short of their target sparsity.

    Only falling short counts: a layer sparser than its target had zero
    weights before pruning (e.g. a model pruned before).

    Args:
      report: from `sparsity_report` of the stripped model (with `m_by_n`
        for N:M pruning, whose layers are judged by their pattern instead).
      targets: layer path -> target sparsity (`PruneResult.targets`); None
        targets (a schedule of one's own) are not checked.
      tolerance: how far short a layer may fall, as a fraction (0.01 = 1 point).

    Returns:
      {layer path: {"target", "sparsity"}} of each layer whose kernel
      sparsity is more than `tolerance` below its target, and {"target",
      "sparsity", "m_by_n_ok": False} of each whose N:M pattern is broken;
      empty when every target is reached.
    """
    rows = {row["name"]: row for row in report["layers"]}
    misses = {}
    for path, target in targets.items():
        row = rows.get(path)
        if target is None or row is None or "kernel_sparsity" not in row:
            continue
        miss = {"target": target, "sparsity": float(row["kernel_sparsity"])}
        if "m_by_n_ok" in row:
            if not row["m_by_n_ok"]:
                misses[path] = {**miss, "m_by_n_ok": False}
        elif target - row["kernel_sparsity"] > tolerance:
            misses[path] = miss
    return misses


def format_misses(misses, tolerance=MISS_TOLERANCE):
    """One line naming the layers `target_misses` found, or "" if none."""
    if not misses:
        return ""
    layers = ", ".join(f"{path} (N:M pattern broken)" if "m_by_n_ok" in miss
                       else f"{path} {miss['sparsity']:.1%} (target {miss['target']:.1%})"
                       for path, miss in misses.items())
    points = f"{tolerance * 100:g} point{'' if tolerance == 0.01 else 's'}"
    return (f"Sparsity target missed by more than {points} in {len(misses)} "
            f"layer{'s' if len(misses) > 1 else ''}: {layers}.")


def format_report(report):
    """The report as an aligned text table ("-": a layer pruning leaves dense)."""
    rows = report["layers"]
    name_width = max([22, *(len(r["name"]) for r in rows)])
    type_width = max([12, *(len(r["type"]) for r in rows)])
    lines = [f"{'layer':<{name_width}} {'type':<{type_width}} {'params':>10} "
             f"{'non-zero':>10} {'sparsity':>9} {'kernel':>7}"]
    for row in rows:
        extra = ""
        if "m_by_n_ok" in row:
            extra = "  N:M ok" if row["m_by_n_ok"] else "  N:M BROKEN"
        kernel = (f"{row['kernel_sparsity']:>7.1%}" if "kernel_sparsity" in row
                  and row.get("prunable", True) else f"{'-':>7}")
        lines.append(f"{row['name']:<{name_width}} {row['type']:<{type_width}} "
                     f"{row['params']:>10,} {row['nonzero']:>10,} "
                     f"{row['sparsity']:>9.1%} {kernel}{extra}")
    total = report["total"]
    lines.append(f"{'total':<{name_width}} {'':<{type_width}} {total['params']:>10,} "
                 f"{total['nonzero']:>10,} {total['sparsity']:>9.1%}")
    return "\n".join(lines)
