"""The `tfcompress shrink` job: remove channels, recover by distillation, export.

The target (a fraction of every group's channels, of the parameters, of the
MACs, or a measured LiteRT latency) is turned once into a plan: the width of
every group of coupled channels. With several rounds, each round narrows the
model part of the way (widths shrink geometrically) and recovers before the
next; the last round reaches the plan. Recovery distills from the unshrunk
model (or `teacher`), which keeps what it knew.
"""

import dataclasses
import json
import os

from tfcompress import evaluate
from tfcompress import shrink
from tfcompress import training
from tfcompress._checks import check_positive_int
from tfcompress._keras import keras
from tfcompress.evaluate import ratios
from tfcompress.jobs import artifacts
from tfcompress.jobs import distilling
from tfcompress.jobs import logits
from tfcompress.jobs import loop
from tfcompress.jobs import options
from tfcompress.jobs import runner

PLAN_FILE = "shrink_plan.json"
TARGETS = ("fraction", "target_params", "target_macs", "target_latency_ms", "widths")
LATENCY_FORMATS = shrink.latency.FORMATS
# Batches of training data the "taylor" criterion and a crop score on.
_SCORING_BATCHES = 8


def parse_target(text):
    """"macs:0.5" -> {"target_macs": 0.5}; also params:, fraction:, latency_ms:,
    and widths:W (W as `parse_widths` reads it)."""
    names = {"fraction": "fraction", "params": "target_params", "macs": "target_macs",
             "latency_ms": "target_latency_ms"}
    kind, _, value = str(text).partition(":")
    if kind == "widths" and value:
        return {"widths": value}
    try:
        return {names[kind]: float(value)}
    except (KeyError, ValueError):
        raise ValueError(f"`shrink_target` must be one of {', '.join(names)} with a "
                         f"number, e.g. 'macs:0.5' or 'latency_ms:0.005', or widths: "
                         f"with widths, e.g. 'widths:conv1=8,dense=32', got "
                         f"{text!r}.") from None


def parse_widths(text):
    """{producer layer name: width} from "conv1=8,dense=32" or a JSON file.

    The file holds that mapping, or a shrink job's shrink_plan.json (its
    "widths"), so one run's widths can be given to another.

    Raises:
      ValueError: neither form, naming `widths` and the value.
    """
    widths = options.read_pairs(text, "widths", int, "widths", "widths")
    if not isinstance(widths, dict) or not widths or not all(
            isinstance(w, int) and not isinstance(w, bool) for w in widths.values()):
        raise ValueError(f"`widths` must be layer=width pairs, e.g. 'conv1=8,dense=32', "
                         f"or a .json file of them (a shrink run's {PLAN_FILE}), got "
                         f"{text!r}.")
    return widths


@dataclasses.dataclass
class ShrinkJob(runner.Job):
    """Removes whole units, filters and channels, then fine-tunes the smaller model.

    Give one target: `fraction` (of every group's channels), `target_params`
    or `target_macs` (fraction of the model's to keep),
    `target_latency_ms` (the exported `latency_format` file's batch-1 LiteRT
    latency on this machine) or `widths` (each group's width, chosen
    elsewhere: by `tfcompress optimize`, or an earlier run's plan).

    Writes the smaller model (model.keras), saved_model/, model.tflite,
    shrink_plan.json (the widths) and summary.json, whose `shrink` section
    counts parameters and MACs per layer before and after and times both
    TFLite files.

    Each option's help says what it does; `round_to`, `min_width`, `pinned`,
    `on_unknown`, `search` and `latency_threads` are `shrink.shrink`'s,
    `crop_inputs` is `shrink.crop`'s (cropped in the first round), `penalty`
    one of `shrink.PENALTIES`.
    """

    model: str = options.option(
        help="Trained model: a .keras file (Keras 3 or tf_keras) or a job's output "
        "folder.", record=artifacts.abspath_of_model)
    fraction: float = options.option(
        None, "Target: remove this fraction of every group's channels.")
    target_params: float = options.option(
        None, "Target: keep at most this fraction of the parameters.")
    target_macs: float = options.option(
        None, "Target: keep at most this fraction of the MACs.")
    target_latency_ms: float = options.option(
        None, "Target: the exported file's batch-1 LiteRT latency on this machine, in ms "
        "(measured while searching).")
    widths: str = options.option(
        None, "Target: these widths, as layer=width pairs ('conv1=8,dense=32', a layer "
        f"standing for the channels it shares with others) or a .json file of them (a "
        f"shrink run's {PLAN_FILE}); layers not named keep theirs.")
    latency_format: str = options.option(
        "float", "The file a latency target times, and whose kernels an automatic round_to "
        "follows: float, or int8 (as `tfcompress quantize` would export it).",
        choices=LATENCY_FORMATS)
    criterion: str = options.option(
        "l2", "Which channels go first: l1 / l2 norm of the group's weights, bn "
        "(batch-norm scales), taylor (activation x gradient on training batches).",
        choices=shrink.CRITERIA)
    rounds: int = options.option(
        1, "Shrink-and-recover rounds; --epochs are split over them.", lower_bound=1)
    round_to: str = options.option(
        None, "Widths become multiples of this: a number, or auto (the channel tile of "
        "this machine's LiteRT kernels for the latency_format file: 16 on AVX-512). "
        "Default: auto with a latency target, else 1.")
    search: str = options.option(
        None, "How a target's widths are found: uniform (one fraction removed from every "
        "layer, by bisection) or grow (then widen one layer by one round_to multiple at "
        "a time, the widening that still meets the target and gives back the most "
        "criterion score per MAC, parameter or measured ms). Default: grow when "
        "round_to > 1 (the uniform widths then have few stops), else uniform.",
        choices=shrink.SEARCHES)
    latency_threads: int = options.option(
        2, "LiteRT threads a latency target is timed at while searching, and the "
        "summary's latency: the thread count the model will run with.", lower_bound=1)
    min_width: int = options.option(1, "Smallest width of any layer.", lower_bound=1)
    pinned: tuple = options.option((), "Layers whose width must stay.", record=list)
    on_unknown: str = options.option(
        "error", "Layers the dependency graph does not know: refuse them, or keep their "
        "channels (with a warning).", choices=("error", "pin"))
    teacher: str = options.option(
        None, "Recover by distilling from this model (default: the unshrunk one).",
        record=lambda path: path and artifacts.abspath_of_model(path, "teacher"))
    distill: bool = options.option(
        True, "Recover by distillation; --nodistill trains on the labels alone.")
    temperature: float = distilling.temperature()
    alpha: float = distilling.alpha()
    penalty: str = options.option(
        None, "Train with a sparsity-inducing penalty before shrinking: group_lasso (l2 "
        "norm of each channel's weights) or bn_l1 (batch-norm scales; use with "
        "--criterion=bn).", choices=shrink.PENALTIES)
    penalty_weight: float = options.option(1e-4, "Weight of --penalty.", lower_bound=0.0)
    penalty_epochs: int = options.option(1, "Epochs with --penalty.", lower_bound=1)
    crop_inputs: float = options.option(
        None, "Also crop the border rows and columns of an image a Flatten hands to "
        "Dense layers (an MLP's), as long as they carry at most this share of what the "
        "first Dense reads (mean |x| times weight norm), e.g. 0.01.", lower_bound=0.0,
        upper_bound=1.0)
    name = "shrink"

    @property
    def _target(self):
        return {name: getattr(self, name) for name in TARGETS
                if getattr(self, name) is not None}

    def _options(self):
        return {"criterion": self.criterion,
                "round_to": shrink.rounding.check("round_to", self.round_to),
                "min_width": self.min_width, "pinned": tuple(self.pinned),
                "on_unknown": self.on_unknown}

    def phases(self):
        rounds = ("recover",) if self.rounds == 1 else tuple(
            f"round{r}" for r in range(1, self.rounds + 1))
        return (("sparsify",) if self.penalty else ()) + rounds

    def check(self, run):
        check_positive_int("rounds", self.rounds)
        if self.rounds > run.training.epochs:
            raise ValueError(f"`rounds` ({self.rounds}) must be at most `epochs` "
                             f"({run.training.epochs}): each round fine-tunes at least "
                             "one epoch.")
        if len(self._target) != 1:
            raise ValueError(f"Give exactly one of {', '.join(f'`{t}`' for t in TARGETS)}"
                             f", got {sorted(self._target) or 'none'}.")
        model = run.load_model(self.model)
        logits.require_logits(model, self.model)
        # The target's value is checked here; reaching it (a search of
        # rebuilt or timed models) waits for the run. One cheap shrink checks
        # every other argument against the model.
        shrink.rounding.check("round_to", self.round_to)
        (name, value), = self._target.items()
        shrink.check_search(self.search)
        check_positive_int("latency_threads", self.latency_threads)
        if self.search is not None and name in ("fraction", "widths"):
            raise ValueError(f"`search`={self.search!r} applies to target_params, "
                             f"target_macs and target_latency_ms, not {name}: leave it "
                             "out.")
        if name == "target_latency_ms":
            shrink.latency.check(value, self.latency_format)
        elif name == "widths":
            shrink.shrink(model, widths=parse_widths(value), **self._options())
        else:
            shrink.check_fraction(name, value)
        shrink.shrink(model, fraction=0.5, **{**self._options(), "criterion": "l2"}
                      if self.criterion == "taylor" else self._options())
        if self.crop_inputs is not None:
            shrink.crop.check_tolerance(self.crop_inputs)
            shrink.crop.require_croppable(shrink.dependency_graph(
                model, pinned=tuple(self.pinned), on_unknown=self.on_unknown))
        if self.penalty:
            check_positive_int("penalty_epochs", self.penalty_epochs)
            shrink.penalties.make(self.penalty, model, self.penalty_weight,
                                  pinned=tuple(self.pinned), on_unknown=self.on_unknown)
        if self.distill:
            distilling.distiller(run, model, self.teacher or self.model, self)

    # Planning -------------------------------------------------------------

    def _scoring_data(self, run, crop=False):
        """Training batches for taylor scores or a crop's, else None."""
        needed = self.criterion == "taylor" or (crop and self.crop_inputs is not None)
        return run.train_batches().take(_SCORING_BATCHES) if needed else None

    def _plan(self, run, original):
        """{producer: final width}, computed once per run (kept on resume)."""
        path = os.path.join(run.staging, PLAN_FILE)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        target = {**self._target, "latency_format": self.latency_format}
        if "widths" in target:
            target["widths"] = parse_widths(target["widths"])
        if "target_latency_ms" in target:
            run.log(f"Searching for widths whose {self.latency_format} TFLite file runs "
                    f"in {target['target_latency_ms']} ms at batch 1 (measured).")
        result = shrink.shrink(original, **target, **self._options(),
                               crop_inputs=self.crop_inputs, search=self.search,
                               latency_threads=self.latency_threads,
                               data=self._scoring_data(run, crop=True))
        run.log(f"Widths found: {shrink.describe_search(result.search)}.")
        plan = {"widths": {g.producers[0]: g.after for g in result.groups},
                "before": {g.producers[0]: g.before for g in result.groups},
                "crops": result.to_json()["crops"],
                "fraction": result.fraction, "latency_search": result.latency,
                "round_to": result.round_to, "search": result.search}
        run.write_json(PLAN_FILE, plan)
        return plan

    @staticmethod
    def _log_plan(run, plan):
        widths = ", ".join(f"{name} {plan['before'][name]}->{width}"
                           for name, width in plan["widths"].items())
        rounded = plan.get("round_to") or {"multiple": 1, "from": "default"}
        run.log(f"Planned widths: {widths}; "
                f"{shrink.rounding.describe(rounded['multiple'], rounded['from'])}.")

    def _round_widths(self, plan, round_number):
        """Widths after `round_number` of `rounds`: geometric steps to the plan."""
        share = round_number / self.rounds
        return {name: int(max(width, round(plan["before"][name]
                                          * (width / plan["before"][name]) ** share)))
                for name, width in plan["widths"].items()}

    # Training ---------------------------------------------------------------

    def build(self, run, phase):
        if phase == "sparsify":
            return self._sparsify(run)
        if phase in ("recover", "round1"):
            self._original = run.load_model(self.model)
            self._current = self._original
            self._plan_record = self._plan(run, self._original)
            self._log_plan(run, self._plan_record)
            self._teacher_examples = None
        round_number = 1 if phase == "recover" else int(phase[len("round"):])
        widths = self._round_widths(self._plan_record, round_number)
        crops = {name: tuple(map(tuple, box))
                 for name, box in self._plan_record.get("crops", {}).items()}
        result = shrink.shrink(self._current, widths=widths, **self._options(),
                               crop_inputs=crops if round_number == 1 and crops else None,
                               data=self._scoring_data(run))
        self._result, self._current = result, result.model
        run.log(f"Round {round_number} of {self.rounds}: "
                f"{result.params['before']:,} -> {result.params['after']:,} parameters, "
                f"{result.macs['before']:,} -> {result.macs['after']:,} MACs.")
        rates = _dropout_rates_changed(self._original, result.model)
        if rates:
            run.log("Dropout after narrowed channels drops fewer, keeping the units at work "
                    "(Srivastava et al. 2014): " + rates + ".")
        epochs = self._round_epochs(run.training.epochs, round_number)
        if not self.distill:
            training.compile_classifier(self._current, optimizer=run.training.optimizer,
                                        learning_rate=run.learning_rate(epochs))
            return loop.Trainee(self._current, epochs=epochs)
        trainee = distilling.trainee(run, self._current, self.teacher or self.model, self,
                                     epochs=epochs, examples=self._teacher_examples)
        self._teacher_examples = trainee.examples  # one teacher pass serves every round
        run.log(f"Recovering by distillation from "
                f"{'the unshrunk model' if not self.teacher else self.teacher} for "
                f"{epochs} epochs.")
        return trainee

    def _sparsify(self, run):
        """Trains the unshrunk model with the penalty, on the labels."""
        model = run.load_model(self.model)
        model.add_loss(shrink.penalties.make(self.penalty, model, self.penalty_weight,
                                             pinned=tuple(self.pinned),
                                             on_unknown=self.on_unknown))
        training.compile_classifier(model, optimizer=run.training.optimizer,
                                    learning_rate=run.learning_rate(self.penalty_epochs))
        run.log(f"Training with the {self.penalty} penalty (weight "
                f"{self.penalty_weight:g}) for {self.penalty_epochs} epochs before "
                "shrinking.")
        return loop.Trainee(model, epochs=self.penalty_epochs, keep_best=False)

    def _round_epochs(self, epochs, round_number):
        """The run's epochs split over the rounds; the last round takes the rest."""
        each = epochs // self.rounds
        return each + (epochs - each * self.rounds if round_number == self.rounds else 0)

    def finish(self, run):
        final = run.local(self._current)
        original = run.local(self._original)
        test = run.test()
        counts = {"params": {"before": evaluate.count_params(original)["total"],
                             "after": evaluate.count_params(final)["total"]},
                  "macs": {"before": evaluate.count_macs(original)["total"],
                           "after": evaluate.count_macs(final)["total"]}}
        exported = artifacts.export_and_evaluate(final, run.staging, test,
                                                 run.check_batch(), run.test_count,
                                                 as_keras3=run.keras3_output)
        latency = self._latency(run, original, final)
        self._summary_shrink = {
            **counts, "rounds": self.rounds, "widths": self._plan_record["widths"],
            "widths_before": self._plan_record["before"],
            "crops": self._plan_record.get("crops", {}),
            "layers": evaluate.layer_changes(original, final), "pinned": self._result.pinned,
            "latency_search": self._plan_record.get("latency_search"),
            "round_to": self._plan_record.get("round_to"),
            "search": self._plan_record.get("search"), "latency": latency}
        # The input as given: the sparsify phase trained `original` in place.
        unshrunk = run.local(run.load_model(self.model, "unshrunk")) if self.penalty \
            else original
        return {"original": {"test_accuracy": evaluate.evaluate_classifier(
                                 unshrunk, test)["accuracy"]},
                "shrink": self._summary_shrink, **exported}

    def _latency(self, run, original, final):
        """Batch-1 LiteRT latency of the original's and the shrunk model's files,
        in the format a latency target was set in (else float)."""
        exported = os.path.join(run.staging, artifacts.TFLITE_FILE)  # float already
        files = {"original": shrink.latency.tflite_bytes(original, self.latency_format),
                 "shrunk": exported if self.latency_format == "float"
                 else shrink.latency.tflite_bytes(final, self.latency_format)}
        timed = evaluate.compare_latency(files, rounds=5, batch_size=1, repeats=200,
                                         num_threads=self.latency_threads)
        before, after = timed["original"]["median_ms"], timed["shrunk"]["median_ms"]
        return {"format": self.latency_format, "num_threads": self.latency_threads,
                "original_ms": before, "shrunk_ms": after, "speedup": before / after}

    def describe(self, summary, output_dir):
        own = summary["shrink"]
        lines = [format_layers(own["layers"]),
                 f"Parameters {own['params']['before']:,} -> {own['params']['after']:,} "
                 f"({own['params']['before'] / own['params']['after']:.2f}x fewer), MACs "
                 f"{own['macs']['before']:,} -> {own['macs']['after']:,} "
                 f"({own['macs']['before'] / max(1, own['macs']['after']):.2f}x fewer).",
                 f"Batch-1 latency ({own['latency'].get('format', 'float')} TFLite, "
                 f"{own['latency'].get('num_threads', 2)} threads, interleaved rounds): "
                 f"{own['latency']['original_ms']:.4f} -> {own['latency']['shrunk_ms']:.4f} "
                 f"ms ({ratios.faster_or_slower(own['latency']['speedup'], digits=2)}).",
                 f"Unshrunk model test accuracy {summary['original']['test_accuracy']:.2%}.",
                 artifacts.format_summary(summary, output_dir)]
        return "\n".join(lines)


def format_layers(rows):
    """The per-layer table: parameters and MACs before and after."""
    lines = [f"{'layer':<28} {'type':<18} {'params':>19} {'MACs':>25}"]
    for row in rows:
        lines.append(f"{row['name'][:28]:<28} {row['type'][:18]:<18} "
                     f"{row['params_before']:>9,}->{row['params_after']:<9,} "
                     f"{row['macs_before']:>12,}->{row['macs_after']:<12,}")
    return "\n".join(lines)


def _dropout_rates_changed(before, after):
    """"stem_dropout 0.2 -> 0, dropout 0.4 -> 0.1": the Dropout layers of
    `after` whose rate differs from `before`'s layer of the same name."""
    changed, names = [], {layer.name for layer in before.layers}
    for layer in after.layers:
        if isinstance(layer, keras.layers.Dropout) and layer.name in names:
            old = before.get_layer(layer.name).rate
            if abs(old - layer.rate) > 1e-9:
                changed.append(f"{layer.name} {old:g} -> {layer.rate:.2g}")
    return ", ".join(changed)
