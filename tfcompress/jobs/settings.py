"""What every training job shares, in one typed, checked object."""

import dataclasses
import os

import tensorflow as tf

from tfcompress import data
from tfcompress import training as training_lib
from tfcompress._checks import check_positive_int
from tfcompress.data import augment as augment_lib
from tfcompress.jobs import options

STRATEGIES = ("default", "mirrored", "multi_worker")
NORMALIZATIONS = data.NORMALIZATIONS
VERBOSITIES = (0, 1, 2)


@dataclasses.dataclass(frozen=True)
class Training:
    """The settings every job takes; built once from flags or by a caller.

    Each field's help is its option's, and its flag's (`cli/common.py`). Beyond
    them: the output is staged in `<output_dir>.partial`; a split left None is
    the dataset's (`data.default_splits`), and `val_split` "" keeps the last
    epoch, not the best; `strategy` may also be a `tf.distribute.Strategy`;
    `log_dir` holds TensorBoard logs (none when empty).
    """

    output_dir: str = options.option(help="Output folder (default: under saved_models/).")
    dataset: str = options.option(
        "mnist", "TFDS dataset name, or your own data: npz:PATH (arrays x_train, y_train, "
        "x_test, y_test[, x_val, y_val]), dir:PATH (PATH/train/<class>/<image or .wav "
        "clip>, PATH/test/<class>/...; options after '?': "
        "dir:PATH?audio_length=N&hold_out=PATTERNS) or tsv:PATH (text: one label<TAB>text "
        "per line); see the README, \"Your own data\".")
    data_dir: str = options.option(
        None, "TFDS data directory (default: $TFDS_DATA_DIR, then TFDS's).")
    audio_length: int = options.option(
        None, "Folders of .wav clips (dir:): samples per clip, padded with zeros or "
        "cropped (keeping the start). Default: the model's input length, else the longest "
        "training clip. Same as dir:PATH?audio_length=N.", lower_bound=1)
    hold_out: str = options.option(
        None, "Folder datasets (dir:): comma-separated filename patterns (fnmatch, e.g. "
        "jackson_* or jackson_*,theo_*); matching files leave every split for the split "
        "held_out, the default test split. Same as dir:PATH?hold_out=PATTERNS.")
    train_split: str = options.option(
        None, "Training split (default: the dataset's: train[5000:] for TFDS and npz: "
        "datasets, train[10%:] for dir: (train with a val/ folder), train for tsv:).")
    val_split: str = options.option(
        None, "Validation split; the best epoch on it is kept. Empty: keep the last. "
        "Default: the dataset's (train[:5000] for TFDS and npz:, train[:10%] for dir: "
        "(val with a val/ folder), val for tsv:).")
    test_split: str = options.option(
        None, "Test split (default: the dataset's: test; held_out with --hold_out).")
    normalize: str = options.option(
        "unit", "Input normalization: unit (pixels / 255), standard (minus the training "
        "split's per-channel mean, over its std) or none (values as stored, for models "
        "with their own Rescaling layer).", choices=NORMALIZATIONS)
    augment: str = options.option(
        "none", "Training augmentation of images: crop_flip pads 4 pixels and crops back at "
        "random, and flips left-right half the time (CIFAR-10's recipe); seeded per epoch "
        "and example, so a resumed run trains on the same images.",
        choices=augment_lib.AUGMENTATIONS)
    epochs: int = options.option(10, "Training epochs.", lower_bound=1)
    batch_size: int = options.option(128, "Global batch size.", lower_bound=1)
    optimizer: str = options.option("adam", "Optimizer.", choices=training_lib.OPTIMIZERS)
    learning_rate: float = options.option(1e-3, "Learning rate.", lower_bound=0.0)
    lr_schedule: str = options.option(
        "constant", "Learning rate kept constant, or decayed to 0 along a cosine over the "
        "run.", choices=training_lib.LR_SCHEDULES)
    seed: int = options.option(
        0, "Random seed: Python, NumPy and TF, with op determinism; the same seed gives "
        "the same model.", lower_bound=0)
    strategy: object = options.option(
        "default", "tf.distribute strategy: default (one device), mirrored (this "
        "machine's devices), multi_worker (the cluster in $TF_CONFIG; run the command on "
        "every worker).", choices=STRATEGIES)
    checkpoint_every: int = options.option(
        None, "Also checkpoint every N training steps (default: at each epoch's end "
        "only).", lower_bound=1)
    resume: bool = options.option(
        False, "Continue the unfinished run a kill left in <output_dir>.partial from its "
        "last checkpoint, exactly (same flags; --learning_rate may change).")
    overwrite: bool = options.option(
        False, "Replace a non-empty --output_dir (or an unfinished run).")
    log_dir: str = None  # absl's own --log_dir (see `cli.common.training`)
    unsafe_load: bool = options.option(
        False, "Load model files that run Python code when loaded (Lambda layers). Only "
        "for files you trust.")
    verbose: int = options.option(
        2, "Keras verbosity: 0 quiet, 1 progress bar (one line per epoch when the output "
        "is not a terminal), 2 epoch lines.", choices=VERBOSITIES)

    def __post_init__(self):
        # `audio_length` and `hold_out` travel inside the dataset string, which
        # is what every data call takes; a conflict is left for `check`.
        try:
            object.__setattr__(self, "dataset", data.with_options(
                self.dataset, audio_length=self.audio_length, hold_out=self.hold_out))
        except (ValueError, TypeError):
            pass

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
        data.with_options(self.dataset, audio_length=self.audio_length,
                          hold_out=self.hold_out)
        data.split_options(self.dataset)
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
        if self.augment not in augment_lib.AUGMENTATIONS:
            raise ValueError(f"`augment` must be one of {augment_lib.AUGMENTATIONS}, got "
                             f"{self.augment!r}.")
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
                "normalize": self.normalize, "augment": self.augment,
                "epochs": self.epochs, "batch_size": self.batch_size,
                "optimizer": self.optimizer, "learning_rate": self.learning_rate,
                "lr_schedule": self.lr_schedule, "seed": self.seed,
                "strategy": self.strategy_name()}


# Settings a resumed run may change: lowering the rate after a NaN loss is
# the point of resuming with other flags; and the strategy, since each
# epoch's global batches do not depend on it (a multi-worker run can be
# finished on one machine, e.g. when its chief died while exporting).
RESUMABLE_CHANGES = ("learning_rate", "strategy")
