"""Grow back: after a uniform cut, widen the groups where a tile pays most.

The uniform search removes one fraction from every group; with widths in
multiples of a kernel tile (16 on AVX-512) that path has few stops (the
issue's 16/32/64 CNN: 16/16/16, 16/16/32, 16/32/48, ...) and the budget
between two of them is lost. Grow back spends it: from the uniform widths,
widen one group by one tile at a time, choosing among the widenings that
still meet the target the one that gives back the most importance per unit
of cost, until none does (a greedy step in the spirit of NetAdapt, Yang et
al. 2018, arXiv:1804.03230, ranked by channel scores instead of
fine-tuned accuracy; no library offers it for our dependency groups).

Importance is a group's share of its own channel scores (the channels a
widening gives back, over the sum of all of its scores): raw scores of
different layers are not on one scale (weight norms grow with fan-in;
batch-norm scales and Taylor scores differ again).
"""

import dataclasses

import numpy as np


def next_width(width, size, step):
    """The next multiple of `step` above `width`, at most `size`; None at `size`."""
    if width >= size:
        return None
    return int(min(size, (width // step + 1) * step))


def gains(importance, ranking):
    """fn(old, new) -> share of a group's importance its channels ranked
    [old, new) carry, from its scores and their order (most important first)."""
    scores = np.maximum(np.asarray(importance, np.float64)[ranking], 0.0)
    cumulative = np.concatenate([[0.0], np.cumsum(scores)])
    total = cumulative[-1]

    def gain(old, new):
        if total <= 0:  # all scores zero: every channel counts alike
            return (new - old) / len(scores)
        return float((cumulative[new] - cumulative[old]) / total)
    return gain


@dataclasses.dataclass
class Candidate:
    """One widening to judge: group `index` from its width to `width`."""
    index: int
    width: int
    widths: tuple


def grow(start, sizes, step, gain_of, assess, start_cost, *, min_cost_step=0.0,
         max_candidates=None):
    """Widens `start` greedily, one group by one `step` per round.

    Args:
      start: tuple of widths, one per group, meeting the target.
      sizes: tuple of the groups' full widths (no group grows past its own).
      step: the tile; each widening goes to the next multiple of it.
      gain_of: [fn(old, new) -> importance given back], one per group.
      assess: fn(current widths, [Candidate]) -> (current cost, [cost or None
        (did not run) per candidate], [whether each meets the target]); one
        call per round, so a measured cost can time all of a round together.
      start_cost: the cost of `start`.
      min_cost_step: the least cost a widening is taken to add: a measured
        cost's noise can make one look free or negative.
      max_candidates: stop before a round would judge more candidates than
        this in all; None for no bound.

    Returns:
      (widths, cost, steps, judged): the widths reached, their cost (as
      judged when they were chosen, or `start_cost`), one
      {"group": index, "width", "cost"} per widening taken, in order, and how
      many candidates were judged.
    """
    widths, cost, steps, judged = tuple(start), start_cost, [], 0
    while True:
        candidates = []
        for index, (width, size) in enumerate(zip(widths, sizes)):
            wider = next_width(width, size, step)
            if wider is not None:
                candidates.append(Candidate(index, wider, widths[:index] + (wider,)
                                            + widths[index + 1:]))
        if not candidates or (max_candidates is not None
                              and judged + len(candidates) > max_candidates):
            break
        judged += len(candidates)
        current, costs, meets = assess(widths, candidates)
        # A measured cost: the current widths timed with the round's candidates.
        cost = cost if current is None else current
        best, best_value = None, None
        for candidate, new_cost, ok in zip(candidates, costs, meets):
            if not ok or new_cost is None:
                continue
            added = max(new_cost - cost, min_cost_step, 1e-12)
            value = gain_of[candidate.index](widths[candidate.index], candidate.width) / added
            if best is None or value > best_value:  # ties: the first group
                best, best_value, best_cost = candidate, value, new_cost
        if best is None:
            break
        widths, cost = best.widths, best_cost
        steps.append({"group": best.index, "width": best.width, "cost": best_cost})
    return widths, steps[-1]["cost"] if steps else start_cost, steps, judged
