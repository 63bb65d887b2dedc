"""`tfcompress optimize` with variants: settings beyond widths (`models.variants`).

What users rely on: for a DS-CNN trained by `tfcompress train`, a budget
that no narrowing meets is met by a cheaper setting (window, stride, fewer
blocks) that starts from the trained weights; the chosen file is that
variant's, and the report and frontier say which settings it took.
"""

import glob
import json
import os

import tensorflow as tf

from tfcompress import export
from tfcompress.jobs import optimize
from tfcompress.jobs import runner
from tfcompress.jobs import settings
from tfcompress.jobs import train

_FSDD = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "fsdd")


def _clips_folder(root):
    """A few FSDD clips of 3 digits, linked (the data stays put)."""
    for split, count in (("train", 8), ("test", 3)):
        for digit in "012":
            os.makedirs(os.path.join(root, split, digit))
            for path in sorted(glob.glob(os.path.join(_FSDD, split, digit, "*.wav")))[
                    ::17][:count]:
                os.symlink(os.path.abspath(path),
                           os.path.join(root, split, digit, os.path.basename(path)))
    return root


class OptimizeVariantsTest(tf.test.TestCase):

    def test_a_size_no_narrowing_meets_is_met_by_a_variant(self):
        if not os.path.isdir(_FSDD):
            self.skipTest(f"FSDD not at {_FSDD}")
        root = _clips_folder(self.create_tempdir().full_path)
        out = self.create_tempdir().full_path
        lines = []

        def training(name, epochs):
            return settings.Training(
                output_dir=os.path.join(out, name), dataset="dir:" + root, epochs=epochs,
                batch_size=8, val_split="", verbose=0, audio_length=4000, seed=0)

        runner.run(train.TrainJob(model_spec="ds_cnn:8"), training("trained", 4),
                   log=lines.append)
        input_bytes = len(export.tflite.convert(export.load_keras_model(
            os.path.join(out, "trained", "model.keras"))))
        # Widths in multiples of 8 leave the 8-channel groups nothing to narrow.
        summary = runner.run(
            optimize.OptimizeJob(model=os.path.join(out, "trained"), formats=("float",),
                                 target_size_kb=0.97 * input_bytes / 1000, round_to="8",
                                 max_attempts=1, tune_steps=12),
            training("optimized", 1), log=lines.append)
        own = summary["optimize"]
        self.assertGreater(own["inputs"]["float"]["size_bytes"], 0.97 * input_bytes)
        self.assertTrue(own["met"], own["miss"])
        plan = own["chosen"]["plan"]
        self.assertTrue(plan["variant"], plan)
        self.assertEqual(set(plan["widths"].values()), {8})
        # The floor is the cheapest variant's: its frontend is the cheapest.
        self.assertTrue(own["floor"]["model"].endswith(
            " at blocks=1,stride_ms=40,window_ms=16"), own["floor"])
        self.assertTrue(any(line.startswith("Plans include variants of ds_cnn:8")
                            for line in lines), lines)
        written = os.path.join(out, "optimized", "model.tflite")
        self.assertLessEqual(os.path.getsize(written), 0.97 * input_bytes)
        # The file is the variant's: its trained model has the plan's settings.
        shrunk = export.load_keras_model(
            os.path.join(out, "optimized", "attempts", "1", "shrink", "model.keras"))
        frontend = shrunk.get_layer("log_mel")
        blocks = len([layer for layer in shrunk.layers if layer.name.endswith("_depthwise")])
        own_settings = {"window_ms": round(frontend.sequence_length / 8),
                        "stride_ms": round(frontend.sequence_stride / 8), "blocks": blocks}
        for keyword, value in plan["variant"].items():
            self.assertEqual(own_settings[keyword], value, keyword)
        with open(os.path.join(out, "optimized", "frontier.json"), encoding="utf-8") as f:
            searched = json.load(f)["searches"][0]["plans"]
        self.assertGreater(len({json.dumps(p["variant"], sort_keys=True) for p in searched}), 1)
        with open(os.path.join(out, "optimized", "report.md"), encoding="utf-8") as f:
            report = f.read()
        settings_text = ", ".join(f"{k}={v:g}" for k, v in sorted(plan["variant"].items()))
        self.assertIn(f"| 1 | float | {settings_text} |", report)


if __name__ == "__main__":
    tf.test.main()
