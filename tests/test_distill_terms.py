"""Tests of distillation terms: the built-ins, and a user's own through the same door."""

import os
from unittest import mock

import numpy as np
import tensorflow as tf

import helpers
from tfcompress import distill
from tfcompress._keras import keras
from tfcompress.distill import losses
from tfcompress.distill import terms


class LogitCosine(distill.DistillationTerm):
    """A user's term: 1 - cosine similarity of teacher and student logits."""

    name = "cosine_loss"

    def per_example_loss(self, teacher_outputs, student_outputs):
        teacher = tf.math.l2_normalize(teacher_outputs["logits"], axis=-1)
        student = tf.math.l2_normalize(student_outputs["logits"], axis=-1)
        return 1.0 - tf.reduce_sum(teacher * student, axis=-1)


class FeatureCosine(distill.DistillationTerm):
    """A user's term on features, with a constructor argument of its own."""

    def __init__(self, layer, weight=1.0):
        super().__init__(weight)
        self.student_layer = self.teacher_layer = layer

    @property
    def name(self):
        return f"cosine_{self.student_layer}_loss"

    def per_example_loss(self, teacher_outputs, student_outputs):
        teacher = tf.math.l2_normalize(teacher_outputs["features"], axis=-1)
        student = tf.math.l2_normalize(student_outputs["features"], axis=-1)
        return 1.0 - tf.reduce_sum(teacher * student, axis=-1)

    def get_config(self):
        return {**super().get_config(), "layer": self.student_layer}


class MeanOverBatch(distill.DistillationTerm):
    """Breaks the contract: one number for the whole batch."""

    name = "batch_mean_loss"

    def per_example_loss(self, teacher_outputs, student_outputs):
        return tf.reduce_mean(student_outputs["logits"])


def _cosine(teacher_logits, student_logits):
    t = teacher_logits / np.linalg.norm(teacher_logits, axis=-1, keepdims=True)
    s = student_logits / np.linalg.norm(student_logits, axis=-1, keepdims=True)
    return 1.0 - (t * s).sum(-1)


def _batches(x, y, batch_size=16):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


class BuiltInTermsTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.teacher = {"logits": rng.normal(size=(5, 4)).astype(np.float32) * 3,
                        "features": rng.normal(size=(5, 2, 3)).astype(np.float32)}
        self.student = {"logits": rng.normal(size=(5, 4)).astype(np.float32),
                        "labels": np.array([0, 3, 1, 2, 3]),
                        "features": rng.normal(size=(5, 2, 3)).astype(np.float32)}

    def test_built_in_terms_are_the_loss_functions(self):
        t, s = self.teacher, self.student
        cases = [
            (distill.HardLabels(), losses.hard_label_loss(s["labels"], s["logits"])),
            (distill.SoftTargets(3.0), losses.soft_target_loss(t["logits"], s["logits"], 3.0)),
            (distill.LogitMSE(), losses.logit_mse_loss(t["logits"], s["logits"])),
            (distill.FeatureHint("a", "b"),
             losses.feature_hint_loss(t["features"], s["features"])),
        ]
        for term, expected in cases:
            self.assertAllEqual(term.per_example_loss(t, s), expected)
        self.assertEqual([term.name for term, _ in cases],
                         ["hard_loss", "soft_loss", "logit_mse_loss", "hint_a_loss"])

    def test_distiller_losses_are_the_loss_functions_weighted(self):
        teacher, student = helpers.small_teacher(), helpers.small_student()
        x, y = helpers.labelled_data(n=8)
        distiller = helpers.compile_distiller(distill.Distiller(
            student, teacher, temperature=3.0, alpha=0.3,
            extra_losses=[distill.LogitMSE(weight=2.0)]))
        self.assertEqual([type(term).__name__ for term in distiller.terms],
                         ["HardLabels", "SoftTargets", "LogitMSE"])
        t, s = teacher(x), student(x)
        values = distiller.per_example_losses(y, distiller.teacher_outputs(x), s, [])
        expected = {"hard_loss": losses.hard_label_loss(y, s),
                    "soft_loss": losses.soft_target_loss(t, s, 3.0),
                    "logit_mse_loss": losses.logit_mse_loss(t, s)}
        self.assertEqual(list(values), list(expected))
        for name, value in expected.items():
            self.assertAllEqual(values[name], value)
        logs = distiller.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
        total = (0.3 * expected["hard_loss"] + 0.7 * expected["soft_loss"]
                 + 2.0 * expected["logit_mse_loss"])
        self.assertAllClose(logs["loss"], np.mean(total), rtol=1e-6)

    def test_config_of_a_term_round_trips(self):
        for term in (distill.SoftTargets(2.5, weight=0.4), FeatureCosine("hidden", 0.5)):
            clone = terms.deserialize(term.get_config())
            self.assertIs(type(clone), type(term))
            self.assertEqual(clone.get_config(), term.get_config())


class UserTermTest(tf.test.TestCase):

    def test_user_term_is_logged_by_name_enters_the_total_and_lowers(self):
        teacher, student = helpers.small_teacher(), helpers.small_student()
        x, y = helpers.labelled_data()
        distiller = helpers.compile_distiller(distill.Distiller(
            student, teacher, alpha=1.0, extra_losses=[LogitCosine(weight=2.0)]))
        logs = distiller.evaluate(x, y, return_dict=True, verbose=0)
        self.assertAllClose(logs["cosine_loss"],
                            _cosine(teacher(x).numpy(), student(x).numpy()).mean(),
                            rtol=1e-5)
        self.assertAllClose(logs["loss"], logs["hard_loss"] + 2.0 * logs["cosine_loss"],
                            rtol=1e-5)
        cosine = distiller.fit(x, y, batch_size=16, epochs=5,
                               verbose=0).history["cosine_loss"]
        self.assertLess(cosine[-1], cosine[0])

    def test_user_term_on_features_gets_the_adapted_student_features(self):
        x, y = helpers.labelled_data()
        distiller = helpers.compile_distiller(distill.Distiller(
            helpers.small_student(), helpers.small_teacher(),
            extra_losses=[FeatureCosine("hidden")]), learning_rate=0.05)
        self.assertEqual(distiller.adapters[0].kernel.shape, (8, 16))
        cosine = distiller.fit(x, y, batch_size=16, epochs=5,
                               verbose=0).history["cosine_hidden_loss"]
        self.assertLess(cosine[-1], cosine[0])

    def test_user_term_gives_the_same_losses_with_the_teacher_cache(self):
        x, y = helpers.labelled_data()
        runs = []
        for cached in (False, True):
            distiller = helpers.compile_distiller(distill.Distiller(
                helpers.small_student(), helpers.small_teacher(),
                extra_losses=[LogitCosine(weight=0.5), FeatureCosine("hidden")]))
            ds = _batches(x, y)
            if cached:
                ds = distill.with_teacher_outputs(distiller, ds, batch_size=16,
                                                  shuffle=False, verbose=0)
            runs.append(distiller.fit(ds, epochs=2, verbose=0).history)
        for key in ("loss", "cosine_loss", "cosine_hidden_loss"):
            self.assertAllClose(runs[0][key], runs[1][key], rtol=1e-5)

    def test_user_term_trains_the_same_on_two_replicas(self):
        x, y = helpers.labelled_data(n=64)
        results = []
        for strategy in (tf.distribute.get_strategy(),
                         tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])):
            with strategy.scope():
                distiller = helpers.compile_distiller(distill.Distiller(
                    helpers.small_student(), helpers.small_teacher(),
                    extra_losses=[LogitCosine(weight=3.0)]))
            history = distiller.fit(_batches(x, y), epochs=2, verbose=0).history
            results.append(([w.numpy() for w in distiller.student.weights],
                            history["cosine_loss"]))
        for one, two in zip(results[0][0], results[1][0]):
            self.assertAllClose(one, two, atol=1e-5, rtol=1e-5)
        self.assertAllClose(results[0][1], results[1][1], rtol=1e-5)


class UserTermSavingTest(tf.test.TestCase):

    def _saved(self):
        x, y = helpers.labelled_data()
        distiller = helpers.compile_distiller(distill.Distiller(
            helpers.small_student(), helpers.small_teacher(),
            extra_losses=[LogitCosine(weight=0.5), FeatureCosine("hidden", 0.25)]))
        distiller.fit(x, y, epochs=1, verbose=0)
        path = os.path.join(self.create_tempdir().full_path, "distiller.keras")
        distiller.save(path)
        return distiller, path

    def test_distiller_with_user_terms_saves_and_loads(self):
        distiller, path = self._saved()
        loaded = keras.models.load_model(path, compile=False)
        self.assertEqual([type(term) for term in loaded.extra_losses],
                         [LogitCosine, FeatureCosine])
        self.assertEqual([term.get_config() for term in loaded.extra_losses],
                         [{"class_name": "LogitCosine", "weight": 0.5},
                          {"class_name": "FeatureCosine", "weight": 0.25,
                           "layer": "hidden"}])
        x, y = helpers.labelled_data()
        helpers.compile_distiller(loaded)
        self.assertAllClose(loaded.evaluate(x, y, return_dict=True, verbose=0),
                            distiller.evaluate(x, y, return_dict=True, verbose=0))

    def test_loading_a_term_whose_class_is_not_defined_says_what_to_do(self):
        _, path = self._saved()
        registry = {k: v for k, v in terms._REGISTRY.items() if k != "LogitCosine"}  # noqa: SLF001
        with mock.patch.dict(terms._REGISTRY, registry, clear=True):  # noqa: SLF001
            with self.assertRaisesRegex(
                    ValueError, r"Unknown distillation term 'LogitCosine': define or "
                    r"import its DistillationTerm subclass before loading"):
                keras.models.load_model(path, compile=False)


class TermErrorTest(tf.test.TestCase):

    def test_non_term_in_extra_losses_names_the_argument_and_value(self):
        with self.assertRaisesRegex(ValueError, r"`extra_losses` must hold "
                                    r"tfcompress.distill.DistillationTerm objects .*got 'mse'"):
            distill.Distiller(helpers.small_student(), helpers.small_teacher(),
                              extra_losses=["mse"])

    def test_names_must_be_distinct_and_not_loss(self):
        for extra in ([LogitCosine(), LogitCosine()], [distill.SoftTargets()]):
            with self.assertRaisesRegex(ValueError, "terms need a `name` each, other than "
                                                    "'loss' and each other's"):
                distill.Distiller(helpers.small_student(), helpers.small_teacher(),
                                  extra_losses=extra)

    def test_per_example_loss_of_the_wrong_shape_is_refused(self):
        x, y = helpers.labelled_data(n=8)
        distiller = helpers.compile_distiller(distill.Distiller(
            helpers.small_student(), helpers.small_teacher(), extra_losses=[MeanOverBatch()]))
        with self.assertRaisesRegex(ValueError, r"MeanOverBatch.per_example_loss must "
                                                r"return one loss per example, shape \[batch\], "
                                                r"got shape \(\)"):
            distiller.evaluate(x, y, verbose=0)

    def test_a_term_without_per_example_loss_cannot_be_made(self):
        class NoLoss(distill.DistillationTerm):  # pylint: disable=abstract-method
            name = "no_loss"

        with self.assertRaisesRegex(TypeError, "abstract method"):
            NoLoss()  # pylint: disable=abstract-class-instantiated

    def test_another_class_of_a_registered_name_is_refused(self):
        with self.assertRaisesRegex(TypeError, r"A DistillationTerm named 'LogitCosine' "
                                               r"exists already \(test_distill_terms"):
            type("LogitCosine", (distill.DistillationTerm,),
                 {"per_example_loss": LogitCosine.per_example_loss, "__module__": "other"})


if __name__ == "__main__":
    tf.test.main()
