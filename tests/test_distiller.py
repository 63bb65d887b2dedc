"""Tests of the Distiller: what it trains, what it leaves alone, its errors."""

import glob
import os

import keras as keras3  # Keras 3, only to check that it is converted.
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import helpers
from tfcompress import distill
from tfcompress._keras import keras


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


class DistillerTrainingTest(tf.test.TestCase, parameterized.TestCase):

    def test_teacher_unchanged_student_changed_after_fit(self):
        teacher = helpers.small_teacher(batch_norm=True, dropout=True)
        student = helpers.small_student()
        teacher_before = [w.numpy().copy() for w in teacher.weights]
        student_before = [w.numpy().copy() for w in student.weights]
        x, y = helpers.labelled_data()
        helpers.compile_distiller(distill.Distiller(student, teacher)).fit(x, y, batch_size=16,
                                                            epochs=2, verbose=0)
        # Batch-norm moving statistics are among teacher.weights.
        for before, after in zip(teacher_before, teacher.weights):
            self.assertAllEqual(before, after.numpy())
        changed = [not np.array_equal(b, a.numpy())
                   for b, a in zip(student_before, student.weights)]
        self.assertTrue(all(changed))

    def test_alpha_one_reproduces_plain_training(self):
        x, y = helpers.labelled_data()
        plain = helpers.small_student()
        plain.compile(keras.optimizers.SGD(0.1),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        plain.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        distilled = helpers.small_student()
        helpers.compile_distiller(distill.Distiller(distilled, helpers.small_teacher(), alpha=1.0)).fit(
            x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        for a, b in zip(plain.weights, distilled.weights):
            self.assertAllClose(a, b, atol=1e-6, rtol=1e-6)

    @parameterized.parameters((0.1, 4.0), (0.5, 1.0), (0.0, 20.0))
    def test_loss_matches_hand_computation(self, alpha, temperature):
        teacher, student = helpers.small_teacher(), helpers.small_student()
        x, y = helpers.labelled_data(n=8)
        distiller = helpers.compile_distiller(distill.Distiller(student, teacher, alpha=alpha,
                                                temperature=temperature))
        logs = distiller.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
        t = teacher(x).numpy().astype(np.float64)
        s = student(x).numpy().astype(np.float64)
        hard = -_log_softmax(s)[np.arange(8), y]
        p = np.exp(_log_softmax(t / temperature))
        soft = (p * (_log_softmax(t / temperature) - _log_softmax(s / temperature))
                ).sum(-1) * temperature**2
        self.assertAllClose(logs["hard_loss"], hard.mean(), rtol=1e-5)
        # T**2 amplifies float32 rounding of a small KL: compare at 1e-4.
        self.assertAllClose(logs["soft_loss"], soft.mean(), rtol=1e-4, atol=1e-4)
        self.assertAllClose(logs["loss"], alpha * hard.mean() + (1 - alpha) * soft.mean(),
                            rtol=1e-4, atol=1e-4)
        self.assertAllClose(logs["accuracy"], np.mean(s.argmax(-1) == y))

    def test_sample_weights_scale_losses_and_zero_weights_do_not_train(self):
        teacher, student = helpers.small_teacher(), helpers.small_student()
        x, y = helpers.labelled_data(n=8)
        distiller = helpers.compile_distiller(distill.Distiller(student, teacher))
        ones = distiller.evaluate(x, y, sample_weight=np.ones(8), batch_size=8,
                                  return_dict=True, verbose=0)
        twos = distiller.evaluate(x, y, sample_weight=np.full(8, 2.0), batch_size=8,
                                  return_dict=True, verbose=0)
        self.assertAllClose(twos["loss"], 2 * ones["loss"], rtol=1e-5)
        before = [w.numpy().copy() for w in student.weights]
        distiller.fit(x, y, sample_weight=np.zeros(8), batch_size=4, epochs=1, verbose=0)
        for b, a in zip(before, student.weights):
            self.assertAllEqual(b, a.numpy())

    def test_predict_and_evaluate_use_the_student(self):
        teacher, student = helpers.small_teacher(), helpers.small_student()
        x, y = helpers.labelled_data(n=10)
        distiller = helpers.compile_distiller(distill.Distiller(student, teacher))
        self.assertAllClose(distiller.predict(x, verbose=0), student(x))
        logs = distiller.evaluate(x, y, return_dict=True, verbose=0)
        self.assertAllClose(logs["accuracy"], np.mean(student(x).numpy().argmax(-1) == y))

    def test_probability_teacher_gives_same_losses_as_its_logits(self):
        x, y = helpers.labelled_data(n=16)
        logits_teacher = helpers.small_teacher(seed=5)
        probs_teacher = helpers.small_teacher(seed=5, softmax=True)
        results = []
        for teacher in (logits_teacher, probs_teacher):
            distiller = helpers.compile_distiller(distill.Distiller(helpers.small_student(), teacher, temperature=3.0))
            results.append(distiller.evaluate(x, y, batch_size=16, return_dict=True,
                                              verbose=0))
        self.assertTrue(distill.Distiller(helpers.small_student(), probs_teacher)
                        .teacher_outputs_probabilities)
        self.assertAllClose(results[0]["soft_loss"], results[1]["soft_loss"], rtol=1e-4)

    def test_validation_logs_hard_soft_and_total_losses(self):
        x, y = helpers.labelled_data()
        history = helpers.compile_distiller(distill.Distiller(helpers.small_student(), helpers.small_teacher())).fit(
            x, y, validation_data=(x, y), epochs=1, verbose=0)
        self.assertContainsSubset(
            ["loss", "hard_loss", "soft_loss", "accuracy", "val_loss", "val_hard_loss",
             "val_soft_loss", "val_accuracy"], list(history.history))

    def test_tf_data_input(self):
        x, y = helpers.labelled_data()
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        history = helpers.compile_distiller(distill.Distiller(helpers.small_student(), helpers.small_teacher())).fit(
            ds, epochs=2, verbose=0)
        self.assertLess(history.history["loss"][1], history.history["loss"][0])


class ExtraLossesTest(tf.test.TestCase):

    def test_feature_hint_trains_adapter_and_logs_its_loss(self):
        x, y = helpers.labelled_data()
        distiller = helpers.compile_distiller(distill.Distiller(
            helpers.small_student(), helpers.small_teacher(),
            extra_losses=[distill.FeatureHint("hidden", "hidden", weight=1.0),
                          distill.LogitMSE(weight=0.5)]), learning_rate=0.05)
        adapter_before = distiller.adapters[0].kernel.numpy().copy()
        self.assertEqual(distiller.adapters[0].kernel.shape, (8, 16))
        history = distiller.fit(x, y, batch_size=16, epochs=5, verbose=0)
        hint = history.history["hint_hidden_loss"]
        self.assertLess(hint[-1], hint[0])
        self.assertIn("logit_mse_loss", history.history)
        self.assertNotAllClose(adapter_before, distiller.adapters[0].kernel)

    def test_extra_loss_weights_enter_the_total(self):
        x, y = helpers.labelled_data(n=8)
        teacher, student = helpers.small_teacher(), helpers.small_student()
        distiller = helpers.compile_distiller(distill.Distiller(
            student, teacher, alpha=0.3, extra_losses=[distill.LogitMSE(weight=2.0)]))
        logs = distiller.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
        self.assertAllClose(
            logs["loss"],
            0.3 * logs["hard_loss"] + 0.7 * logs["soft_loss"] + 2 * logs["logit_mse_loss"],
            rtol=1e-5)
        mse = ((teacher(x).numpy() - student(x).numpy()) ** 2).mean()
        self.assertAllClose(logs["logit_mse_loss"], mse, rtol=1e-5)


def _image_model(feature, seed):
    """8x8x3 images -> a layer "feat" giving `feature` -> 3 logits."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    kind, size = feature
    if kind == "map":  # (height, width, channels)
        height, _, channels = size
        x = keras.layers.Conv2D(channels, 3, strides=8 // height, padding="same",
                                name="feat")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
    elif kind == "valid_map":  # a 3x3 valid conv: 6x6
        x = keras.layers.Conv2D(size, 3, name="feat")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
    elif kind == "vector":
        x = keras.layers.Dense(size, name="feat")(keras.layers.Flatten()(inputs))
    else:  # a sequence [steps, size]
        x = keras.layers.Reshape((64, 3))(inputs)
        x = keras.layers.Dense(size, name="feat")(x)
        x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _images(n=32):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, 8, 8, 3)).astype(np.float32)
    return x, (x[:, :, :, 0].mean((1, 2)) * 3).astype(np.int32).clip(0, 2)


class FeatureHintAdapterTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("vector_to_vector", ("vector", 5), ("vector", 7), "Dense"),
        ("map_same_size", ("map", (8, 8, 4)), ("map", (8, 8, 6)), "Conv2D"),
        ("map_larger", ("map", (8, 8, 4)), ("map", (4, 4, 6)), "Conv2D"),
        ("map_smaller", ("map", (2, 2, 4)), ("map", (8, 8, 6)), "Conv2DTranspose"),
        ("map_other_size", ("map", (8, 8, 4)), ("valid_map", 6), "Sequential"),
        ("map_from_vector_hint", ("map", (4, 4, 4)), ("vector", 5), "Sequential"),
        ("vector_from_map_hint", ("vector", 5), ("map", (4, 4, 6)), "Sequential"),
        ("sequences", ("sequence", 4), ("sequence", 6), "Dense"),
    )
    def test_adapter_maps_student_features_to_the_teachers_and_learns(
            self, student_feature, teacher_feature, adapter_type):
        student, teacher = _image_model(student_feature, 1), _image_model(teacher_feature, 2)
        distiller = helpers.compile_distiller(distill.Distiller(
            student, teacher, extra_losses=[distill.FeatureHint("feat", "feat")]),
            learning_rate=0.05)
        adapter = distiller.adapters[0]
        self.assertEqual(type(adapter).__name__, adapter_type)
        x, y = _images()
        student_features = keras.Model(student.inputs,
                                       student.get_layer("feat").output)(x)
        teacher_features = keras.Model(teacher.inputs,
                                       teacher.get_layer("feat").output)(x)
        self.assertEqual(adapter(student_features).shape, teacher_features.shape)
        hint = distiller.fit(x, y, batch_size=16, epochs=4,
                             verbose=0).history["hint_feat_loss"]
        self.assertLess(hint[-1], hint[0])

    def test_ranks_with_no_sensible_map_are_refused_with_what_works(self):
        with self.assertRaisesRegex(
                ValueError, r"FeatureHint 'adapter_feat': cannot map student features "
                r"\(None, 64, 4\) to teacher features \(None, 8, 8, 6\)\. Hints map "
                r"vectors \[batch, d\] and feature maps"):
            distill.Distiller(_image_model(("sequence", 4), 1),
                              _image_model(("map", (8, 8, 6)), 2),
                              extra_losses=[distill.FeatureHint("feat", "feat")])

    def test_layer_of_a_nested_model_is_named_with_what_to_do(self):
        base = _image_model(("map", (4, 4, 4)), 1)
        inputs = keras.Input((8, 8, 3))
        nested = keras.Model(inputs, base(inputs), name="outer")
        with self.assertRaisesRegex(ValueError, r"`student_layer` 'feat' is not a layer of "
                                    r"'outer'.* It is a layer of the nested model "):
            distill.Distiller(nested, _image_model(("map", (4, 4, 4)), 2),
                              extra_losses=[distill.FeatureHint("feat", "feat")])


class DistillerConfigTest(tf.test.TestCase):

    def test_config_round_trip(self):
        distiller = distill.Distiller(
            helpers.small_student(), helpers.small_teacher(), temperature=7.5, alpha=0.25,
            extra_losses=[distill.FeatureHint("hidden", "hidden", 0.3),
                          distill.LogitMSE(0.2)], name="kd")
        config = distiller.get_config()
        clone = distill.Distiller.from_config(config)
        self.assertEqual(clone.get_config(), config)
        self.assertEqual((clone.temperature, clone.alpha, clone.name), (7.5, 0.25, "kd"))
        self.assertEqual([t.get_config() for t in clone.extra_losses],
                         [{"class_name": "FeatureHint", "student_layer": "hidden",
                           "teacher_layer": "hidden", "weight": 0.3},
                          {"class_name": "LogitMSE", "weight": 0.2}])
        self.assertEqual(clone.student.get_config(), distiller.student.get_config())


class DistillerErrorTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(0, -1.0, float("nan"), "4")
    def test_bad_temperature(self, temperature):
        with self.assertRaisesRegex(ValueError, "`temperature` must be > 0, got"):
            distill.Distiller(helpers.small_student(), helpers.small_teacher(), temperature=temperature)

    @parameterized.parameters(-0.1, 1.5, True)
    def test_alpha_outside_unit_interval(self, alpha):
        with self.assertRaisesRegex(ValueError, r"`alpha` must be in \[0, 1\], got"):
            distill.Distiller(helpers.small_student(), helpers.small_teacher(), alpha=alpha)

    def test_teacher_is_the_student(self):
        student = helpers.small_student()
        with self.assertRaisesRegex(ValueError, "`teacher` is the same model as `student`"):
            distill.Distiller(student, student)

    def test_teacher_sharing_weights_with_student(self):
        student = helpers.small_student()
        inputs = keras.Input((6,))
        teacher = keras.Model(inputs, student.get_layer("logits")(
            student.get_layer("hidden")(inputs)))
        with self.assertRaisesRegex(ValueError, "share weights"):
            distill.Distiller(student, teacher)

    def test_mismatched_output_shapes(self):
        teacher = helpers.tiny_mlp(input_shape=(6,), num_classes=5)
        with self.assertRaisesRegex(
                ValueError, r"`teacher` outputs shape \(None, 5\) but `student` outputs "
                            r"\(None, 3\)"):
            distill.Distiller(helpers.small_student(), teacher)

    def test_mismatched_input_shapes(self):
        teacher = helpers.tiny_mlp(input_shape=(7,), num_classes=3)
        with self.assertRaisesRegex(ValueError, "`teacher` takes inputs of shape"):
            distill.Distiller(helpers.small_student(), teacher)

    def test_softmax_student_is_refused(self):
        student = helpers.small_teacher(softmax=True)
        with self.assertRaisesRegex(ValueError, "`student` .* ends in a softmax"):
            distill.Distiller(student, helpers.small_teacher(seed=3))

    def test_loss_in_compile_is_refused(self):
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher())
        with self.assertRaisesRegex(ValueError, "Distiller computes its own loss"):
            distiller.compile("sgd", loss="mse")

    def test_unknown_hint_layer(self):
        with self.assertRaisesRegex(ValueError, "`student_layer` 'conv' is not a layer of"):
            distill.Distiller(helpers.small_student(), helpers.small_teacher(),
                              extra_losses=[distill.FeatureHint("conv", "hidden")])

    def test_bad_extra_loss(self):
        with self.assertRaisesRegex(ValueError, "`extra_losses` must hold"):
            distill.Distiller(helpers.small_student(), helpers.small_teacher(), extra_losses=["mse"])
        with self.assertRaisesRegex(ValueError, "`weight` must be >= 0, got -1"):
            distill.LogitMSE(weight=-1)

    def test_keras3_student_is_converted(self):
        student = keras3.Sequential([keras3.Input((6,)), keras3.layers.Dense(3)])
        distiller = distill.Distiller(student, helpers.small_teacher())
        self.assertIsInstance(distiller.tf_keras_student, keras.Model)
        self.assertIs(distiller.student, student)
        batch = np.ones((2, 6), np.float32)
        self.assertAllClose(distiller.tf_keras_student(batch), student(batch), atol=1e-6)


class CallbacksTest(tf.test.TestCase):

    def test_student_checkpoint_saves_a_plain_student_model(self):
        x, y = helpers.labelled_data()
        path = os.path.join(self.create_tempdir().full_path, "student.keras")
        distiller = helpers.compile_distiller(distill.Distiller(helpers.small_student(), helpers.small_teacher()))
        distiller.fit(x, y, validation_data=(x, y), epochs=2, verbose=0, callbacks=[
            distill.StudentCheckpoint(path, monitor="val_accuracy", save_best_only=True)])
        saved = keras.models.load_model(path, compile=False)
        self.assertEqual(saved.count_params(), distiller.student.count_params())
        self.assertNotIsInstance(saved, distill.Distiller)

    def test_tensorboard_logs_hard_soft_and_total_losses(self):
        x, y = helpers.labelled_data()
        logdir = self.create_tempdir().full_path
        helpers.compile_distiller(distill.Distiller(helpers.small_student(), helpers.small_teacher())).fit(
            x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.TensorBoard(logdir)])
        tags = set()
        for path in glob.glob(os.path.join(logdir, "train", "events.*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                tags.update(value.tag for value in event.summary.value)
        self.assertContainsSubset(["epoch_loss", "epoch_hard_loss", "epoch_soft_loss"],
                                  tags)

    def test_early_stopping(self):
        x, y = helpers.labelled_data()
        distiller = helpers.compile_distiller(
            distill.Distiller(helpers.small_student(), helpers.small_teacher()))
        history = distiller.fit(x, y, validation_data=(x, y), epochs=20, verbose=0,
                                callbacks=[keras.callbacks.EarlyStopping(
                                    monitor="val_loss", patience=0, min_delta=10.0)])
        self.assertLen(history.history["loss"], 2)

    def test_backup_and_restore_resumes_an_interrupted_fit(self):
        x, y = helpers.labelled_data()
        backup = os.path.join(self.create_tempdir().full_path, "backup")
        distiller = helpers.compile_distiller(
            distill.Distiller(helpers.small_student(), helpers.small_teacher()))
        with self.assertRaisesRegex(RuntimeError, "killed"):
            distiller.fit(x, y, epochs=4, verbose=0, callbacks=[
                keras.callbacks.BackupAndRestore(backup), helpers.KillAfterEpoch(1)])
        weights_at_kill = [w.numpy().copy() for w in distiller.student.weights]
        # A new process would build everything again: a fresh Distiller resumes.
        resumed = helpers.compile_distiller(
            distill.Distiller(helpers.small_student(seed=9), helpers.small_teacher()))
        first_epoch = []
        resumed.fit(x, y, epochs=4, verbose=0, callbacks=[
            keras.callbacks.BackupAndRestore(backup),
            keras.callbacks.LambdaCallback(
                on_epoch_begin=lambda epoch, logs: first_epoch.append(epoch))])
        self.assertEqual(first_epoch, [2, 3])
        self.assertNotAllClose(weights_at_kill[0], resumed.student.weights[0])


class MirroredStrategyTest(tf.test.TestCase):

    def test_two_replicas_match_one_device_with_same_global_batch(self):
        x, y = helpers.labelled_data(n=64)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        results = []
        for strategy in (tf.distribute.get_strategy(),
                         tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])):
            with strategy.scope():
                distiller = helpers.compile_distiller(distill.Distiller(helpers.small_student(), helpers.small_teacher()))
            history = distiller.fit(ds, epochs=2, verbose=0)
            results.append(([w.numpy() for w in distiller.student.weights],
                             history.history["loss"]))
        self.assertEqual(
            tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).num_replicas_in_sync, 2)
        for one, two in zip(results[0][0], results[1][0]):
            self.assertAllClose(one, two, atol=1e-5, rtol=1e-5)
        self.assertAllClose(results[0][1], results[1][1], rtol=1e-5)


class DistillerInputTest(tf.test.TestCase):

    def test_teacher_is_marked_frozen(self):
        teacher = helpers.small_teacher()
        distiller = distill.Distiller(helpers.small_student(), teacher)
        self.assertFalse(teacher.trainable)
        self.assertEmpty(teacher.trainable_weights)
        self.assertLen(distiller.trainable_weights, 4)  # the student's 2 kernels, 2 biases

    def test_tf_nn_softmax_teacher_is_detected(self):
        inputs = keras.Input((6,))
        teacher = keras.Model(inputs, tf.nn.softmax(keras.layers.Dense(3)(inputs)))
        self.assertTrue(distill.Distiller(helpers.small_student(), teacher)
                        .teacher_outputs_probabilities)

    def test_one_hot_labels_are_refused_with_what_to_do(self):
        x, y = helpers.labelled_data(n=8)
        distiller = helpers.compile_distiller(
            distill.Distiller(helpers.small_student(), helpers.small_teacher()))
        with self.assertRaisesRegex(ValueError, "integer class ids .* argmax"):
            distiller.fit(x, np.eye(3)[y], epochs=1, verbose=0)

    def test_metrics_and_loss_are_keyword_only_in_compile(self):
        distiller = distill.Distiller(helpers.small_student(), helpers.small_teacher())
        with self.assertRaises(TypeError):
            distiller.compile("sgd", "sparse_categorical_crossentropy")
