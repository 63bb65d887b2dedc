"""Layer-wise pruning sensitivity, and per-layer targets planned from it.

Written by hand: TFMOT has no sensitivity analysis. Each layer is pruned
alone, one-shot (smallest magnitudes zeroed, no retraining), and the
accuracy on a validation set is measured; the plan then spends a global
sparsity budget where it costs the least accuracy (Han et al. 2015, sec. 4
and fig. 6, prune each layer by its own sensitivity).
"""

import dataclasses

import numpy as np

from tfcompress import evaluate
from tfcompress import graph
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.prune import prunable
from tfcompress.prune import schedules
from tfcompress.prune import selection
from tfcompress.keras3 import accepts_keras3

DEFAULT_SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)


@dataclasses.dataclass(frozen=True)
class Sensitivity:
    """Accuracy after pruning each layer alone, one-shot.

    Attributes:
      baseline: validation accuracy of the unpruned model.
      params: layer path -> number of weights pruning thins in it.
      accuracy: layer path -> {sparsity: validation accuracy}.
    """

    baseline: float
    params: dict
    accuracy: dict

    def drop(self, layer, sparsity):
        """Predicted accuracy loss of `layer` at `sparsity` (linear between points)."""
        points = sorted(self.accuracy[layer].items())
        xs = [0.0] + [s for s, _ in points]
        ys = [0.0] + [max(0.0, self.baseline - a) for _, a in points]
        return float(np.interp(sparsity, xs, ys))

    def to_json(self):
        return {"baseline": self.baseline, "params": self.params,
                "accuracy": {layer: {str(s): a for s, a in curve.items()}
                             for layer, curve in self.accuracy.items()}}

    @classmethod
    def from_json(cls, record):
        """The `Sensitivity` `to_json` wrote (sparsities numbers again)."""
        return cls(baseline=float(record["baseline"]),
                   params={layer: int(n) for layer, n in record["params"].items()},
                   accuracy={layer: {float(s): float(a) for s, a in curve.items()}
                             for layer, curve in record["accuracy"].items()})


def prunable_kernels(model):
    """Paths of the layers `prune` would thin (Dense, Conv, LSTM, Embedding, ...).

    The same layers as `prune(model)` prunes, nested models' included; batch
    norm and other layers without prunable weights are left out.
    """
    return [path for path, layer in selection.named_layers(model)
            if not graph.is_nested_model(layer) and layer.weights
            and prunable.skip_reason(layer) is None]


def magnitude_mask(kernel, sparsity):
    """1/0 mask keeping the largest-magnitude (1 - sparsity) of `kernel`."""
    count = int(round(sparsity * kernel.size))
    if count == 0:
        return np.ones_like(kernel)
    threshold = np.partition(np.abs(kernel).ravel(), count - 1)[count - 1]
    return (np.abs(kernel) > threshold).astype(kernel.dtype)


@accepts_keras3("model")
def analyze(model, val_data, *, sparsities=DEFAULT_SPARSITIES, layers=None, verbose=1):
    """Validation accuracy with each layer pruned alone at each sparsity.

    Args:
      model: trained tf_keras logits model (restored unchanged afterwards).
      val_data: dataset of (x, y) batches; a few thousand examples suffice.
      sparsities: increasing values in (0, 1).
      layers: paths to analyze; default every layer `prunable_kernels` lists.
        A layer with several kernels (SeparableConv; an RNN's input and
        recurrent kernels, both directions of a Bidirectional) has all of
        them pruned at once, each to the same sparsity.
      verbose: 1 shows a progress bar (one step per layer and sparsity), 2 one
        line at the end.

    Returns:
      `Sensitivity`.
    """
    require_keras2_model(model)
    sparsities = tuple(schedules.check_sparsity("sparsities", s) for s in sparsities)
    if not sparsities or list(sparsities) != sorted(set(sparsities)) or sparsities[0] == 0:
        raise ValueError(f"`sparsities` must be increasing values in (0, 1), got "
                         f"{sparsities!r}.")
    known = prunable_kernels(model)
    names = known if layers is None else list(layers)
    unknown = sorted(set(names) - set(known))
    if unknown or not names:
        raise ValueError(f"`layers` must name prunable layers of {model.name!r} "
                         f"({known}), got {names!r}.")
    evaluate_now = evaluate.classifier_evaluator(model, val_data)  # traced once
    baseline = evaluate_now()["accuracy"]
    progress = keras.utils.Progbar(len(names) * len(sparsities), unit_name="trial",
                                   verbose=verbose)
    layers_by_path = dict(selection.named_layers(model))
    accuracy, params = {}, {}
    for name in names:
        variables = prunable.prunable_weights(layers_by_path[name])
        originals = [v.numpy() for v in variables]
        params[name] = int(sum(o.size for o in originals))
        accuracy[name] = {}
        try:
            for sparsity in sparsities:
                for variable, original in zip(variables, originals):
                    variable.assign(original * magnitude_mask(original, sparsity))
                accuracy[name][sparsity] = evaluate_now()["accuracy"]
                progress.add(1)
        finally:
            for variable, original in zip(variables, originals):
                variable.assign(original)
    return Sensitivity(baseline=baseline, params=params, accuracy=accuracy)


def plan(sensitivity, target):
    """Per-layer sparsities whose weighted mean is `target`, least accuracy lost.

    Greedy: from all layers dense, repeatedly take the step to a layer's next
    measured sparsity that loses the least predicted accuracy per pruned
    weight, until the budget is met; the last step is then shortened so the
    analyzed layers' total sparsity equals `target` exactly.

    Args:
      sensitivity: from `analyze`.
      target: global sparsity over the analyzed layers' kernels, in [0, 1).

    Returns:
      {layer name: sparsity}, usable as `prune(model, sparsity=...)`.
    """
    target = schedules.check_sparsity("target", target)
    layers = list(sensitivity.accuracy)
    grid = {layer: sorted(sensitivity.accuracy[layer]) for layer in layers}
    total = sum(sensitivity.params[layer] for layer in layers)
    ceiling = sum(sensitivity.params[l] * grid[l][-1] for l in layers) / total
    if target > ceiling + 1e-12:
        raise ValueError(f"`target` {target} is above what the analysis measured "
                         f"({ceiling:.4f}); analyze higher `sparsities`.")
    chosen = {layer: 0.0 for layer in layers}
    budget = target * total
    pruned = 0.0
    last = None
    while pruned < budget - 1e-9:
        best = None
        for layer in layers:
            steps = [s for s in grid[layer] if s > chosen[layer]]
            if not steps:
                continue
            step = steps[0]
            weights = (step - chosen[layer]) * sensitivity.params[layer]
            cost = (sensitivity.drop(layer, step)
                    - sensitivity.drop(layer, chosen[layer])) / weights
            if best is None or cost < best[0]:
                best = (cost, layer, step, weights)
        if best is None:  # every layer at its highest measured sparsity
            break
        _, layer, step, weights = best
        last = (layer, chosen[layer])
        chosen[layer] = step
        pruned += weights
    if last is not None and pruned > budget:
        layer, previous = last
        chosen[layer] -= (pruned - budget) / sensitivity.params[layer]
        chosen[layer] = max(previous, chosen[layer])
    return chosen


def global_sparsity(sparsities, params):
    """Weighted mean sparsity of a plan over the layers' kernel sizes."""
    total = sum(params[layer] for layer in sparsities)
    return sum(params[layer] * s for layer, s in sparsities.items()) / total


def format_table(sensitivity):
    """Accuracy per layer (rows) and sparsity (columns), as text."""
    sparsities = sorted({s for curve in sensitivity.accuracy.values() for s in curve})
    width = max([20, *map(len, sensitivity.accuracy)])
    lines = [f"{'layer':<{width}} {'weights':>9} "
             + " ".join(f"{s:>7.0%}" for s in sparsities),
             f"{'(unpruned)':<{width}} {'':>9} {sensitivity.baseline:>7.2%}"]
    for layer, curve in sensitivity.accuracy.items():
        lines.append(f"{layer:<{width}} {sensitivity.params[layer]:>9,} "
                     + " ".join(f"{curve[s]:>7.2%}" for s in sparsities))
    return "\n".join(lines)
