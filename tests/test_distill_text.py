"""Distillation on text (tsv:PATH): a text student from a text teacher.

The file has two classes told apart by their words ("win prize" lines are
spam, "lunch meeting" lines ham), so one epoch of a tiny text_cnn learns
something; each line also ends in a word of its own.
"""

import os

import numpy as np
import tensorflow as tf

from tfcompress import data
from tfcompress import export
from tfcompress.distill import teacher_cache
from tfcompress.jobs import distill
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import train
from tfcompress.runtime import TFLiteRunner

_QUIET = {"log": lambda *_: None}
_WORDS = {"spam": "win a free prize now", "ham": "lunch meeting at noon today"}


def _write_tsv(folder, n=200):
    """`n` lines alternating spam and ham; line i ends in its own word "w<i>"."""
    path = os.path.join(folder, "data.tsv")
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            label = ("spam", "ham")[i % 2]
            f.write(f"{label}\t{_WORDS[label]} w{i}\n")
    return path


def _training(output_dir, dataset):
    return settings.Training(output_dir=output_dir, dataset=dataset, train_split="train",
                             val_split="val", test_split="test", epochs=1, batch_size=32,
                             verbose=0)


class DistillTextJobTest(tf.test.TestCase):

    def test_distill_job_on_text_writes_a_text_student_that_tflite_agrees_with(self):
        root = self.create_tempdir().full_path
        dataset = "tsv:" + _write_tsv(root)
        teacher_dir = os.path.join(root, "teacher")
        runner.run(train.TrainJob("text_cnn:8,8"), _training(teacher_dir, dataset),
                   **_QUIET)
        out = os.path.join(root, "student")
        summary = runner.run(
            distill.DistillJob(teacher=teacher_dir, student_spec="text_cnn:4,4",
                               teacher_cache=True),
            _training(out, dataset), **_QUIET)

        self.assertBetween(summary["keras"]["test_accuracy"], 0.0, 1.0)
        self.assertBetween(summary["teacher"]["test_accuracy"], 0.0, 1.0)
        self.assertLess(summary["params"]["total"], summary["teacher"]["params"])
        vocabulary = os.path.join(out, "vocabulary.txt")
        self.assertEqual(data.read_vocabulary(vocabulary),
                         data.open_source(dataset).vocabulary)
        length = summary["data"]["text"]["sequence_length"]
        ids = data.text_to_ids(["win a prize", "lunch at noon", "unseen words here"],
                               vocabulary, length)
        student = export.load_keras_model(os.path.join(out, "model.keras"))
        self.assertEqual(tuple(student.input.shape[1:]), (length,))
        tflite = TFLiteRunner(os.path.join(out, "model.tflite"))
        self.assertAllClose(tflite(ids), student(ids), atol=1e-5)


class IntegerFingerprintTest(tf.test.TestCase):

    def test_int_batches_differing_in_one_id_get_different_fingerprints(self):
        ids = np.array([[5, 9, 2, 0], [7, 7, 1, 0]], np.int32)
        changed = ids.copy()
        changed[1, 2] = 3
        _, hashes = teacher_cache._fingerprint(tf.constant(ids), batched=True)
        _, changed_hashes = teacher_cache._fingerprint(tf.constant(changed), batched=True)
        self.assertEqual(hashes[0], changed_hashes[0])
        self.assertNotEqual(hashes[1], changed_hashes[1])

    def test_ids_in_another_order_or_beyond_float64_precision_are_told_apart(self):
        # Both pairs have equal sums in float64; the hashes still differ.
        for a, b, dtype in (([1, 2, 0], [2, 1, 0], np.int32),
                            ([2**53, 0], [2**53 + 1, 0], np.int64)):
            batch = tf.constant([a, b], dtype)
            sums, hashes = teacher_cache._fingerprint(batch, batched=True)
            self.assertEqual(sums[0], sums[1])
            self.assertNotAllEqual(hashes[0], hashes[1])

    def test_one_example_fingerprints_as_its_row_of_the_batch(self):
        batch = tf.constant([[4, 8, 15], [16, 23, 42]], tf.int32)
        _, hashes = teacher_cache._fingerprint(batch, batched=True)
        for i in range(2):
            _, one = teacher_cache._fingerprint(batch[i], batched=False)
            self.assertAllEqual(one, hashes[i])


if __name__ == "__main__":
    tf.test.main()
