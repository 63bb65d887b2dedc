"""Distillation benchmarks: Hinton 2015 on MNIST, keras.io parity, cost.

  python benchmarks/distillation.py --experiment=hinton --seeds=0,1,2
  python benchmarks/distillation.py --experiment=keras_io --seeds=0,1,2
  python benchmarks/distillation.py --experiment=cost

--temperature and --alpha take comma-separated lists: every pair is
distilled against the same student trained alone (a sweep).

Every comparison is measured in the same run: the student trained alone and
the student distilled see the same data, epochs, optimizer and seeds.
Teachers are trained once per experiment (seed 0) and kept under
saved_models/benchmarks/ so reruns can reuse them (--reuse_teachers).
"""

import functools
import os
import platform
import statistics
import time

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

from tfcompress import _atomic
from tfcompress import data
from tfcompress import distill
from tfcompress import evaluate
from tfcompress import export
from tfcompress import models
from tfcompress import training
from tfcompress._keras import keras
from tfcompress.distill import inherit

_EXPERIMENT = flags.DEFINE_enum("experiment", "hinton", ["hinton", "keras_io", "cost"],
                                "Which benchmark to run.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Student seeds.")
_TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", None,
                                       "Teacher epochs (default per experiment).")
_STUDENT_EPOCHS = flags.DEFINE_integer("student_epochs", None,
                                       "Student epochs (default per experiment).")
_TEMPERATURE = flags.DEFINE_list("temperature", None,
                                  "Distillation temperature(s); several make a sweep.")
_ALPHA = flags.DEFINE_list("alpha", None,
                           "Weight(s) of the hard-label loss; several make a sweep.")
_HINTS = flags.DEFINE_list(
    "hints", [], "FitNets hints, STUDENT_LAYER:TEACHER_LAYER each (e.g. dense_2:dense_2), "
    "added to the soft and hard losses with --hint_weight.")
_HINT_WEIGHT = flags.DEFINE_list("hint_weight", ["1"],
                                 "Weight(s) of each hint loss; several make a sweep.")
_TEACHER_MAX_NORM = flags.DEFINE_float(
    "teacher_max_norm", None, "Cap the L2 norm of each hidden unit's incoming weights "
    "in the teacher at this value (Srivastava et al. 2014's max-norm).")
_TEACHER_SHIFTS = flags.DEFINE_integer(
    "teacher_shifts", 0, "Average the teacher's logits over the image shifted by up to "
    "this many pixels (every shift in a square); the student still sees only the "
    "unshifted images. 0: the teacher as is.")
_STUDENT_INIT = flags.DEFINE_enum(
    "student_init", "random", ["random", "teacher"], "How distilled students start: "
    "random weights, or the teacher's most useful units (distill.init_from_teacher; "
    "MLP teacher and student; with --teacher_shifts, the units of the teacher before "
    "averaging). Students trained alone always start random.")
_OPTIMIZER = flags.DEFINE_enum("optimizer", None, training.OPTIMIZERS,
                               "Optimizer of every run (default per experiment).")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", None,
                                    "Starting learning rate (default per experiment).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", None,
                                   "Batch size of the students (default per experiment).")
_COSINE = flags.DEFINE_bool("cosine", None, "Cosine learning-rate decay to 0 over "
                            "each run (the teacher too, unless --noteacher_cosine).")
_WARMUP_EPOCHS = flags.DEFINE_integer(
    "warmup_epochs", 0, "Students' learning rate rises linearly from 0 over this many "
    "epochs before the cosine decay (needs --cosine).")
_TEACHER_COSINE = flags.DEFINE_bool("teacher_cosine", None,
                                    "Cosine decay for the teacher (default: --cosine).")
_JITTER = flags.DEFINE_integer("jitter", None, "Teacher input jitter in pixels "
                               "(default per experiment).")
_TEACHER_PATH = flags.DEFINE_string(
    "teacher_path", None, "Distill from this saved teacher instead of training the "
    "experiment's own (e.g. a stronger one).")
_REUSE_TEACHERS = flags.DEFINE_bool("reuse_teachers", True,
                                    "Reuse a teacher saved by an earlier run.")
_OUTPUT = flags.DEFINE_string("output", None, "Write the results as JSON here too.")

_TEACHER_DIR = os.path.join("saved_models", "benchmarks")
_TRAIN, _TEST = "train", "test"

# Per experiment: teacher spec, student spec, epochs, batch, T, alpha, optimizer.
# keras.io/examples/vision/knowledge_distillation: teacher 5 epochs, students
# 3 epochs, Keras' default batch of 32, T=10, alpha=0.1. Hinton et al. 2015: T=20.
_SETUPS = {
    "hinton": dict(teacher="hinton_teacher", student="hinton_student",
                   teacher_epochs=40, student_epochs=30, batch_size=128,
                   temperature=[20.0], alpha=[0.1], jitter=2, cosine=False,
                   optimizer="adam", learning_rate=1e-3),
    "keras_io": dict(teacher="small_cnn:256,512", student="small_cnn:16,32",
                     teacher_epochs=5, student_epochs=3, batch_size=32,
                     temperature=[10.0], alpha=[0.1], jitter=0, cosine=False,
                     optimizer="adam", learning_rate=1e-3),
}


def _setup(name):
    setup = dict(_SETUPS[name])
    for key, flag in (("teacher_epochs", _TEACHER_EPOCHS),
                      ("student_epochs", _STUDENT_EPOCHS), ("cosine", _COSINE),
                      ("optimizer", _OPTIMIZER), ("jitter", _JITTER),
                      ("learning_rate", _LEARNING_RATE)):
        if flag.value is not None:
            setup[key] = flag.value
    # The teacher keeps the experiment's batch; --cosine reaches it unless
    # --teacher_cosine says otherwise.
    setup["teacher_batch_size"] = setup["batch_size"]
    setup["teacher_cosine"] = (setup["cosine"] if _TEACHER_COSINE.value is None
                               else _TEACHER_COSINE.value)
    if _BATCH_SIZE.value is not None:
        setup["batch_size"] = _BATCH_SIZE.value
    for key, flag in (("temperature", _TEMPERATURE), ("alpha", _ALPHA)):
        if flag.value is not None:
            setup[key] = [float(v) for v in flag.value]
    return setup


def _learning_rate(rate, epochs, batch_size, cosine, warmup_epochs=0):
    """`rate`, decayed to 0 along a cosine over the run if `cosine`.

    With `warmup_epochs`, the rate first rises linearly from 0 to `rate`
    (Goyal et al. 2017); the cosine takes the remaining steps.
    """
    if not cosine:
        return rate
    steps_per_epoch = -(-60_000 // batch_size)
    steps, warmup = epochs * steps_per_epoch, warmup_epochs * steps_per_epoch
    if not warmup:
        return training.learning_rate_schedule(rate, "cosine", total_steps=steps)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=steps - warmup, warmup_target=rate, warmup_steps=warmup)


def _errors(model, test_ds):
    metrics = evaluate.evaluate_classifier(model, test_ds)
    return round((1 - metrics["accuracy"]) * metrics["num_examples"])


def _teacher(setup, name):
    """Trains (or reloads) the experiment's teacher, with input jitter if set."""
    if _TEACHER_PATH.value:
        print(f"Teacher given: {_TEACHER_PATH.value}")
        return export.load_keras_model(_TEACHER_PATH.value)
    max_norm = _TEACHER_MAX_NORM.value
    path = os.path.join(
        _TEACHER_DIR, f"{name}_teacher_{setup['teacher_epochs']}ep_"
                      f"b{setup['teacher_batch_size']}_jitter{setup['jitter']}"
                      f"{'_cosine' if setup['teacher_cosine'] else ''}"
                      f"{'_maxnorm%g' % max_norm if max_norm else ''}.keras")
    if _REUSE_TEACHERS.value and os.path.exists(path):
        print(f"Reusing teacher {path}")
        return export.load_keras_model(path)
    keras.utils.set_random_seed(0)
    teacher = models.build(setup["teacher"])
    if max_norm:
        teacher = _with_max_norm(teacher, max_norm)
    trained = teacher
    if setup["jitter"]:
        # Hinton et al. 2015 trained the MNIST teacher on images jittered by up
        # to two pixels; only the teacher sees jitter, as in the paper.
        shift = setup["jitter"] / 28
        trained = keras.Sequential([
            keras.layers.RandomTranslation(shift, shift, fill_mode="constant",
                                           interpolation="nearest", seed=0),
            teacher])
    train_ds = data.load("mnist", _TRAIN, shuffle=True, seed=0,
                         batch_size=setup["teacher_batch_size"])
    start = time.time()
    # Teachers always train with Adam 1e-3: the saved file's name says nothing
    # of the students' optimizer flags.
    training.train_classifier(
        trained, train_ds, epochs=setup["teacher_epochs"], verbose=2,
        learning_rate=_learning_rate(1e-3, setup["teacher_epochs"],
                                     setup["teacher_batch_size"], setup["teacher_cosine"]))
    print(f"Teacher trained in {time.time() - start:.0f} s")
    export.save_keras_model(teacher, path)
    return teacher


def _with_max_norm(model, max_norm):
    """`model` rebuilt with each hidden Dense unit's incoming weights capped.

    Hinton et al. 2015's MNIST teacher follows the dropout papers, which pair
    dropout with this cap on each hidden unit (Srivastava et al. 2014). The
    logits layer stays free.
    """
    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.Dense) and layer.name != "logits":
            config["kernel_constraint"] = keras.constraints.MaxNorm(max_norm, axis=0)
        return layer.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=clone)


def _averaged_over_shifts(teacher, pixels):
    """The teacher's logits averaged over every shift of the image by <= `pixels`.

    Shifts fill with zeros (MNIST's background), like the teacher's training
    jitter. Geometric mean of the views' probabilities, up to a constant.
    """
    inputs = keras.Input(teacher.input_shape[1:])
    padded = keras.layers.ZeroPadding2D(pixels)(inputs)
    span = 2 * pixels
    views = [teacher(keras.layers.Cropping2D(((dy, span - dy), (dx, span - dx)))(padded))
             for dy in range(span + 1) for dx in range(span + 1)]
    return keras.Model(inputs, keras.layers.Average()(views),
                       name=f"{teacher.name}_shifts{pixels}")


def _hint_terms(hint_weight):
    terms = []
    for hint in _HINTS.value:
        layers = hint.split(":")
        if len(layers) != 2:
            raise app.UsageError(
                f"--hints takes STUDENT_LAYER:TEACHER_LAYER pairs, got {hint!r}.")
        terms.append(distill.FeatureHint(*layers, weight=hint_weight))
    return terms


def _train_student(setup, seed, teacher=None, temperature=None, alpha=None,
                   hint_weight=0.0, unit_source=None):
    """A student trained alone (no `teacher`) or distilled from `teacher`.

    With --student_init=teacher, a distilled student starts from the units of
    `unit_source` (the MLP teacher before any shift averaging).
    """
    keras.utils.set_random_seed(seed)
    student = models.build(setup["student"])
    batch_size = setup["batch_size"]
    learning_rate = _learning_rate(setup["learning_rate"], setup["student_epochs"],
                                   batch_size, setup["cosine"], _WARMUP_EPOCHS.value)
    if teacher is None:
        train_ds = data.load("mnist", _TRAIN, shuffle=True, seed=seed,
                             batch_size=batch_size)
        training.train_classifier(
            student, train_ds, epochs=setup["student_epochs"], verbose=0,
            optimizer=setup["optimizer"], learning_rate=learning_rate)
        return student
    if _STUDENT_INIT.value == "teacher":
        distill.init_from_teacher(student, unit_source, _training_images())
        before = _errors(student, data.load("mnist", _TEST))
        print(f"  initialized from the teacher: {before} test errors before training",
              flush=True)
    distiller = distill.Distiller(student, teacher, temperature=temperature, alpha=alpha,
                                  extra_losses=_hint_terms(hint_weight))
    distiller.compile(training.make_optimizer(setup["optimizer"], learning_rate),
                      metrics=["accuracy"])
    train_ds = distill.with_teacher_outputs(
        distiller, data.load("mnist", _TRAIN, batch_size=256), batch_size=batch_size,
        shuffle=True, seed=seed, verbose=0)
    history = distiller.fit(train_ds, epochs=setup["student_epochs"], verbose=0)
    # How far the student got toward its targets on the training set.
    print("  last epoch: " + ", ".join(f"{k} {v[-1]:.4f}"
                                       for k, v in history.history.items()), flush=True)
    return student


@functools.cache
def _training_images():
    """All training images, to choose and refit the units a student inherits."""
    return np.concatenate([x for x, _ in data.load("mnist", _TRAIN, batch_size=10_000)])


def _shifts_note():
    pixels = _TEACHER_SHIFTS.value
    return f", logits averaged over shifts of <= {pixels} px" if pixels else ""


def _max_norm_note():
    max_norm = _TEACHER_MAX_NORM.value
    return f", hidden units' weights capped at norm {max_norm:g}" if max_norm else ""


def _warmup_note():
    epochs = _WARMUP_EPOCHS.value
    return f" after {epochs} warm-up epoch{'s' if epochs > 1 else ''}" if epochs else ""


def _student_init_note():
    if _STUDENT_INIT.value == "random":
        return ""
    return ", distilled students initialized from the teacher's most useful units"


def _describe(name, setup, teacher_errors):
    return (f"{name}: teacher {_TEACHER_PATH.value or setup['teacher']} "
            f"({setup['teacher_epochs']} epochs"
            f"{', jitter ±%d px' % setup['jitter'] if setup['jitter'] else ''}"
            f"{', cosine decay' if setup['teacher_cosine'] else ''}"
            f"{_max_norm_note()}{_shifts_note()}): "
            f"{teacher_errors} test errors. Student {setup['student']}, "
            f"{setup['student_epochs']} epochs, {setup['optimizer']} "
            f"{setup['learning_rate']:g}"
            f"{' with cosine decay' if setup['cosine'] else ''}"
            f"{_warmup_note()}, "
            f"batch {setup['batch_size']}; distilled with the teacher cache"
            f"{_student_init_note()}.")


def _print_table(rows, key):
    spread = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0  # noqa: E731
    alone = [r["alone"] for r in rows]
    distilled = [r[key] for r in rows]
    print("| seed | student alone: errors | distilled: errors | reduction |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['alone']} | {r[key]} | {1 - r[key] / r['alone']:.0%} |")
    print(f"| mean ± std | {statistics.mean(alone):.1f} ± {spread(alone):.1f} | "
          f"{statistics.mean(distilled):.1f} ± {spread(distilled):.1f} | "
          f"{1 - statistics.mean(distilled) / statistics.mean(alone):.0%} |")


def _check_flags(setup):
    """Bad flags fail now, not after a teacher or a student has trained."""
    _hint_terms(0.0)
    if _TEACHER_MAX_NORM.value is not None and not _TEACHER_MAX_NORM.value > 0:
        raise app.UsageError(
            f"--teacher_max_norm must be > 0, got {_TEACHER_MAX_NORM.value}.")
    if _TEACHER_MAX_NORM.value and _TEACHER_PATH.value:
        raise app.UsageError("--teacher_max_norm applies to a teacher trained here, "
                             "not to --teacher_path.")
    if _TEACHER_SHIFTS.value < 0:
        raise app.UsageError(f"--teacher_shifts must be >= 0, got {_TEACHER_SHIFTS.value}.")
    if _WARMUP_EPOCHS.value and not (
            setup["cosine"] and 0 <= _WARMUP_EPOCHS.value < setup["student_epochs"]):
        raise app.UsageError(
            f"--warmup_epochs={_WARMUP_EPOCHS.value} needs --cosine and must be >= 0 "
            f"and below the {setup['student_epochs']} student epochs.")
    if _TEACHER_SHIFTS.value and _HINTS.value:
        raise app.UsageError("--teacher_shifts and --hints do not combine.")


def _accuracy_experiment(name):
    setup = _setup(name)
    _check_flags(setup)
    test_ds = data.load("mnist", _TEST)
    teacher = unit_source = _teacher(setup, name)
    if _STUDENT_INIT.value == "teacher":
        try:
            inherit.check_pairing(models.build(setup["student"]), teacher)
        except ValueError as e:
            raise app.UsageError(f"--student_init=teacher: {e}") from None
    if _TEACHER_SHIFTS.value:
        print(f"Teacher alone: {_errors(teacher, test_ds)} test errors")
        teacher = _averaged_over_shifts(teacher, _TEACHER_SHIFTS.value)
    teacher_errors = _errors(teacher, test_ds)
    hint_weights = [float(w) for w in _HINT_WEIGHT.value] if _HINTS.value else [0.0]
    pairs = [(t, a, w) for t in setup["temperature"] for a in setup["alpha"]
             for w in hint_weights]
    hints = f", hints {','.join(_HINTS.value)} x " if _HINTS.value else ""
    keys = {pair: f"T={pair[0]:g}, alpha={pair[1]:g}"
                  + (f"{hints}{pair[2]:g}" if hints else "")
            for pair in pairs}
    rows = []
    for seed in map(int, _SEEDS.value):
        row = {"seed": seed, "alone": _errors(_train_student(setup, seed), test_ds)}
        print(f"seed {seed}: alone {row['alone']} errors", flush=True)
        for pair in pairs:
            student = _train_student(setup, seed, teacher, *pair, unit_source=unit_source)
            row[keys[pair]] = _errors(student, test_ds)
            print(f"seed {seed}: distilled at {keys[pair]}: {row[keys[pair]]} errors",
                  flush=True)
        rows.append(row)

    print("\n" + _describe(name, setup, teacher_errors))
    for pair in pairs:
        print(f"\nDistilled at {keys[pair]}:\n")
        _print_table(rows, keys[pair])
    return {"experiment": name, "setup": setup, "teacher_errors": teacher_errors,
            "rows": rows}


class _KerasIoDistiller(keras.Model):
    """The keras.io recipe's Distiller, as the cost baseline (teacher every step).

    Follows keras.io/examples/vision/knowledge_distillation: KLDivergence on
    softmax(t/T), softmax(s/T), times T**2; teacher run on every batch.
    """

    def __init__(self, student, teacher, temperature, alpha):
        super().__init__()
        self.student, self.teacher = student, teacher
        self.temperature, self.alpha = temperature, alpha
        self.student_loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.distillation_loss_fn = keras.losses.KLDivergence()

    def call(self, x):
        return self.student(x)

    def train_step(self, data_batch):
        x, y = data_batch
        teacher_predictions = self.teacher(x, training=False)
        with tf.GradientTape() as tape:
            student_predictions = self.student(x, training=True)
            student_loss = self.student_loss_fn(y, student_predictions)
            distillation_loss = self.distillation_loss_fn(
                tf.nn.softmax(teacher_predictions / self.temperature, axis=1),
                tf.nn.softmax(student_predictions / self.temperature, axis=1),
            ) * self.temperature**2
            loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.compiled_metrics.update_state(y, student_predictions)
        return {m.name: m.result() for m in self.metrics}


def _epoch_seconds(model, train_ds, epochs):
    """Median seconds per epoch, after one warm-up epoch (tracing, caches)."""
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(train_ds, epochs=epochs + 1, verbose=0, callbacks=[Timer()])
    return statistics.median(times[1:]), times


def _cost_experiment():
    """Seconds per epoch of each way to train the Hinton student, as ratios."""
    epochs = _STUDENT_EPOCHS.value or 3
    setup = _setup("hinton")
    teacher = models.build(setup["teacher"])  # cost does not depend on its training
    plain_ds = data.load("mnist", _TRAIN, shuffle=True, seed=0)

    def make_student():
        keras.utils.set_random_seed(0)
        return models.build(setup["student"])

    def compiled_distiller():
        d = distill.Distiller(make_student(), teacher, temperature=20.0, alpha=0.1)
        d.compile(training.make_optimizer("adam", 1e-3), metrics=["accuracy"])
        return d

    runs = {}
    student = make_student()
    training.compile_classifier(student)
    runs["plain student fit"] = _epoch_seconds(student, plain_ds, epochs)
    recipe = _KerasIoDistiller(make_student(), teacher, 20.0, 0.1)
    recipe.compile(keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    runs["keras.io recipe distiller"] = _epoch_seconds(recipe, plain_ds, epochs)
    runs["tfcompress Distiller, no cache"] = _epoch_seconds(compiled_distiller(),
                                                            plain_ds, epochs)
    distiller = compiled_distiller()
    start = time.perf_counter()
    cached_ds = distill.with_teacher_outputs(distiller, data.load("mnist", _TRAIN),
                                             batch_size=128, seed=0, verbose=0)
    cache_seconds = time.perf_counter() - start
    runs["tfcompress Distiller, teacher cache"] = _epoch_seconds(distiller, cached_ds,
                                                                 epochs)
    base = runs["plain student fit"][0]
    print(f"\nCost: {setup['student']} student, {setup['teacher']} teacher, MNIST train "
          f"(60,000), batch 128; median of {epochs} epochs after a warm-up epoch.\n")
    print("| training | s / epoch | vs plain student fit | first epoch s |")
    print("|---|---|---|---|")
    for name, (median, times) in runs.items():
        print(f"| {name} | {median:.2f} | {median / base:.2f}x | {times[0]:.2f} |")
    print(f"\nThe one-off teacher pass of the cache took {cache_seconds:.2f} s.")
    return {"experiment": "cost", "epochs": epochs, "cache_seconds": cache_seconds,
            "seconds_per_epoch": {k: v for k, v in runs.items()}}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"TF {tf.__version__}, seeds {_SEEDS.value}")
    if _EXPERIMENT.value == "cost":
        result = _cost_experiment()
    else:
        result = _accuracy_experiment(_EXPERIMENT.value)
    if _OUTPUT.value:
        _atomic.write_json(_OUTPUT.value, result)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    app.run(main)
