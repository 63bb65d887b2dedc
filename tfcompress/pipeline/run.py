"""Running a planned pipeline: one job per stage, with banners and timings."""

import json
import os
import shutil
import time

from tfcompress import _atomic
from tfcompress._version import __version__
from tfcompress import data
from tfcompress import evaluate
from tfcompress import runtime
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.jobs import artifacts
from tfcompress.jobs import run_dir
from tfcompress.jobs import runner
from tfcompress.pipeline import findings
from tfcompress.pipeline import report as report_lib
from tfcompress.pipeline import stages as stages_lib
from tfcompress.runtime import TFLiteRunner



def _training(options, stage, epochs, **changes):
    """The settings of one stage's job: the run's, in the stage's folder."""
    shared = options.training
    out = stages_lib.stage_dir(options.output_dir, stage)
    return shared.replace(
        output_dir=out, epochs=epochs,
        log_dir=shared.log_dir and os.path.join(shared.log_dir, stage),
        # With --resume, a stage's unfinished run continues; without it, an
        # unfinished run is an error unless --overwrite (the job checks).
        resume=shared.resume and os.path.isdir(run_dir.staging_dir(out)),
        **changes)


def _job(options, stage, inputs):
    """(job, settings) of a model stage, as `stages.STAGES` wires it."""
    row = stages_lib.STAGES[stage]
    fields = dict(inputs)
    for name, target in row.options.items():
        value = getattr(options, name)
        fields.update(target(value) if callable(target) else {target: value})
    changes = row.training(options.training) if row.training else {}
    return row.job(**fields), _training(options, stage, getattr(options, f"{stage}_epochs"),
                                        **changes)


def check_inputs(options, log=print):
    """Plans the run and checks every stage's job inputs, before any work.

    Returns:
      {stage: inputs} of the plan, and {stage: prepared run} of the stages
      whose inputs exist already (their models are loaded once, here).

    Raises:
      ValueError, FileExistsError, FileNotFoundError: as `stages.plan` and
        the jobs' checks, naming the stage.
    """
    steps = stages_lib.plan(options)
    prepared = {}
    for stage, inputs in steps.items():
        if stage not in stages_lib.MODEL_STAGES:
            continue
        # Inputs made by earlier stages of this run do not exist yet.
        if any(not os.path.exists(path) for name, path in inputs.items()
               if name in ("teacher", "model") and path):
            continue
        job, training = _job(options, stage, inputs)
        try:
            prepared[stage] = runner.prepare(job, training, log=log)
        except (ValueError, TypeError, OSError) as e:
            raise type(e)(f"{stage} stage: {e}") from None
    return steps, prepared


# What a deployment reads of export/: the file's inputs, outputs and data.
DEPLOYMENT_FILE = "deployment.json"


def _deployment(tflite, final):
    """What an app must feed the file and read of it (README, "Deploying the file")."""
    with open(os.path.join(final, artifacts.SUMMARY_FILE), encoding="utf-8") as f:
        record = json.load(f).get("data", {})
    return {"file": artifacts.TFLITE_FILE, **runtime.io_spec(tflite), "data": record}


def _export(options, inputs, log):
    """Gathers the final validated files into export/, atomically."""
    out = stages_lib.stage_dir(options.output_dir, "export")
    final = inputs["final"]
    source = os.path.join(final, artifacts.TFLITE_FILE)
    with _atomic.atomic_output(out) as tmp:
        os.makedirs(tmp)
        shutil.copyfile(source, os.path.join(tmp, artifacts.TFLITE_FILE))
        for name in (artifacts.KERAS_FILE, artifacts.SAVED_MODEL_DIR,
                     data.VOCABULARY_FILE):
            path = os.path.join(final, name)
            if os.path.isdir(path):
                shutil.copytree(path, os.path.join(tmp, name))
            elif os.path.isfile(path):
                shutil.copyfile(path, os.path.join(tmp, name))
        # The copy is the deliverable: run it once more before it counts.
        copy = os.path.join(tmp, artifacts.TFLITE_FILE)
        shared, file = _shared(options), TFLiteRunner(copy)
        file.run_each(artifacts.check_batch(
            shared.dataset, shared.test_split, shared.data_dir,
            **runner.data_options(shared, file.input_shape))[0])
        _atomic.write_json(os.path.join(tmp, DEPLOYMENT_FILE), _deployment(copy, final))
        _atomic.write_json(os.path.join(tmp, stages_lib.EXPORT_FILE), {
            "source_stage": os.path.basename(final),
            "files": sorted(os.listdir(tmp)),
        })
    log(f"Exported {os.path.basename(final)}'s files to {out}: "
        f"{', '.join(sorted(os.listdir(out)))}")


def _shared(options):
    """The settings every stage shares, splits left None set to the dataset's."""
    shared = options.training
    return shared.with_dataset_splits(data.default_splits(shared.dataset,
                                                          shared.data_dir))


def _evaluate(options, log):
    """Accuracy of the exported file, latency of every stage's file."""
    out = stages_lib.stage_dir(options.output_dir, "evaluate")
    shared = _shared(options)
    quiet = shared.verbose == 0
    progress = training.progress_verbosity(1)  # a bar on a terminal, else a line
    exported = os.path.join(stages_lib.stage_dir(options.output_dir, "export"),
                            artifacts.TFLITE_FILE)
    test = data.load(shared.dataset, shared.test_split, batch_size=shared.batch_size,
                     data_dir=shared.data_dir, **runner.data_options(
                         shared, TFLiteRunner(exported).input_shape))
    log(f"Accuracy of {exported} on {shared.dataset} {shared.test_split}:")
    metrics = artifacts.check_complete(
        evaluate.evaluate_tflite(exported, test, verbose=0 if quiet else progress),
        data.num_examples(shared.dataset, shared.test_split, shared.data_dir), exported)
    log(f"Test accuracy {metrics['accuracy']:.2%} on {metrics['num_examples']:,} "
        "examples" + (f", F1 {metrics['f1']:.3f} (class {metrics['positive_class']})"
                      if "f1" in metrics else ""))
    files = {stage: os.path.join(stages_lib.stage_dir(options.output_dir, stage),
                                 artifacts.TFLITE_FILE)
             for stage in stages_lib.MODEL_STAGES
             if stages_lib.is_complete(options.output_dir, stage)}
    files["export"] = exported
    log(f"Latency, batch 1, {options.latency_threads} threads, of each stage's file "
        "(interleaved rounds):")
    rounds = 5
    progress = keras.utils.Progbar(len(files) * rounds, unit_name="run",
                                   verbose=0 if quiet else progress)
    latency = evaluate.compare_latency(
        files, rounds=rounds, progress=lambda: progress.add(1), batch_size=1,
        num_threads=options.latency_threads, repeats=200)
    with _atomic.atomic_output(out) as tmp:
        os.makedirs(tmp)
        _atomic.write_json(os.path.join(tmp, stages_lib.EVALUATION_FILE), {
            "exported": {"path": exported, "test_accuracy": metrics["accuracy"],
                         "test_examples": metrics["num_examples"],
                         **evaluate.artifact_size(exported)},
            "latency": latency})


def _record_time(options, stage, seconds):
    path = os.path.join(options.output_dir, stages_lib.PIPELINE_FILE)
    record = {"stage_seconds": {}}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    record["stage_seconds"][stage] = round(seconds, 2)
    record["options"] = options.recorded()
    record["tfcompress_version"] = __version__
    _atomic.write_json(path, record)


def _warn_of_weak_teacher(options, log):
    """Once the baseline and the teacher are both trained, before distilling."""
    warning = findings.weak_teacher(report_lib.build_report(options.output_dir)["stages"])
    if warning:
        log(f"Warning: {warning['message']}")


def run(options, log=print, checked=None):
    """Runs the planned stages in order, then writes the report.

    `checked` is what `check_inputs(options)` returned, if the caller ran it.

    Returns:
      The report dict (also in report.json beside report.md and its plots).
    """
    quiet = options.training.verbose == 0
    say = (lambda *_: None) if quiet else log
    steps, prepared = checked or check_inputs(options, log=say)
    os.makedirs(options.output_dir, exist_ok=True)
    total = time.time()
    for number, (stage, inputs) in enumerate(steps.items(), 1):
        say(f"\n{'=' * 72}\n[{number}/{len(steps)}] {stage}"
            + "".join(f"  {k}={v}" for k, v in inputs.items() if v) + f"\n{'=' * 72}")
        start = time.time()
        if stage in stages_lib.MODEL_STAGES:
            runner.execute(prepared.get(stage) or runner.prepare(
                *_job(options, stage, inputs), log=say))
        elif stage == "export":
            _export(options, inputs, say)
        else:
            _evaluate(options, say)
        seconds = time.time() - start
        _record_time(options, stage, seconds)
        say(f"[{stage}] done in {seconds:.0f} s (total {time.time() - total:.0f} s)")
        if stage in ("baseline", "teacher"):
            _warn_of_weak_teacher(options, say)
    report = report_lib.write_report(options.output_dir)
    log(report_lib.format_table(report))
    log(report["summary_line"])
    if report["warnings"]:
        log(report_lib.format_warnings(report))
    log(f"Report: {os.path.join(options.output_dir, report_lib.REPORT_MD)}")
    return report
