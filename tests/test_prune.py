"""Tests of magnitude pruning: targets reached, layers chosen, wrappers stripped."""

import os

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from absl.testing import parameterized

from tfcompress import distill
from tfcompress import prune
from tfcompress import training
from tfcompress._keras import keras


def _mlp(seed=0):
    """A 3-Dense MLP on 16 features, 4 classes (layers d1, d2, out)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16,))
    x = keras.layers.Dense(32, activation="relu", name="d1")(inputs)
    x = keras.layers.Dense(16, activation="relu", name="d2")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="out")(x))


def _dataset(n=256, batch_size=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 16)).astype(np.float32)
    y = (np.abs(x[:, :4]).argmax(-1)).astype(np.int32)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)  # 8 steps


def _train(model, epochs=5, **fit_kwargs):
    training.compile_classifier(model, learning_rate=1e-2)
    model.fit(_dataset(), epochs=epochs, verbose=0, callbacks=prune.callbacks(),
              **fit_kwargs)
    return model


def _kernel_sparsity(report):
    return {row["name"]: row["kernel_sparsity"] for row in report["layers"]}


class PruneScheduleTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(("constant", 0.7), ("polynomial", 0.9), ("polynomial", 0.5))
    def test_each_layer_reaches_target_within_one_point(self, schedule, target):
        result = prune.prune(_mlp(), sparsity=target, schedule=schedule, end_step=24,
                             frequency=4)
        stripped = prune.strip(_train(result.model))
        for name, value in _kernel_sparsity(prune.sparsity_report(stripped)).items():
            self.assertAllClose(value, target, atol=0.01, msg=name)

    def test_per_layer_targets(self):
        targets = {"d1": 0.8, "d2": 0.5}
        result = prune.prune(_mlp(), sparsity=targets, end_step=16, frequency=4)
        self.assertEqual(result.targets, targets)
        sparsity = _kernel_sparsity(prune.sparsity_report(prune.strip(_train(result.model))))
        self.assertAllClose(sparsity["d1"], 0.8, atol=0.01)
        self.assertAllClose(sparsity["d2"], 0.5, atol=0.01)
        self.assertEqual(sparsity["out"], 0.0)

    def test_schedule_in_epochs(self):
        self.assertEqual(prune.epochs_to_steps(1, 4, steps_per_epoch=8), (8, 32))
        with self.assertRaisesRegex(ValueError, r"`begin_epoch` must be an int in \[0, "
                                                r"end_epoch=4\), got 4"):
            prune.epochs_to_steps(4, 4, steps_per_epoch=8)

    def test_update_period_longer_than_the_ramp_is_refused(self):
        # TFMOT would leave the model dense without a word.
        with self.assertRaisesRegex(ValueError, r"`frequency` \(100\) is longer than "
                                    r"the ramp \(`end_step` - `begin_step` = 20 steps\)"
                                    r".* at most 20, or leave it unset\."):
            prune.prune(_mlp(), sparsity=0.9, end_step=20, frequency=100)

    def test_frequency_left_unset_fits_a_short_ramp(self):
        result = prune.prune(_mlp(), sparsity=0.9, end_step=20)
        schedule = result.model.get_layer("prune_low_magnitude_d1").pruning_schedule
        self.assertEqual(schedule.frequency, 20)

    @parameterized.parameters(
        (lambda: tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.5, final_sparsity=0.8, begin_step=0, end_step=24,
            frequency=4), 0.8),
        (lambda: tfmot.sparsity.keras.ConstantSparsity(0.6, begin_step=0,
                                                       frequency=4), 0.6))
    def test_tfmot_schedule_objects_port_as_they_are(self, make_schedule, target):
        schedule = make_schedule()
        result = prune.prune(_mlp(), schedule=schedule)
        self.assertEqual(result.targets, {"d1": target, "d2": target, "out": target})
        self.assertIs(result.model.get_layer("prune_low_magnitude_d1").pruning_schedule,
                      schedule)
        stripped = prune.strip(_train(result.model))
        for name, value in _kernel_sparsity(prune.sparsity_report(stripped)).items():
            self.assertAllClose(value, target, atol=0.01, msg=name)

    def test_custom_pruning_schedule_is_followed(self):
        class Half(tfmot.sparsity.keras.PruningSchedule):
            """Half the weights, updated every 4 steps."""

            def __call__(self, step):
                return tf.equal(step % 4, 0), tf.constant(0.5, tf.float32)

            def get_config(self):
                return {}

        result = prune.prune(_mlp(), schedule=Half(), layers=["d1"])
        self.assertEqual(result.targets, {"d1": None})
        sparsity = _kernel_sparsity(prune.sparsity_report(prune.strip(_train(result.model))))
        self.assertAllClose(sparsity["d1"], 0.5, atol=0.01)
        self.assertEqual(sparsity["d2"], 0.0)

    def test_initial_sparsity_starts_the_polynomial_ramp(self):
        result = prune.prune(_mlp(), sparsity=0.9, initial_sparsity=0.5, end_step=24,
                             frequency=4)
        schedule = result.model.get_layer("prune_low_magnitude_d1").pruning_schedule
        _, at_start = schedule(tf.constant(0, tf.int64))
        self.assertAllClose(at_start, 0.5)

    @parameterized.parameters(
        (dict(schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0), sparsity=0.9),
         r"`schedule` is a ConstantSparsity, which sets the target and its steps: "
         r"leave `sparsity` unset"),
        (dict(schedule="cubic"), r"`schedule` must be one of \('constant', "
         r"'polynomial'\) or a TFMOT PruningSchedule"),
        (dict(schedule="constant", initial_sparsity=0.5),
         r"`initial_sparsity` is where the polynomial ramp starts; schedule "
         r"'constant' has none"))
    def test_schedule_arguments_that_do_not_fit_are_refused(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            prune.prune(_mlp(), **kwargs)

    def test_polynomial_ramp_follows_zhu_gupta(self):
        schedule = prune.make_schedule("polynomial", 0.9, begin_step=0, end_step=100,
                                       frequency=1)
        _, halfway = schedule(tf.constant(50, tf.int64))
        self.assertAllClose(halfway, 0.9 * (1 - 0.5**3), atol=1e-6)


class PruneSelectionTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        ("names", ["d1", "out"]),
        ("regex", "d1|out"),
        ("callable", lambda layer: layer.name != "d2"),
    )
    def test_chosen_layers_pruned_others_untouched(self, layers):
        result = prune.prune(_mlp(), sparsity=0.75, layers=layers, schedule="constant",
                             frequency=4)
        self.assertEqual(sorted(result.targets), ["d1", "out"])
        report = prune.sparsity_report(prune.strip(_train(result.model, epochs=2)))
        sparsity = _kernel_sparsity(report)
        self.assertAllClose(sparsity["d1"], 0.75, atol=0.01)
        self.assertAllClose(sparsity["out"], 0.75, atol=0.01)
        self.assertEqual(sparsity["d2"], 0.0)
        wrapped = [layer.layer.name for layer in result.model.layers
                   if prune.is_pruning_wrapper(layer)]
        self.assertEqual(sorted(wrapped), ["d1", "out"])

    def test_select_by_layer_type(self):
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
        x = keras.layers.Flatten()(x)
        model = keras.Model(inputs, keras.layers.Dense(3, name="dense")(x))
        result = prune.prune(model, sparsity=0.5, layers=keras.layers.Conv2D,
                             schedule="constant")
        self.assertEqual(list(result.targets), ["conv"])

    def test_keras_wrapper_layers_keep_their_weights(self):
        inputs = keras.Input((3, 16))
        x = keras.layers.TimeDistributed(keras.layers.Dense(8), name="td")(inputs)
        x = keras.layers.Flatten()(x)
        model = keras.Model(inputs, keras.layers.Dense(4, name="out")(x))
        result = prune.prune(model, sparsity=0.5, layers=["out"], schedule="constant")
        self.assertAllEqual(result.model.get_layer("td").get_weights()[0],
                            model.get_layer("td").get_weights()[0])

    def test_original_model_is_left_untouched(self):
        model = _mlp()
        before = [w.numpy().copy() for w in model.weights]
        _train(prune.prune(model, sparsity=0.9, schedule="constant").model)
        for b, a in zip(before, model.weights):
            self.assertAllEqual(b, a.numpy())

    def test_unprunable_layer_is_reported_not_a_crash(self):
        class Scale(keras.layers.Layer):
            def build(self, shape):
                self.scale = self.add_weight("scale", shape[-1:], initializer="ones")

            def call(self, x):
                return x * self.scale

        inputs = keras.Input((16,))
        x = Scale(name="scale")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(4, name="out")(x))
        result = prune.prune(model, sparsity=0.5, schedule="constant")
        self.assertEqual(result.targets, {"out": 0.5})
        self.assertEqual(result.skipped, {"scale": "TFMOT cannot prune Scale layers"})
        with self.assertRaisesRegex(ValueError, r"Cannot prune \['scale'\] \(strict=True\)"):
            prune.prune(model, sparsity=0.5, schedule="constant", strict=True)

    @parameterized.parameters(
        (dict(layers=["d9"]), r"`layers` names layers \['d9'\] that 'model"),
        (dict(sparsity={"x": 0.5}), r"`sparsity` names layers \['x'\]"),
        (dict(sparsity=1.0), r"`sparsity` must be in \[0, 1\), got 1.0"),
        (dict(sparsity={"d1": 0.5}, layers=["d1"]), "not both"),
        (dict(layers="("), "is not a valid regex"),
        (dict(layers="nothing"), "chose no layer with prunable weights"),
        (dict(schedule="cubic"), "`schedule` must be one of"),
        (dict(), "The polynomial schedule needs `end_step`"),
        (dict(m_by_n=(4, 2), schedule="constant"), r"`m_by_n` must be \(N, M\)"),
        (dict(block_pooling="SUM", schedule="constant"), "`block_pooling` must be"),
    )
    def test_bad_arguments(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            prune.prune(_mlp(), **kwargs)


class NbyMTest(tf.test.TestCase):

    def test_two_of_four_pattern_holds_on_every_group(self):
        result = prune.prune(_mlp(), m_by_n=(2, 4), schedule="constant",
                             layers=["d1", "d2"])
        self.assertEqual(result.targets, {"d1": 0.5, "d2": 0.5})
        stripped = prune.strip(_train(result.model, epochs=2))
        report = prune.sparsity_report(stripped, m_by_n=(2, 4),
                                       m_by_n_layers=result.targets)
        checked = {row["name"]: row["m_by_n_ok"] for row in report["layers"]
                   if "m_by_n_ok" in row}
        self.assertEqual(checked, {"d1": True, "d2": True})

    def test_checker_finds_a_broken_group(self):
        kernel = np.ones((8, 2), np.float32)  # [in, out]: groups run along `in`
        kernel[[0, 1, 4, 5], :] = 0.0
        self.assertTrue(prune.is_m_by_n_sparse(kernel, (2, 4)))
        kernel[1, 1] = 3.0
        self.assertFalse(prune.is_m_by_n_sparse(kernel, (2, 4)))


class StripAndSaveTest(tf.test.TestCase):

    def test_strip_leaves_no_wrappers_and_keeps_zeros(self):
        pruned = _train(prune.prune(_mlp(), sparsity=0.8, schedule="constant",
                                     frequency=4).model)
        stripped = prune.strip(pruned)
        self.assertFalse(prune.has_pruning_wrappers(stripped))
        self.assertTrue(prune.has_pruning_wrappers(pruned))
        report = prune.sparsity_report(stripped)
        for name, value in _kernel_sparsity(report).items():
            self.assertAllClose(value, 0.8, atol=0.01, msg=name)
        # Totals count biases too, which pruning leaves dense.
        kernels = sum(int(np.count_nonzero(layer.kernel)) for layer in stripped.layers[1:])
        biases = sum(int(np.count_nonzero(layer.bias)) for layer in stripped.layers[1:])
        self.assertEqual(report["total"]["nonzero"], kernels + biases)
        x = next(iter(_dataset()))[0]
        self.assertAllClose(stripped(x), pruned(x), atol=1e-6)

    def test_pruned_model_config_saves_and_reloads_in_prune_scope(self):
        pruned = _train(prune.prune(_mlp(), sparsity=0.5, schedule="constant").model)
        path = os.path.join(self.create_tempdir().full_path, "pruned.keras")
        pruned.save(path)
        with tfmot.sparsity.keras.prune_scope():
            loaded = keras.models.load_model(path)
        x = next(iter(_dataset()))[0]
        self.assertAllClose(loaded(x), pruned(x), atol=1e-6)
        self.assertEqual(len(prune.sparsity_report(loaded)["layers"]), 3)


class PruningCallbacksTest(tf.test.TestCase):

    def test_fit_without_callbacks_is_our_clear_error(self):
        model = prune.prune(_mlp(), sparsity=0.5, schedule="constant").model
        training.compile_classifier(model)
        with self.assertRaisesRegex(ValueError, "pass callbacks=tfcompress.prune.callbacks"):
            model.fit(_dataset(), epochs=1, verbose=0)

    def test_summaries_callback_with_log_dir(self):
        logdir = self.create_tempdir().full_path
        kinds = [type(c).__name__ for c in prune.callbacks(log_dir=logdir)]
        self.assertEqual(kinds, ["UpdatePruningStep", "PruningSummaries"])


class PruningInsideDistillerTest(tf.test.TestCase):

    def test_pruned_student_reaches_target_and_logs_kd_losses(self):
        teacher = _mlp(seed=3)
        student = prune.prune(_mlp(seed=4), sparsity=0.8, end_step=24, frequency=4).model
        distiller = distill.Distiller(student, teacher, temperature=2.0)
        distiller.compile(keras.optimizers.Adam(1e-2), metrics=["accuracy"])
        with self.assertRaisesRegex(ValueError, "pass callbacks=tfcompress.prune.callbacks"):
            distiller.fit(_dataset(), epochs=1, verbose=0)
        history = distiller.fit(_dataset(), epochs=5, verbose=0,
                                callbacks=prune.callbacks())
        self.assertContainsSubset(["hard_loss", "soft_loss", "loss"], history.history)
        report = prune.sparsity_report(prune.strip(distiller.student))
        for name, value in _kernel_sparsity(report).items():
            self.assertAllClose(value, 0.8, atol=0.01, msg=name)
        self.assertFalse(prune.has_pruning_wrappers(teacher))


class SensitivityTest(tf.test.TestCase):

    def _trained(self):
        model = _mlp()
        training.compile_classifier(model, learning_rate=1e-2)
        model.fit(_dataset(), epochs=5, verbose=0)
        return model

    def test_analysis_measures_each_layer_alone_and_restores_weights(self):
        model = self._trained()
        before = [w.numpy().copy() for w in model.weights]
        result = prune.sensitivity.analyze(model, _dataset(), sparsities=(0.5, 0.9),
                                           verbose=0)
        for b, a in zip(before, model.weights):
            self.assertAllEqual(b, a.numpy())
        self.assertEqual(sorted(result.accuracy), ["d1", "d2", "out"])
        self.assertEqual(result.params, {"d1": 16 * 32, "d2": 32 * 16, "out": 16 * 4})
        # Check one point by hand: d1 alone at 90%.
        kernel = model.get_layer("d1").kernel
        original = kernel.numpy()
        kernel.assign(original * prune.sensitivity.magnitude_mask(original, 0.9))
        from tfcompress import evaluate  # pylint: disable=g-import-not-at-top
        by_hand = evaluate.evaluate_classifier(model, _dataset())["accuracy"]
        kernel.assign(original)
        self.assertEqual(result.accuracy["d1"][0.9], by_hand)

    def test_magnitude_mask_zeroes_the_smallest(self):
        kernel = np.array([[0.1, -5.0], [3.0, -0.2]], np.float32)
        self.assertAllEqual(prune.sensitivity.magnitude_mask(kernel, 0.5),
                            [[0, 1], [1, 0]])

    def test_plan_hits_the_global_target_exactly_and_spares_sensitive_layers(self):
        fake = prune.sensitivity.Sensitivity(
            baseline=0.98, params={"big": 1000, "small": 100},
            accuracy={"big": {0.5: 0.98, 0.9: 0.975, 0.95: 0.97},
                      "small": {0.5: 0.95, 0.9: 0.60, 0.95: 0.40}})
        plan = prune.sensitivity.plan(fake, 0.85)
        self.assertAllClose(prune.sensitivity.global_sparsity(plan, fake.params), 0.85)
        self.assertGreater(plan["big"], plan["small"])
        with self.assertRaisesRegex(ValueError, "above what the analysis measured"):
            prune.sensitivity.plan(fake, 0.96)

    def test_plan_from_a_real_analysis_prunes_to_target(self):
        model = self._trained()
        result = prune.sensitivity.analyze(model, _dataset(), verbose=0)
        plan = prune.sensitivity.plan(result, 0.8)
        self.assertAllClose(prune.sensitivity.global_sparsity(plan, result.params), 0.8)
        pruned = prune.prune(model, sparsity=plan, end_step=16, frequency=4)
        stripped = prune.strip(_train(pruned.model))
        report = _kernel_sparsity(prune.sparsity_report(stripped))
        for name, target in plan.items():
            self.assertAllClose(report[name], target, atol=0.01, msg=name)

    def test_bad_sparsities(self):
        with self.assertRaisesRegex(ValueError, "`sparsities` must be increasing"):
            prune.sensitivity.analyze(_mlp(), _dataset(), sparsities=(0.9, 0.5))
        with self.assertRaisesRegex(ValueError, "`layers` must name prunable layers"):
            prune.sensitivity.analyze(_mlp(), _dataset(), layers=["nope"])


class IterativeTest(tf.test.TestCase):

    def test_rounds_raise_sparsity_and_stop_at_the_floor(self):
        model = _mlp()
        compile_model = lambda m: training.compile_classifier(m, learning_rate=1e-2)  # noqa: E731
        compile_model(model)
        model.fit(_dataset(), epochs=5, verbose=0)
        kept, rounds = prune.prune_iteratively(
            model, _dataset(), _dataset(), compile_model=compile_model,
            sparsities=(0.5, 0.8), epochs_per_round=2, frequency=2, verbose=0)
        self.assertEqual([r.sparsity for r in rounds], [0.5, 0.8])
        self.assertAllClose(_kernel_sparsity(prune.sparsity_report(kept))["d1"], 0.8,
                            atol=0.01)
        # A floor above any reachable accuracy: the first round is not kept.
        kept, rounds = prune.prune_iteratively(
            model, _dataset(), _dataset(), compile_model=compile_model,
            sparsities=(0.5, 0.8), accuracy_floor=1.01, frequency=2, verbose=0)
        self.assertLen(rounds, 1)
        self.assertIs(kept, model)
