"""The `tfcompress distill` job: distill a zoo student from a trained teacher."""

import os

from tfcompress import _atomic
from tfcompress import data
from tfcompress import distill
from tfcompress import evaluate
from tfcompress import export
from tfcompress import models
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.distill import inherit
from tfcompress.jobs import artifacts
from tfcompress.jobs import inputs
from tfcompress.jobs import run_dir


STUDENT_INITS = ("random", "teacher")

# Training examples the teacher-initialized student's units are chosen and
# refit on: all of MNIST's train split, and a bound on memory for larger sets.
_INIT_EXAMPLES = 60_000


def _build(teacher, student_spec, temperature, alpha, dataset, data_dir,
           student_init="random"):
    """Loads the teacher, builds the student and pairs them in a Distiller."""
    if student_init not in STUDENT_INITS:
        raise ValueError(f"`student_init` must be one of {STUDENT_INITS}, got "
                         f"{student_init!r}.")
    input_shape, num_classes = inputs.dataset_shape(dataset, data_dir)
    teacher_model = export.load_keras_model(artifacts.model_path(teacher))
    student = models.build(student_spec, input_shape=input_shape,
                           num_classes=num_classes)
    if student_init == "teacher":
        inherit.check_pairing(student, teacher_model)
    return distill.Distiller(student, teacher_model, temperature=temperature,
                             alpha=alpha)


def check_inputs(*, teacher, student_spec, output_dir, dataset, epochs, batch_size,
                 optimizer, learning_rate, lr_schedule, temperature, alpha, train_split,
                 val_split, test_split, overwrite, data_dir, student_init="random"):
    """Checks every input of `run` without training, raising at once.

    Loads the teacher and builds the Distiller, so a teacher that does not
    fit the student or the dataset fails here, before any work.

    Raises:
      ValueError: a bad spec, dataset, split, hyperparameter or teacher.
      FileNotFoundError: no teacher model, or the dataset is not prepared.
      FileExistsError: `output_dir` holds files and not `overwrite`.
    """
    inputs.check_training_inputs(
        dataset=dataset, data_dir=data_dir, train_split=train_split,
        val_split=val_split, test_split=test_split, optimizer=optimizer,
        learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
        output_dir=output_dir, overwrite=overwrite, lr_schedule=lr_schedule)
    _build(teacher, student_spec, temperature, alpha, dataset, data_dir, student_init)


def run(
    *,
    teacher,
    student_spec,
    output_dir,
    dataset="mnist",
    temperature=4.0,
    alpha=0.1,
    epochs=10,
    batch_size=128,
    optimizer="adam",
    learning_rate=1e-3,
    lr_schedule="constant",
    train_split="train[5000:]",
    val_split="train[:5000]",
    test_split="test",
    teacher_cache=True,
    student_init="random",
    seed=0,
    overwrite=False,
    data_dir=None,
    verbose=2,
    log=print,
):
    """Distills `student_spec` from `teacher` on a TFDS dataset and exports it.

    Writes into `output_dir` what `tfcompress train` writes, for the student:
    model.keras, saved_model/, model.tflite (both run and compared with
    Keras) and summary.json, which also records the teacher's accuracy.

    Args:
      teacher: a .keras file, or the output folder of `tfcompress train`.
      student_spec: model spec of the student, e.g. "mlp:800,800".
      teacher_cache: run the teacher once over the training split and reuse
        its logits every epoch (the data pipeline here is deterministic).
      student_init: "random", or "teacher": the student starts from the
        teacher's most useful units, refit on up to 60,000 training examples
        (`tfcompress.distill.init_from_teacher`; MLPs whose Dense layers pair
        one to one).
      Others: as `tfcompress.jobs.train.run`, plus the Distiller's
        `temperature` and `alpha`.

    Returns:
      The summary dict written to summary.json.
    """
    check_inputs(
        teacher=teacher, student_spec=student_spec, output_dir=output_dir,
        dataset=dataset, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
        learning_rate=learning_rate, lr_schedule=lr_schedule, temperature=temperature,
        alpha=alpha,
        train_split=train_split, val_split=val_split, test_split=test_split,
        overwrite=overwrite, data_dir=data_dir, student_init=student_init,
    )
    config = dict(
        job="distill", teacher=os.path.abspath(artifacts.model_path(teacher)),
        student_spec=student_spec, dataset=dataset, temperature=temperature,
        alpha=alpha, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
        learning_rate=learning_rate, lr_schedule=lr_schedule, train_split=train_split,
        val_split=val_split,
        test_split=test_split, teacher_cache=teacher_cache, student_init=student_init,
        seed=seed,
    )
    staging = run_dir.start(output_dir, config)
    keras.utils.set_random_seed(seed)
    distiller = _build(teacher, student_spec, temperature, alpha, dataset, data_dir,
                       student_init)
    if student_init == "teacher":
        log("Initializing the student from the teacher's most useful units.")
        distill.init_from_teacher(distiller.student, distiller.teacher, data.first_examples(
            dataset, train_split, _INIT_EXAMPLES, data_dir=data_dir))
    rate = inputs.learning_rate(
        learning_rate=learning_rate, lr_schedule=lr_schedule, dataset=dataset,
        train_split=train_split, data_dir=data_dir, epochs=epochs, batch_size=batch_size)
    distiller.compile(
        training.make_optimizer(optimizer, rate),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    load = dict(batch_size=batch_size, data_dir=data_dir)
    if teacher_cache:
        log("Running the teacher once over the training split (teacher cache).")
        train_ds = distill.with_teacher_outputs(
            distiller, data.load(dataset, train_split, **load),
            batch_size=batch_size, shuffle=True, seed=seed, verbose=verbose)
    else:
        train_ds = data.load(dataset, train_split, shuffle=True, seed=seed, **load)
    val_ds = data.load(dataset, val_split, **load) if val_split else None
    test_ds = data.load(dataset, test_split, **load)
    log(f"Distilling {student_spec} ({distiller.student.count_params():,} parameters) "
        f"from {config['teacher']} at T={temperature}, alpha={alpha}, "
        f"for {epochs} epochs.")

    train_seconds = run_dir.train_once(staging, distiller, lambda: training.fit(
        distiller, train_ds, epochs=epochs, validation_data=val_ds,
        checkpoint_dir=os.path.join(staging, "checkpoints"), verbose=verbose))
    teacher_accuracy = evaluate.evaluate_classifier(distiller.teacher, test_ds)["accuracy"]
    summary = {
        "config": config,
        "train_seconds": train_seconds,
        "teacher": {"test_accuracy": teacher_accuracy,
                    "params": distiller.teacher.count_params()},
        **artifacts.export_and_evaluate(
            distiller.student, staging, test_ds,
            artifacts.check_batch(dataset, test_split, data_dir),
            data.num_examples(dataset, test_split, data_dir)),
    }
    _atomic.write_json(os.path.join(staging, artifacts.SUMMARY_FILE), summary)
    run_dir.finish(staging, output_dir)
    log(f"Teacher test accuracy {teacher_accuracy:.2%} "
        f"({summary['teacher']['params']:,} parameters).")
    log(artifacts.format_summary(summary, output_dir))
    return summary
