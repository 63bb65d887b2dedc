"""One worker of the two-process multi-worker test (TF_CONFIG set by the test).

    python tests/multi_worker_child.py OUTPUT_DIR MODEL

Prunes MODEL while distilling from it, then quantizes the pruned model by
sparsity-preserving QAT, both with strategy "multi_worker", and prints one
line, "RESULT {json}": whether it is the chief and, on the chief, each job's
accuracy and sparsity.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import job_helpers  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfcompress.jobs import prune  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfcompress.jobs import quantize  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfcompress.jobs import runner  # pylint: disable=g-import-not-at-top,wrong-import-position


def main():
    output_dir, model = sys.argv[1:3]
    results = {}
    # Pruning while distilling (Distiller, teacher cache, pruning step), then
    # sparsity-preserving QAT of the pruned model: two jobs, one strategy.
    jobs = {"prune": prune.PruneJob(model=model, teacher=model, sparsity=0.5,
                                    frequency=2),
            "pqat": quantize.QuantizeJob(model=os.path.join(output_dir, "prune"),
                                         mode="pqat")}
    for name, job in jobs.items():
        run = runner.prepare(job, job_helpers.mnist_training(
            os.path.join(output_dir, name), strategy="multi_worker",
            **({"epochs": 1, "learning_rate": 1e-4} if name == "pqat" else {})))
        summary = runner.execute(run)
        results[name] = summary and {
            "accuracy": summary["keras"]["test_accuracy"],
            "sparsity": (summary["sparsity"]["sparsity"] if name == "prune"
                         else summary["tflite_weights"]["sparsity"])}
        results["chief"] = run.chief
        results["replicas"] = run.strategy.num_replicas_in_sync
        if not run.chief:
            # The chief writes prune/ after training; the next job needs it.
            _wait_for(os.path.join(output_dir, "prune", "summary.json"))
    print("RESULT " + json.dumps(results), flush=True)


def _wait_for(path, seconds=120):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        if time.time() > deadline:
            raise TimeoutError(f"{path} did not appear in {seconds} s")
        time.sleep(0.2)


if __name__ == "__main__":
    main()
