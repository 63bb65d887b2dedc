"""When TFMOT updates pruning masks, and whether the last update reaches the target.

TFMOT updates a layer's masks at each step s with begin_step <= s <= end_step
and (s - begin_step) % frequency == 0 (`PruningSchedule._should_prune_in_step`),
and at no other step: PolynomialDecay has no extra update at `end_step`. Steps
count from 1 (`UpdatePruningStep.on_train_begin` sets the step to 0, and
`PruneLowMagnitude.call` adds 1 before each batch's `conditional_mask_update`),
so step 0 never comes.

A polynomial ramp therefore reaches its target only if `frequency` divides
end_step - begin_step; otherwise the masks stay at the sparsity of the last
update before `end_step` (e.g. 44.9% of a 50% target for end_step=188 and
TFMOT's default frequency of 100). A constant schedule reaches its target at
its first update, if one comes.
"""

import tensorflow_model_optimization as tfmot

DEFAULT_FREQUENCY = 100  # TFMOT's own default period between mask updates
# Shortfalls smaller than a tenth of a point go unwarned: with a long ramp the
# cubic has flattened before the last update (0.006 points of a 90% target for
# 938 steps and frequency 100), less than one weight of most layers.
TOLERANCE = 0.001


class ScheduleWarning(UserWarning):
    """A pruning schedule whose last mask update stops short of its target."""


def first_update_step(begin_step, frequency):
    """The first step at which the masks update (step 0 never comes)."""
    return begin_step if begin_step >= 1 else frequency


def last_update_step(begin_step, end_step, frequency):
    """The last step at which the masks update, or None if no update comes.

    Args:
      begin_step: the schedule's first step, >= 0.
      end_step: its last step, >= begin_step (not -1, "never stops").
      frequency: steps between updates, > 0.
    """
    last = begin_step + (end_step - begin_step) // frequency * frequency
    return last if last >= first_update_step(begin_step, frequency) else None


def reaching_frequency(begin_step, end_step, at_most=DEFAULT_FREQUENCY):
    """The largest frequency up to `at_most` whose last update is at `end_step`.

    That is the largest divisor of end_step - begin_step not above `at_most`
    (e.g. 94 for 188 steps); 1, an update every step, for a prime number of
    steps above `at_most`.
    """
    ramp = end_step - begin_step
    return next(f for f in range(min(at_most, ramp), 0, -1) if ramp % f == 0)


def reached_sparsity(schedule):
    """The sparsity `schedule`'s last mask update sets; None if it cannot say.

    None for a schedule of one's own, and for a ConstantSparsity without an
    end, which reaches its target at its first update if training gets there.
    0.0 if no update ever comes: the masks stay all ones.
    """
    constant = isinstance(schedule, tfmot.sparsity.keras.ConstantSparsity)
    if not (constant or isinstance(schedule, tfmot.sparsity.keras.PolynomialDecay)) or (
            schedule.end_step == -1):  # only a ConstantSparsity may have no end
        return None
    last = last_update_step(schedule.begin_step, schedule.end_step, schedule.frequency)
    if last is None or constant:
        return 0.0 if last is None else float(schedule.target_sparsity)
    ramp = schedule.end_step - schedule.begin_step
    left = (schedule.end_step - last) / ramp if ramp else 0.0  # as TFMOT's 1 - p
    initial, final = schedule.initial_sparsity, schedule.final_sparsity
    return float(final + (initial - final) * left ** schedule.power)


def shortfall_message(layer_schedules, targets, given=False):
    """Why pruning will stop short of its targets, or None if it will not.

    Args:
      layer_schedules: layer path -> the TFMOT schedule it is pruned with.
      targets: layer path -> its target sparsity.
      given: whether the schedule is the user's object (`schedule=`) rather
        than one made from `prune`'s `frequency`, `begin_step`, `end_step`.

    Returns:
      A message naming the steps, the sparsity reached and what to change, if
      any layer's last mask update falls more than `TOLERANCE` short.
    """
    short = {}
    for path, schedule in layer_schedules.items():
        reached, target = reached_sparsity(schedule), targets.get(path)
        if reached is not None and target is not None and target - reached > TOLERANCE:
            short[path] = (reached, target, schedule)
    if not short:
        return None
    schedule = next(iter(short.values()))[2]  # one set of steps for every layer
    begin_step, end_step, frequency = (schedule.begin_step, schedule.end_step,
                                       schedule.frequency)
    last = last_update_step(begin_step, end_step, frequency)
    owner = (f"The {type(schedule).__name__} `schedule`, with `frequency` {frequency},"
             if given else f"`frequency` {frequency}")
    levels = {(reached, target) for reached, target, _ in short.values()}
    if last is None:
        what = (f"{owner} leaves no mask update between step 1 and `end_step` "
                f"{end_step}: with `begin_step` 0 the first would come at step "
                f"{frequency} (TFMOT counts steps from 1), so the pruned layers stay dense")
    else:
        what = (f"{owner} puts the last mask update at step {last}, {end_step - last} "
                f"steps before `end_step` {end_step}, so ")
        if len(levels) == 1 and len(short) == len(layer_schedules):  # one target
            (reached, target), = levels
            what += (f"pruning stops at {reached:.1%} sparsity, short of the "
                     f"{target:.1%} target")
        else:
            listed = [f"{path!r} at {reached:.1%} (target {target:.1%})"
                      for path, (reached, target, _) in list(short.items())[:3]]
            more = f" and {len(short) - 3} more" if len(short) > 3 else ""
            what += f"pruning stops short of the targets: {', '.join(listed)}{more}"
    ramp = end_step - begin_step
    if ramp == 0:  # a schedule object may begin and end at step 0, which never comes
        fix = "an `end_step` after its `begin_step`"
    else:
        fix = (f"a `frequency` that divides `end_step` - `begin_step` = {ramp} "
               f"({reaching_frequency(begin_step, end_step, frequency)} is the largest "
               f"up to {frequency})")
    if given:
        return f"{what}. Give the schedule {fix}."
    return f"{what}. Pass {fix}, or leave `frequency` unset to have one chosen so."
