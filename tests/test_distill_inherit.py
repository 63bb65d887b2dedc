"""Tests of `init_from_teacher`: a narrower student that starts as its teacher."""

import numpy as np
import tensorflow as tf

import helpers
from tfcompress import distill
from tfcompress import models
from tfcompress.distill import inherit
from tfcompress._keras import keras


def _mlp(hidden, *, dropout=0.0, seed=0, input_shape=(6,), num_classes=3,
         activation="relu", use_bias=True):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    for units in hidden:
        x = keras.layers.Dense(units, activation=activation, use_bias=use_bias)(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, use_bias=use_bias)(x))


def _inputs(n=400, shape=(6,)):
    return helpers.random_batch(shape, n=n, seed=3)


def _relative_error(student, teacher, x):
    """Mean squared logit difference over the teacher logits' variance."""
    t = teacher.predict(x, verbose=0)
    return float(np.mean((student.predict(x, verbose=0) - t) ** 2) / np.var(t))


class InitFromTeacherTest(tf.test.TestCase):

    def test_same_widths_copy_the_teacher_exactly(self):
        teacher = _mlp((32, 16), dropout=0.5, seed=0)
        student = _mlp((32, 16), seed=1)
        distill.init_from_teacher(student, teacher, _inputs())
        x = helpers.random_batch((6,), n=50, seed=9)
        self.assertAllClose(student.predict(x, verbose=0), teacher.predict(x, verbose=0),
                            atol=1e-5)

    def test_narrower_student_stays_close_to_its_teacher(self):
        teacher = _mlp((64, 64), seed=0)
        student = _mlp((40, 40), seed=1)
        x_new = helpers.random_batch((6,), n=200, seed=9)  # not the fitting inputs
        random_error = _relative_error(student, teacher, x_new)
        distill.init_from_teacher(student, teacher, _inputs())
        error = _relative_error(student, teacher, x_new)
        self.assertLess(error, 0.05)
        self.assertGreater(random_error, 0.5)
        agree = np.mean(np.argmax(student.predict(x_new, verbose=0), -1)
                        == np.argmax(teacher.predict(x_new, verbose=0), -1))
        self.assertGreater(agree, 0.9)

    def test_single_dense_layer_is_copied(self):
        teacher, student = _mlp((), seed=0), _mlp((), seed=1)
        distill.init_from_teacher(student, teacher, _inputs())
        self.assertAllClose(student.get_weights(), teacher.get_weights())

    def test_layers_without_bias_stay_close(self):
        teacher = _mlp((64, 64), seed=0, use_bias=False)
        student = _mlp((40, 40), seed=1, use_bias=False)
        distill.init_from_teacher(student, teacher, _inputs())
        self.assertLess(_relative_error(student, teacher,
                                        helpers.random_batch((6,), n=200, seed=9)), 0.05)

    def test_teacher_unchanged(self):
        teacher = _mlp((32, 16), seed=0)
        before = [w.numpy().copy() for w in teacher.weights]
        distill.init_from_teacher(_mlp((8, 8), seed=1), teacher, _inputs())
        for b, w in zip(before, teacher.weights):
            self.assertAllEqual(b, w.numpy())

    def test_hinton_zoo_models_pair(self):
        teacher = models.build("hinton_teacher")
        student = models.build("hinton_student")
        distill.init_from_teacher(student, teacher, _inputs(n=1300, shape=(28, 28, 1)))
        # The first layer keeps 800 of the teacher's 1,200 units as they are.
        kept = student.get_layer("dense_1").kernel.numpy()
        full = teacher.get_layer("dense_1").kernel.numpy()
        matches = [np.flatnonzero(np.all(full == kept[:, [j]], axis=0)) for j in range(800)]
        self.assertTrue(all(len(m) == 1 for m in matches))
        self.assertLen({int(m[0]) for m in matches}, 800)


class ScoresAndRefitTest(tf.test.TestCase):

    def test_unit_scores_weigh_activation_by_outgoing_norm(self):
        activations = np.array([[1.0, -2.0, 0.0], [3.0, 2.0, 0.0]])
        kernel = np.array([[3.0, 4.0], [1.0, 0.0], [9.0, 9.0]])
        self.assertAllClose(inherit.unit_scores(activations, kernel), [10.0, 2.0, 0.0])

    def test_least_squares_recovers_a_linear_map(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(50, 4))
        kernel, bias = rng.normal(size=(4, 3)), rng.normal(size=3)
        fitted_kernel, fitted_bias = inherit.least_squares_dense(x, x @ kernel + bias)
        self.assertAllClose(fitted_kernel, kernel, atol=1e-5)
        self.assertAllClose(fitted_bias, bias, atol=1e-5)
        fitted_kernel, fitted_bias = inherit.least_squares_dense(x, x @ kernel,
                                                                 use_bias=False)
        self.assertAllClose(fitted_kernel, kernel, atol=1e-5)
        self.assertAllEqual(fitted_bias, np.zeros(3))


class ConvStudentFromTeacherTest(tf.test.TestCase):

    def test_conv_student_of_equal_widths_is_the_teacher(self):
        teacher = models.build("residual_cnn:8,16")
        student = models.build("residual_cnn:8,16")
        distill.init_from_teacher(student, teacher, None)
        x = helpers.random_batch((28, 28, 1), n=4)
        self.assertAllClose(student(x, training=False), teacher(x, training=False))

    def test_narrower_conv_student_keeps_the_teachers_strongest_filters(self):
        keras.utils.set_random_seed(0)
        teacher = models.build("small_cnn:32,64")
        student = models.build("small_cnn:16,32")
        kernel = teacher.get_layer("conv_1").kernel.numpy()
        distill.init_from_teacher(student, teacher, None)
        strongest = np.sort(np.argsort(-np.sqrt(
            np.sum(np.square(kernel), axis=(0, 1, 2))
            + np.sum(np.square(teacher.get_layer("conv_2").kernel.numpy()),
                     axis=(0, 1, 3))), kind="stable")[:16])
        # l2 group norms: each filter with the conv_2 kernel rows that read it.
        self.assertAllClose(student.get_layer("conv_1").kernel.numpy(),
                            kernel[..., strongest])
        self.assertAllEqual(teacher.get_layer("conv_1").kernel.numpy(), kernel)


class InitFromTeacherErrorsTest(tf.test.TestCase):

    def assertRefused(self, student, teacher, message, inputs=None):
        with self.assertRaisesRegex(ValueError, message):
            distill.init_from_teacher(student, teacher,
                                      _inputs() if inputs is None else inputs)

    def test_conv_student_of_another_architecture_refused(self):
        self.assertRefused(helpers.tiny_cnn(), helpers.tiny_cnn(seed=1),
                           r"`student` .* has no layer 'conv2d.*', which `teacher` .* has: "
                           r"a student starts from its teacher when it is the teacher's "
                           r"architecture with narrower layers")

    def test_wider_conv_student_refused(self):
        self.assertRefused(models.build("small_cnn:16,32"), models.build("small_cnn:8,32"),
                           r"`student` layer 'conv_1' has 16 channels against 8 in "
                           r"`teacher`; .*narrower than its teacher's, not wider")

    def test_depths_must_match(self):
        self.assertRefused(_mlp((8,)), _mlp((8, 8)),
                           "has 2 Dense layers and `teacher` .* has 3")

    def test_wider_student_refused(self):
        self.assertRefused(_mlp((16, 8)), _mlp((8, 8)),
                           "may be narrower than its teacher's, not wider")

    def test_outputs_must_match(self):
        self.assertRefused(_mlp((8,), num_classes=4), _mlp((8,)),
                           "output layers must match")

    def test_input_shapes_must_match(self):
        self.assertRefused(_mlp((8,), input_shape=(5,)), _mlp((8,)),
                           r"input shape \(None, 5\) differs")

    def test_activations_must_match(self):
        self.assertRefused(_mlp((8,), activation="tanh"), _mlp((8,)),
                           "differ in activation")

    def test_inputs_of_another_shape_refused(self):
        self.assertRefused(_mlp((8,)), _mlp((8,)),
                           r"`inputs` must have shape \[examples, 6\] like the teacher's "
                           r"input, got \[400, 5\]", inputs=_inputs(shape=(5,)))

    def test_too_few_inputs_refused(self):
        self.assertRefused(_mlp((8,)), _mlp((32,)),
                           r"needs more than 32 examples .* shape \(10, 6\)",
                           inputs=_inputs(n=10))
