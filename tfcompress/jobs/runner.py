"""The one runner every job goes through.

    check -> build (in the strategy's scope) -> train (resumable) -> finish
    (export and evaluate) -> atomic rename

A job says only what is its own (see `Job`); the runner owns checking, loading
each model once, seeding and determinism, the strategy, checkpoints and
resume, the staging folder and its rename. `prepare` does every check before
any work, so the command line can turn its errors into usage errors.
"""

import dataclasses
import json
import os
import shutil

import tensorflow as tf

from tfcompress import _atomic
from tfcompress import data
from tfcompress import export
from tfcompress import keras3
from tfcompress import training as training_lib
from tfcompress._keras import keras
from tfcompress.data import augment
from tfcompress.jobs import artifacts
from tfcompress.jobs import loop
from tfcompress.jobs import options
from tfcompress.jobs import run_dir
from tfcompress.jobs import settings as settings_lib


class Job:
    """What one kind of job owns. Subclasses set `name` and override these.

    A job's options are its dataclass fields declared with `options.option`:
    they make its config, and its flags (`cli.common.define_job_flags`).
    """

    name = "job"
    # False: a job that measures (evaluate), trains nothing and writes nothing.
    writes_output = True

    def config(self):
        """The job's own settings, recorded in the run's config: its options
        (dataclass fields declared with `options.option`)."""
        return options.record(self)

    def check(self, run):
        """Checks the job's own inputs before any work (load models with `run.load_model`)."""

    def splits(self, training):
        """{name: split} of the splits the job reads, checked before any work."""
        return {name: getattr(training, name)
                for name in ("train_split", "val_split", "test_split")
                if name != "val_split" or training.val_split}  # it may be none

    def phases(self):
        """Names of the trainings, in order; empty for a job that does not train."""
        return ("train",)

    def build(self, run, phase):
        """Returns the `loop.Trainee` of `phase`; runs inside the strategy's scope."""
        raise NotImplementedError

    def finish(self, run):
        """Writes the job's artifacts into `run.staging`; returns summary sections."""
        raise NotImplementedError

    def describe(self, summary, output_dir):
        """Human-readable lines of the summary."""
        return artifacts.format_summary(summary, output_dir)


def make_strategy(strategy):
    """A `tf.distribute.Strategy` from its name (see `settings.STRATEGIES`).

    Raises:
      ValueError: the strategy cannot start, with why.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy in _STARTED:
        return _STARTED[strategy]
    if strategy == "multi_worker" and not os.environ.get("TF_CONFIG"):
        raise ValueError("`strategy` 'multi_worker' reads the cluster from $TF_CONFIG, "
                         "which is not set: set it on every worker (see the README), or "
                         "use --strategy=mirrored for the devices of one machine.")
    try:
        if strategy == "mirrored":
            # Reduced on one device rather than by collective ops, whose keys
            # clash with any other MirroredStrategy of the same process (seen:
            # one strategy's all-reduce paired with another's).
            started = tf.distribute.MirroredStrategy(
                cross_device_ops=tf.distribute.ReductionToOneDevice())
        else:
            started = tf.distribute.MultiWorkerMirroredStrategy()
    except (ValueError, RuntimeError, KeyError, tf.errors.OpError) as e:
        raise ValueError(f"`strategy` {strategy!r} cannot start: {e}") from None
    _STARTED[strategy] = started
    return started


# One strategy of each kind per process (a pipeline runs several jobs): a
# second multi-worker strategy cannot start, collectives are set up once.
_STARTED = {}


def is_chief(strategy):
    """True unless this process is a non-chief worker of a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def _dataset_shape(dataset, data_dir):
    """(image shape, number of classes) of a dataset, checked when opened."""
    source = data.open_source(dataset, data_dir)
    return tuple(source.image_shape), source.num_classes


def data_options(training, image_shape):
    """The `data.load` arguments of a run whose models (or file) take `image_shape`.

    The images come in that shape (`data/shapes.py`), normalized as
    `training.normalize` says; "standard" uses the training split's mean and std.
    """
    return {"image_shape": tuple(image_shape), **data.normalization(
        training.dataset, training.train_split, training.normalize,
        data_dir=training.data_dir, image_shape=image_shape)}


def _check_fits_data(model, path, arg_name, dataset, source, num_classes):
    """Raises unless `model` reads the dataset's examples and predicts its classes.

    Images convert a little (`data/shapes.py`: a channel axis of 1, grayscale
    to RGB, resizing for image folders; clips padded or cropped). A teacher's
    classes are left to the Distiller, which checks them against its
    student's (built for, or checked against, the dataset).
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return  # the job's own checks say what it takes
    takes = tuple(model.inputs[0].shape[1:])
    reason = data.source_mismatch(source, takes)
    if reason:
        kind = "audio clips" if getattr(source, "is_audio", False) else "images"
        raise ValueError(
            f"`{arg_name}` {path!r} takes inputs of shape {takes}, but dataset "
            f"{dataset!r} has {kind} of shape {tuple(source.image_shape)} ({reason}): "
            f"pass a model built "
            f"for {dataset!r} images (e.g. from `tfcompress train --dataset={dataset}`), "
            "or the dataset the model was built for (--dataset).")
    classes = model.outputs[0].shape[-1]
    if arg_name != "teacher" and classes is not None and classes != num_classes:
        raise ValueError(
            f"`{arg_name}` {path!r} predicts {classes} classes, but dataset {dataset!r} "
            f"has {num_classes}: pass a model trained on {dataset!r} (e.g. from "
            f"`tfcompress train --dataset={dataset}`), or the dataset it was trained on.")


@dataclasses.dataclass
class Run:
    """One run of a job: its settings, strategy, data and staging folder."""

    job: Job
    training: settings_lib.Training
    strategy: tf.distribute.Strategy
    chief: bool
    distributed: bool
    input_shape: tuple
    num_classes: int
    log: object = print
    staging: str = None
    # The dataset's own image shape; `input_shape` becomes that of the first
    # model loaded (`source_shape` converted, see `data/shapes.py`).
    source_shape: tuple = None
    # `data.load`'s image shape and normalization, set once the models are checked.
    data_options: dict = dataclasses.field(default_factory=dict)
    _models: dict = dataclasses.field(default_factory=dict)
    _shape_from: str = None
    # Whether a loaded model fixed the input length of audio clips.
    _length_from_model: bool = False
    # role -> what converting its Keras 3 file measured (Conversion.describe()).
    conversions: dict = dataclasses.field(default_factory=dict)
    _said: set = dataclasses.field(default_factory=set)

    def log_once(self, message):
        """`log(message)` the first time the run is told it (jobs ask at every stage)."""
        if message not in self._said:
            self._said.add(message)
            self.log(message)

    @property
    def config(self):
        return {"job": self.job.name, **self.training.recorded(), **self.job.config()}

    # Models -------------------------------------------------------------

    def load_model(self, path, arg_name="model"):
        """The model at `path` (a .keras file or a job folder), loaded once per role.

        `arg_name` names the role ("model", "teacher"): one file given for two
        roles loads twice, since a role may change its model (a teacher is
        frozen). Under a distribution strategy, call it again inside `build`:
        the model is then loaded anew in the strategy's scope, where its
        variables must be created. The model must read the run's images and
        predict its classes.
        """
        path = os.path.abspath(artifacts.model_path(path, arg_name))
        in_scope = self.distributed and tf.distribute.has_strategy()
        key = (path, arg_name, in_scope)
        if key not in self._models:
            if export.saved_by_keras3(path, arg_name):
                conversion = keras3.convert(export.load_keras3_file(path, arg_name=arg_name),
                                            arg_name=arg_name)
                if arg_name not in self.conversions:
                    self.log(f"`{arg_name}` {path} is a Keras 3 model: converted to "
                             f"tf_keras ({conversion.layers} layers, outputs within "
                             f"{conversion.max_abs_diff:.2g}, {conversion.seconds:.1f} s).")
                self.conversions[arg_name] = conversion.describe()
                model = conversion.model
            else:
                model = export.load_keras_model(path, unsafe=self.training.unsafe_load,
                                                arg_name=arg_name)
            source = data.open_source(self.training.dataset, self.training.data_dir)
            _check_fits_data(model, path, arg_name, self.training.dataset, source,
                             self.num_classes)
            if source.is_text:
                data.check_model_vocabulary(path, source.vocabulary,
                                            self.training.dataset, arg_name)
            self._take_input_shape(model, arg_name)
            if len(model.inputs) == 1 and model.inputs[0].shape[1] is not None:
                self._length_from_model = True
            self._models[key] = model
        return self._models[key]

    def _take_input_shape(self, model, arg_name):
        """The run's images come in the shape of its first model; the others must agree."""
        if len(model.inputs) != 1:
            return
        shape = data.fill_unknown(self.source_shape or self.input_shape,
                                  model.inputs[0].shape[1:])
        if self._shape_from is None:
            self.input_shape, self._shape_from = shape, arg_name
        elif shape != tuple(self.input_shape):
            audio = self.is_audio
            raise ValueError(f"`{arg_name}` takes inputs of shape {shape}, but "
                             f"`{self._shape_from}` takes {tuple(self.input_shape)}: both "
                             f"read the same {'clips' if audio else 'images'}; pass models "
                             f"of one input shape"
                             f"{' (or set their length: --audio_length)' if audio else ''}.")

    def take_built_input_shape(self, model, arg_name):
        """Audio: clips come in the shape of a model the job built for them.

        An audio model may take (samples,) where the data has (samples, 1);
        image and text models are built for the data's own shape.
        """
        if self.is_audio:
            self._take_input_shape(model, arg_name)

    @property
    def is_audio(self):
        source = data.open_source(self.training.dataset, self.training.data_dir)
        return getattr(source, "is_audio", False)

    @property
    def keras3_output(self):
        """Whether model.keras is written by Keras 3: always.

        TF 2.16+ gives `import keras` as Keras 3, whose `load_model` refuses
        tf_keras files; `tfcompress.load_keras_model` reads either.
        """
        return True

    def local(self, model):
        """`model` itself, or after distributed training a plain copy of it.

        Exporting and evaluating read the variables outside the strategy, where
        distributed variables cannot be traced into a SavedModel.
        """
        if not self.distributed:
            return model
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        return copy

    # Data ---------------------------------------------------------------

    @property
    def num_train_examples(self):
        return data.num_examples(self.training.dataset, self.training.train_split,
                                 self.training.data_dir)

    @property
    def steps_per_epoch(self):
        return data.steps_per_epoch(self.num_train_examples, self.training.batch_size)

    def train_examples(self):
        """The training split, preprocessed and cached, unbatched, in order."""
        return data.examples(self.training.dataset, self.training.train_split,
                             data_dir=self.training.data_dir, **self.data_options)

    def train_batches(self):
        """The training split in batches, unshuffled (calibration, teacher passes)."""
        return self.load(self.training.train_split)

    def validation(self):
        if not self.training.val_split:
            return None
        return data.with_data_sharding(self.load(self.training.val_split))

    def test(self):
        return self.load(self.training.test_split)

    @property
    def test_count(self):
        return data.num_examples(self.training.dataset, self.training.test_split,
                                 self.training.data_dir)

    def check_batch(self):
        """Real test examples of every class that exports are checked on: (x, y)."""
        return artifacts.check_batch(self.training.dataset, self.training.test_split,
                                     self.training.data_dir, **self.data_options)

    def first_train_examples(self, count):
        return data.first_examples(self.training.dataset, self.training.train_split,
                                   count, data_dir=self.training.data_dir,
                                   **self.data_options)

    def load(self, split):
        """`split` in batches, unshuffled, as the run's models take it."""
        return data.load(self.training.dataset, split,
                         batch_size=self.training.batch_size,
                         data_dir=self.training.data_dir, **self.data_options)

    def data_record(self):
        """How the run's inputs were made, for its summary: a deployment must match it.

        For text, "text" also says how its ids were made (`TextSource.record`);
        for audio, "audio" the sample rate and the clips' length, where it came
        from and what it padded or cropped (`AudioFolderSource.record`).
        """
        source = data.open_source(self.training.dataset, self.training.data_dir)
        record = {"dataset": data.canonical_name(self.training.dataset),
                  "image_shape": list(self.input_shape), "class_names": source.class_names,
                  **{k: v for k, v in self.data_options.items() if k != "image_shape"}}
        if source.is_text:
            record["text"] = source.record()
        if getattr(source, "is_audio", False):
            record["audio"] = source.record(*self._clip_length(source))
        return record

    def _clip_length(self, source):
        """(samples per clip, where that came from) of an audio run."""
        fixed = self._length_from_model or self.input_shape[0] != source.clip_samples
        return self.input_shape[0], source.length_from(fixed)

    def describe_data(self):
        """A line for the log saying how the run's audio clips were made one length."""
        source = data.open_source(self.training.dataset, self.training.data_dir)
        if getattr(source, "is_audio", False):
            self.log(source.describe(*self._clip_length(source)))

    def write_data_files(self):
        """Text: vocabulary.txt beside the model, to turn new text into its inputs."""
        source = data.open_source(self.training.dataset, self.training.data_dir)
        if source.is_text:
            source.write_vocabulary(self.staging)

    # Training -----------------------------------------------------------

    def learning_rate(self, epochs=None):
        """The run's rate: a float, or a schedule spanning `epochs` (default: the run's)."""
        total = (epochs or self.training.epochs) * self.steps_per_epoch
        return training_lib.learning_rate_schedule(
            self.training.learning_rate, self.training.lr_schedule, total_steps=total)

    def optimizer(self, epochs=None):
        return training_lib.make_optimizer(self.training.optimizer,
                                           self.learning_rate(epochs))

    @property
    def progress_verbose(self):
        """Keras verbosity of progress bars: one line, not redraws, off a terminal."""
        return training_lib.progress_verbosity(self.training.verbose)

    def checkpoint_dir(self, phase):
        return os.path.join(self.staging, "checkpoints", phase)

    @property
    def output_dir(self):
        """Where this process stages its run: the chief's is the job's output.

        Every worker checkpoints (saving reads distributed variables), each
        in its own folder beside the output, which it removes once training
        is done; a resumed worker finds its own checkpoints there again.
        """
        if self.chief:
            return self.training.output_dir
        resolver = self.strategy.cluster_resolver
        return (f"{os.path.normpath(self.training.output_dir)}.worker-"
                f"{resolver.task_type}-{resolver.task_id}")

    def phase_log_dir(self, phase):
        """TensorBoard folder of `phase`; None without `log_dir`.

        Other workers than the chief log into their own staging folders.
        """
        if not self.training.log_dir:
            return None
        root = self.training.log_dir if self.chief else os.path.join(self.staging, "logs")
        return os.path.join(root, phase)

    def write_json(self, name, obj):
        _atomic.write_json(os.path.join(self.staging, name), obj)


def prepare(job, training, log=print):
    """Checks everything `execute` will need, before any work.

    Every input is validated and each model file loaded once; nothing is
    written to disk.

    Returns:
      The `Run`, to pass to `execute`.

    Raises:
      ValueError, TypeError, OSError: a bad input, naming it, its value and
        what to do instead.
    """
    # Multi-worker collectives must be set up before any other TF work (the
    # other checks build optimizers), so the strategy starts first.
    training.check_strategy()
    strategy = make_strategy(training.strategy)
    training = training.check(job.writes_output).with_dataset_splits(
        data.default_splits(training.dataset, training.data_dir))
    training_lib.make_deterministic(training.seed)
    input_shape, num_classes = _dataset_shape(training.dataset, training.data_dir)
    for arg_name, split in job.splits(training).items():
        data.check_split(training.dataset, split, training.data_dir, arg_name)
    run = Run(job=job, training=training, strategy=strategy, chief=is_chief(strategy),
              distributed=strategy is not tf.distribute.get_strategy(),
              input_shape=input_shape, num_classes=num_classes, log=log,
              source_shape=input_shape)
    if job.writes_output:
        run_dir.check_output_dir(run.output_dir, training.overwrite, training.resume,
                                 run.config, settings_lib.RESUMABLE_CHANGES)
    job.check(run)
    # Once the models gave the input shape, which must be an image's to augment.
    augment.check(training.augment, data.open_source(training.dataset, training.data_dir),
                  run.input_shape)
    run.data_options = data_options(training, run.input_shape)
    run.describe_data()
    return run


def execute(run):
    """Runs a prepared job; returns its summary (None on a non-chief worker).

    The outputs appear at `output_dir` only once complete. A killed run stays
    in `<output_dir>.partial`; `resume` continues it from its last checkpoint.
    """
    training, job = run.training, run.job
    if not job.writes_output:
        return job.finish(run)
    run.staging = run_dir.start(run.output_dir, run.config, training.resume)
    done = os.path.join(run.staging, artifacts.SUMMARY_FILE)
    if run.chief and os.path.exists(done):  # killed while being renamed: finish that
        with open(done, encoding="utf-8") as f:
            summary = json.load(f)
        run_dir.finish(run.staging, training.output_dir)
        return summary
    train_seconds = 0.0
    with run.strategy.scope():
        for phase in job.phases():
            # Seeded anew: a phase starts the same after earlier phases or a resume.
            training_lib.make_deterministic(training.seed)
            train_seconds += loop.train(run, job.build(run, phase), phase)
    if not run.chief:  # its checkpoints served their purpose
        shutil.rmtree(run.staging, ignore_errors=True)
        return None
    summary = {"config": run.config, "train_seconds": round(train_seconds, 2),
               "data": run.data_record(), **job.finish(run)}
    run.write_data_files()
    if run.conversions:
        summary["keras3_conversion"] = run.conversions
    run.write_json(artifacts.SUMMARY_FILE, summary)
    run_dir.finish(run.staging, training.output_dir)
    run.log(job.describe(summary, training.output_dir))
    return summary


def run(job, training, log=print):
    """`prepare`, then `execute`: the whole job. Returns its summary."""
    return execute(prepare(job, training, log=log))
