"""Distillation losses as small pure functions of logits and features.

Each returns a per-example loss, shape [batch]: the caller reduces, which is
what makes sample weights and tf.distribute global-batch scaling come out
right (see `Distiller`).
"""

import tensorflow as tf


def soft_target_loss(teacher_logits, student_logits, temperature):
    """KL(teacher || student) on temperature-softened logits, times T**2.

    The T**2 factor keeps soft-target gradients on the scale of the hard loss
    when the temperature changes (Hinton et al. 2015, section 2).

    Args:
      teacher_logits: float tensor, [batch, classes].
      student_logits: same shape as `teacher_logits`.
      temperature: positive float; larger gives softer targets.

    Returns:
      Per-example loss, shape [batch].
    """
    teacher_log_probs = tf.nn.log_softmax(teacher_logits / temperature, axis=-1)
    student_log_probs = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    kl = tf.reduce_sum(
        tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
    return kl * temperature**2


def hard_label_loss(labels, student_logits):
    """Cross-entropy of integer labels under the student's logits.

    Args:
      labels: int tensor, [batch] (or [batch, 1]).
      student_logits: float tensor, [batch, classes].

    Returns:
      Per-example loss, shape [batch].
    """
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, student_logits)


def logit_mse_loss(teacher_logits, student_logits):
    """Mean squared difference of logits over classes (Ba & Caruana 2014).

    Returns:
      Per-example loss, shape [batch].
    """
    return tf.reduce_mean(tf.math.squared_difference(teacher_logits, student_logits),
                          axis=-1)


def feature_hint_loss(teacher_features, student_features):
    """FitNets hint loss: mean squared difference of intermediate features.

    `student_features` must already be mapped to the teacher's feature shape
    (FitNets' regressor; `Distiller` learns it as an adapter layer).

    Args:
      teacher_features: float tensor, [batch, ...].
      student_features: same shape as `teacher_features`.

    Returns:
      Per-example loss, shape [batch].
    """
    squared = tf.math.squared_difference(teacher_features, student_features)
    batch = tf.shape(squared)[0]
    return tf.reduce_mean(tf.reshape(squared, [batch, -1]), axis=-1)
