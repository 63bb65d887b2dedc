"""Magnitude pruning with TFMOT, on a copy of the model.

`prune` wraps the chosen layers of a copy of `model` in TFMOT's
PruneLowMagnitude (the original is left untouched), `callbacks` gives what
`fit` needs, and `strip` removes the wrappers once training is done. Layers
of nested functional and Sequential models are reached too, named by their
path ("base/Conv1", see `selection.named_layers`); what is pruned in each
kind of layer is `prunable`'s business.
"""

import contextlib
import dataclasses
import functools
import warnings

import tensorflow_model_optimization as tfmot

from tfcompress import _tfmot_wrappers
from tfcompress import graph
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.prune import prunable
from tfcompress.prune import reach
from tfcompress.prune import schedules
from tfcompress.prune import selection
from tfcompress.keras3 import accepts_keras3
from tfcompress.keras3 import callbacks as keras3_callbacks
from tfcompress.keras3 import compile_args

MISSING_CALLBACK_ERROR = (
    "This model is being pruned, and pruning needs its callbacks in fit: pass "
    "callbacks=tfcompress.prune.callbacks() (TFMOT's UpdatePruningStep).")


@dataclasses.dataclass(frozen=True)
class PruneResult:
    """A model ready to be trained with pruning, and what was (not) pruned.

    Attributes:
      model: the copy of the model with pruning wrappers.
      targets: layer path -> target sparsity of each pruned layer (for N:M
        sparsity, the fraction N:M implies).
      skipped: layer path -> why a chosen layer with weights was not pruned.
      warnings: what `prune` also warned of (`reach.ScheduleWarning`), for
        callers that log rather than warn.
    """

    model: keras.Model
    targets: dict
    skipped: dict
    warnings: tuple = ()


def _check_m_by_n(m_by_n):
    if m_by_n is None:
        return None
    if (not isinstance(m_by_n, (tuple, list)) or len(m_by_n) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in m_by_n)
            or not 0 < m_by_n[0] < m_by_n[1]):
        raise ValueError(
            f"`m_by_n` must be (N, M) ints with 0 < N < M, meaning N zeros in every "
            f"M consecutive weights (e.g. (2, 4)), got {m_by_n!r}.")
    return tuple(m_by_n)


def _copy_layer(layer):
    return layer.__class__.from_config(layer.get_config())


DEFAULT_SPARSITY = 0.8


def _schedule_target(schedule):
    """The final sparsity a TFMOT schedule object reaches, if it says."""
    for name in ("final_sparsity", "target_sparsity"):
        if hasattr(schedule, name):
            return float(getattr(schedule, name))
    return None


@accepts_keras3("model", returns_model=True)
def prune(model, *, sparsity=None, layers=None, schedule="polynomial", begin_step=0,
          end_step=None, frequency=None, initial_sparsity=0.0, m_by_n=None,
          block_size=(1, 1), block_pooling="AVG", xnnpack=False, strict=False):
    """Wraps the chosen layers of a copy of `model` for magnitude pruning.

    Args:
      model: functional or Sequential tf_keras model; left untouched.
      sparsity: target fraction of zero weights in each pruned layer (e.g.
        0.9; default 0.8), or a dict {layer path: sparsity} of per-layer
        targets (then those layers are the chosen ones and `layers` must be
        None).
      layers: which layers to prune (see `selection.layer_selector`): None
        for all, a regex, a list of paths, a layer class, or a callable.
        Choosing a nested model chooses every layer inside it.
      schedule: "polynomial" (gradual, needs `end_step`) or "constant"; or a
        TFMOT schedule object (`tfmot.sparsity.keras.PolynomialDecay`,
        `ConstantSparsity`, or your own `PruningSchedule`), used as it is for
        every chosen layer, as in TFMOT's tutorials; it sets the target and the
        steps, so leave `sparsity`, `begin_step`, `end_step`, `frequency` and
        `initial_sparsity` unset.
      begin_step: optimizer step where pruning starts.
      end_step: step where the target is reached (polynomial), or where mask
        updates stop (constant; None never stops).
      frequency: steps between mask updates. None: the largest divisor of
        `end_step` - `begin_step` up to 100 (TFMOT's default), so the last
        update comes at `end_step` and every layer reaches its target (TFMOT
        updates only every `frequency` steps from `begin_step`: 100 with
        end_step=188 stops at 44.9% of 50%); 100 without `end_step`. A value
        you give is used as it is, with a `reach.ScheduleWarning` if the last
        update stops more than 0.1 point short of a target.
      initial_sparsity: polynomial only: the sparsity the ramp starts from at
        `begin_step` (TFMOT's PolynomialDecay `initial_sparsity`).
      m_by_n: (N, M) for N:M structured sparsity, N zeros in each group of M
        consecutive input-channel weights, e.g. (2, 4); `sparsity` then
        follows from it and must be left unset.
      block_size: (rows, cols) blocks pruned together (block sparsity).
      block_pooling: "AVG" or "MAX", how a block's magnitude is pooled.
      xnnpack: let TFMOT's PruneForLatencyOnXNNPack policy decide which
        layers to prune, so XNNPACK's sparse kernels can run the result.
      strict: raise instead of skipping chosen layers TFMOT cannot prune.

    Returns:
      A `PruneResult`. Train `result.model` with `callbacks=callbacks()`.

    Raises:
      ValueError: bad arguments, unknown layer names, nothing to prune, or
        (with `strict`) a chosen layer that cannot be pruned.
    """
    require_keras2_model(model)
    m_by_n = _check_m_by_n(m_by_n)
    given = isinstance(schedule, tfmot.sparsity.keras.PruningSchedule)
    steps = dict(begin_step=begin_step, end_step=end_step, frequency=frequency,
                 initial_sparsity=initial_sparsity)
    if given:
        sparsity = _given_schedule_target(schedule, m_by_n, sparsity=sparsity, **steps)
    elif schedule not in schedules.SCHEDULES:
        raise ValueError(f"`schedule` must be one of {schedules.SCHEDULES} or a TFMOT "
                         f"PruningSchedule (e.g. tfmot.sparsity.keras.PolynomialDecay), "
                         f"got {schedule!r}.")
    elif initial_sparsity and schedule != "polynomial":
        raise ValueError(f"`initial_sparsity` is where the polynomial ramp starts; "
                         f"schedule {schedule!r} has none: leave it at 0.")
    layers_by_path = dict(selection.named_layers(model))
    if isinstance(sparsity, dict):
        target, targets = None, _per_layer_targets(model, sparsity, layers, xnnpack)
    else:
        target, targets = _one_target(model, layers_by_path, sparsity, layers, m_by_n)
    if block_pooling not in ("AVG", "MAX"):
        raise ValueError(f"`block_pooling` must be 'AVG' or 'MAX', got {block_pooling!r}.")
    targets, skipped = _prunable_targets(model, layers_by_path, targets, m_by_n,
                                         layers=layers, strict=strict, xnnpack=xnnpack)

    def make(value):
        return schedule if given else schedules.make_schedule(schedule, value, **steps)

    # Every schedule is validated before anything is built.
    layer_schedules = {path: make(value) for path, value in targets.items()}
    if given and _schedule_target(schedule) is None and not m_by_n:
        targets = dict.fromkeys(targets)  # only the schedule knows
    # N:M masks are set once, at step 1, whatever the schedule says.
    shortfall = None if m_by_n else reach.shortfall_message(layer_schedules, targets,
                                                            given=given)
    if shortfall:
        warnings.warn(shortfall, reach.ScheduleWarning, stacklevel=3)  # the caller's line
    wrapper_args = dict(block_size=block_size, block_pooling_type=block_pooling,
                        sparsity_m_by_n=m_by_n)
    if xnnpack:
        pruned, targets, skipped = _prune_by_xnnpack_policy(
            model, layers_by_path, make(target), target, skipped, wrapper_args)
    else:
        pruned = _prune_chosen(model, layers_by_path, layer_schedules, wrapper_args)
        _ready_to_train(pruned, layers_by_path)
    return PruneResult(model=pruned, targets=targets, skipped=skipped,
                       warnings=(shortfall,) if shortfall else ())


def _given_schedule_target(schedule, m_by_n, **arguments):
    """The sparsity a given TFMOT schedule reaches (None for N:M); refuses clashing `arguments`."""
    defaults = {"sparsity": None, "begin_step": 0, "end_step": None,
                "frequency": None, "initial_sparsity": 0.0}
    clashes = [name for name, value in arguments.items() if value != defaults[name]]
    if clashes:
        raise ValueError(f"`schedule` is a {type(schedule).__name__}, which sets the "
                         "target and its steps: leave "
                         + ", ".join(f"`{name}`" for name in clashes)
                         + " unset, or pass schedule='polynomial' or 'constant'.")
    if m_by_n:
        return None
    target = _schedule_target(schedule)
    return 0.0 if target is None else target  # a schedule of one's own: its target is its business


def _per_layer_targets(model, sparsity, layers, xnnpack):
    """Per-layer targets given: {path: sparsity}, checked."""
    if xnnpack:
        raise ValueError("`xnnpack=True` lets TFMOT's policy choose the layers: "
                         "give one `sparsity`, not per-layer targets.")
    if layers is not None:
        raise ValueError("Give per-layer targets in `sparsity` or a selection in "
                         "`layers`, not both.")
    selection.check_names_exist(model, sparsity, "sparsity")
    return {name: schedules.check_sparsity(f"sparsity[{name!r}]", value)
            for name, value in sparsity.items()}


def _one_target(model, layers_by_path, sparsity, layers, m_by_n):
    """(target, {path: target}): `sparsity`, N/M or the default, for each chosen layer."""
    if m_by_n and sparsity is not None:
        raise ValueError("`m_by_n` sets the sparsity (N/M); leave `sparsity` unset.")
    if m_by_n:
        target = m_by_n[0] / m_by_n[1]
    else:
        target = DEFAULT_SPARSITY if sparsity is None else sparsity
    target = schedules.check_sparsity("sparsity", target)
    if isinstance(layers, (list, tuple, set)) and all(isinstance(n, str) for n in layers):
        selection.check_names_exist(model, layers, "layers")
    chosen = selection.layer_selector(layers)
    return target, {path: target for path, layer in layers_by_path.items()
                    if chosen(path, layer)}


def _prunable_targets(model, layers_by_path, targets, m_by_n, *, layers, strict, xnnpack):
    """({path: target}, {path: why skipped}) of the chosen layers with weights.

    A chosen nested model chooses every layer inside it.
    """
    for path in layers_by_path:  # a nested model comes before its layers
        parent = path.rpartition("/")[0]
        if path not in targets and parent in targets:
            targets[path] = targets[parent]
    kept, skipped = {}, {}
    for path, layer in layers_by_path.items():
        if path not in targets or graph.is_nested_model(layer) or not layer.weights:
            continue  # a nested model's own layers carry its target
        reason = prunable.skip_reason(layer, m_by_n)
        if reason:
            skipped[path] = reason
        else:
            kept[path] = targets[path]
    if skipped and strict:
        raise ValueError(f"Cannot prune {sorted(skipped)} (strict=True): {skipped}.")
    if not kept and not xnnpack:
        raise ValueError(f"No layer of {model.name!r} to prune: the selection "
                         f"{layers!r} chose no layer with prunable weights.")
    return kept, skipped


def _prune_chosen(model, layers_by_path, layer_schedules, wrapper_args):
    """A copy of `model`, the layers of `layer_schedules` ({path: schedule}) wrapped."""
    by_id = {id(layers_by_path[path]): value for path, value in layer_schedules.items()}

    def wrap(layer):
        if id(layer) not in by_id:
            return _copy_layer(layer)
        return _carry_masks(tfmot.sparsity.keras.prune_low_magnitude(
            prunable.prunable_copy(layer), pruning_schedule=by_id[id(layer)], **wrapper_args))

    return _clone_nested(model, wrap)


def _clone_nested(model, clone_layer):
    """`keras.models.clone_model`, nested models cloned too, `clone_layer` for other layers."""

    def clone(layer):
        if graph.is_nested_model(layer):
            return keras.models.clone_model(layer, clone_function=clone)
        return clone_layer(layer)

    return keras.models.clone_model(model, clone_function=clone)


def _prune_by_xnnpack_policy(model, layers_by_path, schedule, target, skipped, wrapper_args):
    """(copy of `model`, targets, skipped): TFMOT's PruneForLatencyOnXNNPack chooses.

    The targets are the layers the policy wrapped; `skipped` gains those it left dense.
    """
    # The policy must see the whole model: it prunes what XNNPACK can use.
    try:
        pruned = tfmot.sparsity.keras.prune_low_magnitude(
            keras.models.clone_model(model, clone_function=_copy_layer),
            pruning_schedule=schedule,
            pruning_policy=tfmot.sparsity.keras.PruneForLatencyOnXNNPack(),
            **wrapper_args)
    except ValueError as e:
        raise ValueError(f"TFMOT's XNNPACK pruning policy refused {model.name!r}: "
                         f"{e}") from None
    copies = _ready_to_train(pruned, layers_by_path)
    wrapped_ids = {id(w.layer) for w in _tfmot_wrappers.pruning_wrappers(pruned)}
    targets = {path: target for path, layer in copies.items() if id(layer) in wrapped_ids}
    for path, layer in layers_by_path.items():
        if layer.weights and path not in targets and not graph.is_nested_model(layer):
            skipped.setdefault(path, "left dense by the XNNPACK policy")
    return pruned, targets, skipped


def _ready_to_train(pruned, layers_by_path):
    """Gives `pruned` the original's weights, our messages and a guarded `fit`.

    Returns {path: layer} of `pruned`, wrappers looked through."""
    copies = dict(selection.named_layers(pruned))
    for path, layer in layers_by_path.items():
        if not graph.is_nested_model(layer) and layer.weights:
            copies[path].set_weights(layer.get_weights())
    for wrapper in _tfmot_wrappers.pruning_wrappers(pruned):
        # Inside the graph too (custom loops, reloaded models): our message.
        wrapper._PRUNE_CALLBACK_ERROR_MSG = MISSING_CALLBACK_ERROR  # pylint: disable=protected-access
    _guard_fit(pruned)
    compile_args.accept_keras3_compile(pruned)
    return copies


def _carry_masks(wrapper):
    """Makes TFMOT's wrapper pass Keras masks on exactly as its layer would.

    Written by hand: PruneLowMagnitude neither supports masking nor asks its
    layer for the output mask, so a pruned Embedding(mask_zero=True) dropped
    its padding mask (the RNN after it trained on the padding); and as its
    `call` takes **kwargs, Keras handed masks to layers whose `call` has none.
    A pruned model reloaded from a file is TFMOT's plain wrapper again.
    """
    layer = wrapper.layer
    wrapper.supports_masking = layer.supports_masking
    wrapper.compute_mask = layer.compute_mask
    wrapper._call_spec.expects_mask_arg = layer._call_spec.expects_mask_arg  # noqa: SLF001
    return wrapper


def callbacks(log_dir=None):
    """The callbacks `fit` needs while pruning.

    TFMOT's UpdatePruningStep (advances the schedule, re-applies masks at
    each epoch end), plus PruningSummaries (sparsity per layer in
    TensorBoard) when `log_dir` is given.
    """
    result = [tfmot.sparsity.keras.UpdatePruningStep()]
    if log_dir:
        result.append(tfmot.sparsity.keras.PruningSummaries(log_dir=log_dir))
    return result


def _guard_fit(model):
    """Makes `model.fit` refuse to start without the pruning callbacks, and
    take Keras 3 callbacks.

    Written by hand: TFMOT only fails inside the first training step, with an
    assertion from the graph; this fails before training, in plain words.
    """
    original_fit = model.fit

    @functools.wraps(original_fit)
    def fit(*args, **kwargs):
        check_fit_callbacks(model, keras3_callbacks.fit_callbacks(args, kwargs))
        # Keras 3 callbacks run too; a Keras 3 ModelCheckpoint saves the
        # stripped model, in the Keras the user gave.
        args, kwargs = keras3_callbacks.adapt_fit_arguments(
            args, kwargs, finished=lambda: strip(model))
        return original_fit(*args, **kwargs)

    model.fit = fit


def check_fit_callbacks(model, fit_callbacks):
    """Raises our clear error if `model` is pruned and UpdatePruningStep is missing."""
    if not _tfmot_wrappers.has_pruning_wrappers(model):
        return
    if not any(isinstance(c, tfmot.sparsity.keras.UpdatePruningStep)
               for c in fit_callbacks or ()):
        raise ValueError(MISSING_CALLBACK_ERROR)


@accepts_keras3("model", returns_model=True)
def strip(model):
    """The model without pruning wrappers, its zeros kept.

    Masks are applied once more first, so the weights are exactly as sparse
    as the masks even if training stopped between mask applications. The
    stripped model holds plain Keras layers (DepthwiseConv2D, Bidirectional,
    not the stand-ins that let TFMOT prune them).
    """
    require_keras2_model(model)
    for wrapper in _tfmot_wrappers.pruning_wrappers(model):
        # Trained under a tf.distribute strategy, the masks are distributed
        # variables: TFMOT updates them only from inside that strategy's scope.
        strategy = getattr(wrapper.pruning_vars[0][1], "distribute_strategy", None)
        with strategy.scope() if strategy else contextlib.nullcontext():
            wrapper.pruning_obj.weight_mask_op()
    return _without_stand_ins(tfmot.sparsity.keras.strip_pruning(model))


def _without_stand_ins(model):
    """`model` with each `prunable.Prunable*` layer back as its Keras class."""
    if not any(prunable.plain_copy(layer) is not None
               for _, layer in selection.named_layers(model)):
        return model
    pending = []

    def plain(layer):
        copy = prunable.plain_copy(layer)
        if copy is None:
            return layer  # as TFMOT's strip_pruning: the same layer, its weights
        pending.append((copy, layer.get_weights()))
        return copy

    result = _clone_nested(model, plain)
    for copy, weights in pending:  # built now, as part of `result`
        copy.set_weights(weights)
    return result
