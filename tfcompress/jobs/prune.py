"""The `tfcompress prune` job: prune a trained model, fine-tune, strip, export."""

import os

from tfcompress import _atomic
from tfcompress import data
from tfcompress import distill
from tfcompress import evaluate
from tfcompress import export
from tfcompress import prune
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.jobs import artifacts
from tfcompress.jobs import inputs
from tfcompress.jobs import run_dir

PRUNE_REPORT_FILE = "prune_report.json"
SENSITIVITY_FILE = "sensitivity.json"


def parse_m_by_n(text):
    """"2:4" -> (2, 4); "" or None -> None."""
    if not text:
        return None
    try:
        zeros, group = (int(part) for part in text.split(":"))
    except ValueError:
        raise ValueError(f"`m_by_n` must look like '2:4' (N zeros in each M weights), "
                         f"got {text!r}.") from None
    return zeros, group


def _ramp_end_epoch(epochs, pruning_end_epoch):
    """Epoch by which sparsity reaches its target: default two thirds in."""
    if pruning_end_epoch is None:
        return max(1, (2 * epochs) // 3)
    inputs.check_positive_int("pruning_end_epoch", pruning_end_epoch)
    if pruning_end_epoch > epochs:
        raise ValueError(f"`pruning_end_epoch` ({pruning_end_epoch}) must be at most "
                         f"`epochs` ({epochs}).")
    return pruning_end_epoch


def check_inputs(*, model, output_dir, dataset, epochs, batch_size, optimizer,
                 learning_rate, lr_schedule, sparsity, schedule, pruning_end_epoch, m_by_n,
                 sensitivity, teacher, temperature, alpha, train_split, val_split,
                 test_split, overwrite, data_dir):
    """Checks every input of `run` without training, raising at once.

    Raises:
      ValueError: a bad value, a model that cannot be pruned, a teacher that
        does not fit the model.
      FileNotFoundError: no model or teacher file, or no prepared dataset.
      FileExistsError: `output_dir` holds files and not `overwrite`.
    """
    inputs.check_training_inputs(
        dataset=dataset, data_dir=data_dir, train_split=train_split,
        val_split=val_split, test_split=test_split, optimizer=optimizer,
        learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
        output_dir=output_dir, overwrite=overwrite, lr_schedule=lr_schedule)
    _ramp_end_epoch(epochs, pruning_end_epoch)
    if sensitivity and (m_by_n or not val_split):
        raise ValueError("`sensitivity` plans unstructured per-layer targets on the "
                         "validation split: it needs `val_split` and no `m_by_n`.")
    loaded = export.load_keras_model(artifacts.model_path(model))
    m_by_n = parse_m_by_n(m_by_n)
    # Any valid ramp will do: this only checks the model and the arguments.
    pruned = prune.prune(loaded, sparsity=None if m_by_n else sparsity,
                         schedule=schedule, m_by_n=m_by_n, end_step=2, frequency=1)
    if teacher:
        distill.Distiller(pruned.model,
                          export.load_keras_model(artifacts.model_path(teacher)),
                          temperature=temperature, alpha=alpha)


def run(
    *,
    model,
    output_dir,
    sparsity=0.9,
    schedule="polynomial",
    pruning_end_epoch=None,
    frequency=100,
    m_by_n=None,
    sensitivity=False,
    teacher=None,
    temperature=4.0,
    alpha=0.1,
    dataset="mnist",
    epochs=10,
    batch_size=128,
    optimizer="adam",
    learning_rate=1e-3,
    lr_schedule="constant",
    train_split="train[5000:]",
    val_split="train[:5000]",
    test_split="test",
    seed=0,
    overwrite=False,
    data_dir=None,
    verbose=2,
    log=print,
):
    """Prunes a trained model to `sparsity` while fine-tuning it, then exports.

    Sparsity rises (polynomial) or jumps (constant) over the first
    `pruning_end_epoch` epochs (default two thirds of `epochs`); the rest
    fine-tune at the target. With `teacher`, fine-tuning is distillation
    from it (use the unpruned model itself as its own teacher for the best
    results). With `sensitivity`, each layer's one-shot pruning sensitivity
    on the validation split sets per-layer targets whose overall sparsity is
    `sparsity`.

    Writes into `output_dir`: the stripped model (model.keras), saved_model/,
    model.tflite (both run and compared with Keras), prune_report.json (per
    layer), sensitivity.json (if run) and summary.json.

    Returns:
      The summary dict written to summary.json.
    """
    check_inputs(model=model, output_dir=output_dir, dataset=dataset, epochs=epochs,
                 batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate,
                 lr_schedule=lr_schedule,
                 sparsity=sparsity, schedule=schedule,
                 pruning_end_epoch=pruning_end_epoch, m_by_n=m_by_n,
                 sensitivity=sensitivity, teacher=teacher, temperature=temperature,
                 alpha=alpha, train_split=train_split, val_split=val_split,
                 test_split=test_split, overwrite=overwrite, data_dir=data_dir)
    ramp_end = _ramp_end_epoch(epochs, pruning_end_epoch)
    config = dict(
        job="prune", model=os.path.abspath(artifacts.model_path(model)),
        sparsity=sparsity, schedule=schedule, pruning_end_epoch=ramp_end,
        frequency=frequency, m_by_n=m_by_n, sensitivity=sensitivity,
        teacher=teacher and os.path.abspath(artifacts.model_path(teacher)),
        temperature=temperature, alpha=alpha, dataset=dataset, epochs=epochs,
        batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate,
        lr_schedule=lr_schedule,
        train_split=train_split, val_split=val_split, test_split=test_split, seed=seed,
    )
    staging = run_dir.start(output_dir, config)
    keras.utils.set_random_seed(seed)
    dense = export.load_keras_model(config["model"])
    load = dict(batch_size=batch_size, data_dir=data_dir)
    val_ds = data.load(dataset, val_split, **load) if val_split else None
    test_ds = data.load(dataset, test_split, **load)
    dense_accuracy = evaluate.evaluate_classifier(dense, test_ds)["accuracy"]

    targets = None if m_by_n else sparsity
    if sensitivity:
        log("Sensitivity analysis: each layer pruned alone on the validation split.")
        analysis = prune.sensitivity.analyze(dense, val_ds, verbose=min(verbose, 1))
        targets = prune.sensitivity.plan(analysis, sparsity)
        log(prune.sensitivity.format_table(analysis))
        log("Plan: " + ", ".join(f"{k} {v:.1%}" for k, v in targets.items()))
        _atomic.write_json(os.path.join(staging, SENSITIVITY_FILE),
                           {**analysis.to_json(), "plan": targets})

    steps_per_epoch = -(-data.num_examples(dataset, train_split, data_dir) // batch_size)
    begin_step, end_step = prune.epochs_to_steps(0, ramp_end, steps_per_epoch)
    result = prune.prune(dense, sparsity=targets, schedule=schedule,
                         begin_step=begin_step, end_step=end_step,
                         frequency=min(frequency, end_step), m_by_n=parse_m_by_n(m_by_n))
    for name, reason in result.skipped.items():
        log(f"Not pruned: {name} ({reason})")

    rate = inputs.learning_rate(
        learning_rate=learning_rate, lr_schedule=lr_schedule, dataset=dataset,
        train_split=train_split, data_dir=data_dir, epochs=epochs, batch_size=batch_size)
    trainee = result.model
    if teacher:
        trainee = distill.Distiller(result.model,
                                    export.load_keras_model(config["teacher"]),
                                    temperature=temperature, alpha=alpha)
        trainee.compile(training.make_optimizer(optimizer, rate),
                        metrics=["accuracy"])
        train_ds = distill.with_teacher_outputs(
            trainee, data.load(dataset, train_split, **load), batch_size=batch_size,
            seed=seed, verbose=verbose)
    else:
        training.compile_classifier(trainee, optimizer=optimizer, learning_rate=rate)
        train_ds = data.load(dataset, train_split, shuffle=True, seed=seed, **load)
    log(f"Pruning {dense.name} to {sparsity:.0%} ({schedule}, target by epoch "
        f"{ramp_end} of {epochs}){' with distillation' if teacher else ''}.")
    train_seconds = run_dir.train_once(staging, trainee, lambda: training.fit(
        trainee, train_ds, epochs=epochs, validation_data=val_ds,
        checkpoint_dir=os.path.join(staging, "checkpoints"),
        callbacks=prune.callbacks(), keep_best=False, verbose=verbose))

    stripped = prune.strip(result.model)
    report = prune.sparsity_report(stripped, m_by_n=parse_m_by_n(m_by_n),
                                   m_by_n_layers=result.targets)
    _atomic.write_json(os.path.join(staging, PRUNE_REPORT_FILE),
                       {**report, "targets": result.targets, "skipped": result.skipped})
    summary = {
        "config": config,
        "train_seconds": train_seconds,
        "dense": {"test_accuracy": dense_accuracy, "params": dense.count_params()},
        "sparsity": report["total"],
        **artifacts.export_and_evaluate(
            stripped, staging, test_ds,
            artifacts.check_batch(dataset, test_split, data_dir),
            data.num_examples(dataset, test_split, data_dir)),
    }
    _atomic.write_json(os.path.join(staging, artifacts.SUMMARY_FILE), summary)
    run_dir.finish(staging, output_dir)
    log(prune.format_report(report))
    log(f"Dense model test accuracy {dense_accuracy:.2%}.")
    log(artifacts.format_summary(summary, output_dir))
    return summary
