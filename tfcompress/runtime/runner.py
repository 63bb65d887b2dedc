"""Running a single-input, single-output .tflite model on numpy batches."""

import numpy as np

from tfcompress.runtime.interpreter import load_interpreter


def _scale(details):
    scale, zero_point = details["quantization"]
    return (scale, zero_point) if scale else None


class TFLiteRunner:
    """Invokes a single-input, single-output .tflite model on numpy batches.

    The input is resized to each batch's size, so one runner serves batches
    of any size (the converter keeps the batch dimension dynamic). A file
    with a fixed batch size (a recurrent model's: `export.recurrent`) runs a
    batch in chunks of that size. A model with integer (quantized) input or
    output takes and returns floats: the input is quantized and the output
    dequantized with the file's scales.

    Nothing runs between invokes (no `reset_all_variables()`): what it
    returns is what a device running the file gets. `run_each` runs one
    example per invoke, as an app does.
    """

    def __init__(self, model, num_threads=None, xnnpack=True, arg_name="model"):
        self.interpreter = load_interpreter(model, num_threads, xnnpack, arg_name)
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                "Only single-input, single-output TFLite models are supported, "
                f"got {len(inputs)} inputs and {len(outputs)} outputs.")
        self._input = inputs[0]
        self._output = outputs[0]
        self._batch = None
        # > 0: the file takes only batches of this size.
        self._fixed_batch = int(self._input["shape_signature"][0])

    @property
    def fixed_batch(self):
        """The only batch size the file takes (a recurrent model's: 1), or None."""
        return self._fixed_batch if self._fixed_batch > 0 else None

    @property
    def input_dtype(self):
        return self._input["dtype"]

    @property
    def input_shape(self):
        """Shape of one example (without the batch dimension)."""
        return tuple(int(d) for d in self._input["shape"][1:])

    def quantize_input(self, batch):
        """`batch` in the model's input dtype (quantized if it is an integer)."""
        batch = np.asarray(batch)
        dtype = self.input_dtype
        scale = _scale(self._input)
        if np.issubdtype(dtype, np.integer) and scale and np.issubdtype(
                batch.dtype, np.floating):
            info = np.iinfo(dtype)
            batch = np.clip(np.round(batch / scale[0] + scale[1]), info.min, info.max)
        return batch.astype(dtype)

    def __call__(self, batch):
        """Runs the model on `batch` (numpy, [batch, ...]); returns numpy floats
        for a quantized output, the output's own dtype otherwise."""
        batch = self.quantize_input(batch)
        size = self._fixed_batch
        if size < 1 or len(batch) == size:
            return self._invoke(batch)
        if len(batch) % size:
            raise ValueError(f"This TFLite file takes batches of {size} examples; "
                             f"{len(batch)} is not a multiple of {size}.")
        return np.concatenate([self._invoke(batch[start:start + size])
                               for start in range(0, len(batch), size)])

    def run_each(self, examples, order=None):
        """Outputs of `examples` run one per invoke, in `order`, as an app does.

        Args:
          examples: numpy array, [n, ...].
          order: the indices of `examples` in the order to run them; all of
            them in turn when None.

        Returns:
          The outputs in the examples' own order (not the run order).
        """
        examples = self.quantize_input(examples)
        order = range(len(examples)) if order is None else order
        outputs = [None] * len(examples)
        for index in order:
            outputs[index] = self._invoke(examples[index:index + 1])
        return np.concatenate(outputs)

    def _invoke(self, batch):
        if self._batch != batch.shape[0]:
            self.interpreter.resize_tensor_input(self._input["index"], batch.shape)
            self.interpreter.allocate_tensors()
            self._batch = batch.shape[0]
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        output = self.interpreter.get_tensor(self._output["index"]).copy()
        scale = _scale(self._output)
        if np.issubdtype(output.dtype, np.integer) and scale:
            output = (output.astype(np.float32) - scale[1]) * scale[0]
        return output
