"""Pruning schedules (TFMOT's), set in optimizer steps or in epochs."""

import tensorflow_model_optimization as tfmot

from tfcompress._checks import check_positive_int
from tfcompress.prune import reach

SCHEDULES = ("constant", "polynomial")


def check_sparsity(arg_name, value):
    """Sparsity must be a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{arg_name}` must be a number in [0, 1), got "
                         f"{type(value).__name__} {value!r}: pass a float such as 0.9.")
    if not 0 <= value < 1:
        raise ValueError(f"`{arg_name}` must be in [0, 1), got {value!r}: pass the "
                         "fraction of weights to set to zero, such as 0.9.")
    return float(value)


def make_schedule(kind, sparsity, *, begin_step=0, end_step=None, frequency=None,
                  initial_sparsity=0.0):
    """A TFMOT pruning schedule reaching `sparsity` by `end_step`.

    Args:
      kind: "polynomial": Zhu & Gupta 2017's gradual schedule, sparsity rising
        from `initial_sparsity` as 1 - (1 - t)**3 between `begin_step` and
        `end_step`; "constant": `sparsity` from `begin_step` on.
      sparsity: target fraction of zero weights, in [0, 1).
      begin_step: first optimizer step at which masks update.
      end_step: last step of the ramp (polynomial, required) or of mask
        updates (constant; None keeps updating to the end of training).
      frequency: steps between mask updates. None: the largest divisor of
        `end_step` - `begin_step` up to 100 (TFMOT's default), so the last
        update comes at `end_step` and the ramp reaches `sparsity` (see
        `reach`); 100 without `end_step`.
      initial_sparsity: polynomial only; where the ramp starts.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}, got {kind!r}.")
    sparsity = check_sparsity("sparsity", sparsity)
    check_sparsity("initial_sparsity", initial_sparsity)
    if frequency is not None:
        check_positive_int("frequency", frequency)
    if isinstance(begin_step, bool) or not isinstance(begin_step, int) or begin_step < 0:
        raise ValueError(f"`begin_step` must be an int >= 0, got {begin_step!r}.")
    if kind == "constant" and end_step is None:
        return tfmot.sparsity.keras.ConstantSparsity(
            sparsity, begin_step=begin_step, end_step=-1,
            frequency=frequency or reach.DEFAULT_FREQUENCY)
    if end_step is None:
        raise ValueError("The polynomial schedule needs `end_step` (the step where "
                         "sparsity reaches its target); set it, or give epochs with "
                         "`epochs_to_steps`.")
    check_positive_int("end_step", end_step)
    if end_step <= begin_step:
        raise ValueError(f"`end_step` ({end_step}) must be after `begin_step` "
                         f"({begin_step}).")
    if frequency is None:
        frequency = reach.reaching_frequency(begin_step, end_step)
    if kind == "constant":
        if reach.last_update_step(begin_step, end_step, frequency) is None:
            # TFMOT would leave the model dense without a word.
            raise ValueError(
                f"`frequency` ({frequency}) leaves no mask update between step 1 and "
                f"`end_step` ({end_step}): with `begin_step` 0 the first update comes "
                f"at step {frequency} (TFMOT counts steps from 1). Use a frequency of "
                f"at most {end_step}, or leave it unset.")
        return tfmot.sparsity.keras.ConstantSparsity(
            sparsity, begin_step=begin_step, end_step=end_step, frequency=frequency)
    if frequency > end_step - begin_step:
        # TFMOT updates masks only every `frequency` steps inside the ramp:
        # a longer period leaves the model at its initial sparsity, silently.
        raise ValueError(
            f"`frequency` ({frequency}) is longer than the ramp (`end_step` - "
            f"`begin_step` = {end_step - begin_step} steps): the masks would never "
            f"reach the target. Use a frequency of at most {end_step - begin_step}, or "
            f"leave it unset.")
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=min(initial_sparsity, sparsity), final_sparsity=sparsity,
        begin_step=begin_step, end_step=end_step, power=3, frequency=frequency)


def epochs_to_steps(begin_epoch, end_epoch, steps_per_epoch):
    """(begin_step, end_step) for a schedule given in epochs.

    Pruning begins at the start of `begin_epoch` and ends at the end of
    `end_epoch - 1` (epochs counted from 0), e.g. (0, 8) ramps over 8 epochs.
    """
    check_positive_int("steps_per_epoch", steps_per_epoch)
    check_positive_int("end_epoch", end_epoch)
    if isinstance(begin_epoch, bool) or not isinstance(begin_epoch, int) or not (
            0 <= begin_epoch < end_epoch):
        raise ValueError(f"`begin_epoch` must be an int in [0, end_epoch={end_epoch}), "
                         f"got {begin_epoch!r}.")
    return begin_epoch * steps_per_epoch, end_epoch * steps_per_epoch
