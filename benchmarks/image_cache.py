"""Opening an image folder with and without the decoded-image cache.

Runs two fresh processes one after the other, both with the cache in a new
temporary folder ($TFCOMPRESS_CACHE_DIR): the first finds it empty, decodes
every image and stores them; the second reads them back. Each process times
opening the dataset (`data.open_source`, which checks every file) and one
full pass of `data.load` over a split, as a job's first epoch reads it.

    .venv/bin/python benchmarks/image_cache.py --dataset=dir:../shared/data/cifar10
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

_DATASET = flags.DEFINE_string("dataset", "dir:../shared/data/cifar10", "An image folder.")
_SPLIT = flags.DEFINE_string("split", "train", "The split `data.load` reads in full.")
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


def _child(cache_dir):
    env = {**os.environ, "TFCOMPRESS_CACHE_DIR": cache_dir, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", f"--dataset={_DATASET.value}",
         f"--split={_SPLIT.value}"], env=env, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cache_size(cache_dir):
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(cache_dir) for f in files)


def main(argv):
    del argv
    if _CHILD.value:
        print(json.dumps(_measure(_DATASET.value, _SPLIT.value)))
        return
    cache_dir = tempfile.mkdtemp(prefix="tfcompress-image-cache-")
    try:
        first = _child(cache_dir)
        size = _cache_size(cache_dir)
        second = _child(cache_dir)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    print(f"{_DATASET.value}: {first['examples']:,} examples of {_SPLIT.value}, images "
          f"{tuple(first['image_shape'])}; cache entry {size / 2**20:.0f} MiB")
    print("| process | open s | full load pass s | open + pass s |")
    print("|---|---|---|---|")
    for label, row in (("first (decodes, writes the cache)", first),
                       ("second (reads the cache)", second)):
        print(f"| {label} | {row['open']:.2f} | {row['load_pass']:.2f} | "
              f"{row['open'] + row['load_pass']:.2f} |")
    print(f"open: {first['open'] / second['open']:.0f}x faster the second time; open + "
          f"pass: {(first['open'] + first['load_pass']) / (second['open'] + second['load_pass']):.1f}x")


if __name__ == "__main__":
    app.run(main)
