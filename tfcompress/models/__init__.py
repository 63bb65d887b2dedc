"""The model zoo, and `build(spec)` for names given on the command line."""

from tfcompress.models.spec import NAMES
from tfcompress.models.spec import build
from tfcompress.models.spec import parse
from tfcompress.models.zoo import hinton_student
from tfcompress.models.zoo import hinton_teacher
from tfcompress.models.zoo import lenet5
from tfcompress.models.zoo import lenet_300_100
from tfcompress.models.zoo import mlp
from tfcompress.models.zoo import residual_cnn
from tfcompress.models.zoo import small_cnn

__all__ = [
    "NAMES", "build", "parse", "hinton_student", "hinton_teacher", "lenet5",
    "lenet_300_100", "mlp", "residual_cnn", "small_cnn",
]
