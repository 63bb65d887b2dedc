"""A catalogue of bad inputs: each gets one clear error, before any work, and
leaves nothing on disk.

Every row is (id, zero-argument call, exception type, regex of the message's
key sentence). Rows that go through `runner.prepare` are built with
`_prepare(job factory, **settings changes)`; the job is made at call time,
once `setUpClass` has saved the tiny models it names.
"""

import os
import shutil
import stat
import tempfile
import types
import unittest
import zipfile
from unittest import mock

import helpers
import job_helpers
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tfcompress import distill as distill_lib
from tfcompress import evaluate
from tfcompress import export
from tfcompress import pipeline
from tfcompress import prune as prune_lib
from tfcompress._keras import keras
from tfcompress.jobs import distill
from tfcompress.jobs import evaluate_tflite
from tfcompress.jobs import prune
from tfcompress.jobs import quantize
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import train

# Paths and objects the rows use, filled once by setUpClass.
_P = types.SimpleNamespace()

_NAN_IMAGES = np.full((4, 28, 28, 1), np.nan, np.float32)


def _settings(**changes):
    """A quiet 1-epoch run on the tiny MNIST slice, written under the test folder.

    Rows name special folders by placeholder ("<existing>"): the paths exist
    only once setUpClass has made them.
    """
    for key in ("output_dir", "data_dir", "dataset"):
        changes[key] = _P.folders.get(changes.get(key), changes.get(key))
    changes = {k: v for k, v in changes.items() if v is not None or k != "dataset"}
    changes["output_dir"] = changes["output_dir"] or _P.out
    return settings.Training(**{
        "epochs": 1, "verbose": 0, **job_helpers.MNIST_SLICE, **changes})


def _prepare(make_job, **changes):
    """A row's call: `runner.prepare` of `make_job()` with the settings changed."""
    return lambda: runner.prepare(make_job(), _settings(**changes), log=lambda *_: None)


def _batches(images, labels=None):
    labels = np.zeros(len(images), np.int32) if labels is None else labels
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)


def _empty_batches():
    return _batches(np.zeros((0, 28, 28, 1), np.float32))


def _unless_root(call):
    """`call`, skipped as root: root writes anywhere, whatever the mode bits say."""
    def guarded():
        if os.geteuid() == 0:
            raise unittest.SkipTest("runs as root, which may write into a 0o500 folder")
        return call()
    return guarded


def _without_tf_config(call):
    def guarded():
        with mock.patch.dict(os.environ):
            os.environ.pop("TF_CONFIG", None)
            return call()
    return guarded


_MLP = lambda: train.TrainJob("mlp:8")  # noqa: E731

ROWS = [
    # Wrong types.
    ("epochs_string", _prepare(_MLP, epochs="3"), ValueError,
     r"`epochs` must be a positive int, got '3'"),
    ("batch_size_float", _prepare(_MLP, batch_size=64.0), ValueError,
     r"`batch_size` must be a positive int, got 64\.0"),
    ("learning_rate_string", _prepare(_MLP, learning_rate="1e-3"), ValueError,
     r"`learning_rate` must be a number, got '1e-3': pass a float"),
    ("resume_string", _prepare(_MLP, resume="yes"), TypeError,
     r"`resume` must be True or False, got 'yes'"),
    ("model_path_list", _prepare(lambda: prune.PruneJob(model=[_P.mlp10])), ValueError,
     r"`model` must be the path of a \.keras file or of a job's output folder, got \["),
    ("teacher_path_list",
     _prepare(lambda: distill.DistillJob(teacher=[_P.mlp10], student_spec="mlp:4")),
     ValueError, r"`teacher` must be the path of a \.keras file .*, got \["),
    ("load_keras_model_list", lambda: export.load_keras_model([_P.mlp10]), TypeError,
     r"`model` must be the path of a \.keras file, got list"),
    ("export_tflite_not_a_model",
     lambda: export.export_tflite("model.keras", os.path.join(_P.root, "m.tflite")),
     TypeError, r"`model` must be a tf_keras Model, got str .*load_keras_model"),
    ("evaluate_classifier_not_a_model",
     lambda: evaluate.evaluate_classifier(object(), _batches(_P.images)), TypeError,
     r"`model` must be a tf_keras Model, got object"),
    ("evaluate_classifier_numpy_data",
     lambda: evaluate.evaluate_classifier(_P.model, _P.images), TypeError,
     r"`data` must be a tf\.data\.Dataset of \(x, y\) batches or an \(x, y\) tuple of "
     r"NumPy arrays, got ndarray: pass the labels too"),
    ("evaluate_classifier_arrays_of_other_lengths",
     lambda: evaluate.evaluate_classifier(_P.model, (_P.images, np.zeros(3, np.int32))),
     ValueError, r"`data`: x has shape \(4, 28, 28, 1\) and y \(3,\): pass one label per "
     r"example"),
    ("prune_not_a_model", lambda: prune_lib.prune({"dense": 1}, sparsity=0.5), TypeError,
     r"`model` must be a tf_keras Model, got dict"),
    ("measure_latency_path_list", lambda: evaluate.measure_latency([_P.tflite]),
     TypeError, r"`tflite_model` must be the path of a \.tflite file or its bytes, "
     r"got list"),
    ("model_spec_not_a_string", _prepare(lambda: train.TrainJob(5)), ValueError,
     r"`model_spec`: Model spec must be a non-empty string, got 5"),
    # Shapes that do not fit the dataset's images.
    ("prune_model_8x8", _prepare(lambda: prune.PruneJob(model=_P.mlp8)), ValueError,
     r"`model` '.*mlp8\.keras' takes inputs of shape \(8, 8, 1\), but dataset 'mnist' "
     r"has images of shape \(28, 28, 1\)"),
    ("quantize_model_8x8",
     _prepare(lambda: quantize.QuantizeJob(model=_P.mlp8, mode="dynamic")), ValueError,
     r"`model` '.*mlp8\.keras' takes inputs of shape \(8, 8, 1\)"),
    ("distill_teacher_8x8",
     _prepare(lambda: distill.DistillJob(teacher=_P.mlp8, student_spec="mlp:4")),
     ValueError, r"`teacher` '.*mlp8\.keras' takes inputs of shape \(8, 8, 1\)"),
    # Class counts of teacher, student and data.
    ("distill_teacher_3_classes",
     _prepare(lambda: distill.DistillJob(teacher=_P.mlp3, student_spec="mlp:4")),
     ValueError, r"`teacher` outputs shape \(None, 3\) but `student` outputs "
     r"\(None, 10\); both must predict the same classes"),
    ("prune_teacher_3_classes",
     _prepare(lambda: prune.PruneJob(model=_P.mlp10, teacher=_P.mlp3)), ValueError,
     r"`teacher` outputs shape \(None, 3\) but `student` outputs \(None, 10\)"),
    ("quantize_model_3_classes",
     _prepare(lambda: quantize.QuantizeJob(model=_P.mlp3, mode="float16")), ValueError,
     r"`model` '.*mlp3\.keras' predicts 3 classes"),
    # NaN or inf in the data.
    ("export_tflite_nan_check_inputs",
     lambda: export.export_tflite(_P.model, os.path.join(_P.root, "m.tflite"),
                                  check_inputs=_NAN_IMAGES),
     ValueError, r"`check_inputs` holds 3136 NaN or inf values"),
    ("export_tflite_nan_representative_data",
     lambda: export.export_tflite(_P.model, os.path.join(_P.root, "m.tflite"),
                                  quantization="int8", representative_data=_NAN_IMAGES),
     ValueError, r"`representative_data` holds 3136 NaN or inf values"),
    ("with_teacher_outputs_inf_inputs",
     lambda: distill_lib.with_teacher_outputs(
         _P.distiller, _batches(np.concatenate([_P.images[:2], np.full_like(
             _P.images[:2], np.inf)])), batch_size=2, verbose=0),
     ValueError, r"`dataset` batch 2 holds NaN or inf inputs"),
    # Empty datasets and splits.
    ("train_split_empty", _prepare(_MLP, train_split="train[:0]"), ValueError,
     r"`train_split` 'train\[:0\]' is not a usable split of 'mnist': it is empty\. "
     r"Pass a split that holds examples"),
    ("test_split_unknown", _prepare(_MLP, test_split="validation"), ValueError,
     r"`test_split` 'validation' is not a usable split of 'mnist'"),
    ("with_teacher_outputs_empty",
     lambda: distill_lib.with_teacher_outputs(_P.distiller, _empty_batches(),
                                              batch_size=2, verbose=0),
     ValueError, r"`dataset` is empty: there is nothing to distill on"),
    ("evaluate_classifier_empty",
     lambda: evaluate.evaluate_classifier(_P.model, _empty_batches()), ValueError,
     r"The dataset is empty \(`data` yields no examples\)"),
    ("evaluate_tflite_empty", lambda: evaluate.evaluate_tflite(_P.tflite, _empty_batches()),
     ValueError, r"The dataset is empty \(`data` yields no examples\)"),
    # Damaged files.
    ("prune_truncated_keras", _prepare(lambda: prune.PruneJob(model=_P.truncated_keras)),
     ValueError, r"`model` file '.*truncated\.keras' is not a valid \.keras file: it is "
     r"not a zip archive"),
    ("quantize_corrupted_keras",
     _prepare(lambda: quantize.QuantizeJob(model=_P.corrupted_keras, mode="dynamic")),
     ValueError, r"`model` file '.*corrupted\.keras' is not a valid \.keras file: its "
     r"contents are damaged"),
    ("evaluate_job_truncated_tflite",
     lambda: evaluate_tflite.EvaluateJob(_P.truncated_tflite, split="test[:8]"),
     ValueError, r"`tflite` file '.*truncated\.tflite' is not a valid \.tflite model"),
    ("evaluate_tflite_truncated",
     lambda: evaluate.evaluate_tflite(_P.truncated_tflite, _batches(_P.images)),
     ValueError, r"`tflite_model` file '.*truncated\.tflite' is not a valid \.tflite "
     r"model"),
    ("measure_latency_truncated", lambda: evaluate.measure_latency(_P.truncated_tflite),
     ValueError, r"`tflite_model` file '.*truncated\.tflite' is not a valid \.tflite "
     r"model"),
    ("evaluate_tflite_missing",
     lambda: evaluate.evaluate_tflite(os.path.join(_P.root, "none.tflite"),
                                      _batches(_P.images)),
     FileNotFoundError, r"`tflite_model`: no \.tflite file at '.*none\.tflite'"),
    ("quantize_lambda_layer",
     _prepare(lambda: quantize.QuantizeJob(model=_P.lambda_keras, mode="dynamic")),
     ValueError, r"`model` file '.*lambda\.keras' holds a Lambda layer \('scale'\).*"
     r"so it is refused"),
    # Pruning arguments.
    ("sparsity_one", _prepare(lambda: prune.PruneJob(model=_P.mlp10, sparsity=1.0)),
     ValueError, r"`sparsity` must be in \[0, 1\), got 1\.0"),
    ("sparsity_negative", _prepare(lambda: prune.PruneJob(model=_P.mlp10, sparsity=-0.1)),
     ValueError, r"`sparsity` must be in \[0, 1\), got -0\.1"),
    ("sparsity_string", _prepare(lambda: prune.PruneJob(model=_P.mlp10, sparsity="0.5")),
     ValueError, r"`sparsity` must be a number in \[0, 1\), got str '0\.5'"),
    ("m_by_n_dash", _prepare(lambda: prune.PruneJob(model=_P.mlp10, m_by_n="2-4")),
     ValueError, r"`m_by_n` must look like '2:4' .*, got '2-4'"),
    ("m_by_n_reversed", _prepare(lambda: prune.PruneJob(model=_P.mlp10, m_by_n="4:2")),
     ValueError, r"`m_by_n` must be 'N:M' with 0 < N < M .*, got '4:2'"),
    ("m_by_n_zero", _prepare(lambda: prune.PruneJob(model=_P.mlp10, m_by_n="0:4")),
     ValueError, r"`m_by_n` must be 'N:M' with 0 < N < M .*, got '0:4'"),
    ("pruning_end_epoch_after_last",
     _prepare(lambda: prune.PruneJob(model=_P.mlp10, pruning_end_epoch=3)), ValueError,
     r"`pruning_end_epoch` \(3\) must be at most `epochs` \(1\)"),
    # Quantization arguments.
    ("quantize_mode_unknown",
     _prepare(lambda: quantize.QuantizeJob(model=_P.mlp10, mode="int2")), ValueError,
     r"`mode` must be one of \('int8', .*\), got 'int2'"),
    ("export_int8_without_representative_data",
     lambda: export.export_tflite(_P.model, os.path.join(_P.root, "m.tflite"),
                                  quantization="int8"),
     ValueError, r"quantization='int8' needs `representative_data`"),
    ("pqat_unpruned_model",
     _prepare(lambda: quantize.QuantizeJob(model=_P.mlp10, mode="pqat")), ValueError,
     r"`mode` 'pqat' keeps a pruned model's zeros, but `model` '.*mlp10\.keras' has "
     r"almost none"),
    ("int8_io_float_mode",
     _prepare(lambda: quantize.QuantizeJob(model=_P.mlp10, mode="float16", int8_io=True)),
     ValueError, r"`int8_io` needs an int8 mode \(int8, qat, pqat, cqat\), got mode "
     r"'float16'"),
    ("clusters_one",
     _prepare(lambda: quantize.QuantizeJob(model=_P.mlp10, mode="cluster", clusters=1)),
     ValueError, r"`clusters` must be at least 2, got 1"),
    # Distillation arguments.
    ("temperature_zero",
     _prepare(lambda: distill.DistillJob(teacher=_P.mlp10, student_spec="mlp:4",
                                         temperature=0)),
     ValueError, r"`temperature` must be > 0, got 0"),
    ("temperature_negative",
     _prepare(lambda: distill.DistillJob(teacher=_P.mlp10, student_spec="mlp:4",
                                         temperature=-1.0)),
     ValueError, r"`temperature` must be > 0, got -1\.0"),
    ("alpha_above_one",
     _prepare(lambda: distill.DistillJob(teacher=_P.mlp10, student_spec="mlp:4",
                                         alpha=1.5)),
     ValueError, r"`alpha` must be in \[0, 1\], got 1\.5"),
    ("alpha_negative",
     _prepare(lambda: distill.DistillJob(teacher=_P.mlp10, student_spec="mlp:4",
                                         alpha=-0.5)),
     ValueError, r"`alpha` must be in \[0, 1\], got -0\.5"),
    ("student_init_unknown",
     _prepare(lambda: distill.DistillJob(teacher=_P.mlp10, student_spec="mlp:4",
                                         student_init="zeros")),
     ValueError, r"`student_init` must be one of \('random', 'teacher'\), got 'zeros'"),
    ("student_spec_unknown",
     _prepare(lambda: distill.DistillJob(teacher=_P.mlp10, student_spec="resnet:50")),
     ValueError, r"`student_spec`: Unknown model 'resnet' in spec 'resnet:50'; known "
     r"models: "),
    ("model_spec_unknown", _prepare(lambda: train.TrainJob("resnet:50")), ValueError,
     r"`model_spec`: Unknown model 'resnet' in spec 'resnet:50'; known models: "),
    # Output folders and resuming.
    ("output_dir_under_a_file", _prepare(_MLP, output_dir="<under a file>"),
     PermissionError, r"`output_dir` '.*mlp10\.keras/out' cannot be written here"),
    ("output_dir_read_only_parent",
     _unless_root(_prepare(_MLP, output_dir="<read-only parent>")), PermissionError,
     r"`output_dir` '.*read_only/out' cannot be written here"),
    ("output_dir_exists", _prepare(_MLP, output_dir="<existing>"), FileExistsError,
     r"`output_dir` '.*existing' already holds files; pass --overwrite"),
    ("unfinished_run_without_resume", _prepare(_MLP, output_dir="<unfinished>"),
     FileExistsError, r"`output_dir` '.*unfinished' has an unfinished run in "
     r"'.*unfinished\.partial': pass --resume"),
    ("resume_with_nothing_to_resume", _prepare(_MLP, resume=True), ValueError,
     r"`resume`: there is no unfinished run to resume at '.*out\.partial'"),
    ("resume_a_finished_run", _prepare(_MLP, output_dir="<existing>", resume=True),
     FileExistsError, r"already holds files \(a finished run: nothing to resume\)"),
    ("resume_and_overwrite", _prepare(_MLP, resume=True, overwrite=True), ValueError,
     r"`resume` continues the unfinished run and `overwrite` starts over: pass one"),
    ("checkpoint_every_zero", _prepare(_MLP, checkpoint_every=0), ValueError,
     r"`checkpoint_every` must be a positive int, got 0"),
    # Training settings.
    ("epochs_zero", _prepare(_MLP, epochs=0), ValueError,
     r"`epochs` must be a positive int, got 0"),
    ("epochs_negative", _prepare(_MLP, epochs=-2), ValueError,
     r"`epochs` must be a positive int, got -2"),
    ("batch_size_zero", _prepare(_MLP, batch_size=0), ValueError,
     r"`batch_size` must be a positive int, got 0"),
    ("optimizer_unknown", _prepare(_MLP, optimizer="rmsprop"), ValueError,
     r"`optimizer` must be one of \('adam', 'sgd'\), got 'rmsprop'"),
    ("lr_schedule_unknown", _prepare(_MLP, lr_schedule="step"), ValueError,
     r"`lr_schedule` must be one of \('constant', 'cosine'\), got 'step'"),
    ("multi_worker_without_tf_config",
     _without_tf_config(_prepare(_MLP, strategy="multi_worker")), ValueError,
     r"`strategy` 'multi_worker' reads the cluster from \$TF_CONFIG, which is not set"),
    ("strategy_unknown", _prepare(_MLP, strategy="tpu"), ValueError,
     r"`strategy` must be one of \('default', 'mirrored', 'multi_worker'\) or a "
     r"tf\.distribute\.Strategy, got 'tpu'"),
    ("pipeline_multi_worker",
     lambda: pipeline.plan(pipeline.Options(training=settings.Training(
         output_dir=_P.out, strategy="multi_worker"))),
     ValueError, r"`strategy` 'multi_worker' runs one job on every worker; .* Run the "
     r"stages' commands"),
    # Datasets.
    ("dataset_unknown", _prepare(_MLP, dataset="no_such_dataset"), ValueError,
     r"`dataset` 'no_such_dataset' is not a TFDS dataset name"),
    ("dataset_not_prepared", _prepare(_MLP, data_dir="<empty data_dir>"),
     FileNotFoundError, r"Dataset 'mnist' is not prepared under '.*empty_tfds'\. Point "
     r"`data_dir`"),
    # Your own data (tests/test_data_sources.py has every case).
    ("dataset_npz_missing", _prepare(_MLP, dataset="<npz missing>"), FileNotFoundError,
     r"`dataset` 'npz:.*none\.npz': no \.npz file at '.*none\.npz'"),
    ("dataset_npz_missing_arrays", _prepare(_MLP, dataset="<npz without test>"),
     ValueError, r"the file has no array 'x_test', 'y_test' \(it holds \['x_train', "
     r"'y_train'\]\)"),
    ("dataset_npz_lengths_differ", _prepare(_MLP, dataset="<npz 4 images 3 labels>"),
     ValueError, r"`x_train` holds 4 images but `y_train` 3 labels"),
    ("dataset_npz_label_out_of_range", _prepare(_MLP, dataset="<npz test label 10>"),
     ValueError, r"`y_test` holds 1 labels outside \[0, 10\) \(e\.g\. 10\)"),
    ("dataset_dir_missing", _prepare(_MLP, dataset="<dir missing>"), FileNotFoundError,
     r"`dataset` 'dir:.*nowhere': no folder at"),
    ("dataset_dir_one_class", _prepare(_MLP, dataset="<dir one class>"), ValueError,
     r"train/ holds 1 class folder\(s\) \['cat'\]: a classifier needs at least 2"),
    ("dataset_dir_undecodable", _prepare(_MLP, dataset="<dir undecodable>"), ValueError,
     r"1 of 3 images cannot be decoded: \['train/dog/broken\.png'\]"),
    ("normalize_unknown", _prepare(_MLP, normalize="zscore"), ValueError,
     r"`normalize` must be one of \('unit', 'standard', 'none'\), got 'zscore'"),
]


def _listing(folder):
    """Every file and folder under `folder`, with file sizes."""
    found = set()
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            found.add(os.path.relpath(os.path.join(root, name), folder) + "/")
        for name in files:
            path = os.path.join(root, name)
            found.add((os.path.relpath(path, folder), os.path.getsize(path)))
    return found


def _save(model, name):
    path = os.path.join(_P.root, "models", name)
    export.save_keras_model(model, path)
    return path


def _truncated_copy(path, name):
    with open(path, "rb") as f:
        content = f.read()
    copy = os.path.join(_P.root, "models", name)
    with open(copy, "wb") as f:
        f.write(content[:len(content) // 2])
    return copy


def _corrupted_copy(path, name):
    """A valid zip whose weights file inside is cut short."""
    copy = os.path.join(_P.root, "models", name)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(copy, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.endswith(".h5"):
                content = content[:len(content) // 3]
            target.writestr(item, content)
    return copy


def _own_data(folder):
    """Bad npz files and image folders; {placeholder: dataset}."""
    os.makedirs(folder)
    labels = np.arange(10)
    images = np.zeros((10, 28, 28), np.uint8)

    def npz(name, **arrays):
        path = os.path.join(folder, name)
        np.savez(path, **arrays)
        return "npz:" + path

    def png(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tf.io.write_file(path, tf.io.encode_png(np.zeros((28, 28, 1), np.uint8)))

    png(os.path.join(folder, "one_class", "train", "cat", "0.png"))
    for name in ("cat/0.png", "dog/0.png"):
        png(os.path.join(folder, "undecodable", "train", name))
    with open(os.path.join(folder, "undecodable", "train", "dog", "broken.png"), "wb") as f:
        f.write(b"not a png")
    return {
        "<npz missing>": "npz:" + os.path.join(folder, "none.npz"),
        "<npz without test>": npz("no_test.npz", x_train=images, y_train=labels),
        "<npz 4 images 3 labels>": npz("lengths.npz", x_train=images[:4],
                                       y_train=labels[:3], x_test=images, y_test=labels),
        "<npz test label 10>": npz("label.npz", x_train=images, y_train=labels,
                                   x_test=images[:1], y_test=labels[:1] + 10),
        "<dir missing>": "dir:" + os.path.join(folder, "nowhere"),
        "<dir one class>": "dir:" + os.path.join(folder, "one_class"),
        "<dir undecodable>": "dir:" + os.path.join(folder, "undecodable"),
    }


def _lambda_model():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="scale")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def _sparse_mlp():
    model = helpers.tiny_mlp((28, 28, 1), 10, seed=3)
    rng = np.random.default_rng(0)
    model.set_weights([w * (rng.uniform(size=w.shape) < 0.5) if w.ndim == 2 else w
                       for w in model.get_weights()])
    return model


@pytest.mark.mnist
class BadInputTest(parameterized.TestCase, tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        root = _P.root = tempfile.mkdtemp(prefix="tfcompress-bad-inputs-")
        os.makedirs(os.path.join(root, "models"))
        os.makedirs(os.path.join(root, "empty_tfds"))
        _P.model = helpers.tiny_mlp((28, 28, 1), 10)
        _P.mlp10 = _save(_P.model, "mlp10.keras")
        _P.mlp3 = _save(helpers.tiny_mlp((28, 28, 1), 3), "mlp3.keras")
        _P.mlp8 = _save(helpers.tiny_mlp((8, 8, 1), 10), "mlp8.keras")
        _P.pruned = _save(_sparse_mlp(), "pruned.keras")
        _P.lambda_keras = _save(_lambda_model(), "lambda.keras")
        _P.truncated_keras = _truncated_copy(_P.mlp10, "truncated.keras")
        _P.corrupted_keras = _corrupted_copy(_P.mlp10, "corrupted.keras")
        _P.tflite = os.path.join(root, "models", "mlp10.tflite")
        export.export_tflite(_P.model, _P.tflite)
        _P.truncated_tflite = _truncated_copy(_P.tflite, "truncated.tflite")
        _P.images = helpers.random_batch((28, 28, 1), n=4)
        _P.distiller = distill_lib.Distiller(helpers.tiny_mlp((28, 28, 1), 10, seed=1),
                                             export.load_keras_model(_P.mlp10))
        # Output folders: the runs' own, an existing one, an unfinished run.
        _P.out = os.path.join(root, "runs", "out")
        os.makedirs(os.path.join(root, "runs", "existing"))
        with open(os.path.join(root, "runs", "existing", "summary.json"), "w") as f:
            f.write("{}")
        os.makedirs(os.path.join(root, "runs", "unfinished.partial"))
        with open(os.path.join(root, "runs", "unfinished.partial", "run_config.json"),
                  "w") as f:
            f.write("{}")
        own = _own_data(os.path.join(root, "own_data"))
        read_only = os.path.join(root, "read_only")
        os.makedirs(read_only)
        os.chmod(read_only, stat.S_IRUSR | stat.S_IXUSR)  # 0o500
        _P.folders = {
            "<under a file>": os.path.join(_P.mlp10, "out"),
            "<read-only parent>": os.path.join(read_only, "out"),
            "<existing>": os.path.join(root, "runs", "existing"),
            "<unfinished>": os.path.join(root, "runs", "unfinished"),
            "<empty data_dir>": os.path.join(root, "empty_tfds"),
            **own,
        }

    @classmethod
    def tearDownClass(cls):
        os.chmod(os.path.join(_P.root, "read_only"), stat.S_IRWXU)
        shutil.rmtree(_P.root)
        super().tearDownClass()

    @parameterized.named_parameters(*ROWS)
    def test_bad_input_raises_one_clear_error_and_writes_nothing(self, call, error,
                                                                 message):
        before = _listing(_P.root)
        with self.assertRaisesRegex(error, message) as caught:
            call()
        text = str(caught.exception)
        self.assertIs(type(caught.exception), error, text)
        self.assertNotIn("\n", text)  # one message, not a traceback's worth
        self.assertIn("`", text)  # it names an argument (or what to pass)
        self.assertEqual(_listing(_P.root), before)

    def test_good_inputs_to_the_same_jobs_prepare(self):
        # The checks above refuse only what is bad: these models fit MNIST.
        before = _listing(_P.root)
        for job in (prune.PruneJob(model=_P.mlp10, m_by_n="2:4", teacher=_P.mlp10),
                    quantize.QuantizeJob(model=_P.pruned, mode="pqat"),
                    distill.DistillJob(teacher=_P.mlp10, student_spec="mlp:4")):
            runner.prepare(job, _settings(), log=lambda *_: None)
        self.assertEqual(_listing(_P.root), before)

    def test_command_line_turns_bad_inputs_into_usage_errors(self):
        runs = os.path.join(_P.root, "runs")
        common = ["--train_split=train[:512]", "--val_split=train[512:640]",
                  "--test_split=test[:256]", "--epochs=1", "--verbose=0"]
        cases = [
            (["prune", f"--model={_P.mlp8}", f"--output_dir={runs}/cli_prune", *common],
             "takes inputs of shape (8, 8, 1), but dataset 'mnist' has images of shape "
             "(28, 28, 1)"),
            (["quantize", f"--model={_P.mlp3}", "--mode=float16",
              f"--output_dir={runs}/cli_quantize", *common],
             "predicts 3 classes, but dataset 'mnist' has 10"),
            (["prune", f"--model={_P.mlp10}", "--m_by_n=4:2",
              f"--output_dir={runs}/cli_m_by_n", *common],
             "`m_by_n` must be 'N:M' with 0 < N < M"),
            (["evaluate", f"--tflite={_P.truncated_tflite}", "--split=test[:8]"],
             "is not a valid .tflite model"),
        ]
        before = _listing(_P.root)
        for args, message in cases:
            with self.subTest(args[0]):
                result = helpers.run_cli_in_process(*args)
                self.assertEqual(result.returncode, 1, result.stderr)
                self.assertIn(message, result.stderr)
                self.assertNotIn("Traceback", result.stderr)
                self.assertIn(f"Run `tfcompress {args[0]} --help` for its flags.",
                              result.stderr)
        self.assertEqual(_listing(_P.root), before)


if __name__ == "__main__":
    tf.test.main()
