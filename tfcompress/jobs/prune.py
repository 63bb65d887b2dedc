"""The `tfcompress prune` job: prune a trained model, fine-tune, strip, export."""

import dataclasses
import json
import os
import warnings

from tfcompress import evaluate
from tfcompress import prune
from tfcompress import training
from tfcompress._checks import check_positive_int
from tfcompress.jobs import artifacts
from tfcompress.jobs import distilling
from tfcompress.jobs import logits
from tfcompress.jobs import loop
from tfcompress.jobs import options
from tfcompress.jobs import runner

PRUNE_REPORT_FILE = "prune_report.json"
SENSITIVITY_FILE = "sensitivity.json"


def parse_m_by_n(text):
    """"2:4" -> (2, 4); "" or None -> None."""
    if not text:
        return None
    try:
        zeros, group = (int(part) for part in text.split(":"))
    except (ValueError, AttributeError):  # AttributeError: not a string
        raise ValueError(f"`m_by_n` must look like '2:4' (N zeros in each M weights), "
                         f"got {text!r}.") from None
    if not 0 < zeros < group:
        raise ValueError(f"`m_by_n` must be 'N:M' with 0 < N < M (N zeros in each M "
                         f"consecutive weights, e.g. '2:4'), got {text!r}.")
    return zeros, group


def parse_layer_sparsity(text):
    """{layer path: sparsity} from "dense_1=0.9,dense_2=0.8" or a JSON file of it.

    The file holds that mapping, or a prune run's sensitivity.json (its
    "plan"), so one run's per-layer targets can be given to another.

    Raises:
      ValueError: neither form, or a sparsity outside [0, 1), naming
        `layer_sparsity` and the value.
    """
    targets = options.read_pairs(text, "layer_sparsity", float, "plan",
                                 "per-layer sparsities")
    if not isinstance(targets, dict) or not targets or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1
            for v in targets.values()):
        raise ValueError(f"`layer_sparsity` must be layer=sparsity pairs with sparsities "
                         f"in [0, 1), e.g. 'dense_1=0.9,dense_2=0.8', or a .json file of "
                         f"them (a prune run's {SENSITIVITY_FILE}), got {text!r}.")
    return {name: float(value) for name, value in targets.items()}


@dataclasses.dataclass
class PruneJob(runner.Job):
    """Prunes a trained model to `sparsity` while fine-tuning it.

    Sparsity rises (polynomial) or jumps (constant) over the first
    `pruning_end_epoch` epochs (default two thirds of the run's); the rest
    fine-tune at the target. With `teacher`, fine-tuning is distillation
    from it (the unpruned model itself is a good teacher). With
    `sensitivity`, each layer's one-shot pruning sensitivity on the
    validation split sets per-layer targets whose overall sparsity is
    `sparsity`.

    Masks update every `frequency` steps; left None, that is the largest
    divisor of the ramp's steps up to 100, so the last update lands where the
    ramp ends and every layer reaches its target (a `frequency` that does not
    divide the ramp stops short, and is warned of). Each pruned layer's final
    sparsity is checked against its target: summary.json's "sparsity_target"
    lists the layers more than 1 point short, and the log names them.

    Writes the stripped model (model.keras), saved_model/, model.tflite,
    prune_report.json (per layer), sensitivity.json (if run) and summary.json.
    """

    model: str = options.option(
        help="Trained model: a .keras file or a `tfcompress train` output folder.",
        record=artifacts.abspath_of_model)
    sparsity: float = options.option(
        0.9, "Target fraction of zero weights (overall, with --sensitivity).",
        lower_bound=0.0, upper_bound=0.999)
    schedule: str = options.option("polynomial", "Gradual (Zhu & Gupta) or one-step "
                                   "pruning.", choices=("polynomial", "constant"))
    pruning_end_epoch: int = options.option(
        None, "Epoch by which the target is reached (default: two thirds of --epochs); "
        "later epochs fine-tune.", lower_bound=1)
    frequency: int = options.option(
        None, "Steps between mask updates (default: the largest divisor of the ramp's "
        "steps up to 100, so the last update reaches the target).", lower_bound=1)
    m_by_n: str = options.option(
        None, "N:M structured sparsity, e.g. 2:4 (overrides --sparsity).")
    sensitivity: bool = options.option(
        False, "Per-layer targets from a one-shot sensitivity analysis.")
    layer_sparsity: str = options.option(
        None, "Per-layer targets instead of --sparsity: layer=sparsity pairs "
        "('dense_1=0.9,dense_2=0.8') or a .json file of them; other layers stay dense.")
    teacher: str = options.option(
        None, "Fine-tune by distilling from this model (e.g. the unpruned one).",
        record=lambda path: path and artifacts.abspath_of_model(path, "teacher"))
    temperature: float = distilling.temperature()
    alpha: float = distilling.alpha()
    name = "prune"

    def _ramp_end_epoch(self, epochs):
        """Epoch by which sparsity reaches its target: default two thirds in."""
        if self.pruning_end_epoch is None:
            return max(1, (2 * epochs) // 3)
        check_positive_int("pruning_end_epoch", self.pruning_end_epoch)
        if self.pruning_end_epoch > epochs:
            raise ValueError(f"`pruning_end_epoch` ({self.pruning_end_epoch}) must be at "
                             f"most `epochs` ({epochs}).")
        return self.pruning_end_epoch

    def check(self, run):
        self._ramp_end_epoch(run.training.epochs)
        if self.frequency is not None:
            check_positive_int("frequency", self.frequency)
        if self.sensitivity and (self.m_by_n or not run.training.val_split):
            raise ValueError("`sensitivity` plans unstructured per-layer targets on the "
                             "validation split: it needs `val_split` and no `m_by_n`.")
        m_by_n = parse_m_by_n(self.m_by_n)
        if self.layer_sparsity is not None and (self.sensitivity or m_by_n):
            raise ValueError("`layer_sparsity` gives the per-layer targets itself: leave "
                             "`sensitivity` and `m_by_n` unset.")
        logits.require_logits(run.load_model(self.model), self.model)
        # Any valid ramp will do: this only checks the model and the arguments.
        pruned = prune.prune(run.load_model(self.model),
                             sparsity=None if m_by_n else self._given_targets(),
                             schedule=self.schedule, m_by_n=m_by_n, end_step=2,
                             frequency=1)
        if self.teacher:
            distilling.distiller(run, pruned.model, self.teacher, self)

    def _given_targets(self):
        """`sparsity`, or the per-layer targets of `layer_sparsity`."""
        if self.layer_sparsity is not None:
            return parse_layer_sparsity(self.layer_sparsity)
        return self.sparsity

    def _targets(self, run, dense):
        """The sparsity target(s): one number, or a per-layer plan (kept on resume)."""
        if self.m_by_n:
            return None
        if self.layer_sparsity is not None:
            return parse_layer_sparsity(self.layer_sparsity)
        if not self.sensitivity:
            return self.sparsity
        path = os.path.join(run.staging, SENSITIVITY_FILE)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)["plan"]
        run.log("Sensitivity analysis: each layer pruned alone on the validation split.")
        analysis = prune.sensitivity.analyze(dense, run.validation(),
                                             verbose=run.progress_verbose)
        targets = prune.sensitivity.plan(analysis, self.sparsity)
        run.log(prune.sensitivity.format_table(analysis))
        run.log("Plan: " + ", ".join(f"{k} {v:.1%}" for k, v in targets.items()))
        run.write_json(SENSITIVITY_FILE, {**analysis.to_json(), "plan": targets})
        return targets

    def build(self, run, phase):
        self._dense = run.load_model(self.model)
        ramp_end = self._ramp_end_epoch(run.training.epochs)
        begin_step, end_step = prune.epochs_to_steps(0, ramp_end, run.steps_per_epoch)
        if self.frequency is None:
            frequency = prune.reach.reaching_frequency(begin_step, end_step)
        else:  # longer than the ramp: one update, where it ends
            frequency = min(self.frequency, end_step - begin_step)
        with warnings.catch_warnings():
            # Logged below with the run's other lines, not printed twice.
            warnings.simplefilter("ignore", prune.ScheduleWarning)
            self._result = prune.prune(
                self._dense, sparsity=self._targets(run, self._dense),
                schedule=self.schedule, begin_step=begin_step, end_step=end_step,
                frequency=frequency, m_by_n=parse_m_by_n(self.m_by_n))
        for message in self._result.warnings:
            run.log(f"Warning: pruning ramps over {end_step} steps ({ramp_end} epoch"
                    f"{'s' if ramp_end > 1 else ''} of {run.steps_per_epoch}): {message}")
        by_reason = {}  # a MobileNet has dozens of batch norms: one line each reason
        for name, reason in self._result.skipped.items():
            by_reason.setdefault(reason, []).append(name)
        for reason, names in by_reason.items():
            run.log(f"Not pruned ({reason}): {', '.join(names)}")
        # With a log folder: TFMOT's PruningSummaries, TensorBoard plus sparsity.
        # Early epochs are denser, so score better: keep the last, not the best.
        kept = {"callbacks": tuple(prune.callbacks(log_dir=run.phase_log_dir(phase))),
                "keep_best": False}
        if self.teacher:
            trainee = distilling.trainee(run, self._result.model, self.teacher, self,
                                         **kept)
        else:
            training.compile_classifier(self._result.model,
                                        optimizer=run.training.optimizer,
                                        learning_rate=run.learning_rate())
            trainee = loop.Trainee(self._result.model, **kept)
        updates = "" if self.m_by_n else f", masks updated every {frequency} steps"
        aim = (f"{self.sparsity:.0%}" if self.layer_sparsity is None else "per-layer targets ("
               + ", ".join(f"{k} {v:.0%}" for k, v in self._result.targets.items()) + ")")
        run.log(f"Pruning {self._dense.name} to {aim} ({self.schedule}, "
                f"target by epoch {ramp_end} of {run.training.epochs}{updates})"
                f"{' with distillation' if self.teacher else ''}.")
        return trainee

    def finish(self, run):
        stripped = run.local(prune.strip(self._result.model))
        m_by_n = parse_m_by_n(self.m_by_n)
        report = prune.sparsity_report(stripped, m_by_n=m_by_n,
                                       m_by_n_layers=self._result.targets)
        run.write_json(PRUNE_REPORT_FILE, {**report, "targets": self._result.targets,
                                           "skipped": self._result.skipped})
        test = run.test()
        self._report = report
        misses = prune.target_misses(report, self._result.targets)
        return {"dense": {"test_accuracy": evaluate.evaluate_classifier(
                              run.local(self._dense), test)["accuracy"],
                          "params": self._dense.count_params()},
                "sparsity": report["total"],
                "sparsity_target": {"reached": not misses,
                                    "tolerance": prune.MISS_TOLERANCE, "misses": misses},
                **artifacts.export_and_evaluate(stripped, run.staging, test,
                                                run.check_batch(), run.test_count,
                                                as_keras3=run.keras3_output)}

    def describe(self, summary, output_dir):
        missed = prune.format_misses(summary["sparsity_target"]["misses"])
        return "\n".join([prune.format_report(self._report), *([missed] if missed else []),
                          f"Dense model test accuracy "
                          f"{summary['dense']['test_accuracy']:.2%}.",
                          artifacts.format_summary(summary, output_dir)])
