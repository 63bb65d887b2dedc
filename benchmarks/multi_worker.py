"""Examples per second of `tfcompress train` with 1 process and with 2 workers.

    python benchmarks/multi_worker.py [--model=lenet_300_100] [--epochs=2]

The 2 workers run on this machine as a user would start them on two
(`--strategy=multi_worker`, TF_CONFIG naming 127.0.0.1 ports), so on one
2-core machine they share the cores and talk over loopback gRPC: this
measures the overhead, not a speed-up. Examples per second = training
examples x epochs / the job's own train_seconds (data loading, export and
evaluation excluded).
"""

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

_MODEL = flags.DEFINE_string("model", "lenet_300_100", "Model spec.")
_EPOCHS = flags.DEFINE_integer("epochs", 2, "Epochs of each run.", lower_bound=1)
_BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch size.", lower_bound=1)
_TRAIN_SPLIT = "train[5000:]"  # 55,000 examples
_TIMEOUT = 1200


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("0.0.0.0", 0))  # TF's gRPC servers bind all interfaces
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _train_command(output_dir, strategy):
    return [sys.executable, "-m", "tfcompress.cli.main", "train", f"--model={_MODEL.value}",
            f"--epochs={_EPOCHS.value}", f"--batch_size={_BATCH.value}",
            f"--train_split={_TRAIN_SPLIT}", f"--strategy={strategy}",
            f"--output_dir={output_dir}", "--verbose=0"]


def _run(output_dir, workers):
    """Runs the job on `workers` processes; returns the chief's summary."""
    strategy = "default" if workers == 1 else "multi_worker"
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(workers)]}
    processes = []
    for index in range(workers):
        env = dict(os.environ)
        if workers > 1:
            env["TF_CONFIG"] = json.dumps({"cluster": cluster,
                                           "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen(_train_command(output_dir, strategy), env=env,
                                          stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True))
    for process in processes:
        _, stderr = process.communicate(timeout=_TIMEOUT)
        if process.returncode:
            raise RuntimeError(f"a worker failed:\n{stderr[-3000:]}")
    with open(os.path.join(output_dir, "summary.json"), encoding="utf-8") as f:
        return json.load(f)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    examples = 55_000 * _EPOCHS.value
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for workers in (1, 2):
            start = time.time()
            summary = _run(os.path.join(scratch, f"w{workers}"), workers)
            rows.append((workers, summary["train_seconds"], time.time() - start,
                         summary["keras"]["test_accuracy"]))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores; {_MODEL.value}, "
          f"MNIST {_TRAIN_SPLIT}, {_EPOCHS.value} epochs, global batch {_BATCH.value}, "
          "seed 0\n")
    print("| workers | train s | examples/s | vs 1 process | wall s (whole job) | test acc |")
    print("|---|---|---|---|---|---|")
    base = examples / rows[0][1]
    for workers, seconds, wall, accuracy in rows:
        rate = examples / seconds
        print(f"| {workers} | {seconds:.1f} | {rate:,.0f} | {rate / base:.2f}x | "
              f"{wall:.0f} | {accuracy:.2%} |")


if __name__ == "__main__":
    app.run(main)
