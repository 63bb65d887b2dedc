"""Tests of atomic outputs and resumable run folders."""

import json
import os

import tensorflow as tf


from tfcompress import _atomic
from tfcompress.jobs import run_dir


class AtomicOutputTest(tf.test.TestCase):

    def test_file_appears_only_on_success_and_keeps_extension(self):
        path = os.path.join(self.create_tempdir().full_path, "best.weights.h5")
        with _atomic.atomic_output(path) as tmp:
            self.assertTrue(tmp.endswith("-best.weights.h5"))
            self.assertFalse(os.path.exists(path))
            with open(tmp, "w") as f:
                f.write("new")
        with open(path) as f:
            self.assertEqual(f.read(), "new")
        self.assertEqual(os.listdir(os.path.dirname(path)), ["best.weights.h5"])

    def test_failure_leaves_old_output_and_no_temporary(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "out")
        os.makedirs(os.path.join(path, "sub"))
        with self.assertRaisesRegex(RuntimeError, "boom"):
            with _atomic.atomic_output(path) as tmp:
                os.makedirs(os.path.join(tmp, "half"))
                raise RuntimeError("boom")
        self.assertEqual(os.listdir(folder), ["out"])
        self.assertEqual(os.listdir(path), ["sub"])

    def test_folder_replaces_existing_folder(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "out")
        os.makedirs(os.path.join(path, "old"))
        with _atomic.atomic_output(path) as tmp:
            os.makedirs(os.path.join(tmp, "new"))
        self.assertEqual(os.listdir(path), ["new"])
        self.assertEqual(os.listdir(folder), ["out"])

    def test_file_never_replaces_a_folder(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "m.tflite")
        os.makedirs(os.path.join(path, "keep"))
        with self.assertRaisesRegex(IsADirectoryError, "one is a folder"):
            with _atomic.atomic_output(path) as tmp:
                with open(tmp, "w") as f:
                    f.write("x")
        self.assertEqual(os.listdir(path), ["keep"])
        self.assertEqual(os.listdir(folder), ["m.tflite"])

    def test_nothing_written_is_an_error(self):
        path = os.path.join(self.create_tempdir().full_path, "x.json")
        with self.assertRaisesRegex(FileNotFoundError, "Nothing was written"):
            with _atomic.atomic_output(path):
                pass

    def test_write_json(self):
        path = os.path.join(self.create_tempdir().full_path, "a", "s.json")
        _atomic.write_json(path, {"b": 1, "a": [1.5]})
        with open(path) as f:
            self.assertEqual(json.load(f), {"a": [1.5], "b": 1})


class RunDirTest(tf.test.TestCase):

    def test_existing_output_needs_overwrite(self):
        out = self.create_tempdir()
        out.create_file("summary.json")
        with self.assertRaisesRegex(FileExistsError, "pass --overwrite"):
            run_dir.check_output_dir(out.full_path, overwrite=False)
        run_dir.check_output_dir(out.full_path, overwrite=True)
        run_dir.check_output_dir(os.path.join(out.full_path, "new"), overwrite=False)

    def test_resume_keeps_the_unfinished_run_a_new_run_replaces_it(self):
        out = os.path.join(self.create_tempdir().full_path, "run")
        staging = run_dir.start(out, {"epochs": 3, "splits": ("a", "b")})
        os.makedirs(os.path.join(staging, "checkpoints"))
        run_dir.check_output_dir(out, overwrite=False, resume=True,
                                 config={"epochs": 3, "splits": ("a", "b")})
        self.assertEqual(run_dir.start(out, {"epochs": 3, "splits": ("a", "b")},
                                       resume=True), staging)
        self.assertTrue(os.path.isdir(os.path.join(staging, "checkpoints")))
        run_dir.start(out, {"epochs": 4, "splits": ("a", "b")})
        self.assertFalse(os.path.exists(os.path.join(staging, "checkpoints")))

    def test_resume_may_change_only_resumable_settings(self):
        out = os.path.join(self.create_tempdir().full_path, "run")
        run_dir.start(out, {"epochs": 3, "learning_rate": 0.1})
        run_dir.check_output_dir(out, False, True, {"epochs": 3, "learning_rate": 0.01},
                                 resumable=("learning_rate",))
        with self.assertRaisesRegex(ValueError, "was started with epochs=3, not "
                                    "epochs=4; resume it with its own settings"):
            run_dir.check_output_dir(out, False, True, {"epochs": 4, "learning_rate": 0.1},
                                     resumable=("learning_rate",))

    def test_trailing_slash_output_dir_is_replaced(self):
        out = os.path.join(self.create_tempdir().full_path, "run")
        os.makedirs(os.path.join(out, "old"))
        staging = run_dir.start(out + "/", {})
        _atomic.write_json(os.path.join(staging, "summary.json"), {})
        run_dir.finish(staging, out + "/")
        self.assertEqual(os.listdir(out), ["summary.json"])

    def test_finish_moves_staging_into_place_without_scratch(self):
        out = os.path.join(self.create_tempdir().full_path, "run")
        staging = run_dir.start(out, {})
        os.makedirs(os.path.join(staging, "checkpoints"))
        _atomic.write_json(os.path.join(staging, "summary.json"), {})
        run_dir.finish(staging, out)
        self.assertFalse(os.path.exists(staging))
        self.assertEqual(os.listdir(out), ["summary.json"])
