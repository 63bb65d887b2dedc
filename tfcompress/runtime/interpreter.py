"""A LiteRT interpreter for a .tflite file, with or without XNNPACK."""

import os

from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.interpreter import OpResolverType

from tfcompress import quiet


def load_interpreter(model, num_threads=None, xnnpack=True, arg_name="tflite_model"):
    """A LiteRT interpreter for a .tflite path or the model's bytes.

    With `xnnpack` LiteRT applies its default delegate (XNNPACK), as on a
    device; without it, only LiteRT's built-in kernels run. Some files run
    only without it (sparse weights with int8 quantization, for one).

    Raises:
      TypeError: `model` is neither a path nor bytes.
      FileNotFoundError: no file at the path.
      ValueError: LiteRT cannot read it (truncated, or not a .tflite file);
        errors name the caller's argument, `arg_name`.
    """
    if not isinstance(model, (bytes, bytearray, str, os.PathLike)):
        raise TypeError(f"`{arg_name}` must be the path of a .tflite file or its bytes, "
                        f"got {type(model).__name__}.")
    if not isinstance(model, (bytes, bytearray)) and not os.path.isfile(model):
        raise FileNotFoundError(f"`{arg_name}`: no .tflite file at {os.fspath(model)!r}: "
                                "pass the path of a file that tfcompress (or the TFLite "
                                "converter) wrote.")
    resolver = (OpResolverType.AUTO if xnnpack
                else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    source = ({"model_content": bytes(model)} if isinstance(model, (bytes, bytearray))
              else {"model_path": str(model)})
    try:
        interpreter = Interpreter(**source, num_threads=num_threads,
                                  experimental_op_resolver_type=resolver)
        # LiteRT announces its XNNPACK delegate at the first allocation.
        with quiet.native_notices_hidden():
            interpreter.allocate_tensors()
        return interpreter
    except ValueError as e:
        what = "bytes" if "model_content" in source else f"file {source['model_path']!r}"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"`{arg_name}` {what} is not a valid .tflite model: LiteRT cannot read it "
            f"({reason.rstrip('.')}); it may be truncated. Export the model again "
            "(tfcompress.export_tflite) and pass the new file.") from None
