"""The `tfcompress optimize` job: give a budget, get the best model that meets it.

    measure (cached in the run) -> search -> attempt -> verify -> correct
    and retry while time remains -> the best attempt

- Measure (`optimize_measure`): the input model's files, lookup tables of
  every layer's latency and bytes, each channel group's sensitivity and,
  for sparse plans, each layer's sensitivity to zeros; kept in the run's
  folder, so `--resume` reuses it.
- Search (`optimize_search`): NetAdapt's narrowing path per file format
  and per variant of a zoo model, sparse plans for size; the plan is the
  least predicted loss that meets the predicted targets.
- Attempt: a variant's model with the input's weights, a `shrink` run to
  the plan's widths, recovering by distillation
  from the input model (or `teacher`), a `prune` run for a plan with zeros,
  then for an int8 or int4 plan a `quantize` run. Each is a job of its own
  under attempts/N/, resumable.
- Verify: the attempt's file timed against the input's in interleaved
  rounds, its bytes and test accuracy measured. After a miss, the next
  search aims at the targets mapped through the files measured so far
  (`budget.search.aimed`).

The run never ends empty-handed: the best attempt is written even when it
misses, and the summary says which target it missed and by how much.
"""

import dataclasses
import json
import os
import shutil
import time

from tfcompress import _atomic
from tfcompress import budget
from tfcompress import evaluate
from tfcompress import export
from tfcompress import shrink
from tfcompress._checks import check_positive_int
from tfcompress._version import __version__
from tfcompress.jobs import artifacts
from tfcompress.jobs import logits
from tfcompress.jobs import optimize_measure
from tfcompress.jobs import optimize_report
from tfcompress.jobs import optimize_search
from tfcompress.jobs import options
from tfcompress.jobs import run_dir
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import prune as prune_job
from tfcompress.jobs import shrink as shrink_job
from tfcompress.jobs import quantize as quantize_job
from tfcompress.models import variants as model_variants

FRONTIER_FILE = "frontier.json"
ATTEMPTS_DIR = "attempts"
ATTEMPT_FILE = "attempt.json"
# int4 (int4 Dense weights, `export.int4_weights`) only for a size budget
# without a latency target: it has no latency table, bytes only (`budget.Int4Bytes`).
FORMATS = (*shrink.latency.FORMATS, "int4")
# The widths' multiple of a size budget without latency (see `_step`).
SIZE_STEP = 4


@dataclasses.dataclass
class OptimizeJob(runner.Job):
    """Finds, trains and verifies the model that best meets a budget.

    Give at least one target: `target_latency_ms` (the file's median batch-1
    LiteRT invoke on this machine at `latency_threads`), `target_size_kb`
    (the .tflite file's bytes / 1000) or `max_accuracy_drop` (points of
    test accuracy lost against the input model's own float file). The run's
    --epochs are each attempt's recovery epochs; a plan that met the costs
    but not the accuracy, chosen again, recovers for twice its epochs.

    Writes model.tflite (the chosen attempt's file), report.md (with
    pareto.png and three picks), summary.json (the targets, what was
    measured, each attempt, met or missed and by how much), frontier.json
    (every plan searched, predicted and, for those trained, measured),
    measurements.json, and the jobs of each attempt under attempts/.
    """

    model: str = options.option(
        help="Trained model to compress: a .keras file (Keras 3 or tf_keras) or a job's "
        "output folder.", record=artifacts.abspath_of_model)
    target_latency_ms: float = options.option(
        None, "Target: the file's median batch-1 LiteRT latency on this machine, in ms, at "
        "--latency_threads.")
    target_size_kb: float = options.option(
        None, "Target: the .tflite file's size in KB (1 KB = 1,000 bytes).")
    max_accuracy_drop: float = options.option(
        None, "Target: the most points of test accuracy lost against the input model's "
        "own float .tflite file (1.0 = one point).")
    teacher: str = options.option(
        None, "Recover by distilling from this model (default: the input model).",
        record=lambda path: path and artifacts.abspath_of_model(path, "teacher"))
    latency_threads: int = options.option(
        1, "LiteRT threads every latency is measured at: the thread count the model will "
        "run with.", lower_bound=1)
    time_budget_min: float = options.option(
        None, "Start no new attempt after this many minutes of the run's work "
        "(measuring and attempts, before a resume too; default: no limit; "
        "--max_attempts still applies).", lower_bound=0.0)
    max_attempts: int = options.option(
        3, "Attempts (train, export, verify) at most.", lower_bound=1)
    formats: tuple = options.option(
        FORMATS, "File formats the search considers: float, int8, int4 (int4 Dense "
        "weights; weighed for a size budget without a latency target only).", record=list)
    tune_steps: int = options.option(
        optimize_measure.LONG_TUNE_STEPS, "Training steps each proposed model and each "
        "variant setting is fine-tuned for before the choice (NetAdapt's short-term "
        "fine-tune; a summed sensitivity ranks deep cuts poorly); 0: choose on the summed "
        "sensitivities alone.", lower_bound=0)
    round_to: str = options.option(
        None, "Widths are multiples of this: a number, or auto (this machine's kernel "
        "tile for each format: 16 on AVX-512). Default: auto.")
    name = "optimize"
    floor = None  # measured by `check` before a first start

    def phases(self):
        return ()  # each attempt's jobs train, under attempts/

    @property
    def targets(self):
        return budget.Targets(latency_ms=self.target_latency_ms, size_kb=self.target_size_kb,
                              max_accuracy_drop=self.max_accuracy_drop)

    @property
    def size_only(self):
        """A size budget without a latency target: files need bytes, not timing."""
        return self.target_size_kb is not None and self.target_latency_ms is None

    @property
    def searched_formats(self):
        """The formats searched: `formats`, int4 only for a size-only budget."""
        return tuple(f for f in self.formats if f != "int4" or self.size_only)

    @property
    def tabled_formats(self):
        """The formats with a lookup table: the searched ones, int8 for int4's bytes."""
        needed = set(self.searched_formats)
        if "int4" in needed:
            needed.add("int8")
        return tuple(f for f in shrink.latency.FORMATS if f in needed)

    @property
    def sparse_plans(self):
        """Whether plans may prune too: a size budget without a latency target
        (sparse int8 files are smaller but run without XNNPACK), int8 searched."""
        return self.size_only and "int8" in self.formats

    @property
    def timed(self):
        """Whether the search needs latency: a latency target, or the accuracy
        drop alone (the fastest plan within it). A size budget needs bytes only."""
        return self.target_latency_ms is not None or self.target_size_kb is None

    def step(self, latency_format):
        """The widths' multiple: `round_to`; else the kernel tile when the search
        times files (speed steps with the tile), else `SIZE_STEP` (bytes grow with
        every channel, so finer steps leave less of a size budget unspent)."""
        round_to = shrink.rounding.check("round_to", self.round_to)
        if round_to is None and not self.timed:
            return SIZE_STEP
        # int4 files run their convolutions in int8 kernels.
        tiled = "int8" if latency_format == "int4" else latency_format
        multiple, _ = shrink.rounding.resolve(round_to or "auto", True, tiled)
        return multiple

    def table(self, latency_format, record=None):
        """A lookup table (from `record` if given) that times its files only if needed."""
        timer = budget.latency_table.time_files if self.timed else None
        if record is not None:
            return budget.LatencyTable.from_json(record, timer=timer)
        return budget.LatencyTable(latency_format=latency_format,
                                   num_threads=self.latency_threads, timer=timer)

    def check(self, run):
        targets = self.targets
        formats = tuple(self.formats)
        if not formats or any(f not in FORMATS for f in formats) or len(
                set(formats)) != len(formats):
            raise ValueError(f"`formats` must be some of float, int8 and int4, each once, "
                             f"got {list(formats)!r}.")
        if not self.searched_formats:
            raise ValueError("`formats` int4 is weighed only for a size budget without a "
                             "latency target (it has no latency table): add float or int8.")
        check_positive_int("max_attempts", self.max_attempts)
        check_positive_int("latency_threads", self.latency_threads)
        if not isinstance(self.tune_steps, int) or self.tune_steps < 0:
            raise ValueError(f"`tune_steps` must be an int >= 0 (0: no fine-tune before the "
                             f"choice), got {self.tune_steps!r}.")
        shrink.rounding.check("round_to", self.round_to)
        model = run.load_model(self.model)
        logits.require_logits(model, self.model)
        if self.teacher:
            run.load_model(self.teacher, "teacher")
        shrink.narrowing(model)  # refuses a model of which nothing can shrink
        measurements = optimize_measure.path_in(run_dir.staging_dir(run.output_dir))
        if run.training.resume and os.path.exists(measurements):
            return  # measured (and checked) before the run stopped
        # int4's floor is int8's: the smallest model's one Dense is a few bytes.
        # With variants, the floor is the cheapest variant's: its frontend
        # takes the fewest bytes and the least time.
        found = model_variants.of_model(model, artifacts.spec_of_model(self.model))
        cheapest = found.cheapest() if found is not None else {}
        floor = budget.measure_floor(found.build(cheapest) if cheapest else model,
                                     formats=self.tabled_formats,
                                     num_threads=self.latency_threads)
        if cheapest:
            floor["model"] += f" at {model_variants.label(cheapest)}"
        budget.check_reachable(targets, floor)
        self.floor = floor

    # Searching and attempting -------------------------------------------------

    def _attempt(self, run, number, plan, epochs):
        """Trains (`epochs` of recovery), exports and verifies `plan`: its record
        (attempts/N/attempt.json)."""
        folder = os.path.join(ATTEMPTS_DIR, str(number))
        record_path = os.path.join(run.staging, folder, ATTEMPT_FILE)
        if os.path.exists(record_path):
            with open(record_path, encoding="utf-8") as f:
                return json.load(f)
        os.makedirs(os.path.join(run.staging, folder), exist_ok=True)
        widths_path = os.path.join(run.staging, folder, "widths.json")
        _atomic.write_json(widths_path, plan.widths)
        began = time.monotonic()
        is_input = plan.is_input  # its own file: nothing to train
        # Number 0: the input's own file, when no attempt wrote one.
        heading = (f"Attempt {number} of at most {self.max_attempts}" if number
                   else "Attempt 0")
        run.log(f"{heading}: {plan.latency_format} file, {optimize_search.plan_text(plan)}; "
                f"predicted {_predicted_text(plan.predicted)}; "
                + ("the input model's own file, no training." if is_input
                   else f"recovering for {epochs} epochs."))
        if is_input:  # the input's own file, measured with the input's files
            file = optimize_measure.input_files(run.staging)[plan.latency_format]
            accuracy = self._measured_inputs[plan.latency_format]["test_accuracy"]
        else:
            try:
                final = self._trained(run, folder, plan, widths_path, epochs)
            except export.ExportValidationError as failure:
                # The run goes on: the plan is left out of the next searches.
                record = {"number": number, "plan": plan.to_json(), "epochs": epochs,
                          "failed": str(failure),
                          "seconds": round(time.monotonic() - began, 1)}
                _atomic.write_json(record_path, record)
                return record
            file = os.path.join(run.staging, final, artifacts.TFLITE_FILE)
            with open(os.path.join(run.staging, final, artifacts.SUMMARY_FILE),
                      encoding="utf-8") as f:
                accuracy = json.load(f)["tflite"]["test_accuracy"]
        record = {"number": number, "plan": plan.to_json(),
                  "epochs": 0 if is_input else epochs,
                  "file": os.path.relpath(file, run.staging),
                  "measured": self._verify(run, file, accuracy, sparse=bool(plan.sparsity)),
                  "seconds": round(time.monotonic() - began, 1)}
        _atomic.write_json(record_path, record)
        return record

    def _trained(self, run, folder, plan, widths_path, epochs):
        """The folder (in the staging folder) of the job that wrote `plan`'s file.

        For a variant, the variant with the input's weights (variant.keras).
        A `shrink` run to the plan's widths (unless they are the input's own),
        then for zeros a `prune` run to the plan's per-layer sparsities,
        each recovering for `epochs` by distillation; then for an int8 or
        int4 plan a `quantize` run, sparse-encoded when pruned (XNNPACK
        cannot run sparse int8 weights: LiteRT's own kernels check it).
        """
        source, final = self.model, None
        if plan.variant:
            # The variant with the trained weights, recovered as a narrowing is
            # (a shrink run, at its full widths if the plan keeps them).
            source = os.path.join(run.staging, folder, "variant.keras")
            if not os.path.exists(source):
                model = run.load_model(self.model)
                export.save_keras_model(self._variants.build_from(plan.variant, model), source)
        if plan.step != 0 or plan.variant:
            final = os.path.join(folder, "shrink")
            # An int4 file's convolutions are int8 (`export.int4_weights`).
            kernels = "int8" if plan.latency_format == "int4" else plan.latency_format
            optimize_measure.sub_run(run, shrink_job.ShrinkJob(
                model=source, widths=widths_path, teacher=self.teacher or (
                    self.model if plan.variant else None),
                latency_format=kernels, latency_threads=self.latency_threads),
                final, epochs=epochs)
            source = os.path.join(run.staging, final)
        if plan.sparsity:
            sparsity_path = os.path.join(run.staging, folder, "sparsity.json")
            _atomic.write_json(sparsity_path, plan.sparsity)
            final = os.path.join(folder, "prune")
            optimize_measure.sub_run(run, prune_job.PruneJob(
                model=source, layer_sparsity=sparsity_path,
                teacher=self.teacher or self.model), final, epochs=epochs)
            source = os.path.join(run.staging, final)
        if plan.latency_format in ("int8", "int4"):
            final = os.path.join(folder, plan.latency_format)
            sparse = bool(plan.sparsity)
            optimize_measure.sub_run(run, quantize_job.QuantizeJob(
                model=source, mode=plan.latency_format, sparse=sparse, xnnpack=not sparse),
                final)
        return final

    def _verify(self, run, path, accuracy, sparse=False):
        """The attempt's file against the input's: latency (interleaved), bytes, accuracy.

        A sparse-encoded file is timed as LiteRT runs it, on its own kernels.
        """
        # The input's float file is the reference; its int4 file is not timed again.
        inputs_timed = {k: v for k, v in optimize_measure.input_files(run.staging).items()
                        if k != "int4"}
        files = {**inputs_timed, "attempt": path}
        timed = evaluate.compare_latency(
            files, rounds=optimize_measure.TIMING_ROUNDS, batch_size=1,
            num_threads=self.latency_threads,
            file_options={"attempt": {"xnnpack": False}} if sparse else None)
        inputs = self._measured_inputs
        return {"latency_ms": timed["attempt"]["median_ms"],
                "input_latency_ms": timed["float"]["median_ms"],
                "speedup": timed["float"]["median_ms"] / timed["attempt"]["median_ms"],
                "size_bytes": os.path.getsize(path), "test_accuracy": accuracy,
                "accuracy_drop": 100 * (inputs["float"]["test_accuracy"] - accuracy)}

    # The run -------------------------------------------------------------------

    def _variants_of(self, run, model):
        """The input's `models.variants.Variants` (None, logged, if it has none)."""
        spec = artifacts.spec_of_model(self.model)
        found = model_variants.of_model(model, spec)
        if found is not None:
            run.log(f"Plans include variants of {found.spec} (settings that keep its "
                    f"weights): {found.describe_moves()}.")
        elif spec and model_variants.has_axes(spec):
            run.log(f"No variants: the model is no longer what its spec {spec!r} builds "
                    "(shrunk or edited since): widths, zeros and formats only.")
        return found

    def finish(self, run):
        started = time.monotonic()
        targets = self.targets
        model = run.load_model(self.model)
        narrow = shrink.narrowing(model)
        self._variants = self._variants_of(run, model)
        measured = optimize_measure.measure(self, run, model, narrow, self._variants)
        self._measured_inputs = measured["inputs"]
        # Kept for the whole run: entries measured for one search serve the next.
        tables = {fmt: self.table(fmt, record) for fmt, record in measured["tables"].items()}
        spaces = optimize_search.search_spaces(self, narrow, tables, measured, self._variants)
        attempts, failed, frontier = [], [], []
        pairs = {}  # (predicted, measured) per aim key: a format, or a variant's
        tune = (optimize_measure.proposal_tuning(run, model, self._variants, self.tune_steps)
                if self.tune_steps else None)
        tuned = {}  # model key -> accuracy after a short fine-tune, across searches
        for number in range(1, self.max_attempts + 1):
            search = optimize_search.search(
                self, run, os.path.join(run.staging, ATTEMPTS_DIR, str(number)), number,
                spaces, measured, targets, pairs,
                [budget.search.Plan.from_json(f["plan"]) for f in failed],
                tune=tune, tuned=tuned)
            if search is None:
                run.log("Every plan searched failed its export check: no further attempt.")
                break
            frontier.append(search)
            plan = budget.search.Plan.from_json(search["chosen"])
            epochs = run.training.epochs
            same = optimize_search.identity(plan)
            tried = [a for a in attempts if optimize_search.identity(
                budget.search.Plan.from_json(a["plan"])) == same]
            if tried:
                last = tried[-1]
                if plan.is_input or set(targets.misses(last["measured"])) != {
                        "max_accuracy_drop"}:
                    run.log("The corrected search chose a plan already tried: stopping.")
                    break
                # Its costs were met, its accuracy not: the same widths can only
                # gain by recovering longer (small students need several times
                # the epochs, BENCHMARKS.md, FSDD).
                epochs = 2 * last["epochs"]
                run.log(f"The search chose attempt {last['number']}'s plan again, which "
                        f"met the costs but lost too much accuracy: recovering for "
                        f"{epochs} epochs this time.")
            record = self._attempt(run, number, plan, epochs)
            if record.get("failed"):
                failed.append(record)
                run.log(f"Attempt {number} ({record['seconds']:.0f} s) wrote no file: "
                        f"{record['failed']} Its plan is left out of the next searches.")
            else:
                attempts.append(record)
                pairs.setdefault(plan.aim_key, []).append((plan.predicted,
                                                           record["measured"]))
                misses = targets.misses(record["measured"])
                run.log(f"Attempt {number} ({record['seconds']:.0f} s): "
                        f"{_measured_text(record['measured'])}; "
                        + ("every target met." if not misses
                           else targets.describe_miss(misses)))
                if not misses:
                    break
            # The run's work so far, kept in its records: a resumed run counts
            # the time spent before it stopped too.
            minutes = (measured["seconds"]
                       + sum(a["seconds"] for a in attempts + failed)) / 60
            if self.time_budget_min is not None and minutes >= self.time_budget_min:
                run.log(f"Time budget of {self.time_budget_min:g} min spent "
                        f"({minutes:.1f} min): no further attempt.")
                break
        if not attempts:  # never empty-handed: the input's own float file
            run.log("No attempt wrote a file: the input's own float file is the result.")
            inputs = measured["inputs"]["float"]
            own_plan = budget.search.Plan(
                "float", dict(zip(narrow.names, map(int, narrow.sizes))),
                {"latency_ms": inputs["latency_ms"], "size_bytes": inputs["size_bytes"],
                 "accuracy_drop": 0.0})
            attempts.append(self._attempt(run, 0, own_plan, 0))
        best = _best(attempts, targets)
        shutil.copyfile(os.path.join(run.staging, best["file"]),
                        os.path.join(run.staging, artifacts.TFLITE_FILE))
        _atomic.write_json(os.path.join(run.staging, FRONTIER_FILE),
                           _frontier_record(frontier, attempts, failed))
        misses = targets.misses(best["measured"])
        own = {"targets": targets.to_json(), "met": not misses, "misses": misses,
               "tfcompress_version": __version__,
               "miss": targets.describe_miss(misses) if misses else None,
               "chosen": best, "attempts": attempts, "failed_attempts": failed,
               "inputs": measured["inputs"],
               "floor": measured.get("floor"), "measure_seconds": measured["seconds"],
               "seconds": round(time.monotonic() - started, 1)}
        optimize_report.write(run.staging, own, targets, self.latency_threads)
        return {"optimize": own}

    def describe(self, summary, output_dir):
        own = summary["optimize"]
        chosen = own["chosen"]
        lines = [f"Chosen: attempt {chosen['number']} ({chosen['plan']['latency_format']}), "
                 f"{_measured_text(chosen['measured'])}.",
                 "Every target met." if own["met"] else f"Not every target met: {own['miss']}.",
                 f"Output: {output_dir}"]
        return "\n".join(lines)


def _best(attempts, targets):
    """The most accurate attempt that meets every target; else the one missing least.

    Misses are summed as fractions over their targets; a point of accuracy
    beyond the allowed drop counts as 1% over a cost target (a drop has no
    ratio of its own: `budget.Targets.misses`). An exchange rate chosen
    here; report.md lists every attempt measured, and each file stays under
    attempts/, for a user who weighs otherwise.
    """
    met = [a for a in attempts if not targets.misses(a["measured"])]
    if met:
        return max(met, key=lambda a: a["measured"]["test_accuracy"])

    def shortfall(attempt):
        misses = targets.misses(attempt["measured"])
        return sum(m["over_by_ratio"] if m["over_by_ratio"] is not None
                   else m["over_by"] / 100 for m in misses.values())
    return min(attempts, key=shortfall)


def _frontier_record(searches, attempts, failed):
    """frontier.json: every plan searched, with the measured result of those
    trained, and the plans whose file failed its export check."""
    return {"searches": searches,
            "attempts": [{"number": a["number"], "plan": a["plan"], "file": a["file"],
                          "measured": a["measured"]} for a in attempts],
            "failed": [{"number": f["number"], "plan": f["plan"], "failed": f["failed"]}
                       for f in failed]}


def _predicted_text(predicted):
    text = (f"{predicted['latency_ms']:.4f} ms, {predicted['size_bytes']:,} bytes, "
            f"loss score {predicted['accuracy_drop']:.2f} (points each narrowing, zero and "
            f"format lost alone, before recovery, summed)")
    if "tuned_drop" in predicted:
        text += (f", {predicted['tuned_drop']:.2f} points lost after a short fine-tune "
                 "(it ranked the proposals)")
    return text


def _measured_text(measured):
    return (f"{measured['latency_ms']:.4f} ms ({measured['speedup']:.2f}x the input "
            f"file's speed), {measured['size_bytes']:,} bytes, "
            f"{measured['test_accuracy']:.2%} ({measured['accuracy_drop']:.2f} points lost)")


def optimize(model, dataset, *, output_dir, target_latency_ms=None, target_size_kb=None,
             max_accuracy_drop=None, teacher=None, epochs=10, log=print, **options_and_training):
    """`tfcompress optimize` from Python: the best model within a budget.

    Args:
      model: a trained model (Keras 3 or tf_keras), or the path of its
        .keras file or job folder. A model object is saved first, beside the
        output, as `<output_dir>.input.keras` (kept, so that `resume=True`
        finds the same input).
      dataset: as `--dataset`: a TFDS name, "npz:PATH", "dir:PATH" or "tsv:PATH".
      output_dir: the run's folder (written only when the run is complete).
      target_latency_ms, target_size_kb, max_accuracy_drop: the budget; at
        least one (see `OptimizeJob`).
      teacher: recover by distilling from this model path (default: `model`).
      epochs: each attempt's recovery epochs.
      log: fn(line) for progress.
      **options_and_training: `OptimizeJob`'s other options (latency_threads,
        time_budget_min, max_attempts, formats, round_to) and
        `settings.Training`'s (seed, batch_size, resume, ...).

    Returns:
      The summary (also in `output_dir/summary.json`); `summary["optimize"]`
      says whether every target was met (`met`), and if not which and by how
      much (`miss`). Missing a target does not raise: the best attempt is
      written all the same.

    Raises:
      ValueError: bad targets or inputs, or a target below what the smallest
        model of this input and output takes (before any work).
    """
    if not isinstance(model, (str, os.PathLike)):
        path = f"{os.path.normpath(output_dir)}.input.keras"
        export.save_keras_model(model, path)
        model = path
    own = {f.name for f, _ in options.declared(OptimizeJob)}
    job = OptimizeJob(model=os.fspath(model), target_latency_ms=target_latency_ms,
                      target_size_kb=target_size_kb, max_accuracy_drop=max_accuracy_drop,
                      teacher=teacher, **{k: v for k, v in options_and_training.items()
                                          if k in own})
    training = settings.Training(output_dir=output_dir, dataset=dataset, epochs=epochs,
                                 **{k: v for k, v in options_and_training.items()
                                    if k not in own})
    return runner.run(job, training, log=log)
