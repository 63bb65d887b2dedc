"""The stages of `tfcompress pipeline` and what each one takes as input.

Each stage is one of the jobs (`tfcompress.jobs`) writing into its own folder
under the run directory, so a later stage can be rerun alone from an earlier
stage's output. Planning is a pure function of the options and of which
stage folders already exist: every missing input is found before any work.
"""

import dataclasses
import os

from tfcompress.jobs import artifacts
from tfcompress.jobs import distill
from tfcompress.jobs import options as options_lib
from tfcompress.jobs import prune
from tfcompress.jobs import quantize
from tfcompress.jobs import settings
from tfcompress.jobs import shrink
from tfcompress.jobs import train


@dataclasses.dataclass(frozen=True)
class Stage:
    """How the pipeline runs one stage's job.

    Attributes:
      job: the job class; the plan's inputs (`model`, `teacher`) are its fields.
      epochs: default of the stage's `<stage>_epochs` option, and its help.
      options: {pipeline option: the job field it sets}, or a function of its
        value giving several fields. A pipeline option not among
        `PipelineOptions` is made from the job field's declaration (its
        --epochs named the stage's), under the pipeline's name.
      defaults: {pipeline option: default}, where not the job's.
      training: changes to the run's `settings.Training` for this stage.
    """

    job: type
    epochs: tuple
    options: dict = dataclasses.field(default_factory=dict)
    defaults: dict = dataclasses.field(default_factory=dict)
    training: object = None


_SOFT_TARGETS = {"temperature": "temperature", "alpha": "alpha"}

# The stages, in run order. baseline: the deployed architecture trained alone
# (what the report compares against); teacher: a bigger model to distill
# from; distill, shrink (structured), prune (unstructured), quantize: the
# compression steps; export: the final files gathered in export/; evaluate:
# accuracy and latency of every stage's file (these two run no job).
STAGES = {
    "baseline": Stage(train.TrainJob, (20, "Baseline epochs."), {"model": "model_spec"}),
    "teacher": Stage(train.TrainJob, (20, "Teacher epochs."),
                     {"teacher_model": "model_spec"}),
    "distill": Stage(distill.DistillJob, (20, "Distillation epochs."),
                     {"model": "student_spec", **_SOFT_TARGETS}),
    "shrink": Stage(shrink.ShrinkJob, (10, "Shrink stage recovery epochs."), {
        "shrink_target": shrink.parse_target, "shrink_rounds": "rounds",
        "shrink_criterion": "criterion", "shrink_round_to": "round_to",
        "shrink_latency_format": "latency_format", "shrink_search": "search",
        "latency_threads": "latency_threads",
        "shrink_crop_inputs": "crop_inputs", **_SOFT_TARGETS}),
    "prune": Stage(prune.PruneJob, (10, "Pruning + fine-tuning epochs."),
                   {"sparsity": "sparsity", "sensitivity": "sensitivity", **_SOFT_TARGETS}),
    # Fine-tuning a trained model: a tenth of training's rate, kept constant.
    "quantize": Stage(quantize.QuantizeJob,
                      (2, "Fine-tuning epochs of qat, pqat, cluster and cqat."),
                      {"quantization": "mode", "clusters": "clusters"},
                      defaults={"quantization": "pqat"},
                      training=lambda shared: {"learning_rate": shared.learning_rate / 10,
                                               "lr_schedule": "constant"}),
    "export": None,
    "evaluate": None,
}
MODEL_STAGES = tuple(stage for stage, row in STAGES.items() if row)

# Files of a run folder besides the jobs' own: stage timings at the top, and
# the record the export and evaluate stages write last in their folders.
PIPELINE_FILE = "pipeline.json"
EXPORT_FILE = "export.json"
EVALUATION_FILE = "evaluation.json"

option = options_lib.option


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """The pipeline's own options: what runs, and what no one job declares.

    `Options` adds `training` and each stage's options (`STAGES`).
    """

    stages: tuple = option(
        tuple(STAGES), f"Stages to run, in this order: {','.join(STAGES)}. Left-out "
        "stages are read from --output_dir if an earlier run wrote them.")
    model: str = option("lenet_300_100",
                        "Spec of the model to deploy (baseline and distill).")
    teacher_model: str = option("mlp:1200,1200,dropout=0.5",
                                "Spec of the teacher the teacher stage trains.")
    teacher: str = option(None, "A trained teacher (instead of the teacher stage).")
    input_model: str = option(
        None, "A trained model to compress (instead of baseline/distill).")
    shrink_target: str = option(
        "macs:0.25", "Shrink stage target: macs:F or params:F (keep that fraction), "
        "fraction:F (remove that fraction of every layer's channels) or latency_ms:MS "
        "(the --shrink_latency_format file, measured; its widths are rounded to this "
        "machine's kernel tile unless --shrink_round_to says otherwise) or widths:W (given "
        "widths: layer=width pairs joined by commas, or a shrink run's shrink_plan.json).")
    prune_with_teacher: bool = option(
        True, "Fine-tune the pruned model by distilling from the teacher, when there is "
        "one.")
    latency_threads: int = option(
        2, "LiteRT threads of the evaluate stage's batch-1 timings, and of the shrink "
        "stage's (its latency target is timed at them). 1 is LiteRT's own default, and "
        "faster for models of a few microseconds (BENCHMARKS.md).",
        lower_bound=1)

    @property
    def output_dir(self):
        return self.training.output_dir

    def recorded(self):
        """The options as the run's pipeline.json records them."""
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name != "training"}
        # Each stage has its own epochs (own fields); the shared value is unused.
        shared = {k: v for k, v in self.training.recorded().items() if k != "epochs"}
        return {"output_dir": self.output_dir, **shared, **own,
                "stages": list(self.stages)}


def _stage_fields(stages):
    """(name, type, field) of every stage's options, made from the jobs' fields."""
    made = {f.name for f in dataclasses.fields(PipelineOptions)}
    fields = []
    for stage, row in stages.items():
        if not row:
            continue
        default, text = row.epochs
        fields.append((f"{stage}_epochs", int, option(default, text, lower_bound=1)))
        declared = {f.name: (f, o) for f, o in options_lib.declared(row.job)}
        for name, target in row.options.items():
            if name in made or callable(target):
                continue
            made.add(name)
            field, declaration = declared[target]
            fields.append((name, field.type, options_lib.redeclared(
                declaration, row.defaults.get(name, field.default), flag=None,
                help=declaration.help.replace("--epochs", f"--{stage}_epochs"))))
    return fields


def options_class(stages):
    """The `Options` dataclass of a table of `stages` (see `STAGES`)."""
    return dataclasses.make_dataclass(
        "Options", [("training", settings.Training, dataclasses.field(kw_only=True)),
                    *_stage_fields(stages)],
        bases=(PipelineOptions,), frozen=True, namespace={
            "__module__": __name__,
            "__doc__": "Everything a pipeline run needs: `PipelineOptions`, each "
                       "stage's (`STAGES`), and `training`, what every stage's job "
                       "shares (its `output_dir` is the run's folder; stage folders go "
                       "inside it). See cli/pipeline.py for each flag."})


Options = options_class(STAGES)


def stage_dir(output_dir, stage):
    return os.path.join(output_dir, stage)


def is_complete(output_dir, stage):
    """A stage folder counts once its job finished (it writes summary.json last)."""
    name = {"export": EXPORT_FILE, "evaluate": EVALUATION_FILE}.get(
        stage, artifacts.SUMMARY_FILE)
    return os.path.isfile(os.path.join(stage_dir(output_dir, stage), name))


def _latest(candidates, available):
    return next((stage for stage in candidates if stage in available), None)


def plan(options):
    """{stage: {input name: path}} for each stage to run, in run order.

    Inputs come from this run's earlier stages, from stage folders a former
    run left in `output_dir`, or from `teacher` / `input_model`.

    Raises:
      ValueError: an unknown or repeated stage, a stage whose input nothing
        provides, or conflicting options; the message says what to add.
      FileExistsError: a stage folder to write already exists and not
        `overwrite`.
      FileNotFoundError: `teacher` or `input_model` is not there.
    """
    stages = tuple(options.stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise ValueError(f"`stages` must be a non-empty list drawn from {list(STAGES)}, "
                         f"got {list(stages)}.")
    if len(set(stages)) != len(stages):
        raise ValueError(f"`stages` lists a stage twice: {list(stages)}.")
    if options.training.strategy == "multi_worker":
        raise ValueError("`strategy` 'multi_worker' runs one job on every worker; the "
                         "pipeline's later stages would need the chief's files on every "
                         "machine. Run the stages' commands (tfcompress train, distill, "
                         "prune, quantize) with --strategy=multi_worker instead, or use "
                         "--strategy=mirrored for the devices of one machine.")
    if options.teacher and "teacher" in stages:
        raise ValueError("Give either the teacher stage or `teacher` (a trained "
                         "teacher), not both.")
    if options.input_model and ("baseline" in stages or "distill" in stages):
        raise ValueError("`input_model` is the model to compress: drop the baseline "
                         "and distill stages, which would train one.")
    for path_name in ("teacher", "input_model"):
        path = getattr(options, path_name)
        if path:
            try:
                artifacts.model_path(path)
            except FileNotFoundError:
                raise FileNotFoundError(f"`{path_name}` {path!r}: no .keras model "
                                        "there.") from None
    out = options.output_dir
    if options.training.resume:
        if options.training.overwrite:
            raise ValueError("`resume` continues an unfinished run and `overwrite` "
                             "starts over: pass one of them, not both.")
        # Finished stages are reused; the interrupted one and those after it run.
        stages = tuple(s for s in stages if not is_complete(out, s))
        if not stages:
            raise ValueError(f"`resume`: every stage of {list(options.stages)} in {out!r} "
                             "has finished; there is nothing to resume.")
    for stage in stages:
        folder = stage_dir(out, stage)
        if os.path.exists(folder) and not options.training.overwrite:
            raise FileExistsError(
                f"{folder!r} already holds the {stage} stage of an earlier run: pass "
                "--overwrite to redo it, or leave it out of --stages to reuse it.")

    ran = set()
    done = {s for s in STAGES if is_complete(out, s)}

    def available(stage):
        return stage in ran or (stage in done and stage not in stages)

    def folder_of(candidates):
        stage = _latest(candidates, [s for s in candidates if available(s)])
        return stage and stage_dir(out, stage)

    steps = {}
    for stage in (s for s in STAGES if s in stages):
        inputs = {}
        if stage in ("distill", "shrink", "prune"):
            teacher = options.teacher or folder_of(("teacher",))
            if stage == "distill" and not teacher:
                raise ValueError("The distill stage needs a teacher: add teacher to "
                                 "--stages, or pass --teacher=PATH.")
            # shrink recovers from the unshrunk model when there is no teacher.
            if stage != "prune" or options.prune_with_teacher:
                inputs["teacher"] = teacher
        if stage in ("shrink", "prune", "quantize"):
            earlier = {"shrink": ("distill", "baseline"),
                       "prune": ("shrink", "distill", "baseline"),
                       "quantize": ("prune", "shrink", "distill", "baseline")}[stage]
            source = folder_of(earlier) or options.input_model
            if not source:
                raise ValueError(f"The {stage} stage needs a trained model: add "
                                 f"{' or '.join(reversed(earlier))} to --stages, or "
                                 "pass --input_model=PATH.")
            unpruned = tuple(stage_dir(out, s) for s in ("shrink", "distill", "baseline"))
            if (stage == "quantize" and options.quantization == "pqat"
                    and source in unpruned):
                raise ValueError("--quantization=pqat keeps a pruned model's zeros, but "
                                 f"the quantize stage would get {source!r}, which is "
                                 "not pruned: add prune to --stages, or use "
                                 "--quantization=qat.")
            inputs["model"] = source
        if stage == "export":
            final = folder_of(("quantize", "prune", "shrink", "distill", "baseline"))
            if not final:
                raise ValueError("The export stage needs a model stage before it: add "
                                 "baseline, distill, shrink, prune or quantize to "
                                 "--stages.")
            inputs["final"] = final
        if stage == "evaluate" and not available("export"):
            raise ValueError("The evaluate stage measures the exported file: add "
                             "export to --stages.")
        steps[stage] = inputs
        ran.add(stage)
    return steps
