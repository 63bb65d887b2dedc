"""Every Python snippet in the README runs, as a reader runs them in turn.

The snippets run top to bottom in one namespace, like a notebook, in a
temporary folder holding the files they name (my_model.keras, a teacher, a
trained job folder). Only their sizes change: every `epochs=N` becomes
`epochs=1`. The absl script runs as a script, with flags. The deployment
snippet gets its own test on real SMS data (tests/test_examples.py) and a
fast one here (tests/test_deployment.py), so it is only run, on a tiny text
model, to keep this test on MNIST.
"""

import os
import re
import subprocess
import sys

import keras as keras3  # Keras 3, on purpose: the README's first user
import pytest
import tensorflow as tf

import readme
from tfcompress import data
from tfcompress import export
from tfcompress import models
from tfcompress.data import vocabulary as vocabulary_lib

_SCRIPT = "absl script"  # the snippet that is a whole program


def _python_blocks():
    """(marker or None, code) of each ```python block of the README, in order."""
    with open(readme.README, encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"(?:<!-- snippet: (\w+) -->\n)?```python\n(.*?)\n```\n", text,
                      re.DOTALL)


def _smaller(code):
    return re.sub(r"\bepochs=\d+", "epochs=1", code)


@pytest.mark.mnist
@pytest.mark.slow
class ReadmeSnippetsTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.folder = self.create_tempdir().full_path
        self.previous = os.getcwd()
        os.chdir(self.folder)
        self.addCleanup(os.chdir, self.previous)
        keras3.Sequential([keras3.Input((28, 28, 1)), keras3.layers.Flatten(),
                           keras3.layers.Dense(32, activation="relu"),
                           keras3.layers.Dense(10)]).save("my_model.keras")
        export.save_keras_model(models.mlp((64, 32)), "saved_models/teacher/model.keras")
        export.save_keras_model(models.lenet_300_100(), "saved_models/lenet/model.keras")

    def test_every_python_snippet_runs_in_order(self):
        blocks = _python_blocks()
        self.assertGreaterEqual(len(blocks), 7)
        namespace = {"__name__": "readme"}
        ran = 0
        for marker, code in blocks:
            if marker == "deploy_text":
                self._run_deploy_snippet()
            elif "app.run(main)" in code:
                self._run_as_script(code)
            else:
                exec(compile(_smaller(code), f"README.md block {ran}", "exec"),  # pylint: disable=exec-used
                     namespace)
            ran += 1
        self.assertEqual(ran, len(blocks))
        # What the snippets promise: Keras 3 back from the Keras 3 user's block,
        # and checked files.
        self.assertIsInstance(keras3.saving.load_model("pruned.keras"), keras3.Model)
        for name in ("model.tflite", "lenet.tflite", "student.tflite", "int8.tflite",
                     "pqat.tflite"):
            self.assertTrue(os.path.isfile(name), name)

    def _run_as_script(self, code):
        with open("my_script.py", "w", encoding="utf-8") as f:
            f.write(_smaller(code))
        result = subprocess.run(
            [sys.executable, "my_script.py", "--model=saved_models/lenet/model.keras",
             "--epochs=1", "--train_split=train[5000:7000]", "--val_split=train[:500]",
             "--test_split=test[:500]", "--output_dir=my_pruned"],
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertTrue(os.path.isfile(os.path.join("my_pruned", "model.tflite")))

    def _run_deploy_snippet(self):
        texts = ["win a free prize now", "see you at lunch"]
        vocabulary = vocabulary_lib.fit(texts, 20)
        folder = os.path.join(self.folder, "sms")
        path = data.write_vocabulary(vocabulary, folder)
        model = models.build("text_cnn:4,4,kernel_size=3", vocab_size=len(vocabulary),
                             sequence_length=64, num_classes=2)
        tflite = os.path.join(folder, "model.tflite")
        export.export_tflite(model, tflite)
        namespace = readme.run_snippet("deploy_text", MODEL=tflite, VOCABULARY=path)
        self.assertIn(namespace["classify"](texts[0]), ("ham", "spam"))


if __name__ == "__main__":
    tf.test.main()
