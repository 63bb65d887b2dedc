"""The README's deployment snippet, run in plain LiteRT as an app runs it."""

import os

import numpy as np
import tensorflow as tf

import readme
from tfcompress import data
from tfcompress import export
from tfcompress import models
from tfcompress.data import vocabulary as vocabulary_lib
from tfcompress.runtime import TFLiteRunner
from tfcompress.runtime import io_spec

# Texts where a hand-written tokenizer could part from TextVectorization's.
_TRICKY = [
    "WINNER!! Claim your FREE prize now, text WIN to 80086",
    "Ok lar... Joking wif u oni...",
    "tab\tseparated\nand new-lines, don't  double  spaces",
    "Ünïcödé WORDS stay Ünïcödé: ÄBC vs äbc",
    "",
    "a " * 80,  # longer than the sequence: cut at the end
    "under_score #hash (paren) [bracket] {brace} ~tilde~ `tick` 'quote' \\back\\",
]


class ReadmeDeploymentSnippetTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        folder = tf.compat.v1.test.get_temp_dir()
        vocabulary = vocabulary_lib.fit(_TRICKY + ["claim prize free ok win"], 50)
        cls.vocabulary_path = data.write_vocabulary(vocabulary, folder)
        model = models.build("text_cnn:4,4,kernel_size=3", vocab_size=len(vocabulary),
                             sequence_length=64, num_classes=2)
        cls.model_path = os.path.join(folder, "model.tflite")
        export.export_tflite(model, cls.model_path)
        cls.snippet = readme.run_snippet("deploy_text", MODEL=cls.model_path,
                                         VOCABULARY=cls.vocabulary_path)

    def test_snippet_makes_the_ids_training_made(self):
        expected = data.text_to_ids(_TRICKY, self.vocabulary_path, 64)
        for text, ids in zip(_TRICKY, expected):
            self.assertAllEqual(self.snippet["to_ids"](text), ids, msg=repr(text))

    def test_snippet_classifies_as_tfcompress_runs_the_file(self):
        logits = TFLiteRunner(self.model_path)(
            data.text_to_ids(_TRICKY, self.vocabulary_path, 64))
        self.assertEqual([self.snippet["classify"](text) for text in _TRICKY],
                         [["ham", "spam"][i] for i in np.argmax(logits, -1)])

    def test_io_spec_states_what_the_snippet_feeds(self):
        spec = io_spec(self.model_path)
        self.assertEqual(spec["input"]["shape"], ["batch", 64])
        self.assertEqual(spec["input"]["dtype"], "int32")
        self.assertEqual(spec["output"]["shape"], ["batch", 2])
        self.assertTrue(spec["stateless"])


if __name__ == "__main__":
    tf.test.main()
