"""Training batches whose order is a pure function of (seed, epoch).

`Dataset.shuffle(reshuffle_each_iteration=True)` draws each epoch's order
from a generator that restarts with the process, so a run resumed after a
kill would see epoch 0's order again. Here epoch e is shuffled with its own
seed, derived from (seed, e), so a resumed run rebuilds exactly the batches
an uninterrupted run would have seen, skipping those already trained on.
Augmentation (`data/augment.py`) is seeded the same way, per example.
"""

import tensorflow as tf

from tfcompress._checks import check_positive_int
from tfcompress.data import augment as augment_lib
from tfcompress.data.loading import MAX_SHUFFLE_BUFFER

# Spreads epoch seeds apart: epoch seeds of nearby run seeds never collide
# for runs shorter than this many epochs.
_EPOCH_SEED_STRIDE = 1_000_003


def epoch_seed(seed, epoch):
    """The shuffle seed of `epoch` in a run seeded with `seed`."""
    return seed * _EPOCH_SEED_STRIDE + epoch


def steps_per_epoch(num_examples, batch_size):
    """Batches in one epoch of `num_examples`, the last one partial."""
    check_positive_int("batch_size", batch_size)
    return -(-num_examples // batch_size)


def epoch_batches(examples, *, num_examples, batch_size, seed, start_epoch, end_epoch,
                  skip_batches=0, shuffle=True, augment=augment_lib.NONE):
    """Epochs `start_epoch` to `end_epoch - 1` of `examples`, batched, back to back.

    Args:
      examples: unbatched, deterministic `tf.data.Dataset` (e.g.
        `data.examples`, cached).
      num_examples: examples in one pass of `examples` (the shuffle buffer).
      batch_size: positive int, the global batch.
      seed: int seed of the run.
      start_epoch: first epoch (0-based) to yield.
      end_epoch: one past the last epoch.
      skip_batches: batches of `start_epoch` already trained on.
      shuffle: shuffle each epoch; False keeps the source order.
      augment: one of `augment.AUGMENTATIONS`, applied to each epoch's batches
        after its shuffle, seeded by (epoch seed, batch index in the epoch).

    Returns:
      A `tf.data.Dataset` of batches; feed it to `fit` with `steps_per_epoch`.
    """
    check_positive_int("batch_size", batch_size)
    if not 0 <= start_epoch < end_epoch:
        raise ValueError(f"Need 0 <= `start_epoch` < `end_epoch`, got {start_epoch} "
                         f"and {end_epoch}.")
    buffer = min(num_examples, MAX_SHUFFLE_BUFFER)

    def one_epoch(epoch):
        # The order is a function of (seed, epoch) alone, not also of the
        # global seed the function's graph inherits (as a chained dataset's
        # was): TF's seed pairing cannot take a tensor seed under global seed 0.
        tf.compat.v1.get_default_graph().seed = None
        ordered = examples
        if shuffle:
            ordered = ordered.shuffle(buffer, seed=epoch_seed(seed, epoch),
                                      reshuffle_each_iteration=False)
        return augment_lib.augmented(ordered.batch(batch_size), augment,
                                     epoch_seed(seed, epoch))

    # One flat_map over the epoch numbers (a tensor seed shuffles as the same
    # int would), not a chain of per-epoch datasets: a chain holds the
    # dataset graph of `examples` once per epoch, and with an image folder's
    # arrays in it, 150 epochs of CIFAR-10 took 22 GB before the first step.
    batches = tf.data.Dataset.range(start_epoch, end_epoch).flat_map(one_epoch)
    return with_data_sharding(batches.skip(skip_batches).prefetch(tf.data.AUTOTUNE))


def with_data_sharding(dataset):
    """`dataset`, split between the workers of a multi-worker strategy by batch.

    Each worker then reads the same batches in the same order and keeps its
    part of each: the run is the same however many workers share it. (By
    default tf.data shards by input file, which fails for one-file splits
    such as MNIST's, and would give each worker other examples.)
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options)
