"""The `tfcompress train` job: train, evaluate and export one model."""

import os

from tfcompress import _atomic
from tfcompress import data
from tfcompress import models
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.jobs import artifacts
from tfcompress.jobs import inputs
from tfcompress.jobs import run_dir


def check_inputs(*, model_spec, output_dir, dataset, epochs, batch_size,
                 optimizer, learning_rate, lr_schedule, train_split, val_split, test_split,
                 overwrite, data_dir):
    """Checks every input of `run` without training; cheap, raises at once.

    Raises:
      ValueError: a bad model spec, dataset, split or hyperparameter.
      FileNotFoundError: the dataset is not prepared locally.
      FileExistsError: `output_dir` holds files and not `overwrite`.
    """
    input_shape, num_classes = inputs.dataset_shape(dataset, data_dir)
    # Building is cheap and checks the spec's values too (dropout=2 fails).
    models.build(model_spec, input_shape=input_shape, num_classes=num_classes)
    inputs.check_training_inputs(
        dataset=dataset, data_dir=data_dir, train_split=train_split,
        val_split=val_split, test_split=test_split, optimizer=optimizer,
        learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
        output_dir=output_dir, overwrite=overwrite, lr_schedule=lr_schedule)


def run(
    *,
    model_spec,
    output_dir,
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
    """Trains `model_spec` on a TFDS dataset, evaluates it and exports it.

    Writes into `output_dir`: model.keras, saved_model/, model.tflite (both
    exports run and compared with Keras on real test images) and
    summary.json. All inputs are checked (`check_inputs`) before training.

    Returns:
      The summary dict written to summary.json.
    """
    check_inputs(
        model_spec=model_spec, output_dir=output_dir, dataset=dataset,
        epochs=epochs, batch_size=batch_size, optimizer=optimizer,
        learning_rate=learning_rate, lr_schedule=lr_schedule, train_split=train_split,
        val_split=val_split, test_split=test_split, overwrite=overwrite,
        data_dir=data_dir,
    )
    input_shape, num_classes = inputs.dataset_shape(dataset, data_dir)
    config = dict(
        job="train", model_spec=model_spec, dataset=dataset, epochs=epochs,
        batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate,
        lr_schedule=lr_schedule,
        train_split=train_split, val_split=val_split, test_split=test_split,
        seed=seed,
    )
    staging = run_dir.start(output_dir, config)
    keras.utils.set_random_seed(seed)
    load = dict(batch_size=batch_size, data_dir=data_dir)
    train_ds = data.load(dataset, train_split, shuffle=True, seed=seed, **load)
    val_ds = data.load(dataset, val_split, **load) if val_split else None
    test_ds = data.load(dataset, test_split, **load)
    model = models.build(model_spec, input_shape=input_shape,
                         num_classes=num_classes)
    log(f"Training {model_spec} ({model.count_params():,} parameters) on {dataset} "
        f"{train_split} for {epochs} epochs.")

    rate = inputs.learning_rate(
        learning_rate=learning_rate, lr_schedule=lr_schedule, dataset=dataset,
        train_split=train_split, data_dir=data_dir, epochs=epochs, batch_size=batch_size)
    training.compile_classifier(model, optimizer=optimizer, learning_rate=rate)
    train_seconds = run_dir.train_once(staging, model, lambda: training.fit(
        model, train_ds, epochs=epochs, validation_data=val_ds,
        checkpoint_dir=os.path.join(staging, "checkpoints"), verbose=verbose))
    summary = {
        "config": config,
        "train_seconds": train_seconds,
        **artifacts.export_and_evaluate(
            model, staging, test_ds,
            artifacts.check_batch(dataset, test_split, data_dir),
            data.num_examples(dataset, test_split, data_dir)),
    }
    _atomic.write_json(os.path.join(staging, artifacts.SUMMARY_FILE), summary)
    run_dir.finish(staging, output_dir)
    log(artifacts.format_summary(summary, output_dir))
    return summary

