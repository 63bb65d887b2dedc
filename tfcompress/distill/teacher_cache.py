"""Teacher outputs computed once and reused every epoch.

A distillation step normally runs the teacher forward on every batch of every
epoch. When the input pipeline is deterministic (no shuffling, no random
augmentation), the teacher's outputs for each example never change, so one
pass can compute them all; afterwards a distillation epoch costs about what a
plain student epoch costs. The outputs are attached to their examples before
shuffling, so any later shuffle keeps each example with its own targets.
"""

import numpy as np
import tensorflow as tf

from tfcompress._checks import check_positive_int
from tfcompress._keras import keras
from tfcompress.data.loading import MAX_SHUFFLE_BUFFER
from tfcompress.distill import distiller as distiller_lib

# Dataset ops whose output changes from one pass to the next: shuffles, and
# random ops inside map functions (augmentation).
_NONDETERMINISTIC_OP_MARKERS = ("Shuffle", "Random", "RngReadAndSkip", "RngSkip")


def _fingerprint(x, batched):
    """Each example's (sum of its float inputs, hashes of its integer inputs).

    Cheap, and differs between examples. Integer inputs (token ids) are
    hashed exactly rather than summed as floats: a sum cannot tell ids in
    another order apart, and float64 rounds integers above 2**53. Float
    inputs are summed in float64 and compared with a tolerance.

    Returns:
      (float64 sums, int64 hashes): shapes [batch] and [batch, integer
      inputs or 1] if `batched`, else [] and [integer inputs or 1].
    """
    tensors = tf.nest.flatten(x)
    total = tf.zeros(tf.shape(tensors[0])[:1] if batched else [], tf.float64)
    hashes = []
    for tensor in tensors:
        if tensor.dtype.is_integer:
            hashes.append(_hash(tensor, batched))
        else:
            tensor = tf.cast(tensor, tf.float64)
            axes = list(range(1 if batched else 0, tensor.shape.rank))
            total += tf.reduce_sum(tensor, axis=axes)
    return total, tf.stack(hashes or [tf.zeros_like(total, tf.int64)], axis=-1)


def _hash(tensor, batched):
    """Farmhash64 of each example's bytes: equal only for equal values."""
    if batched:
        return tf.bitcast(tf.fingerprint(tensor), tf.int64)
    return tf.bitcast(tf.fingerprint(tensor[tf.newaxis]), tf.int64)[0]


def nondeterministic_ops(dataset):
    """Names of shuffle/random ops in a tf.data pipeline's graph.

    Written by hand: tf.data has no public "is this pipeline deterministic"
    query, so this reads the pipeline's serialized graph and its functions.
    """
    graph_bytes = tf.raw_ops.DatasetToGraphV2(
        input_dataset=dataset._variant_tensor,  # pylint: disable=protected-access
        external_state_policy=1,  # ignore: we only read op names
        strip_device_assignment=True)
    graph = tf.compat.v1.GraphDef.FromString(graph_bytes.numpy())
    nodes = list(graph.node)
    for function in graph.library.function:
        nodes.extend(function.node_def)
    found = {node.op for node in nodes
             if any(marker in node.op for marker in _NONDETERMINISTIC_OP_MARKERS)}
    # map/interleave(deterministic=False) may hand out elements out of order.
    found.update(f"{node.op}(deterministic=False)" for node in nodes
                 if node.attr["deterministic"].s == b"false")
    return sorted(found)


def with_teacher_outputs(distiller, dataset, *, batch_size, shuffle=True, seed=0,
                         verbose=1):
    """Runs the teacher once over `dataset` and pairs each example with it.

    Args:
      distiller: the `Distiller` whose teacher (and hints) to run.
      dataset: deterministic `tf.data.Dataset` of (x, y) or (x, y, weight)
        batches; no shuffle or random augmentation (this function shuffles
        for you, after pairing).
      batch_size: batch size of the returned dataset.
      shuffle: reshuffle the paired examples every epoch (seeded). The
        paired examples are kept in memory, like `data.load(cache=True)`.
      seed: shuffle seed.
      verbose: Keras verbosity of the teacher pass's progress bar (0, 1, 2).

    Returns:
      Dataset of ({STUDENT_INPUTS: x, TEACHER_OUTPUTS: {...}}, y[, weight])
      batches, which `Distiller.fit` uses without running the teacher.

    Raises:
      ValueError: the pipeline shuffles or augments randomly, so the
        teacher's outputs would not belong to the examples they are paired
        with; or a bad `batch_size`.
    """
    check_positive_int("batch_size", batch_size)
    paired = teacher_output_examples(distiller, dataset, verbose=verbose)
    if shuffle:
        paired = paired.shuffle(min(int(paired.cardinality()), MAX_SHUFFLE_BUFFER), seed=seed,
                                reshuffle_each_iteration=True)
    return paired.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def teacher_output_examples(distiller, dataset, *, verbose=1):
    """The examples of `dataset`, one by one, each paired with its teacher outputs.

    The unbatched, unshuffled form of `with_teacher_outputs`, for callers that
    order and batch the examples themselves (`data.epoch_batches`).

    Args:
      distiller, dataset, verbose: as `with_teacher_outputs`.

    Returns:
      Cached dataset of ({STUDENT_INPUTS: x, TEACHER_OUTPUTS: {...}}, y[, weight])
      examples, in the order of `dataset`.
    """
    if not isinstance(distiller, distiller_lib.Distiller):
        raise TypeError(f"`distiller` must be a tfcompress Distiller, got "
                        f"{type(distiller).__name__}.")
    if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError("`dataset` is infinite (repeat()?); pass one epoch of it: "
                         "the teacher runs once over every example.")
    spec = dataset.element_spec
    label_spec = spec[1] if isinstance(spec, tuple) and len(spec) > 1 else None
    if label_spec is None or label_spec.shape.rank == 0:
        raise ValueError("`dataset` must yield batches of (x, y) or (x, y, weight), "
                         f"got elements {spec}; batch it first (e.g. ds.batch(256)).")
    found = nondeterministic_ops(dataset)
    if found:
        raise ValueError(
            "The teacher cache needs a deterministic `dataset`, but its pipeline "
            f"has {found}. Pass the unshuffled, unaugmented dataset (this function "
            "shuffles after pairing), or train without the teacher cache.")

    labels, sums, hashes, outputs = [], [], [], []
    num_batches = int(dataset.cardinality())
    progress = keras.utils.Progbar(num_batches if num_batches > 0 else None,
                                   unit_name="batch", verbose=verbose)
    predict = tf.function(distiller.teacher_outputs)
    for step, batch in enumerate(dataset, start=1):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
        labels.append(np.asarray(y))
        batch_sums, batch_hashes = _fingerprint(x, batched=True)
        sums.append(batch_sums.numpy())
        hashes.append(batch_hashes.numpy())
        if not np.isfinite(sums[-1]).all():  # a NaN or inf input: its sum is too
            raise ValueError(
                f"`dataset` batch {step} holds NaN or inf inputs (examples "
                f"{np.flatnonzero(~np.isfinite(sums[-1])).tolist()[:5]} of it): "
                "the teacher's outputs on them would poison every epoch. Pass finite "
                "inputs (check the preprocessing), or drop those examples.")
        outputs.append(tf.nest.map_structure(np.asarray, predict(x)))
        progress.update(step)
    if not labels:
        raise ValueError("`dataset` is empty: there is nothing to distill on. Pass a "
                         "dataset of at least one (x, y) batch (is the split empty?).")
    labels = np.concatenate(labels)
    fingerprints = (np.concatenate(sums), np.concatenate(hashes))
    outputs = {key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]}

    cached = tf.data.Dataset.from_tensor_slices((labels, fingerprints, outputs))

    def pair(example, cache):
        x, y, weight = keras.utils.unpack_x_y_sample_weight(example)
        cached_label, cached_fingerprint, teacher = cache
        # Guards the pairing at run time too: a pass that yields examples in
        # another order than the teacher pass fails here, loudly.
        message = "teacher cache: example order changed since the teacher pass"
        cached_sum, cached_hashes = cached_fingerprint
        total, hashes = _fingerprint(x, batched=False)
        checks = [tf.debugging.assert_equal(y, tf.cast(cached_label, y.dtype), message=message),
                  tf.debugging.assert_near(total, cached_sum, rtol=1e-6, atol=1e-6,
                                           message=message),
                  tf.debugging.assert_equal(hashes, cached_hashes, message=message)]
        with tf.control_dependencies(checks):
            inputs = {distiller_lib.STUDENT_INPUTS: tf.identity(x),
                      distiller_lib.TEACHER_OUTPUTS: teacher}
        return keras.utils.pack_x_y_sample_weight(inputs, y, weight)

    # Cached once paired: the per-example pairing (and its checks) runs in the
    # first epoch only; later epochs cost what a plain cached pipeline costs.
    paired = tf.data.Dataset.zip((dataset.unbatch(), cached)).map(
        pair, num_parallel_calls=tf.data.AUTOTUNE).cache()
    # zip/unbatch lose the count; the cache holds exactly this many examples.
    return paired.apply(tf.data.experimental.assert_cardinality(len(labels)))
