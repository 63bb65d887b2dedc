"""Running .tflite models in LiteRT (ai_edge_litert), batch by batch."""

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def load_interpreter(model, num_threads=None):
    """A LiteRT interpreter for a .tflite path or the model's bytes."""
    if isinstance(model, (bytes, bytearray)):
        return Interpreter(model_content=bytes(model), num_threads=num_threads)
    return Interpreter(model_path=str(model), num_threads=num_threads)


class TFLiteRunner:
    """Invokes a single-input, single-output .tflite model on numpy batches.

    The input is resized to each batch's size, so one runner serves batches
    of any size (the converter keeps the batch dimension dynamic).
    """

    def __init__(self, model, num_threads=None):
        self.interpreter = load_interpreter(model, num_threads)
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                "Only single-input, single-output TFLite models are supported, "
                f"got {len(inputs)} inputs and {len(outputs)} outputs."
            )
        self._input = inputs[0]
        self._output_index = outputs[0]["index"]
        self._batch = None

    @property
    def input_dtype(self):
        return self._input["dtype"]

    def __call__(self, batch):
        """Runs the model on `batch` (numpy, [batch, ...]); returns numpy."""
        batch = np.asarray(batch, dtype=self.input_dtype)
        if self._batch != batch.shape[0]:
            self.interpreter.resize_tensor_input(self._input["index"], batch.shape)
            self.interpreter.allocate_tensors()
            self._batch = batch.shape[0]
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output_index).copy()
