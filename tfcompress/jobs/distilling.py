"""What the jobs that distill share: their soft-target options and their Distiller."""

from tfcompress import distill
from tfcompress._keras import keras
from tfcompress.data import augment
from tfcompress.jobs import loop
from tfcompress.jobs import options


def temperature():
    """The `temperature` option of a job that distills."""
    return options.option(4.0, "Softmax temperature T of the soft targets.",
                          lower_bound=0.0)


def alpha():
    """The `alpha` option of a job that distills."""
    return options.option(0.1, "Weight of the hard-label loss; soft targets get 1 - alpha.",
                          lower_bound=0.0, upper_bound=1.0)


def distiller(run, student, teacher, job):
    """The Distiller of `student` from the run's model `teacher` (a path), with
    `job`'s `temperature` and `alpha`; built alone, it checks the pair."""
    return distill.Distiller(student, run.load_model(teacher, "teacher"),
                             temperature=job.temperature, alpha=job.alpha)


def uses_teacher_cache(run, cache=True):
    """Whether a distillation asked to `cache` its teacher's outputs may.

    Not when the run augments its images: outputs stored for the plain
    images do not belong to the augmented ones the student sees, so the
    teacher runs on every augmented batch instead (logged once per run).
    """
    if not cache or run.training.augment == augment.NONE:
        return cache
    run.log_once(f"Teacher cache off: --augment={run.training.augment} changes the training "
                 "images every epoch, so the teacher runs on each augmented batch.")
    return False


def trainee(run, student, teacher, job, *, epochs=None, cache=True, examples=None,
            **trainee_args):
    """The `loop.Trainee` of `distiller(run, student, teacher, job)`, compiled.

    Args:
      epochs: of the training (None: the run's), which the rate spans.
      cache: run the teacher once over the training split and train on its
        stored outputs, unless `examples` holds them already (shrink's rounds
        share one pass). Off when the run augments its training images (see
        `uses_teacher_cache`).
      **trainee_args: the rest of `loop.Trainee`'s.
    """
    model = distiller(run, student, teacher, job)
    model.compile(run.optimizer(epochs), metrics=[
        keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    if not uses_teacher_cache(run, cache):
        examples = None
    elif examples is None:
        examples = distill.teacher_output_examples(model, run.train_batches(),
                                                   verbose=run.progress_verbose)
    return loop.Trainee(model, examples=examples, epochs=epochs, **trainee_args)
