"""How sparse a model is, layer by layer, and whether N:M patterns hold."""

import numpy as np

from tfcompress import _tfmot_wrappers
from tfcompress._keras import require_keras2_model
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


@accepts_keras3("model")
def sparsity_report(model, m_by_n=None, m_by_n_layers=None):
    """Per-layer and total parameter counts, non-zeros and sparsity.

    Works on models with or without pruning wrappers (a wrapper's own mask
    and step variables are not counted).

    Args:
      model: tf_keras model.
      m_by_n: optional (N, M); adds an "m_by_n_ok" entry for each layer with
        a Dense or Conv2D kernel.
      m_by_n_layers: names of the layers to check for N:M (e.g. the keys of
        `PruneResult.targets`); None checks every kernel.

    Returns:
      {"layers": [{"name", "type", "params", "nonzero", "sparsity",
      "kernel_sparsity"[, "m_by_n_ok"]}], "total": {"params", "nonzero",
      "sparsity"}} for layers with weights.
    """
    require_keras2_model(model)
    rows = []
    for layer in model.layers:
        inner = _tfmot_wrappers.unwrap_pruning(layer)
        weights = [w.numpy() for w in inner.weights]
        if not weights:
            continue
        params = sum(w.size for w in weights)
        nonzero = sum(int(np.count_nonzero(w)) for w in weights)
        row = {"name": inner.name, "type": type(inner).__name__, "params": params,
               "nonzero": nonzero, "sparsity": 1 - nonzero / params}
        kernel = getattr(inner, "kernel", None)
        if kernel is not None:
            kernel = kernel.numpy()
            row["kernel_sparsity"] = 1 - np.count_nonzero(kernel) / kernel.size
            if m_by_n and kernel.ndim in (2, 4) and (
                    m_by_n_layers is None or inner.name in m_by_n_layers):
                row["m_by_n_ok"] = is_m_by_n_sparse(kernel, m_by_n)
        rows.append(row)
    params = sum(r["params"] for r in rows)
    nonzero = sum(r["nonzero"] for r in rows)
    return {"layers": rows, "total": {"params": params, "nonzero": nonzero,
                                      "sparsity": 1 - nonzero / params if params else 0.0}}


def format_report(report):
    """The report as an aligned text table."""
    lines = [f"{'layer':<22} {'type':<12} {'params':>10} {'non-zero':>10} {'sparsity':>9}"]
    for row in report["layers"]:
        extra = ""
        if "m_by_n_ok" in row:
            extra = "  N:M ok" if row["m_by_n_ok"] else "  N:M BROKEN"
        lines.append(f"{row['name']:<22} {row['type']:<12} {row['params']:>10,} "
                     f"{row['nonzero']:>10,} {row['sparsity']:>9.1%}{extra}")
    total = report["total"]
    lines.append(f"{'total':<22} {'':<12} {total['params']:>10,} {total['nonzero']:>10,} "
                 f"{total['sparsity']:>9.1%}")
    return "\n".join(lines)
