"""The model zoo, and `build(spec)` for names given on the command line."""

from tfcompress.models.spec import NAMES
from tfcompress.models.spec import build
from tfcompress.models.spec import parse
from tfcompress.models.speech import ds_cnn
from tfcompress.models.zoo import gru
from tfcompress.models.zoo import hinton_student
from tfcompress.models.zoo import hinton_teacher
from tfcompress.models.zoo import lenet5
from tfcompress.models.zoo import lenet_300_100
from tfcompress.models.zoo import lstm
from tfcompress.models.zoo import mlp
from tfcompress.models.zoo import mobilenet_v2
from tfcompress.models.zoo import residual_cnn
from tfcompress.models.zoo import resnet8
from tfcompress.models.zoo import small_cnn
from tfcompress.models.zoo import text_cnn
from tfcompress.models.zoo import text_lstm

__all__ = ["NAMES", "build", "parse", "ds_cnn", "gru", "hinton_student", "hinton_teacher",
           "lenet5", "lenet_300_100", "lstm", "mlp", "mobilenet_v2", "residual_cnn", "resnet8",
           "small_cnn", "text_cnn", "text_lstm"]
