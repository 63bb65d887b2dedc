"""Tests of the pure distillation losses against hand (numpy) computations."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfcompress.distill import losses


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


class LossesTest(tf.test.TestCase, parameterized.TestCase):

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.teacher = rng.normal(size=(5, 4)).astype(np.float32) * 3
        self.student = rng.normal(size=(5, 4)).astype(np.float32)
        self.labels = np.array([0, 3, 1, 2, 3])

    @parameterized.parameters(1.0, 4.0, 20.0)
    def test_soft_target_loss_is_t_squared_kl(self, temperature):
        teacher, student = self.teacher.astype(np.float64), self.student.astype(np.float64)
        p = np.exp(_log_softmax(teacher / temperature))
        kl = (p * (_log_softmax(teacher / temperature)
                   - _log_softmax(student / temperature))).sum(-1)
        got = losses.soft_target_loss(self.teacher, self.student, temperature)
        self.assertEqual(got.shape, (5,))
        # T**2 amplifies float32 rounding of a small KL: compare at 1e-4.
        self.assertAllClose(got, kl * temperature**2, rtol=1e-4, atol=1e-4)

    def test_soft_target_loss_is_zero_when_student_matches(self):
        got = losses.soft_target_loss(self.teacher, self.teacher + 7.0, 3.0)
        self.assertAllClose(got, np.zeros(5), atol=1e-5)

    def test_hard_label_loss_is_cross_entropy(self):
        expected = -_log_softmax(self.student)[np.arange(5), self.labels]
        self.assertAllClose(losses.hard_label_loss(self.labels, self.student), expected,
                            rtol=1e-5)
        self.assertAllClose(losses.hard_label_loss(self.labels[:, None], self.student),
                            expected, rtol=1e-5)

    def test_logit_mse(self):
        expected = ((self.teacher - self.student) ** 2).mean(-1)
        self.assertAllClose(losses.logit_mse_loss(self.teacher, self.student), expected)

    def test_feature_hint_loss_averages_all_feature_dims(self):
        a = np.ones((2, 3, 3, 4), np.float32)
        b = np.zeros((2, 3, 3, 4), np.float32)
        b[1] = 3.0
        self.assertAllClose(losses.feature_hint_loss(a, b), [1.0, 4.0])
