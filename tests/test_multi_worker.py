"""Two worker processes on 127.0.0.1, as a user would start them on two machines.

TF's multi_process_runner does not run under pytest, so each worker is a
subprocess with its own TF_CONFIG; every wait has a deadline, so a worker
that never comes up fails the test instead of hanging it.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import tensorflow as tf

import job_helpers
from tfcompress.jobs import prune
from tfcompress.jobs import quantize
from tfcompress.jobs import runner
from tfcompress.jobs import train

_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multi_worker_child.py")
_DEADLINE_SECONDS = 240


def _free_ports(count):
    """Distinct free ports: all bound at once (TF's servers bind 0.0.0.0), then freed."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("0.0.0.0", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_workers(output_dir, model, count=2):
    """Starts `count` workers; returns [(returncode, output)], killing stragglers."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(count)]}
    logs = [tempfile.TemporaryFile(mode="w+") for _ in range(count)]
    workers = []
    for index in range(count):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen([sys.executable, _CHILD, output_dir, model],
                                        env=env, stdout=logs[index],
                                        stderr=subprocess.STDOUT))
    deadline = time.time() + _DEADLINE_SECONDS
    try:
        while any(w.poll() is None for w in workers) and time.time() < deadline:
            # One worker failed: the others would wait for it forever.
            if any(w.poll() not in (None, 0) for w in workers):
                deadline = min(deadline, time.time() + 15)
            time.sleep(0.2)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    results = []
    for worker, log in zip(workers, logs):
        log.seek(0)
        results.append((worker.returncode, log.read()))
    return results


def _result(output):
    lines = [l for l in output.splitlines() if l.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):]) if lines else None


@pytest.mark.mnist
@pytest.mark.slow
class MultiWorkerTest(tf.test.TestCase):

    def test_two_workers_prune_distill_and_quantize_like_one_process(self):
        root = self.create_tempdir().full_path
        dense = os.path.join(root, "dense")
        runner.run(train.TrainJob("mlp:32"), job_helpers.mnist_training(dense, epochs=1),
                   log=lambda *_: None)
        single = os.path.join(root, "single")
        pruned = runner.run(prune.PruneJob(model=dense, teacher=dense, sparsity=0.5,
                                           frequency=2),
                            job_helpers.mnist_training(os.path.join(single, "prune")),
                            log=lambda *_: None)
        pqat = runner.run(quantize.QuantizeJob(model=os.path.join(single, "prune"),
                                               mode="pqat"),
                          job_helpers.mnist_training(os.path.join(single, "pqat"),
                                                     epochs=1, learning_rate=1e-4),
                          log=lambda *_: None)

        out = os.path.join(root, "two_workers")
        results = _run_workers(out, dense)
        for returncode, output in results:
            self.assertEqual(returncode, 0, output[-3000:])
        chief, other = (_result(output) for _, output in results)
        self.assertEqual((chief["chief"], other["chief"]), (True, False))
        self.assertEqual(chief["replicas"], 2)
        self.assertIsNone(other["prune"])  # only the chief finishes a job

        self.assertAllClose(chief["prune"]["sparsity"], pruned["sparsity"]["sparsity"],
                            atol=1e-3)
        self.assertAllClose(chief["pqat"]["sparsity"], pqat["tflite_weights"]["sparsity"],
                            atol=0.01)
        # The two half-batch gradients sum in another order than one device's:
        # close to the single process, not bitwise.
        self.assertAllClose(chief["prune"]["accuracy"], pruned["keras"]["test_accuracy"],
                            atol=0.06)
        self.assertAllClose(chief["pqat"]["accuracy"], pqat["keras"]["test_accuracy"],
                            atol=0.06)
        # Nothing else written: the other worker's folders are gone.
        self.assertCountEqual(os.listdir(root), ["dense", "single", "two_workers"])
        self.assertCountEqual(os.listdir(out), ["prune", "pqat"])
        with open(os.path.join(out, "prune", "summary.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["config"]["strategy"], "multi_worker")
