"""load_keras_model loads in safe mode; every bad file gets one clear error."""

import io
import os
import re
import zipfile

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from absl.testing import parameterized

import helpers
from tfcompress import export
from tfcompress._keras import keras

_PACKAGE = "tfcompress_test_safe_load"


def _register_scale_layer():
    """A new custom layer class, registered as '<_PACKAGE>>Scale'."""

    @keras.utils.register_keras_serializable(package=_PACKAGE)
    class Scale(keras.layers.Layer):

        def call(self, inputs):
            return 2.0 * inputs

    return Scale


def _unregister(cls):
    """Forgets `cls`, as a later process that never imported it would."""
    keras.utils.get_custom_objects().pop(keras.utils.get_registered_name(cls))


def _lambda_mlp():
    model = helpers.tiny_mlp()
    doubled = keras.layers.Lambda(lambda t: 2.0 * t, name="double")(model.output)
    return keras.Model(model.input, doubled)


def _shown_cause(error):
    """The exception Python would print above `error` (None: `error` alone)."""
    return error.__cause__ or (None if error.__suppress_context__ else error.__context__)


def _zip(path, members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    return path


class SafeLoadTest(tf.test.TestCase, parameterized.TestCase):

    def setUp(self):
        super().setUp()
        self.folder = self.create_tempdir().full_path
        self.batch = helpers.random_batch((6,), n=4)

    def save(self, model, name="m.keras"):
        path = os.path.join(self.folder, name)
        model.save(path)  # not save_keras_model: it is the file we test
        return path

    def test_plain_model_loads_with_identical_outputs(self):
        model = helpers.tiny_mlp()
        loaded = export.load_keras_model(self.save(model))
        self.assertAllClose(loaded(self.batch), model(self.batch), atol=0, rtol=0)

    def test_lambda_layer_is_refused_with_how_to_opt_in(self):
        path = self.save(_lambda_mlp())
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` file '{path}' holds a Lambda layer ('double'), and a "
                "Lambda runs arbitrary Python code when it is loaded, so it is "
                "refused. Only for a file you trust, pass `unsafe=True` to "
                "load_keras_model (`--unsafe_load` on the command line).")):
            export.load_keras_model(path)

    def test_lambda_layer_loads_with_unsafe_and_same_outputs(self):
        model = _lambda_mlp()
        loaded = export.load_keras_model(self.save(model), unsafe=True)
        self.assertAllClose(loaded(self.batch), model(self.batch), atol=0, rtol=0)

    def test_unsafe_must_be_a_bool(self):
        with self.assertRaisesRegex(TypeError, "`unsafe` must be True or False, got 'False'"):
            export.load_keras_model(self.save(_lambda_mlp()), unsafe="False")

    def test_unknown_custom_layer_is_refused_naming_its_class(self):
        scale = _register_scale_layer()
        path = self.save(keras.Sequential([helpers.tiny_mlp(), scale()]))
        _unregister(scale)
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` file '{path}' uses custom objects that are not "
                f"registered: 'Scale' (saved as '{_PACKAGE}>Scale'). Register each "
                "with `@keras.utils.register_keras_serializable` (and import its "
                "module) before loading, or pass `custom_objects={'Scale': Scale}` "
                "to load_keras_model (`--custom_objects=MODULE` on the command line, a "
                "module that registers them).")):
            export.load_keras_model(path)

    def test_custom_layer_loads_after_registration(self):
        scale = _register_scale_layer()
        model = keras.Sequential([helpers.tiny_mlp(), scale()])
        path = self.save(model)
        _unregister(scale)
        keras.utils.register_keras_serializable(package=_PACKAGE)(scale)
        self.addCleanup(_unregister, scale)
        loaded = export.load_keras_model(path)
        self.assertAllClose(loaded(self.batch), model(self.batch), atol=0, rtol=0)

    def test_custom_layer_loads_with_custom_objects_by_class_name(self):
        scale = _register_scale_layer()
        model = keras.Sequential([helpers.tiny_mlp(), scale()])
        path = self.save(model)
        _unregister(scale)
        loaded = export.load_keras_model(path, custom_objects={"Scale": scale})
        self.assertAllClose(loaded(self.batch), model(self.batch), atol=0, rtol=0)

    def test_pruned_model_loads_in_prune_scope_only(self):
        model = tfmot.sparsity.keras.prune_low_magnitude(
            helpers.tiny_mlp(),
            pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0))
        path = self.save(model)
        with self.assertRaisesRegex(
                ValueError, r"not registered: 'PruneLowMagnitude'\. .* For TFMOT "
                r"wrappers, load inside tfmot\.sparsity\.keras\.prune_scope\(\)"):
            export.load_keras_model(path)
        with tfmot.sparsity.keras.prune_scope():
            loaded = export.load_keras_model(path)
        self.assertAllClose(loaded(self.batch), model(self.batch), atol=0, rtol=0)

    def damaged(self, kind):
        """A file named damaged.keras that is not a valid .keras file."""
        path = os.path.join(self.folder, "damaged.keras")
        good = self.save(helpers.tiny_mlp(), "good.keras")
        if kind == "truncated":
            with open(good, "rb") as f, open(path, "wb") as out:
                out.write(f.read(100))
        elif kind == "flipped":  # the zip's checksum no longer matches
            with open(good, "rb") as f:
                data = bytearray(f.read())
            middle = len(data) // 2
            data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
            with open(path, "wb") as out:
                out.write(data)
        elif kind == "random":
            with open(path, "wb") as out:
                out.write(np.random.default_rng(0).bytes(4000))
        else:
            with zipfile.ZipFile(good) as archive:
                _zip(path, {name: archive.read(name) for name in archive.namelist()
                            if name != kind})
        return path

    @parameterized.named_parameters(
        ("truncated", "truncated", "it is not a zip archive (truncated, or not a model at all)"),
        ("random_bytes", "random", "it is not a zip archive (truncated, or not a model at all)"),
        ("flipped_bytes", "flipped",
         "its contents are damaged (Bad CRC-32 for file 'model.weights.h5')"),
        ("no_config", "config.json", "the archive has no config.json"),
        ("no_weights", "model.weights.h5", "the archive has no model.weights.h5"),
    )
    def test_damaged_file_is_one_clear_error(self, kind, reason):
        path = self.damaged(kind)
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`teacher` file '{path}' is not a valid .keras file: {reason}. Save "
                "the model again (tfcompress.save_keras_model, or model.save in "
                "tf_keras) and pass the new file.")) as caught:
            export.load_keras_model(path, arg_name="teacher")
        self.assertIsNone(_shown_cause(caught.exception))  # no zipfile/h5py traceback

    def test_missing_file(self):
        path = os.path.join(self.folder, "nope.keras")
        with self.assertRaisesRegex(FileNotFoundError, re.escape(
                f"No model at '{path}' (`model`): pass the path of a .keras file "
                "saved by tfcompress or Keras.")):
            export.load_keras_model(path)

    def test_folder_is_refused(self):
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` must be a .keras file, got the folder '{self.folder}': "
                "pass the path of the .keras file itself")):
            export.load_keras_model(self.folder)

    def test_other_suffix_is_refused(self):
        path = os.path.join(self.folder, "m.pb")
        open(path, "wb").close()
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` must be a .keras file, got '{path}': tfcompress loads "
                "only .keras files, the one format Keras loads in safe mode. If you "
                "trust the file, load it in the Keras that saved it, save it with "
                "`model.save('model.keras')` and pass that file.")):
            export.load_keras_model(path)

    def test_folder_holding_a_keras_file_names_it(self):
        path = self.save(helpers.tiny_mlp(), "model.keras")
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` must be a .keras file, got the folder '{self.folder}': pass "
                f"the .keras file in it, '{path}'.")):
            export.load_keras_model(self.folder)

    def test_tflite_file_points_to_the_keras_file_beside_it(self):
        source = self.save(helpers.tiny_mlp(), "model.keras")
        path = os.path.join(self.folder, "model.tflite")
        open(path, "wb").close()
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`teacher` '{path}' is a TFLite file, which runs a converted model but "
                "cannot be trained or compressed again: pass the .keras file it was "
                f"exported from, probably '{source}'. To measure the TFLite file "
                f"itself: `tfcompress evaluate --tflite={path}`.")):
            export.load_keras_model(path, arg_name="teacher")

    def test_tflite_file_alone_says_where_tfcompress_writes_the_keras_file(self):
        path = os.path.join(self.folder, "student.tflite")
        open(path, "wb").close()
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` '{path}' is a TFLite file, which runs a converted model but "
                "cannot be trained or compressed again: pass the .keras file it was "
                "exported from (tfcompress writes it beside its .tflite files, as "
                "model.keras). To measure the TFLite file itself: `tfcompress "
                f"evaluate --tflite={path}`.")):
            export.load_keras_model(path)

    def test_tf_keras_h5_file_says_how_to_save_it_as_keras(self):
        path = self.save(helpers.tiny_mlp(), "m.h5")  # h5 loading has no safe mode
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` '{path}' is an HDF5 file saved by tf_keras (Keras "
                f"{keras.__version__}): tfcompress loads only .keras files, the one "
                "format Keras loads in safe mode. If you trust the file, load it with "
                f"`tf_keras.models.load_model('{path}')`, save it with "
                "`model.save('model.keras')` and pass that file.")):
            export.load_keras_model(path)

    def test_keras3_h5_file_says_to_load_it_in_keras3(self):
        import keras as keras3  # pylint: disable=g-import-not-at-top

        path = os.path.join(self.folder, "k3.h5")
        keras3.Sequential([keras3.Input((6,)), keras3.layers.Dense(3)]).save(path)
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` '{path}' is an HDF5 file saved by Keras {keras3.__version__}: "
                "tfcompress loads only .keras files, the one format Keras loads in safe "
                f"mode. If you trust the file, load it with `keras.saving.load_model("
                f"'{path}')`, save it with `model.save('model.keras')` and pass that "
                "file.")):
            export.load_keras_model(path)

    def test_weights_file_says_to_build_the_model_first(self):
        path = os.path.join(self.folder, "m.weights.h5")
        helpers.tiny_mlp().save_weights(path)
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` '{path}' holds weights only, not a model: build the model in "
                f"code, load them with `model.load_weights('{path}')`, save it with "
                "`model.save('model.keras')` and pass that file.")):
            export.load_keras_model(path)

    def test_exported_saved_model_points_to_the_keras_file_beside_it(self):
        model = helpers.tiny_mlp()
        source = self.save(model, "model.keras")
        path = os.path.join(self.folder, "saved_model")
        export.export_saved_model(model, path)
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` '{path}' is a SavedModel folder: a traced graph for serving, "
                "with no Keras layers to train or compress again. Pass the .keras file "
                f"it was exported from, probably '{source}'.")):
            export.load_keras_model(path)

    def test_tf_keras_saved_model_says_how_to_save_it_as_keras(self):
        path = os.path.join(self.folder, "tf_keras_saved")
        helpers.tiny_mlp().save(path, save_format="tf")
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` '{path}' is a SavedModel folder saved by tf_keras: tfcompress "
                "loads only .keras files, the one format Keras loads in safe mode. If "
                "you trust it, load it with "
                f"`tf_keras.models.load_model('{path}')`, save it with "
                "`model.save('model.keras')` and pass that file.")):
            export.load_keras_model(path)

    def test_keras3_file_loads_converted_with_equal_outputs(self):
        import keras as keras3  # pylint: disable=g-import-not-at-top

        path = os.path.join(self.folder, "k3.keras")
        original = keras3.Sequential([keras3.Input((6,)), keras3.layers.Dense(3)])
        original.save(path)
        model = export.load_keras_model(path)
        self.assertIsInstance(model, keras.Model)
        batch = np.ones((2, 6), np.float32)
        self.assertAllClose(original(batch), model(batch), atol=1e-6)

    def test_keras3_custom_layer_not_registered_is_named(self):
        import keras as keras3  # pylint: disable=g-import-not-at-top

        @keras3.saving.register_keras_serializable(package=_PACKAGE)
        class Triple(keras3.layers.Layer):

            def call(self, inputs):
                return 3.0 * inputs

        path = os.path.join(self.folder, "k3_custom.keras")
        keras3.Sequential([keras3.Input((6,)), keras3.layers.Dense(3),
                           Triple()]).save(path)
        keras3.saving.get_custom_objects().pop(f"{_PACKAGE}>Triple")
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` file '{path}' (saved by Keras 3) uses custom objects Keras 3 "
                f"cannot find: 'Triple' (saved as '{_PACKAGE}>Triple'). Register each "
                "with `@keras.saving.register_keras_serializable()` in a module and "
                "import it before loading (`--custom_objects=MODULE` on the command "
                "line); to compress the model, that module also tells tfcompress the "
                "tf_keras equivalent of each layer: "
                "`tfcompress.keras3.register(Triple, fn)`.")):
            export.load_keras_model(path)

    def test_keras3_file_with_lambda_is_refused(self):
        import keras as keras3  # pylint: disable=g-import-not-at-top

        path = os.path.join(self.folder, "k3_lambda.keras")
        keras3.Sequential([keras3.Input((6,)),
                           keras3.layers.Lambda(lambda t: t * 2.0)]).save(path)
        with self.assertRaisesRegex(ValueError, re.escape(
                f"`model` file '{path}' holds a Lambda layer")):
            export.load_keras_model(path)


if __name__ == "__main__":
    tf.test.main()
