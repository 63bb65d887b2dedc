"""Distillation terms: what a `Distiller` minimizes, and the class for your own.

A Distiller minimizes `HardLabels` (weight alpha) + `SoftTargets` (weight
1 - alpha) + its `extra_losses`, each a weighted `DistillationTerm`.
"""

import abc
import numbers

from tfcompress.distill import losses

# Every DistillationTerm class by class name: how a saved Distiller's terms load.
_REGISTRY = {}


def _number(arg_name, value, minimum, inclusive):
    """`value` as a float >= `minimum` (> if not `inclusive`); raises naming `arg_name`."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not (value >= minimum if inclusive else value > minimum)):
        raise ValueError(f"`{arg_name}` must be {'>=' if inclusive else '>'} {minimum}, "
                         f"got {value!r}.")
    return float(value)


class DistillationTerm(abc.ABC):
    """One weighted per-example loss of a `Distiller`; subclass it for your own.

    A subclass sets `name`, the key its mean is logged under (e.g.
    "cosine_loss"), and implements `per_example_loss`; pass it in
    `Distiller(..., extra_losses=[MyTerm(weight=0.5)])` (README: a cosine
    term). Every batch, the Distiller calls `per_example_loss(teacher_outputs,
    student_outputs)` with two dicts of tensors:

      teacher_outputs: "logits", the teacher's logits [batch, classes] in the
        student's dtype (a softmax teacher's probabilities turned back into
        logits); they may come from the teacher cache (`with_teacher_outputs`),
        so read the teacher only here. "features": the output of the
        teacher's layer `teacher_layer`, if the term sets one.
      student_outputs: "logits", the student's logits [batch, classes];
        "labels", the batch's integer class ids [batch] (or [batch, 1]);
        "features": the output of the student's layer `student_layer` mapped
        by a learned adapter to the shape of the teacher's features (FitNets'
        regressor, see `FeatureHint`), if the term sets one.

    It returns one loss per example, shape [batch]. The Distiller sums
    `weight` times each term's loss, applies sample weights and averages over
    the global batch, which is what makes tf.distribute come out right.

    Subclasses register by class name when defined: a saved Distiller with
    one loads (`keras.models.load_model`) where its class is defined or
    imported. A term with constructor arguments besides `weight` adds them
    to `get_config`, whose dict `from_config` passes back to the constructor;
    one that reads features sets `student_layer` and `teacher_layer` in
    `__init__`, as `FeatureHint` does.
    """

    name = None
    student_layer = None
    teacher_layer = None

    def __init__(self, weight=1.0):
        self.weight = _number("weight", weight, 0, inclusive=True)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        known = _REGISTRY.get(cls.__name__)
        # The same class defined again (a module reloaded, a notebook cell rerun)
        # replaces itself; another class of that name would load in its place.
        if known is not None and (known.__module__, known.__qualname__) != (
                cls.__module__, cls.__qualname__):
            raise TypeError(
                f"A DistillationTerm named {cls.__name__!r} exists already "
                f"({known.__module__}.{known.__qualname__}); saved Distillers name "
                "their terms by class name, so give this class another name.")
        _REGISTRY[cls.__name__] = cls

    @property
    def reads_features(self):
        """Whether the term reads layer outputs ("features" in its inputs)."""
        return self.student_layer is not None or self.teacher_layer is not None

    @abc.abstractmethod
    def per_example_loss(self, teacher_outputs, student_outputs):
        """The loss of each example, shape [batch] (see the class docstring)."""

    def get_config(self):
        return {"class_name": type(self).__name__, "weight": self.weight}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def deserialize(config):
    """Rebuilds a term from its `get_config()` dict."""
    config = dict(config)
    name = config.pop("class_name", None)
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown distillation term {name!r}: define or import its "
            "DistillationTerm subclass before loading the Distiller. Known terms: "
            f"{sorted(_REGISTRY)}.")
    return _REGISTRY[name].from_config(config)


class HardLabels(DistillationTerm):
    """Cross-entropy of the labels under the student's logits."""

    name = "hard_loss"

    def per_example_loss(self, teacher_outputs, student_outputs):
        return losses.hard_label_loss(student_outputs["labels"], student_outputs["logits"])


class SoftTargets(DistillationTerm):
    """T**2 * KL(teacher || student) of temperature-softened logits (Hinton)."""

    name = "soft_loss"

    def __init__(self, temperature=4.0, weight=1.0):
        super().__init__(weight)
        self.temperature = _number("temperature", temperature, 0, inclusive=False)

    def per_example_loss(self, teacher_outputs, student_outputs):
        return losses.soft_target_loss(teacher_outputs["logits"], student_outputs["logits"],
                                       self.temperature)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


class LogitMSE(DistillationTerm):
    """Mean squared difference of logits (Ba & Caruana 2014)."""

    name = "logit_mse_loss"

    def per_example_loss(self, teacher_outputs, student_outputs):
        return losses.logit_mse_loss(teacher_outputs["logits"], student_outputs["logits"])


class FeatureHint(DistillationTerm):
    """FitNets hint: match a student layer's output to a teacher layer's.

    The student's features go through a learned adapter to the teacher's
    feature shape, as FitNets' regressor (Romero et al. 2015): Dense for
    vectors, a 1x1, strided or transposed Conv2D for feature maps of other
    widths or sizes, pooling or a reshape between a map and a vector (see
    `distiller._make_adapter`). Layers are chosen by name.
    """

    def __init__(self, student_layer, teacher_layer, weight=1.0):
        super().__init__(weight)
        for arg_name, value in (("student_layer", student_layer),
                                ("teacher_layer", teacher_layer)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"`{arg_name}` must be a layer name, got {value!r}.")
        self.student_layer = student_layer
        self.teacher_layer = teacher_layer

    @property
    def name(self):
        return f"hint_{self.student_layer}_loss"

    def per_example_loss(self, teacher_outputs, student_outputs):
        return losses.feature_hint_loss(teacher_outputs["features"],
                                        student_outputs["features"])

    def get_config(self):
        return {**super().get_config(), "student_layer": self.student_layer,
                "teacher_layer": self.teacher_layer}
