"""Opening an image folder with and without the decoded-image cache.

Runs two fresh processes one after the other, both with the cache in a new
temporary folder ($TFCOMPRESS_CACHE_DIR): the first finds it empty, decodes
every image and stores them; the second reads them back. `--rounds` repeats
that pair (each with a new cache folder); the table shows every round and
the medians, since other work on the machine moves single timings. Each process times
opening the dataset (`data.open_source`, which checks every file) and one
full pass of `data.load` over a split, as a job's first epoch reads it.
The second process also times one training epoch of `data.epoch_batches`
(examples cached in memory, batch 128) with `--augment` none and crop_flip,
twice each.

    .venv/bin/python benchmarks/image_cache.py --dataset=dir:../shared/data/cifar10
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app
from absl import flags

_DATASET = flags.DEFINE_string("dataset", "dir:../shared/data/cifar10", "An image folder.")
_SPLIT = flags.DEFINE_string("split", "train", "The split `data.load` reads in full.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Pairs of processes to time.", lower_bound=1)
_EPOCHS = flags.DEFINE_bool("epochs", False, "Also time training epochs (the parent's "
                              "second processes).")
_CHILD = flags.DEFINE_bool("child", False, "Measure in this process (the parent's part).")


def _measure(dataset, split):
    """{"import", "open", "load_pass"} seconds in this process."""
    started = time.perf_counter()
    from tfcompress import data  # pylint: disable=g-import-not-at-top
    imported = time.perf_counter()
    source = data.open_source(dataset)
    opened = time.perf_counter()
    count = 0
    for _, labels in data.load(dataset, split, batch_size=256, cache=False):
        count += int(labels.shape[0])
    loaded = time.perf_counter()
    return {"import": imported - started, "open": opened - imported,
            "load_pass": loaded - opened, "examples": count,
            "image_shape": list(source.image_shape)}


def _epoch_seconds(dataset, split):
    """{augment: [seconds of one epoch of `data.epoch_batches`, twice]}."""
    from tfcompress import data  # pylint: disable=g-import-not-at-top
    examples = data.examples(dataset, split)
    for _ in examples.batch(1024):  # fills the in-memory cache, as a job's first epoch
        pass
    seconds = {"none": [], "crop_flip": []}
    for augment in ("none", "crop_flip") * 2:
        started = time.perf_counter()
        for _ in data.epoch_batches(examples, num_examples=data.num_examples(dataset, split),
                                    batch_size=128, seed=0, start_epoch=0, end_epoch=1,
                                    augment=augment):
            pass
        seconds[augment].append(time.perf_counter() - started)
    return seconds


def _child(cache_dir, *extra):
    env = {**os.environ, "TFCOMPRESS_CACHE_DIR": cache_dir, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", f"--dataset={_DATASET.value}",
         f"--split={_SPLIT.value}", *extra], env=env, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cache_size(cache_dir):
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(cache_dir) for f in files)


def main(argv):
    del argv
    if _CHILD.value:
        measured = _measure(_DATASET.value, _SPLIT.value)
        if _EPOCHS.value:
            measured["epoch"] = _epoch_seconds(_DATASET.value, _SPLIT.value)
        print(json.dumps(measured))
        return
    rounds = []
    for _ in range(_ROUNDS.value):
        cache_dir = tempfile.mkdtemp(prefix="tfcompress-image-cache-")
        try:
            first = _child(cache_dir)
            size = _cache_size(cache_dir)
            rounds.append((first, _child(cache_dir, "--epochs")))
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
    print(f"{_DATASET.value}: {first['examples']:,} examples of {_SPLIT.value}, images "
          f"{tuple(first['image_shape'])}; cache entry {size / 2**20:.0f} MiB")
    print("| round | first open s | second open s | open speed-up | first load pass s | "
          "second load pass s |")
    print("|---|---|---|---|---|---|")
    rows = [(one["open"], two["open"], one["open"] / two["open"], one["load_pass"],
             two["load_pass"]) for one, two in rounds]
    for i, row in enumerate(rows, start=1):
        print(f"| {i} | {row[0]:.2f} | {row[1]:.2f} | {row[2]:.0f}x | {row[3]:.2f} | "
              f"{row[4]:.2f} |")
    medians = np.median(np.array(rows), axis=0)
    print(f"| median | {medians[0]:.2f} | {medians[1]:.2f} | {medians[2]:.0f}x | "
          f"{medians[3]:.2f} | {medians[4]:.2f} |")
    epochs = {augment: np.median([t for _, second in rounds for t in second["epoch"][augment]])
              for augment in ("none", "crop_flip")}
    print(f"one training epoch of {_SPLIT.value} (data.epoch_batches, batch 128, median of "
          f"{2 * len(rounds)}): {epochs['none']:.2f} s with --augment=none, "
          f"{epochs['crop_flip']:.2f} s with --augment=crop_flip")


if __name__ == "__main__":
    app.run(main)
