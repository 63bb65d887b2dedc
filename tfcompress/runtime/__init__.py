"""Running .tflite files in LiteRT (ai_edge_litert): the bottom layer.

Export checks its files with it and evaluation measures them with it, so it
imports nothing of Keras, TFMOT or the rest of tfcompress.
"""

from tfcompress.runtime.file_state import variable_tensors
from tfcompress.runtime.interpreter import load_interpreter
from tfcompress.runtime.io_spec import io_spec
from tfcompress.runtime.runner import TFLiteRunner

__all__ = ["TFLiteRunner", "io_spec", "load_interpreter", "variable_tensors"]
