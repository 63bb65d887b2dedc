"""Iterative pruning: prune, retrain, evaluate, in rounds of rising sparsity.

The loop of Han et al. 2015 (sec. 3.3): each round prunes the previous
round's model further and fine-tunes it; stops at the last sparsity or when
validation accuracy falls below a floor, returning the last good round.
"""

import dataclasses

from tfcompress import evaluate
from tfcompress._keras import require_keras2_model
from tfcompress.prune import magnitude
from tfcompress.prune import reach
from tfcompress.prune import schedules
from tfcompress.keras3 import accepts_keras3


@dataclasses.dataclass(frozen=True)
class Round:
    """One prune-and-retrain round: its target and validation accuracy."""

    sparsity: float
    accuracy: float


@accepts_keras3("model", returns_model=True)
def prune_iteratively(model, train_data, val_data, *, compile_model,
                      sparsities=(0.5, 0.75, 0.9), epochs_per_round=2,
                      accuracy_floor=None, layers=None, frequency=None, verbose=2):
    """Rounds of magnitude pruning with fine-tuning in between.

    Args:
      model: trained tf_keras model; left untouched.
      train_data: dataset of (x, y) batches for fine-tuning.
      val_data: dataset of (x, y) batches the floor is checked on.
      compile_model: callable(model) that compiles a model for fine-tuning
        (e.g. `tfcompress.compile_classifier`, with your learning rate).
      sparsities: increasing targets, one round each.
      epochs_per_round: fine-tuning epochs per round (pruning reaches each
        round's target in its first epoch, then the rest fine-tune).
      accuracy_floor: stop before a round whose validation accuracy is below
        this; None runs every round.
      layers: which layers to prune (as `prune`).
      frequency: steps between mask updates within a round. None: the
        largest divisor of the round's ramp (one epoch) up to 10, so each
        round's last update reaches its target; a value you give is used as
        `prune` uses it (capped at one epoch).
      verbose: Keras verbosity.

    Returns:
      (stripped model of the last round kept, list of `Round`s run, the
      last one possibly below the floor and not kept).
    """
    require_keras2_model(model)
    sparsities = [schedules.check_sparsity("sparsities", s) for s in sparsities]
    if not sparsities or sparsities != sorted(set(sparsities)):
        raise ValueError(f"`sparsities` must be increasing, got {sparsities!r}.")
    steps_per_epoch = int(train_data.cardinality())
    if steps_per_epoch <= 0:
        raise ValueError("`train_data` must have a known, finite number of batches.")
    kept, rounds = model, []
    for sparsity in sparsities:
        result = magnitude.prune(
            kept, sparsity=sparsity, layers=layers, schedule="polynomial",
            begin_step=0, end_step=steps_per_epoch,
            frequency=(reach.reaching_frequency(0, steps_per_epoch, at_most=10)
                       if frequency is None else min(frequency, steps_per_epoch)))
        compile_model(result.model)
        result.model.fit(train_data, epochs=epochs_per_round, verbose=verbose,
                         callbacks=magnitude.callbacks())
        candidate = magnitude.strip(result.model)
        accuracy = evaluate.evaluate_classifier(candidate, val_data)["accuracy"]
        rounds.append(Round(sparsity=sparsity, accuracy=accuracy))
        if accuracy_floor is not None and accuracy < accuracy_floor:
            break
        kept = candidate
    return kept, rounds
