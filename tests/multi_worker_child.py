"""One worker of the two-process multi-worker test (TF_CONFIG set by the test).

    python tests/multi_worker_child.py OUTPUT_DIR MODEL

Prunes MODEL with --strategy=multi_worker semantics and prints one line,
"RESULT {json}": the worker's task and, on the chief, the job's summary.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import job_helpers  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfcompress.jobs import prune  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfcompress.jobs import runner  # pylint: disable=g-import-not-at-top,wrong-import-position


def main():
    output_dir, model = sys.argv[1:3]
    run = runner.prepare(prune.PruneJob(model=model, sparsity=0.5, frequency=2),
                         job_helpers.mnist_training(output_dir, strategy="multi_worker"))
    summary = runner.execute(run)
    print("RESULT " + json.dumps({
        "chief": run.chief, "replicas": run.strategy.num_replicas_in_sync,
        "sparsity": summary and summary["sparsity"]["sparsity"],
        "accuracy": summary and summary["keras"]["test_accuracy"]}), flush=True)


if __name__ == "__main__":
    main()
