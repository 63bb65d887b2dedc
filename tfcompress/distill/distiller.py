"""`Distiller`: a tf_keras Model that trains a student from a frozen teacher.

loss = alpha * hard-label loss + (1 - alpha) * T**2 * KL(teacher_T || student_T)
       + sum of weighted extra terms (logit MSE, FitNets feature hints, yours),
each a `terms.DistillationTerm`.

Written by hand: tf_keras ships no distiller (Keras 3's `keras.distillation`
does not work with TFMOT's Keras 2 models).
"""

import numbers

import numpy as np
import tensorflow as tf

from tfcompress import _tfmot_wrappers
from tfcompress import graph
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.distill import terms
from tfcompress import keras3
from tfcompress.keras3 import callbacks as keras3_callbacks
from tfcompress.keras3 import compile_args
from tfcompress.models.outputs import ends_in_softmax
from tfcompress.prune import magnitude as prune_magnitude

# Keys of an input that already carries the teacher's outputs (teacher_cache).
STUDENT_INPUTS = "_student_inputs"
TEACHER_OUTPUTS = "_teacher_outputs"
TEACHER_LOGITS = "logits"

# log(p) of a probability-output teacher: clip so log(0) stays finite.
_MIN_PROBABILITY = 1e-12


def _shape(model, attribute, arg_name):
    try:
        return getattr(model, attribute)
    except (AttributeError, RuntimeError):
        raise ValueError(
            f"`{arg_name}` {model.name!r} has no known {attribute.split('_')[0]} "
            "shape: build it first (a functional model, or call it on a batch)."
        ) from None


def _check_models(student, teacher):
    require_keras2_model(student, "student")
    require_keras2_model(teacher, "teacher")
    if student is teacher:
        raise ValueError("`teacher` is the same model as `student`; distill from a "
                         "separate, trained teacher model.")
    teacher_ids = {id(v) for v in teacher.weights}
    if any(id(v) in teacher_ids for v in student.weights):
        raise ValueError("`student` and `teacher` share weights; the teacher must be "
                         "a separate model (clone it with keras.models.clone_model).")
    if ends_in_softmax(student):
        raise ValueError(
            f"`student` {student.name!r} ends in a softmax; the Distiller trains a "
            "student that outputs logits. Remove the final softmax (apply it at "
            "inference if you need probabilities).")
    for attribute, mismatch in (
            ("output_shape", "`teacher` outputs shape {t} but `student` outputs {s}; "
                             "both must predict the same classes."),
            ("input_shape", "`teacher` takes inputs of shape {t} but `student` takes {s}; "
                            "both must read the same examples.")):
        s, t = _shape(student, attribute, "student"), _shape(teacher, attribute, "teacher")
        if s[1:] != t[1:]:
            raise ValueError(mismatch.format(s=s, t=t))


def _layer_output(model, layer_name, arg_name):
    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        names = [layer.name for layer in model.layers]
        inside = [layer.name for layer in model.layers if graph.is_nested_model(layer)
                  and any(inner.name == layer_name.rpartition("/")[2]
                          for inner in layer.layers)]
        where = (f" It is a layer of the nested model {inside[0]!r}: a hint reads a "
                 f"layer of {model.name!r}'s own graph; hint {inside[0]!r} itself, or "
                 "build the model as one functional graph (e.g. "
                 "keras.Model(inputs, head(base.output)))." if inside else "")
        raise ValueError(
            f"`{arg_name}` {layer_name!r} is not a layer of {model.name!r}; its "
            f"layers are {names}.{where}") from None
    try:
        return layer.output
    except AttributeError:  # called more than once: Keras has no single output
        raise ValueError(
            f"`{arg_name}` {layer_name!r} is called {len(layer._inbound_nodes)} times in "  # noqa: SLF001
            f"{model.name!r}, so it has no single output to hint: pick a layer "
            "called once.") from None


def _make_adapter(student_shape, teacher_shape, name):
    """FitNets regressor from student features to the teacher's shape.

    Romero et al. 2015 (sec. 2.2) learn a regressor from the student's
    hinted layer to the teacher's, convolutional for feature maps to keep it
    small. Here, by the shapes ([batch, ...], channels last):

    - vectors [b, d] -> [b, d']: Dense;
    - sequences [b, t, d] -> [b, t, d'] (same t): Dense on the last axis;
    - maps [b, h, w, c] -> [b, h', w', c']: a 1x1 Conv2D when h, w match; a
      Conv2D whose kernel and stride are the ratio when the student's map is
      a whole multiple of the teacher's (each output reads one patch); a
      Conv2DTranspose likewise when it is a whole fraction; otherwise a
      bilinear resize to (h', w') then a 1x1 Conv2D;
    - map -> vector: global average pooling, then Dense;
    - vector -> map: Dense to h' * w' * c', reshaped.

    Raises:
      ValueError: unknown sizes, or ranks with no sensible map (e.g. a
        sequence hinted from an image map), saying which pairs work.
    """
    student, teacher = tuple(student_shape[1:]), tuple(teacher_shape[1:])
    if None in student or None in teacher:
        raise ValueError(
            f"FeatureHint {name!r}: student features {student_shape} or teacher "
            f"features {teacher_shape} have unknown sizes; hint layers whose outputs "
            "have fixed sizes (build the models with a fixed input shape).")
    layers = keras.layers
    if len(student) == len(teacher) == 1:
        return layers.Dense(teacher[-1], name=name)
    if len(student) == len(teacher) == 2 and student[0] == teacher[0]:
        return layers.Dense(teacher[-1], name=name)
    if len(student) == len(teacher) == 3:
        (sh, sw, _), (th, tw, channels) = student, teacher
        if (sh, sw) == (th, tw):
            return layers.Conv2D(channels, 1, name=name)
        if sh % th == 0 and sw % tw == 0:
            ratio = (sh // th, sw // tw)
            return layers.Conv2D(channels, ratio, strides=ratio, name=name)
        if th % sh == 0 and tw % sw == 0:
            ratio = (th // sh, tw // sw)
            return layers.Conv2DTranspose(channels, ratio, strides=ratio, name=name)
        return keras.Sequential([layers.Resizing(th, tw, interpolation="bilinear"),
                                 layers.Conv2D(channels, 1)], name=name)
    if len(student) == 3 and len(teacher) == 1:
        return keras.Sequential([layers.GlobalAveragePooling2D(),
                                 layers.Dense(teacher[0])], name=name)
    if len(student) == 1 and len(teacher) == 3:
        return keras.Sequential([layers.Dense(int(np.prod(teacher))),
                                 layers.Reshape(teacher)], name=name)
    raise ValueError(
        f"FeatureHint {name!r}: cannot map student features {student_shape} to "
        f"teacher features {teacher_shape}. Hints map vectors [batch, d] and "
        "feature maps [batch, h, w, c] to each other in any combination, and "
        "sequences [batch, t, d] of the same length t to each other; pick such "
        "layers.")


@keras.utils.register_keras_serializable(package="tfcompress")
class Distiller(keras.Model):
    """Trains `student` to match `teacher` and the labels; predicts with `student`.

    Use it like any Keras model: `compile(optimizer, metrics=[...])`, then
    `fit`, `evaluate`, `predict` (all on the student). The teacher is frozen:
    its weights never change and it always runs in inference mode (dropout
    off, batch-norm statistics untouched). The trained student is
    `distiller.student`; save and export that.

    Keras 3 models work too: they train as tf_keras twins (`tf_keras_student`,
    converted and checked equal), and the trained weights are written into
    your Keras 3 student at every epoch's end and when `fit` returns, so
    `distiller.student` is your Keras 3 model, trained. `fit` takes Keras 3
    callbacks (`keras.callbacks.EarlyStopping`, `ModelCheckpoint`, which
    saves the student as Keras 3, ...) as well as tf_keras ones.

    Logged losses: `loss` (total), `hard_loss`, `soft_loss` and one entry per
    extra term, each a mean over examples (sample-weighted as Keras does).
    The logged `loss` leaves out the student's regularization losses, which
    are still added to what is minimized.
    """

    def __init__(self, student, teacher, *, temperature=4.0, alpha=0.1,
                 extra_losses=(), **kwargs):
        """Args:
          student: tf_keras model that outputs logits; the one trained.
          teacher: trained tf_keras model with the student's input and output
            shapes; logits, or probabilities from a final softmax (detected
            and turned back into logits with log). It is set non-trainable.
          temperature: positive float; T of the softened distributions.
          alpha: weight in [0, 1] of the hard-label loss; the soft-target
            loss gets 1 - alpha.
          extra_losses: `DistillationTerm` objects (`LogitMSE`, `FeatureHint`
            or your own subclass), each with its own weight.
          **kwargs: passed to keras.Model (e.g. name).
        """
        super().__init__(**kwargs)
        # The caller's Keras 3 student, which the trained weights go back into.
        # Set past tf_keras' attribute tracking: its variables are not the
        # Distiller's (they would be trained and checkpointed twice).
        object.__setattr__(self, "_keras3_student",
                           student if keras3.is_keras3_model(student) else None)
        if self._keras3_student is not None:
            student = keras3.as_tf_keras(student, "student")
        if keras3.is_keras3_model(teacher):
            teacher = keras3.as_tf_keras(teacher, "teacher")
        _check_models(student, teacher)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
            raise ValueError(f"`alpha` must be in [0, 1], got {alpha!r}.")
        soft = terms.SoftTargets(temperature, weight=1.0 - alpha)
        extra_losses = tuple(extra_losses)
        for term in extra_losses:
            if not isinstance(term, terms.DistillationTerm):
                raise ValueError(
                    "`extra_losses` must hold tfcompress.distill.DistillationTerm objects "
                    f"(LogitMSE, FeatureHint or your own subclass), got {term!r}.")
        # What is minimized: the sum of every term's weight * per-example loss.
        self.terms = (terms.HardLabels(weight=alpha), soft, *extra_losses)
        names = [term.name for term in self.terms]
        if (len(set(names)) != len(names) or "loss" in names
                or not all(isinstance(name, str) and name for name in names)):
            raise ValueError(
                "`extra_losses` terms need a `name` each, other than 'loss' and each "
                f"other's: they are logged by name. Got names {names}.")

        self.tf_keras_student = student
        teacher.trainable = False  # frozen: summaries and counts say so too
        self.teacher = teacher
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.extra_losses = extra_losses
        self.teacher_outputs_probabilities = ends_in_softmax(teacher)
        self._build_hints()
        # Every weight exists now (student, teacher, adapters): mark the model
        # built so BackupAndRestore and load_weights work before the first step.
        self.built = True
        self._trackers = {name: keras.metrics.Mean(name=name) for name in ["loss", *names]}

    def _build_hints(self):
        """The models giving the features and the adapters of feature-reading terms."""
        hints = [t for t in self.terms if t.reads_features]
        self._student_features = self._teacher_features = None
        self.adapters = []
        if not hints:
            return
        student_feats = [_layer_output(self.tf_keras_student, h.student_layer, "student_layer")
                         for h in hints]
        teacher_feats = [_layer_output(self.teacher, h.teacher_layer, "teacher_layer")
                         for h in hints]
        self._student_features = keras.Model(
            self.tf_keras_student.inputs, [self.tf_keras_student.outputs[0], *student_feats])
        self._teacher_features = keras.Model(
            self.teacher.inputs, [self.teacher.outputs[0], *teacher_feats])
        for hint, student_feat, teacher_feat in zip(hints, student_feats, teacher_feats):
            adapter = _make_adapter(tuple(student_feat.shape), tuple(teacher_feat.shape),
                                    f"adapter_{hint.student_layer}")
            adapter.build(student_feat.shape)
            self.adapters.append(adapter)

    @property
    def student(self):
        """The student: the caller's Keras 3 model (trained weights copied in),
        or the tf_keras model that trains."""
        if self._keras3_student is None:
            return self.tf_keras_student
        self.copy_to_keras3_student()
        return self._keras3_student

    def copy_to_keras3_student(self):
        """Copies the trained weights into the caller's Keras 3 student, if any."""
        if self._keras3_student is not None:
            keras3.copy_weights(self.tf_keras_student, self._keras3_student)

    # --- the forward passes -------------------------------------------------

    def call(self, inputs, training=False):
        return self.tf_keras_student(inputs, training=training)

    def teacher_outputs(self, inputs):
        """The teacher's logits (and hint features) for a batch, in a dict.

        Keys: "logits", then "hint_0", "hint_1", ... for the terms that read
        features (`FeatureHint`s), in order.
        """
        if self._teacher_features is not None:
            logits, *features = self._teacher_features(inputs, training=False)
        else:
            logits, features = self.teacher(inputs, training=False), []
        if self.teacher_outputs_probabilities:
            # log p are logits up to a per-example constant, which softmax
            # ignores: softmax(log(p) / T) is exactly p sharpened/softened by T.
            logits = tf.math.log(tf.maximum(logits, _MIN_PROBABILITY))
        outputs = {TEACHER_LOGITS: logits}
        outputs.update({f"hint_{i}": f for i, f in enumerate(features)})
        return tf.nest.map_structure(tf.stop_gradient, outputs)

    def _student_outputs(self, inputs, training):
        if self._student_features is None:
            return self.tf_keras_student(inputs, training=training), []
        logits, *features = self._student_features(inputs, training=training)
        return logits, [adapt(f) for adapt, f in zip(self.adapters, features)]

    def _split_inputs(self, x):
        """(student inputs, teacher outputs): cached ones if `x` carries them."""
        if isinstance(x, dict) and TEACHER_OUTPUTS in x:
            return x[STUDENT_INPUTS], x[TEACHER_OUTPUTS]
        return x, self.teacher_outputs(x)

    # --- losses ---------------------------------------------------------------

    def per_example_losses(self, y, teacher, student_logits, student_features):
        """Each term's per-example loss, shape [batch], keyed by its logged name."""
        teacher_logits = tf.cast(teacher[TEACHER_LOGITS], student_logits.dtype)
        values = {}
        hint_index = 0
        for term in self.terms:
            teacher_outputs = {"logits": teacher_logits}
            student_outputs = {"logits": student_logits, "labels": y}
            if term.reads_features:
                teacher_outputs["features"] = teacher[f"hint_{hint_index}"]
                student_outputs["features"] = student_features[hint_index]
                hint_index += 1
            value = tf.convert_to_tensor(term.per_example_loss(teacher_outputs,
                                                               student_outputs))
            if value.shape.rank not in (1, None):
                raise ValueError(
                    f"{type(term).__name__}.per_example_loss must return one loss per "
                    f"example, shape [batch], got shape {value.shape}: reduce every "
                    "axis but the first (the Distiller averages over the batch).")
            values[term.name] = value
        return values

    def _loss(self, y, teacher, student_logits, student_features, sample_weight):
        if y is None or (y.shape.rank is not None and y.shape.rank > 1
                         and y.shape[-1] != 1):
            raise ValueError(
                "Distiller needs integer class ids as labels `y`, shape [batch]; got "
                f"{None if y is None else y.shape}. Convert one-hot labels with "
                "argmax.")
        values = self.per_example_losses(y, teacher, student_logits, student_features)
        total = tf.add_n([term.weight * values[term.name] for term in self.terms])
        if sample_weight is not None:
            sample_weight = tf.reshape(tf.cast(sample_weight, total.dtype), [-1])
        # Sum over this replica's examples / global batch: gradients summed
        # across replicas then equal one device's mean over the global batch.
        loss = tf.nn.compute_average_loss(total, sample_weight=sample_weight)
        regularization = self.tf_keras_student.losses
        if regularization:
            loss += tf.nn.scale_regularization_loss(tf.add_n(regularization))
        values["loss"] = total
        for name, value in values.items():
            if sample_weight is not None:
                value = value * sample_weight
            self._trackers[name].update_state(value)
        return loss

    # --- Keras hooks ------------------------------------------------------------

    def compile(self, optimizer="adam", *, metrics=None, loss=None, **kwargs):
        """Like Model.compile, without `loss`: the Distiller defines its own.

        Keras 3 optimizers and metrics are rebuilt as tf_keras ones
        (`keras3.compile_args`).
        """
        if loss is not None:
            raise ValueError(
                "Distiller computes its own loss; set `alpha`, `temperature` and "
                f"`extra_losses` in the constructor instead of loss={loss!r}.")
        optimizer, _, metrics = compile_args.translate(optimizer, None, metrics)
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)

    def fit(self, *args, **kwargs):
        """Model.fit; refuses a pruned student without the pruning callbacks.

        Keras 3 callbacks are run through `keras3.callbacks.adapt`; a Keras 3
        student gets the trained weights at every epoch's end (before the
        other callbacks) and when fit returns (after EarlyStopping restored
        its best weights).
        """
        prune_magnitude.check_fit_callbacks(self.tf_keras_student,
                                            keras3_callbacks.fit_callbacks(args, kwargs))
        args, kwargs = keras3_callbacks.adapt_fit_arguments(
            args, kwargs, finished=self._finished_student)
        if self._keras3_student is not None:  # first, before checkpoints save it
            callbacks = keras3_callbacks.fit_callbacks(args, kwargs) or []
            copy = keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: self.copy_to_keras3_student())
            args, kwargs = keras3_callbacks.with_fit_callbacks(args, kwargs, [copy, *callbacks])
        history = super().fit(*args, **kwargs)
        self.copy_to_keras3_student()
        return history

    def _finished_student(self):
        """The student as a checkpoint holds it: stripped if pruned, the caller's Keras."""
        if not _tfmot_wrappers.has_pruning_wrappers(self.tf_keras_student):
            return self.student
        given = (self.tf_keras_student if self._keras3_student is None
                 else self._keras3_student)
        return keras3.in_keras_of(prune_magnitude.strip(self.tf_keras_student), given)

    @property
    def metrics(self):
        return [*self._trackers.values(), *super().metrics]

    def _trainable_variables(self):
        variables = list(self.tf_keras_student.trainable_variables)
        for adapter in self.adapters:
            variables += adapter.trainable_variables
        return variables

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, teacher = self._split_inputs(x)
        with tf.GradientTape() as tape:
            student_logits, features = self._student_outputs(x, training=True)
            loss = self._loss(y, teacher, student_logits, features, sample_weight)
        self.optimizer.minimize(loss, self._trainable_variables(), tape=tape)
        self.compiled_metrics.update_state(y, student_logits, sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, teacher = self._split_inputs(x)
        student_logits, features = self._student_outputs(x, training=False)
        self._loss(y, teacher, student_logits, features, sample_weight)
        self.compiled_metrics.update_state(y, student_logits, sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {
            "name": self.name,
            "student": keras.saving.serialize_keras_object(self.tf_keras_student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "extra_losses": [term.get_config() for term in self.extra_losses],
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        student = keras.saving.deserialize_keras_object(config.pop("student"))
        teacher = keras.saving.deserialize_keras_object(config.pop("teacher"))
        extra = [terms.deserialize(c) for c in config.pop("extra_losses", [])]
        return cls(student, teacher, extra_losses=extra, **config)
