"""Split strings such as "train[:10%]" for datasets that are not TFDS datasets.

TFDS's own parser reads them (`tfds.core.ReadInstruction`), so a split means
the same rows of npz arrays or image folders as of a prepared TFDS dataset:
"train", "train[:512]", "train[10%:]", "train[-100:]", "train+val".
"""

import tensorflow_datasets as tfds


def ranges(split, sizes):
    """The row ranges `split` reads, in order.

    Args:
      split: a TFDS split string.
      sizes: {split name: number of rows}, e.g. {"train": 60000, "test": 10000}.

    Returns:
      A list of (split name, start, stop) with 0 <= start and stop <= its size.

    Raises:
      ValueError: an unknown split name, a malformed string or a slice
        outside the split (TFDS's own message).
    """
    infos = {name: tfds.core.SplitInfo(name=name, shard_lengths=[size], num_bytes=0)
             for name, size in sizes.items()}
    read = tfds.core.ReadInstruction.from_spec(split).to_absolute(infos)
    return [(part.splitname, part.from_ or 0,
             sizes[part.splitname] if part.to is None else part.to) for part in read]


def count(split, sizes):
    """Number of rows `split` reads (see `ranges`)."""
    return sum(max(0, stop - start) for _, start, stop in ranges(split, sizes))
