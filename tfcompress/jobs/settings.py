"""What every training job shares, in one typed, checked object."""

import dataclasses
import os

import tensorflow as tf

from tfcompress import data
from tfcompress import training as training_lib
from tfcompress._checks import check_positive_int

STRATEGIES = ("default", "mirrored", "multi_worker")
NORMALIZATIONS = data.NORMALIZATIONS
VERBOSITIES = (0, 1, 2)


@dataclasses.dataclass(frozen=True)
class Training:
    """The settings every job takes; built once from flags or by a caller.

    Attributes:
      output_dir: the job's output folder (staged in `<output_dir>.partial`).
      dataset, data_dir: TFDS dataset name and directory, or your own data:
        "npz:PATH" or "dir:PATH" (see `data/sources.py`; no `data_dir`).
      train_split, val_split, test_split: splits, TFDS's syntax; `val_split`
        may be empty (then the last epoch is kept, not the best). None: the
        dataset's own (`data.default_splits`: "train[5000:]", "train[:5000]"
        and "test" for TFDS and npz:, "train", "val" and "test" for tsv:).
      normalize: "unit" (pixels / 255), "standard" (minus the training
        split's per-channel mean, over its std) or "none" (as stored).
      epochs, batch_size: positive ints; the batch is global (all replicas).
      optimizer, learning_rate, lr_schedule: see `training.make_optimizer`
        and `training.learning_rate_schedule`.
      seed: seeds Python, NumPy and TF, and orders every epoch.
      strategy: "default", "mirrored" (all local devices), "multi_worker"
        (TF_CONFIG), or a `tf.distribute.Strategy`.
      checkpoint_every: also checkpoint every N steps (default: each epoch).
      resume: continue the unfinished run in `<output_dir>.partial`.
      overwrite: replace an existing output (or unfinished run).
      log_dir: TensorBoard logs go here (none when empty).
      unsafe_load: allow model files that run Python code when loaded
        (Lambda layers); only for files you trust.
      verbose: 0 quiet, 1 progress bar, 2 one line per epoch.
    """

    output_dir: str
    dataset: str = "mnist"
    data_dir: str = None
    train_split: str = None
    val_split: str = None
    test_split: str = None
    normalize: str = "unit"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    seed: int = 0
    strategy: object = "default"
    checkpoint_every: int = None
    resume: bool = False
    overwrite: bool = False
    log_dir: str = None
    unsafe_load: bool = False
    verbose: int = 2

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def check(self, writes_output=True):
        """Checks what needs no data or files (`output_dir` if `writes_output`), at once.

        Raises:
          ValueError, TypeError: naming the setting and its value.
        """
        if writes_output and (not isinstance(self.output_dir, (str, os.PathLike))
                              or not os.fspath(self.output_dir)):
            raise ValueError(f"`output_dir` must be a non-empty path, got "
                             f"{self.output_dir!r}.")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"`dataset` must be a non-empty string, got "
                             f"{self.dataset!r}.")
        for name in ("train_split", "test_split"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"`{name}` must be a non-empty string (None: the "
                                 f"dataset's), got {value!r}.")
        if self.val_split is not None and not isinstance(self.val_split, str):
            raise ValueError(f"`val_split` must be a string (empty for none, None for "
                             "the dataset's), got "
                             f"{self.val_split!r}.")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"`normalize` must be one of {NORMALIZATIONS}, got "
                             f"{self.normalize!r}.")
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        training_lib.make_optimizer(self.optimizer, self.learning_rate)
        training_lib.learning_rate_schedule(self.learning_rate, self.lr_schedule,
                                            total_steps=1)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"`seed` must be an int >= 0, got {self.seed!r}.")
        self.check_strategy()
        if self.checkpoint_every is not None:
            check_positive_int("checkpoint_every", self.checkpoint_every)
        for name in ("resume", "overwrite", "unsafe_load"):
            if not isinstance(getattr(self, name), bool):  # a string "False" is truthy
                raise TypeError(f"`{name}` must be True or False, got "
                                f"{getattr(self, name)!r}.")
        if self.resume and self.overwrite:
            raise ValueError("`resume` continues the unfinished run and `overwrite` "
                             "starts over: pass one of them, not both.")
        if self.verbose not in VERBOSITIES:
            raise ValueError(f"`verbose` must be one of {VERBOSITIES}, got "
                             f"{self.verbose!r}.")
        if self.log_dir is not None and not isinstance(self.log_dir, (str, os.PathLike)):
            raise ValueError(f"`log_dir` must be a path, got {self.log_dir!r}.")
        return self

    def with_dataset_splits(self, dataset_splits):
        """These settings with each split left None set to `dataset_splits`'."""
        return self.replace(**{
            f"{part}_split": dataset_splits[part] for part in ("train", "val", "test")
            if getattr(self, f"{part}_split") is None})

    def check_strategy(self):
        """Checks `strategy` alone, without any TF work."""
        if not (isinstance(self.strategy, tf.distribute.Strategy)
                or self.strategy in STRATEGIES):
            raise ValueError(f"`strategy` must be one of {STRATEGIES} or a "
                             f"tf.distribute.Strategy, got {self.strategy!r}.")

    def strategy_name(self):
        if isinstance(self.strategy, tf.distribute.Strategy):
            return type(self.strategy).__name__
        return self.strategy

    def recorded(self):
        """The settings that shape the result, as the run's config records them."""
        return {"dataset": data.canonical_name(self.dataset),
                "train_split": self.train_split,
                "val_split": self.val_split, "test_split": self.test_split,
                "normalize": self.normalize,
                "epochs": self.epochs, "batch_size": self.batch_size,
                "optimizer": self.optimizer, "learning_rate": self.learning_rate,
                "lr_schedule": self.lr_schedule, "seed": self.seed,
                "strategy": self.strategy_name()}


# Settings a resumed run may change: lowering the rate after a NaN loss is
# the point of resuming with other flags; and the strategy, since each
# epoch's global batches do not depend on it (a multi-worker run can be
# finished on one machine, e.g. when its chief died while exporting).
RESUMABLE_CHANGES = ("learning_rate", "strategy")
