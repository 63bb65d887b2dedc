"""Extra weighted loss terms a `Distiller` can add to hard + soft targets."""

from tfcompress.distill import losses


def _check_weight(weight):
    if not weight >= 0:
        raise ValueError(f"`weight` must be >= 0, got {weight!r}.")
    return float(weight)


class LogitMSE:
    """`weight` times the mean squared difference of logits (Ba & Caruana)."""

    def __init__(self, weight=1.0):
        self.weight = _check_weight(weight)

    @property
    def name(self):
        return "logit_mse_loss"

    def __call__(self, teacher_logits, student_logits):
        return losses.logit_mse_loss(teacher_logits, student_logits)

    def get_config(self):
        return {"class_name": "LogitMSE", "weight": self.weight}


class FeatureHint:
    """FitNets hint: match a student layer's output to a teacher layer's.

    The student's features go through a learned adapter to the teacher's
    feature shape, as FitNets' regressor (Romero et al. 2015): Dense for
    vectors, a 1x1, strided or transposed Conv2D for feature maps of other
    widths or sizes, pooling or a reshape between a map and a vector (see
    `distiller._make_adapter`). Layers are chosen by name.
    """

    def __init__(self, student_layer, teacher_layer, weight=1.0):
        for arg_name, value in (("student_layer", student_layer),
                                ("teacher_layer", teacher_layer)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"`{arg_name}` must be a layer name, got {value!r}.")
        self.student_layer = student_layer
        self.teacher_layer = teacher_layer
        self.weight = _check_weight(weight)

    @property
    def name(self):
        return f"hint_{self.student_layer}_loss"

    def __call__(self, teacher_features, adapted_student_features):
        return losses.feature_hint_loss(teacher_features, adapted_student_features)

    def get_config(self):
        return {"class_name": "FeatureHint", "student_layer": self.student_layer,
                "teacher_layer": self.teacher_layer, "weight": self.weight}


_CLASSES = {"LogitMSE": LogitMSE, "FeatureHint": FeatureHint}


def from_config(config):
    """Rebuilds a term from its `get_config()` dict."""
    config = dict(config)
    name = config.pop("class_name", None)
    if name not in _CLASSES:
        raise ValueError(f"Unknown distillation term {name!r}; known: {sorted(_CLASSES)}.")
    return _CLASSES[name](**config)
