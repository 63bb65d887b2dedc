"""CIFAR-10 distillation: ResNet-8 from a teacher with at least 4x its MACs.

Issue 26's target: the distilled ResNet-8 beats the label-only ResNet-8
trained as long (same epochs, schedule, augmentation and seed) by at least
one point of test accuracy, over 3 seeds. Takes a teacher trained before
(`--trained_teacher`, a folder kept outside the repo) or trains one (seed
0), then for each seed the label-only student and the distilled one, each a
`tfcompress train` or `tfcompress distill` job run in this process. The
runs take hours on this machine, so every job resumes where it stopped
(rerun the same command) and a finished job is read back, not run again;
each job's log goes to stdout.

    TFDS_DATA_DIR=../shared/tensorflow_datasets nohup .venv/bin/python \\
        benchmarks/cifar10_distillation.py --work_dir=saved_models/c10_distill \\
        > saved_models/c10_distill.log 2>&1 &

Prints a markdown table of test accuracy (Keras; the float TFLite file
agrees, see each summary.json) per seed and variant, and the mean gain.
"""

import json
import os
import shutil
import time

import numpy as np
from absl import app
from absl import flags

from tfcompress import evaluate
from tfcompress.jobs import artifacts
from tfcompress.jobs import distill
from tfcompress.jobs import run_dir
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import train
from tfcompress.models import spec

_WORK_DIR = flags.DEFINE_string("work_dir", "saved_models/c10_distill",
                                "Folder of the jobs' output folders.")
_DATASET = flags.DEFINE_string("dataset", "dir:../shared/data/cifar10", "CIFAR-10 folder.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Student seeds.")
_EPOCHS = flags.DEFINE_integer("epochs", 30, "Epochs of every student.", lower_bound=1)
_STUDENT = flags.DEFINE_string("student_spec", "resnet8:l2=1e-4", "The student.")
# resnet8:48 has 8.79x ResNet-8's MACs, yet a training step costs about what
# resnet8:33's (4.18x, the least issue 26 allows) does: 0.92 against 0.88 s
# at batch 128 here, 3.6x ResNet-8's, since the kernels work in 16 channels.
_TEACHER = flags.DEFINE_string("teacher_spec", "resnet8:48,l2=1e-4", "The teacher.")
_TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 30, "Epochs of the teacher.",
                                       lower_bound=1)
_TEMPERATURE = flags.DEFINE_float("temperature", 4.0, "Distillation temperature.")
_ALPHA = flags.DEFINE_float("alpha", 0.1, "Weight of the hard-label loss.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 0.002, "Adam's peak rate (cosine).")
_MIN_TEACHER_MACS = 4.0  # issue 26
# A teacher trained before (2 h or more on this machine), e.g. copied from an
# earlier machine: models are outputs, never committed to the repo.
_TRAINED_TEACHER = flags.DEFINE_string(
    "trained_teacher", "",
    "Folder of a trained teacher (model.keras, summary.json) taken as the teacher job's "
    "output when the work dir has none; empty: train one.")


def _training(output_dir, seed, epochs):
    return dict(dataset=_DATASET.value, seed=seed, epochs=epochs, batch_size=128,
                learning_rate=_LEARNING_RATE.value, lr_schedule="cosine",
                augment="crop_flip", output_dir=output_dir, verbose=2)


def _run(job, output_dir, seed, epochs):
    """The job's summary: read back if finished, else run (resuming a partial run)."""
    summary_path = os.path.join(output_dir, artifacts.SUMMARY_FILE)
    if not os.path.exists(summary_path):
        resume = os.path.isdir(run_dir.staging_dir(output_dir))
        print(f"== {output_dir}: {'resuming' if resume else 'starting'} "
              f"({time.strftime('%H:%M:%S')})", flush=True)
        runner.run(job, settings.Training(resume=resume, **_training(output_dir, seed, epochs)),
                   log=lambda line: print(line, flush=True))
    with open(summary_path, encoding="utf-8") as f:
        return json.load(f)


def _take_trained_teacher(teacher_dir):
    """Copies `--trained_teacher` in as the teacher job's output, if the work
    dir has no teacher yet and the folder holds one of `--teacher_spec`."""
    source = _TRAINED_TEACHER.value
    if not source or os.path.exists(os.path.join(teacher_dir, artifacts.SUMMARY_FILE)):
        return
    summary_path = os.path.join(source, artifacts.SUMMARY_FILE)
    if not os.path.exists(summary_path):
        return
    with open(summary_path, encoding="utf-8") as f:
        trained_spec = json.load(f)["config"]["model_spec"]
    if trained_spec != _TEACHER.value:
        raise app.UsageError(f"--trained_teacher {source!r} holds {trained_spec!r}, not "
                             f"--teacher_spec {_TEACHER.value!r}: give --trained_teacher=''"
                             " to train the teacher.")
    os.makedirs(teacher_dir, exist_ok=True)
    for name in (artifacts.KERAS_FILE, artifacts.SUMMARY_FILE):  # the summary last
        shutil.copyfile(os.path.join(source, name), os.path.join(teacher_dir, name))
    print(f"== {teacher_dir}: the teacher trained before, from {source}", flush=True)


def _macs(model_spec):
    model = spec.build(model_spec, input_shape=(32, 32, 3), num_classes=10)
    return evaluate.count_macs(model)["total"]


def _accuracy(summary):
    return summary["keras"]["test_accuracy"]


def main(argv):
    del argv
    ratio = _macs(_TEACHER.value) / _macs(_STUDENT.value)
    if ratio < _MIN_TEACHER_MACS:
        raise app.UsageError(f"--teacher_spec {_TEACHER.value!r} has {ratio:.2f}x the "
                             f"student's MACs; issue 26 asks for at least "
                             f"{_MIN_TEACHER_MACS:g}x.")
    root = _WORK_DIR.value
    teacher_dir = os.path.join(root, "teacher")
    _take_trained_teacher(teacher_dir)
    teacher = _run(train.TrainJob(_TEACHER.value), teacher_dir, 0, _TEACHER_EPOCHS.value)
    rows = []
    for seed in (int(s) for s in _SEEDS.value):
        alone = _run(train.TrainJob(_STUDENT.value), os.path.join(root, f"labels_s{seed}"),
                     seed, _EPOCHS.value)
        distilled = _run(
            distill.DistillJob(teacher=teacher_dir, student_spec=_STUDENT.value,
                               temperature=_TEMPERATURE.value, alpha=_ALPHA.value),
            os.path.join(root, f"kd_s{seed}"), seed, _EPOCHS.value)
        rows.append((seed, _accuracy(alone), _accuracy(distilled),
                     alone["train_seconds"], distilled["train_seconds"]))
    print(f"\nTeacher {_TEACHER.value} ({ratio:.2f}x the MACs, {_TEACHER_EPOCHS.value} "
          f"epochs): {_accuracy(teacher):.2%} test accuracy, "
          f"{teacher['train_seconds'] / 60:.0f} min.")
    print(f"Students {_STUDENT.value}, {_EPOCHS.value} epochs each (T={_TEMPERATURE.value:g}, "
          f"alpha={_ALPHA.value:g}):\n")
    print("| seed | label-only | distilled | gain (points) | minutes (label-only / "
          "distilled) |")
    print("|---|---|---|---|---|")
    for seed, alone, distilled, alone_s, distilled_s in rows:
        print(f"| {seed} | {alone:.2%} | {distilled:.2%} | {100 * (distilled - alone):+.2f} | "
              f"{alone_s / 60:.0f} / {distilled_s / 60:.0f} |")
    alone, distilled = (np.mean([row[i] for row in rows]) for i in (1, 2))
    print(f"| mean | {alone:.2%} | {distilled:.2%} | {100 * (distilled - alone):+.2f} | |")


if __name__ == "__main__":
    app.run(main)
