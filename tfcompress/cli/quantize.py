"""`tfcompress quantize`: quantize or cluster a trained model, export TFLite."""

import os

from absl import flags

from tfcompress.cli import common
from tfcompress import quantize as quantize_lib
from tfcompress.jobs import quantize

_MODEL = flags.DEFINE_string(
    "model", None, "Trained model: a .keras file or a `tfcompress train`, `distill` "
    "or `prune` output folder.", required=True)
_MODE = flags.DEFINE_enum(
    "mode", "int8", list(quantize.MODES),
    "int8 (calibrated full-integer), dynamic (int8 weights), float16: post-training; "
    "qat, pqat (keeps a pruned model's zeros), cluster (shared weight values, float "
    "file), cqat (cluster, then QAT keeping clusters): fine-tune --epochs first.")
_CLUSTERS = flags.DEFINE_integer("clusters", 16, "Shared values per kernel (cluster, "
                                 "cqat).", lower_bound=2)
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", quantize_lib.DEFAULT_SAMPLES,
    "Training examples int8 calibrates activation ranges on.", lower_bound=1)
_INT8_IO = flags.DEFINE_bool("int8_io", False, "int8 input and output tensors too.")
_SPARSE = flags.DEFINE_bool(
    "sparse", False, "TFLite sparse weight encoding (pruned models; XNNPACK cannot "
    "run it with int8 weights: add --noxnnpack).")
_XNNPACK = flags.DEFINE_bool(
    "xnnpack", True, "Check and time the file with LiteRT's default XNNPACK delegate.")
# Fine-tuning a trained model wants fewer epochs and a lower rate than training.
_EPOCHS = common.define_epochs(default=2)
_UNSAFE_LOAD, _CUSTOM_OBJECTS = common.define_loading_flags()

flags.FLAGS.set_default("learning_rate", 1e-4)


def main(argv):
    model_name = os.path.basename(os.path.normpath(_MODEL.value or "model"))
    default_dir = os.path.join(
        "saved_models", f"{_MODE.value}_{common.safe_name(model_name)}")
    job = quantize.QuantizeJob(
        model=_MODEL.value, mode=_MODE.value, clusters=_CLUSTERS.value,
        num_samples=_NUM_SAMPLES.value, int8_io=_INT8_IO.value, sparse=_SPARSE.value,
        xnnpack=_XNNPACK.value)
    training = common.training(default_dir, epochs=_EPOCHS.value,
                               unsafe_load=_UNSAFE_LOAD.value)
    common.run_job(job, training, argv, custom_objects=_CUSTOM_OBJECTS.value)
