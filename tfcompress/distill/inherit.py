"""A narrower student's first weights, taken from its teacher's most useful units.

For multilayer perceptrons whose Dense layers pair one to one (the student's
no wider than the teacher's): each student hidden layer keeps the teacher
units that contribute most to the next layer, and each following layer is
refit by least squares so that, on sample inputs, it reproduces the full
teacher's pre-activations from the kept units alone (the reconstruction step
of channel pruning, He et al. 2017, applied to Dense units). Distillation
then starts from a student that already agrees with its teacher; DistilBERT
(Sanh et al. 2019) starts its student from teacher weights the same way.

Any other pair of functional models (convolutions, batch norm, residual
blocks) whose student is the teacher's architecture with narrower layers of
the same names starts as the teacher shrunk to the student's widths by
structured pruning (`tfcompress.shrink`: the filters with the largest group
norms stay, with every weight that reads them).

Written by hand: TFMOT and tf_keras remove no units.
"""

import numpy as np
import tensorflow as tf

from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.keras3 import accepts_keras3
from tfcompress.shrink import dependency_graph
from tfcompress.shrink import shrink

# Layers without weights that may sit between the Dense layers; each is the
# identity at inference or only reshapes.
_PASS_THROUGH = (keras.layers.InputLayer, keras.layers.Flatten, keras.layers.Dropout,
                 keras.layers.Reshape)


def _dense_layers(model, arg_name):
    dense = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            dense.append(layer)
        elif not isinstance(layer, _PASS_THROUGH):
            raise ValueError(
                f"`{arg_name}` {model.name!r} has layer {layer.name!r} "
                f"({type(layer).__name__}); initializing from a teacher works on "
                "multilayer perceptrons only: Dense layers with Flatten, Dropout "
                "or Reshape between them.")
    if not dense:
        raise ValueError(f"`{arg_name}` {model.name!r} has no Dense layer.")
    return dense


def _check_pairs(student_dense, teacher_dense, student, teacher):
    if len(student_dense) != len(teacher_dense):
        raise ValueError(
            f"`student` {student.name!r} has {len(student_dense)} Dense layers and "
            f"`teacher` {teacher.name!r} has {len(teacher_dense)}; their Dense "
            "layers must pair one to one.")
    for i, (s, t) in enumerate(zip(student_dense, teacher_dense)):
        last = i == len(student_dense) - 1
        if (s.units != t.units) if last else (s.units > t.units):
            raise ValueError(
                f"`student` layer {s.name!r} has {s.units} units against "
                f"{t.units} in `teacher` layer {t.name!r}; "
                + ("the output layers must match." if last else
                   "a student layer may be narrower than its teacher's, not wider."))
        if s.activation is not t.activation or s.use_bias != t.use_bias:
            raise ValueError(
                f"`student` layer {s.name!r} and `teacher` layer {t.name!r} differ "
                "in activation or bias; they must match.")


def _is_mlp(model):
    return all(isinstance(layer, (keras.layers.Dense, *_PASS_THROUGH))
               for layer in model.layers)


def _teacher_shrunk_to(student, teacher):
    """`teacher` shrunk to `student`'s widths, its weights shaped as the student's."""
    student_layers = {layer.name: layer for layer in student.layers}
    widths = {}
    for group in dependency_graph(teacher).prunable_groups():
        name = group.producers[0]
        if name not in student_layers:
            raise ValueError(
                f"`student` {student.name!r} has no layer {name!r}, which `teacher` "
                f"{teacher.name!r} has: a student starts from its teacher when it is the "
                "teacher's architecture with narrower layers of the same names (e.g. "
                "the same zoo model with fewer filters).")
        width = int(student_layers[name].output_shape[-1])
        if width > group.size:
            raise ValueError(f"`student` layer {name!r} has {width} channels against "
                             f"{group.size} in `teacher`; a student layer may be "
                             "narrower than its teacher's, not wider.")
        widths[name] = width
    smaller = shrink(teacher, widths=widths).model
    weights = []
    for layer in student.layers:
        if not layer.weights:
            continue
        shrunk = {lay.name: lay for lay in smaller.layers}.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        theirs = shrunk and [tuple(w.shape) for w in shrunk.weights]
        if shapes != theirs:
            raise ValueError(
                f"`student` layer {layer.name!r} has weights of shapes {shapes}, but "
                f"`teacher` shrunk to the student's widths gives {theirs}: the student "
                "must be the teacher's architecture with narrower layers.")
        weights.extend(shrunk.get_weights())
    return weights


@accepts_keras3("student", "teacher")
def check_pairing(student, teacher):
    """Raises ValueError unless `student` can start from `teacher`'s units.

    Returns:
      For MLPs, the (student, teacher) Dense layer pairs, in order; for
      other models, the student's weights taken from the teacher.
    """
    require_keras2_model(student, "student")
    require_keras2_model(teacher, "teacher")
    if student.input_shape != teacher.input_shape:
        raise ValueError(f"`student` input shape {student.input_shape} differs from "
                         f"`teacher` input shape {teacher.input_shape}.")
    if not (_is_mlp(student) and _is_mlp(teacher)):
        return _teacher_shrunk_to(student, teacher)
    student_dense = _dense_layers(student, "student")
    teacher_dense = _dense_layers(teacher, "teacher")
    _check_pairs(student_dense, teacher_dense, student, teacher)
    return list(zip(student_dense, teacher_dense))


def unit_scores(activations, outgoing_kernel):
    """How much each unit feeds the next layer: mean |activation| x weight norm.

    Args:
      activations: [examples, units] outputs of a layer on sample inputs.
      outgoing_kernel: [units, next_units] kernel of the layer they feed.

    Returns:
      [units] scores; larger means more useful.
    """
    return np.abs(activations).mean(axis=0) * np.linalg.norm(outgoing_kernel, axis=1)


def least_squares_dense(inputs, targets, use_bias=True):
    """Kernel and bias with inputs @ kernel + bias closest to targets (L2).

    Args:
      inputs: [examples, in_units].
      targets: [examples, out_units].
      use_bias: fit a bias too; without it the bias returned is zeros.

    Returns:
      (kernel [in_units, out_units], bias [out_units]), float32.
    """
    if use_bias:
        inputs = np.concatenate([inputs, np.ones((len(inputs), 1))], axis=1)
    solution = np.linalg.lstsq(inputs.astype(np.float64), targets.astype(np.float64),
                               rcond=None)[0].astype(np.float32)
    if not use_bias:
        return solution, np.zeros(solution.shape[1], np.float32)
    return solution[:-1], solution[-1]


@accepts_keras3("student", "teacher", write_back=True)
def init_from_teacher(student, teacher, inputs):
    """Sets `student`'s weights from `teacher`'s most useful units, in place.

    Args:
      student: a tf_keras MLP whose Dense layers pair one to one with the
        teacher's, each hidden layer as wide or narrower, the output layer
        the same, with the same activations; or any functional model that is
        the teacher's architecture with narrower layers of the same names
        (then the teacher is shrunk to it, and `inputs` are not used).
      teacher: the trained tf_keras model.
      inputs: sample input examples (e.g. 10,000 training images), an array
        of shape [examples, *input_shape]; more examples than the widest
        layer's units, so the least-squares refits are determined.

    Returns:
      `student`, its weights set.
    """
    pairs = check_pairing(student, teacher)
    if not (_is_mlp(student) and _is_mlp(teacher)):
        student.set_weights(pairs)  # the teacher's, shrunk to the student's widths
        return student
    student_dense, teacher_dense = [s for s, _ in pairs], [t for _, t in pairs]
    inputs = np.asarray(inputs, np.float32)
    widest = max(layer.units for layer in teacher_dense)
    example_shape = tuple(teacher.input_shape[1:])
    if inputs.shape[1:] != example_shape:
        dims = ", ".join(map(str, example_shape))
        raise ValueError(f"`inputs` must have shape [examples, {dims}] like the "
                         f"teacher's input, got {list(inputs.shape)}.")
    if len(inputs) <= widest:
        raise ValueError(
            f"`inputs` needs more than {widest} examples (the widest teacher layer's "
            f"units), got an array of shape {inputs.shape}.")

    probe = keras.Model(teacher.inputs, [layer.input for layer in teacher_dense])
    teacher_inputs = probe.predict(inputs, batch_size=1000, verbose=0)
    if len(teacher_dense) == 1:
        teacher_inputs = [teacher_inputs]  # predict unwraps a one-output list
    kept_inputs = teacher_inputs[0]  # the first layer sees the same inputs
    kept = np.arange(kept_inputs.shape[1])
    for i, (s, t) in enumerate(zip(student_dense, teacher_dense)):
        kernel, bias = (t.kernel.numpy(), t.bias.numpy()) if t.use_bias else (
            t.kernel.numpy(), np.zeros(t.units, np.float32))
        if len(kept) < kernel.shape[0]:
            # Refit on the kept inputs to the full teacher's pre-activations.
            kernel, bias = least_squares_dense(
                kept_inputs, teacher_inputs[i] @ t.kernel.numpy() + bias, t.use_bias)
        if i == len(student_dense) - 1:
            kept = np.arange(t.units)
        else:
            outputs = t.activation(tf.constant(kept_inputs @ kernel + bias)).numpy()
            scores = unit_scores(outputs, teacher_dense[i + 1].kernel.numpy())
            kept = np.sort(np.argsort(-scores, kind="stable")[:s.units])
            kept_inputs = outputs[:, kept]
        s.set_weights([kernel[:, kept], bias[kept]] if s.use_bias else [kernel[:, kept]])
    return student
