"""What an optimize run measures before it searches, once per run.

- The input model's float and int8 files (a `quantize` run: their size and
  test accuracy), for a size-only budget its int4 file too, and their
  latency, timed in interleaved rounds.
- Lookup tables of every layer's latency and bytes per file format
  (`budget.LatencyTable`); for int4, `budget.Int4Bytes` fitted on two
  converted files.
- Each channel group's sensitivity after a short fine-tune
  (`budget.sensitivity`), and for sparse plans each layer's sensitivity to
  zeros (`prune.sensitivity`).

Everything lands in measurements.json in the run's staging folder, so a
`--resume` reads it back instead of measuring again (timings vary, and the
plans already searched depend on them).
"""

import json
import os
import shutil
import time

from tfcompress import _atomic
from tfcompress import budget
from tfcompress import data as data_lib
from tfcompress import evaluate
from tfcompress import export
from tfcompress import prune
from tfcompress import shrink
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.budget import sensitivity as sensitivity_lib
from tfcompress.export import tflite as export_tflite
from tfcompress.jobs import artifacts
from tfcompress.jobs import run_dir
from tfcompress.jobs import runner
from tfcompress.jobs import quantize as quantize_job
from tfcompress.models import variants as model_variants

MEASUREMENTS_FILE = "measurements.json"
INPUT_DIR = "input"
INPUT_INT4_DIR = "input_int4"
# Interleaved rounds the input files (and each attempt's, `OptimizeJob._verify`) are timed in.
TIMING_ROUNDS = 7
# Validation batches each group's sensitivity is measured on.
_SENSITIVITY_BATCHES = 8
# Training steps each narrowed model is fine-tuned for before it is measured
# (`_brief_tuning`): a few seconds each for LeNet-300-100 here.
TUNE_STEPS = 50
# The default training steps each variant (blocks dropped, a new frontend)
# and each proposed plan (`proposal_tuning`) is fine-tuned for
# (`OptimizeJob.tune_steps`): on FSDD's DS-CNN, 50 steps left 1, 2 and 3
# blocks all near chance and in the wrong order (1 block lost the least);
# after 600 the order was right, 3 and 2 blocks within 1 point of 4 and 1
# block 6 points behind (validation accuracy, 2026-12-07). There are few
# variant axes and proposals to tune.
LONG_TUNE_STEPS = 600
# Models fine-tuned before each choice (`budget.search.proposals`): at least
# this many, more when variant settings add theirs.
PROPOSALS = 4
# The formats variants are searched in: int4 and sparse plans keep the
# model's own settings.
VARIANT_FORMATS = ("float", "int8")


def path_in(staging):
    return os.path.join(staging, MEASUREMENTS_FILE)


def sub_run(run, job, folder, epochs=None):
    """The summary of `job` run in `folder` of the staging folder (read back when done)."""
    out = os.path.join(run.staging, folder)
    summary_path = os.path.join(out, artifacts.SUMMARY_FILE)
    if not os.path.exists(summary_path):
        sub_training = run.training.replace(
            output_dir=out, epochs=epochs or run.training.epochs, log_dir=None,
            resume=os.path.isdir(run_dir.staging_dir(out)), overwrite=False)
        # Indented: the optimize run's own jobs, inside its log.
        runner.run(job, sub_training, log=lambda text: run.log(indented(text)))
    with open(summary_path, encoding="utf-8") as f:
        return json.load(f)


def input_files(staging):
    """{format: path} of the input model's files measured in `staging`."""
    folder = os.path.join(staging, INPUT_DIR)
    files = {"float": os.path.join(folder, "float_reference.tflite"),
             "int8": os.path.join(folder, artifacts.TFLITE_FILE)}
    int4 = os.path.join(staging, INPUT_INT4_DIR, artifacts.TFLITE_FILE)
    if os.path.exists(int4):
        files["int4"] = int4
    return files


def measure(job, run, model, narrow, variants=None):
    """What `job`'s search needs (`OptimizeJob`), measured once per run.

    Args:
      job: the `OptimizeJob`: its model path, formats, threads and floor.
      run: the runner's run (staging folder, data, log).
      model: the loaded input model.
      narrow: `shrink.narrowing(model)`.
      variants: `models.variants.Variants` of `model`, or None.

    Returns:
      The measurements (measurements.json): inputs, tables, sensitivity,
      int4_bytes, unstructured, variants, floor and the seconds spent.
    """
    path = path_in(run.staging)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            run.log("Measurements: read back from the stopped run.")
            return json.load(f)
    started = time.monotonic()
    run.log("Measuring the input model: its float and int8 files (a quantize run).")
    quantized = sub_run(run, quantize_job.QuantizeJob(model=job.model, mode="int8"),
                        INPUT_DIR)
    int4 = _measure_int4(job, run) if "int4" in job.searched_formats else None
    timed = evaluate.compare_latency(input_files(run.staging), rounds=TIMING_ROUNDS,
                                     batch_size=1, num_threads=job.latency_threads)
    inputs = {
        "float": {"size_bytes": quantized["float_reference"]["bytes"],
                  "test_accuracy": quantized["float_reference"]["test_accuracy"],
                  "latency_ms": timed["float"]["median_ms"]},
        "int8": {"size_bytes": quantized["tflite"]["bytes"],
                 "test_accuracy": quantized["tflite"]["test_accuracy"],
                 "latency_ms": timed["int8"]["median_ms"]}}
    if int4:
        inputs["int4"] = {"size_bytes": int4["tflite"]["bytes"],
                          "test_accuracy": int4["tflite"]["test_accuracy"],
                          "latency_ms": timed["int4"]["median_ms"]}
    run.log("Input files: " + "; ".join(
        f"{fmt} {m['size_bytes']:,} bytes, {m['latency_ms']:.4f} ms, "
        f"{m['test_accuracy']:.2%}" for fmt, m in inputs.items()))
    tables = {}
    for fmt in job.tabled_formats:
        run.log(f"Lookup table of {fmt} layer "
                + (f"latencies and bytes ({job.latency_threads} thread(s))."
                   if job.timed else "bytes (a size budget: nothing timed)."))
        table = job.table(fmt)
        table.calibrate(model)
        tables[fmt] = table.to_json()
    run.log(f"Sensitivity of each channel group (validation accuracy after "
            f"{TUNE_STEPS} training steps).")
    data = (run.validation() or run.train_batches()).take(_SENSITIVITY_BATCHES)
    groups = sensitivity_lib.measure_groups(
        narrow, data, step=min(job.step(f) for f in job.searched_formats),
        log=run.log, tune=_brief_tuning(run))
    unstructured = None
    if job.sparse_plans:
        run.log("Sensitivity of each layer to zeros (one-shot, for sparse plans).")
        analysis = prune.sensitivity.analyze(model, data, verbose=0)
        run.log(prune.sensitivity.format_table(analysis))
        unstructured = analysis.to_json()
    int4_bytes = None
    if int4:
        int4_bytes = _int4_bytes(job, model, narrow, tables["int8"],
                                 inputs["int4"]["size_bytes"])
    variant_record = None
    if variants is not None:
        variant_record = _measure_variants(job, run, model, variants, data)
    measured = {"inputs": inputs, "tables": tables, "sensitivity": groups.to_json(),
                "int4_bytes": int4_bytes, "unstructured": unstructured,
                "variants": variant_record,
                "floor": job.floor, "seconds": round(time.monotonic() - started, 1)}
    _atomic.write_json(path, measured)
    return measured


def _measure_variants(job, run, model, variants, data):
    """The variants' record: each axis' sensitivity, and a lookup table per
    variant and format (`VARIANT_FORMATS`), calibrated on the variant's own
    file: its frontend and the layers it drops are in no other table."""
    run.log(f"Sensitivity of the model's settings ({variants.spec}: "
            f"{variants.describe_moves()}; validation accuracy after {job.tune_steps} "
            "training steps).")
    drops = sensitivity_lib.measure_variants(
        variants, model, data, tune=_brief_tuning(run, job.tune_steps) if job.tune_steps
        else None, log=run.log)
    formats = [f for f in job.tabled_formats if f in VARIANT_FORMATS]
    combinations = variants.combinations()
    run.log(f"Lookup tables of {len(combinations)} variants ({', '.join(formats)}).")
    began, tables = time.monotonic(), {}
    for variant in combinations:
        built = variants.build(variant)
        tables[model_variants.label(variant)] = {}
        for fmt in formats:
            table = job.table(fmt)
            table.calibrate(built)
            tables[model_variants.label(variant)][fmt] = table.to_json()
    run.log(f"Variant tables: {time.monotonic() - began:.0f} s.")
    return {"spec": variants.spec, "own": variants.own,
            "drops": {k: {str(v): points for v, points in curve.items()}
                      for k, curve in drops.items()},
            "combinations": combinations, "tables": tables}


def proposal_tuning(run, model, variants, steps):
    """fn(plan) -> validation accuracy of `plan`'s model (its variant with
    `model`'s weights, narrowed to its widths as a shrink run narrows)
    after `steps` of training on labels: the short-term fine-tune NetAdapt
    gives each proposal before it chooses."""
    data = (run.validation() or run.train_batches()).take(_SENSITIVITY_BATCHES).cache()
    tune = _brief_tuning(run, steps)

    def accuracy_of(plan):
        source = variants.build_from(plan.variant, model) if plan.variant else model
        narrow = shrink.narrowing(source)
        narrowed = narrow.build(tuple(plan.widths[name] for name in narrow.names))
        tune(narrowed)
        return evaluate.evaluate_classifier(narrowed, data)["accuracy"]
    return accuracy_of


def _brief_tuning(run, steps=TUNE_STEPS):
    """fn(model) training it for `steps` batches of the training split on its
    labels (the sensitivity's short-term fine-tune), in shuffled epochs as
    many as the steps need. Each model starts from the run's seed, so every
    narrowing is tuned on the same batches and initial states; the sub-runs
    that follow seed themselves again."""
    epochs = -(-steps // run.steps_per_epoch)
    batches = data_lib.epoch_batches(
        run.train_examples(), num_examples=run.num_train_examples,
        batch_size=run.training.batch_size, seed=run.training.seed, start_epoch=0,
        end_epoch=epochs).take(steps)

    def tune(model):
        keras.utils.set_random_seed(run.training.seed)
        training.compile_classifier(model, optimizer=run.training.optimizer,
                                    learning_rate=run.training.learning_rate)
        model.fit(batches, epochs=1, verbose=0)
    return tune


def _int4_bytes(job, model, narrow, int8_table, input_bytes):
    """`budget.Int4Bytes` fitted on the input's int4 file and that of the model
    at half its widths (converted, not trained: bytes only)."""
    half = narrow.build(narrow.widths_at(0.5))
    predictor = budget.Int4Bytes(job.table("int8", int8_table))
    predictor.calibrate([(model, input_bytes),
                         (half, len(export_tflite.convert(half, quantization="int4")))])
    return predictor.to_json()


def _measure_int4(job, run):
    """The input's int4 quantize run's summary; None (logged) if its file cannot
    be written (ValueError: Dense weights ai-edge-quantizer leaves other than
    int4) or fails the export check: int4 is then left out of the search."""
    run.log("Measuring the input model's int4 file (a quantize run).")
    try:
        return sub_run(run, quantize_job.QuantizeJob(model=job.model, mode="int4"),
                       INPUT_INT4_DIR)
    except (export.ExportValidationError, ValueError) as failure:
        shutil.rmtree(run_dir.staging_dir(os.path.join(run.staging, INPUT_INT4_DIR)),
                      ignore_errors=True)
        run.log(f"int4 left out of the search: {failure}")
        return None


def indented(text):
    return "\n".join(f"  {line}" if line else line for line in str(text).split("\n"))
