"""int4 Dense weights: ai-edge-quantizer's dynamic recipe applied to a float file.

TFLite's converter writes no int4, so the float file it writes is quantized
by ai-edge-quantizer (AEQ): FULLY_CONNECTED weights to int4 per channel
(OCTAV clipping, which lost the least of AEQ's int4 algorithms on
LeNet-300-100 here: BENCHMARKS.md, "ai-edge-quantizer"), every other
weight AEQ supports to int8, activations float and quantized on the fly
(dynamic range). XNNPACK runs int4 FULLY_CONNECTED at int8's speed; it has
no int4 convolution (an int4 conv leaves the delegate and ran 1.9x slower
than float), so convolutions stay int8. A Dense layer's weights take half
an int8 file's bytes.

AEQ leaves an op float without a word when a config does not apply to it,
so the file's weight types are checked: a FULLY_CONNECTED op with constant
weights that are not int4 is refused, by name.
"""

import contextlib
import io

from ai_edge_litert import schema_py_generated as schema
from ai_edge_quantizer import qtyping
from ai_edge_quantizer import quantizer
from ai_edge_quantizer import recipe

from tfcompress import quiet
from tfcompress.export import tensor_names


def quantize(float_flatbuffer):
    """The int4-Dense, int8-elsewhere file of `float_flatbuffer` (bytes), checked.

    Raises:
      ValueError: a Dense layer's weights that AEQ left other than int4.
    """
    operations = qtyping.TFLOperationName
    recipe_of = quantizer.Quantizer(tensor_names.name_unnamed(float_flatbuffer))
    recipe_of.add_dynamic_config(regex=".*", operation_name=operations.ALL_SUPPORTED,
                                 num_bits=8)
    # Added last: the last config matching an op wins.
    recipe_of.add_dynamic_config(regex=".*", operation_name=operations.FULLY_CONNECTED,
                                 num_bits=4, algorithm_key=recipe.AlgorithmName.OCTAV)
    # AEQ 0.10.0 shows a tqdm bar on stderr for files of 100 tensors or more
    # (its model modifier drops enable_progress_bar): kept out of the log.
    with quiet.native_notices_hidden(), contextlib.redirect_stderr(io.StringIO()):
        quantized = bytes(recipe_of.quantize(enable_progress_report=False,
                                             enable_progress_bar=False).quantized_model)
    missed = dense_weights_not_int4(quantized)
    if missed:
        raise ValueError(f"ai-edge-quantizer left the weights of {', '.join(missed)} "
                         "other than int4: this model's Dense layers cannot be written "
                         "as int4; use quantization 'int8' or 'dynamic'.")
    return quantized


def dense_weights_not_int4(flatbuffer):
    """Names of the FULLY_CONNECTED weight tensors (constants) that are not int4."""
    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    graph = model.Subgraphs(0)
    missed = []
    for j in range(graph.OperatorsLength()):
        op = graph.Operators(j)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin != schema.BuiltinOperator.FULLY_CONNECTED or op.InputsLength() < 2:
            continue
        weights = graph.Tensors(op.Inputs(1))
        if model.Buffers(weights.Buffer()).DataLength() == 0:
            continue  # computed, not a constant
        if weights.Type() != schema.TensorType.INT4:
            missed.append(weights.Name().decode())
    return missed
