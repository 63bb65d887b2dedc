"""Keras 3 models to tf_keras and back, layer by layer, weights included.

TFMOT works only with tf_keras and no maintained tool converts a Keras 3
model to it, so this is written here. A whole-model `from_config` cannot
work: the graph formats differ, so each model is walked (`tfcompress.graph`)
and rebuilt one layer at a time from translated configs (`configs`), then
given the original's weights, and its outputs are checked against the
original's before it is returned.

This is the one module besides `_keras.py` that imports Keras 3 (as `import
keras`: after TFMOT is imported, `tf.keras` may be tf_keras).
"""

import dataclasses
import time

import keras  # Keras 3
import numpy as np

from tfcompress import _tfmot_wrappers
from tfcompress import graph as graph_lib
from tfcompress._keras import keras as tf_keras
from tfcompress.keras3 import configs
from tfcompress.keras3 import equivalents
from tfcompress.keras3 import spectrograms

# Layer classes both Keras versions have, with configs `configs` translates.
SUPPORTED = frozenset("""
    InputLayer Dense Conv1D Conv2D DepthwiseConv2D SeparableConv2D Conv2DTranspose
    BatchNormalization LayerNormalization MaxPooling1D MaxPooling2D AveragePooling1D
    AveragePooling2D GlobalMaxPooling1D GlobalMaxPooling2D GlobalAveragePooling1D
    GlobalAveragePooling2D Dropout SpatialDropout1D SpatialDropout2D Flatten Reshape
    Permute ZeroPadding1D ZeroPadding2D Cropping1D Cropping2D UpSampling1D UpSampling2D
    Resizing Rescaling Normalization Embedding LSTM GRU SimpleRNN Bidirectional Add
    Subtract Multiply Average Maximum Concatenate Activation ReLU LeakyReLU PReLU ELU
    Softmax""".split())
# Keras 3 op classes (keras.ops on a tensor) that become a ScalarOp with a constant.
_KERAS3_OPS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply",
               "Divide": "divide", "TrueDivide": "divide"}
# Where a serialized sub-object's module says it lives.
_SUB_MODULES = ("initializers", "regularizers", "constraints")

# Keras 3 class -> fn(layer) -> tf_keras layer, and tf_keras class -> fn(layer)
# -> Keras 3 layer, for layers with no class of the same name in the other Keras.
_TO_TF_KERAS, _TO_KERAS3 = spectrograms.converters(keras)


class ConversionError(ValueError):
    """A model that cannot be converted, or whose conversion changed its outputs."""


class UnsupportedLayersError(ConversionError):
    """Layers no converter knows, each named in the message."""

    def __init__(self, layers, target):
        self.layers = layers
        listed = ", ".join(f"{name!r} ({cls})" for name, cls in layers)
        super().__init__(
            f"Cannot convert to {target}: {len(layers)} layer(s) have no converter: "
            f"{listed}. Register one for each class with "
            f"`tfcompress.keras3.{'register_reverse' if target == 'Keras 3' else 'register'}"
            "(LayerClass, fn)`, where fn(layer) returns "
            f"the equivalent {target} layer (its weights are copied after), or "
            "rebuild the model from supported layers.")


@dataclasses.dataclass(frozen=True)
class Conversion:
    """A converted model and what its check measured."""
    model: object
    max_abs_diff: float  # between the outputs of both models on the check batch
    seconds: float
    layers: int

    def describe(self):
        return {"layers": self.layers, "max_abs_diff": self.max_abs_diff,
                "seconds": round(self.seconds, 3)}


def register(keras3_class, fn):
    """Registers `fn(layer) -> tf_keras layer` for a Keras 3 layer class.

    For a custom layer: `fn` builds the tf_keras layer computing the same
    function; the Keras 3 layer's weights are then copied into it in
    `get_weights()` order.
    """
    _register(_TO_TF_KERAS, keras3_class, fn, "keras3_class", keras, "Keras 3", "tf_keras")


def register_reverse(tf_keras_class, fn):
    """Registers `fn(layer) -> Keras 3 layer` for a tf_keras layer class."""
    _register(_TO_KERAS3, tf_keras_class, fn, "tf_keras_class", tf_keras, "tf_keras", "Keras 3")


def _register(registry, layer_class, fn, arg_name, source_keras, source, target):
    if not isinstance(layer_class, type) or not issubclass(layer_class, source_keras.layers.Layer):
        raise TypeError(f"`{arg_name}` must be a {source} layer class, got {layer_class!r}.")
    if not callable(fn):
        raise TypeError(f"`fn` must be callable (layer -> {target} layer), got {fn!r}.")
    registry[layer_class] = fn


def load(path, *, arg_name="model"):
    """Loads a Keras 3 .keras file in Keras 3 safe mode."""
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many kinds; one clear error instead
        if "arbitrary code execution" in str(e):
            raise ConversionError(
                f"`{arg_name}` file {path!r} holds a Lambda layer, which runs arbitrary "
                "Python code when it is loaded, so it is refused; tfcompress cannot "
                "convert a Lambda either: rebuild the model with layers instead.") from None
        raise ConversionError(f"Cannot load `{arg_name}` {path!r} in Keras 3: "
                              f"{str(e).splitlines()[0][:300]}") from None


def convert(model_or_path, *, tolerance=1e-5, arg_name="model"):
    """A Keras 3 model (or .keras file) as a tf_keras functional model.

    Args:
      model_or_path: a Keras 3 Sequential or functional model, or its .keras file.
      tolerance: largest allowed max abs difference between the outputs of
        both models on a random batch.
      arg_name: the caller's argument name, quoted in errors.

    Returns:
      A `Conversion`.

    Raises:
      UnsupportedLayersError: layers no converter knows, all listed.
      ConversionError: an option tf_keras cannot express, or outputs that differ.
    """
    start = time.perf_counter()
    model = load(model_or_path, arg_name=arg_name) if isinstance(model_or_path, str) else model_or_path
    if not isinstance(model, keras.Model):
        raise TypeError(f"`{arg_name}` must be a Keras 3 model, got {type(model).__name__}.")
    unsupported = list(_unsupported(model, _keras3_supported))
    if unsupported:
        raise UnsupportedLayersError(unsupported, "tf_keras")
    converted = _Walk(keras3_to_tf_keras=True).model(model)
    diff = _check(model, converted, tolerance, "tf_keras")
    return Conversion(converted, diff, time.perf_counter() - start, _count_layers(model))


def to_tf_keras(model_or_path, *, tolerance=1e-5):
    """`convert(...)`'s model: a tf_keras model equal to the Keras 3 one."""
    return convert(model_or_path, tolerance=tolerance).model


def to_keras3(model, *, tolerance=1e-5):
    """A tf_keras model (wrappers stripped) as a Keras 3 functional model.

    Raises:
      ValueError: pruning, clustering or quantization wrappers are left.
      UnsupportedLayersError: layers no converter knows, all listed.
      ConversionError: an option Keras 3 cannot express, or outputs that differ.
    """
    if not isinstance(model, tf_keras.Model):
        raise TypeError(f"`model` must be a tf_keras model, got {type(model).__name__}.")
    if _tfmot_wrappers.has_pruning_wrappers(model) or _tfmot_wrappers.is_clustered(model):
        raise ValueError(f"{model.name!r} still has pruning or clustering wrappers: strip "
                         "them first (tfcompress.prune.strip, tfcompress.quantize.strip_clusters).")
    if _tfmot_wrappers.is_quantization_aware(model):
        raise ValueError(f"{model.name!r} is quantization-aware: Keras 3 has no fake-quant "
                         "layers; export it to TFLite instead.")
    unsupported = list(_unsupported(model, _tf_keras_supported))
    if unsupported:
        raise UnsupportedLayersError(unsupported, "Keras 3")
    converted = _Walk(keras3_to_tf_keras=False).model(model)
    _check(model, converted, tolerance, "Keras 3")
    return converted


def copy_weights(source, target):
    """Copies each layer's weights from `source` into the layer of the same name in `target`.

    For a model and its conversion (either way): the layer names are the same.
    """
    targets = dict(graph_lib.walk(target, models_only=True))
    for path, layer in graph_lib.walk(source, models_only=True):
        if path in targets and not graph_lib.is_nested_model(layer) and layer.get_weights():
            targets[path].set_weights(layer.get_weights())


def _keras3_supported(layer):
    if type(layer) in _TO_TF_KERAS:
        return True
    module = type(layer).__module__
    if module.startswith("keras.src.ops"):
        return type(layer).__name__ in _KERAS3_OPS
    return module.startswith("keras.src.layers") and type(layer).__name__ in SUPPORTED


def _tf_keras_supported(layer):
    if type(layer) in _TO_KERAS3 or isinstance(layer, equivalents.ScalarOp):
        return True
    return (type(layer).__module__.startswith("tf_keras.src.layers")
            and type(layer).__name__ in SUPPORTED)


def _unsupported(model, supported):
    """(path, class) of every layer, nested models' included, with no converter."""
    for path, layer in graph_lib.walk(model, models_only=True):
        if isinstance(layer, (keras.Model, tf_keras.Model)):
            if not graph_lib.is_nested_model(layer):
                yield path, f"subclassed model {type(layer).__name__}"
        elif type(layer).__name__ != "InputLayer" and not supported(layer):
            yield path, f"{type(layer).__module__}.{type(layer).__name__}"


def _count_layers(model):
    return sum(not graph_lib.is_nested_model(layer)
               for layer in graph_lib.layers(model, models_only=True))


class _Walk:
    """One conversion: each model walked as a graph and rebuilt in the other Keras."""

    def __init__(self, keras3_to_tf_keras):
        self.forward = keras3_to_tf_keras
        self.target = tf_keras if keras3_to_tf_keras else keras
        self.translate = configs.to_tf_keras if keras3_to_tf_keras else configs.to_keras3

    def model(self, model):
        graph = graph_lib.Graph.from_model(model)
        layers = {layer.name: layer for layer in getattr(model, "operations", model.layers)}
        copies = []

        def make_layer(node):
            source = layers[node.name]
            if graph_lib.is_nested_model(source):
                inner = self.model(source)
                return lambda args, kwargs: inner(*args, **_kwargs(kwargs))
            if type(source).__module__.startswith("keras.src.ops"):
                return _scalar_op(node)
            if isinstance(source, equivalents.ScalarOp):
                return _keras3_op(source)
            layer = self.layer(source)
            copies.append((source, layer))
            return lambda args, kwargs: layer(*args, **_kwargs(kwargs))

        def make_model(inputs, outputs, name):
            return self.target.Model(inputs, outputs, name=name)

        converted = graph_lib.rebuild(graph, make_input=self.input, make_layer=make_layer,
                                      make_model=make_model)
        for source, layer in copies:
            try:
                layer.set_weights(source.get_weights())
            except ValueError as e:
                raise ConversionError(f"layer {source.name!r} ({type(source).__name__}): "
                                      f"its weights do not fit the converted layer: {e}") from None
        return converted

    def input(self, node):
        config = node.config
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        return self.target.Input(shape=tuple(shape[1:]), batch_size=shape[0],
                                 dtype=_dtype_name(config.get("dtype")),
                                 sparse=bool(config.get("sparse")), name=config["name"])

    def layer(self, source):
        registry = _TO_TF_KERAS if self.forward else _TO_KERAS3
        class_name = type(source).__name__
        try:
            if type(source) in registry:
                return registry[type(source)](source)
            config = self.translate(class_name, source.get_config(), self.sub_object)
            return getattr(self.target.layers, class_name).from_config(config)
        except (ValueError, TypeError, KeyError) as e:
            raise ConversionError(
                f"layer {source.name!r} ({class_name}) cannot be converted to "
                f"{'tf_keras' if self.forward else 'Keras 3'}: {e}") from None

    def sub_object(self, obj):
        """An initializer, regularizer, constraint or inner layer, for the target."""
        class_name, module = obj["class_name"], obj.get("module") or ""
        kind = next((k for k in _SUB_MODULES if module.endswith(k)), None)
        if kind is None:  # an inner layer (Bidirectional's)
            return self.serialized("layers", class_name,
                                   self.translate(class_name, obj["config"], self.sub_object))
        cls = getattr(getattr(self.target, kind), class_name, None)
        if cls is None:
            raise configs.ConfigError(f"{kind[:-1]} {class_name!r} has no equivalent")
        keys = configs.accepted_keys(cls)
        # Keys the other Keras lacks only shape how weights would be
        # initialized again; the weights themselves are copied.
        config = {key: value for key, value in obj["config"].items()
                  if keys is None or key in keys}
        return self.serialized(kind, class_name, config)

    def serialized(self, kind, class_name, config):
        """A sub-object as the target Keras serializes one."""
        if self.forward:
            return {"class_name": class_name, "config": config}
        return {"module": f"keras.{kind}", "class_name": class_name, "config": config,
                "registered_name": None}


def _kwargs(kwargs):
    """Call options worth passing on (Keras 3 writes `mask=None` for every BN call).

    `training` is never passed on: Keras 3 records `training=False` in the
    graph of a model it has run in inference, and a layer called so would
    stay in inference while the converted model trains (an LSTM's dropout
    off, and TFMOT's pruning wrapper never updating its masks).
    """
    return {key: value for key, value in kwargs.items()
            if value is not None and key != "training"}


def _scalar_op(node):
    """A Keras 3 `x + 3.0` op node as a tf_keras ScalarOp layer."""
    op = _KERAS3_OPS[node.class_name]
    args = node.calls[0].args
    tensors = [i for i, arg in enumerate(args) if isinstance(arg, graph_lib.TensorRef)]
    constants = [arg for arg in args if isinstance(arg, (int, float))]
    if len(args) != 2 or len(tensors) != 1 or len(constants) != 1:
        raise UnsupportedLayersError(
            [(node.name, f"keras.ops {node.class_name} of {args!r}")], "tf_keras")
    layer = equivalents.ScalarOp(op, constants[0], reverse=tensors[0] == 1, name=node.name)
    return lambda args, kwargs: layer(next(a for a in args if not isinstance(a, (int, float))))


def _keras3_op(layer):
    """A tf_keras ScalarOp as the Keras 3 op it came from."""
    fn = getattr(keras.ops, layer.op)  # add, subtract, multiply or divide

    def call(args, kwargs):
        del kwargs
        return fn(layer.value, args[0]) if layer.reverse else fn(args[0], layer.value)
    return call


def _dtype_name(dtype):
    return dtype["config"]["name"] if isinstance(dtype, dict) else dtype


def _check(source, converted, tolerance, target):
    """Max abs difference of both models' outputs on a random batch.

    Each output may differ by `tolerance` times its magnitude where that is
    above 1: the two Keras versions round some layers (LayerNormalization)
    differently in float32, and a large output carries that rounding.
    """
    batch = _random_batch(source)
    expected = _numpy_outputs(source(batch, training=False))
    actual = _numpy_outputs(converted(batch, training=False))
    diff, excess = 0.0, 0.0
    for e, a in zip(expected, actual):
        if e.size:
            error = np.abs(e.astype(np.float64) - a)
            diff = max(diff, float(np.max(error)))
            excess = max(excess, float(np.max(error / np.maximum(1.0, np.abs(e)))))
    if not excess <= tolerance:
        raise ConversionError(
            f"the {target} model's outputs differ from the original's by up to {diff:.3g} "
            f"(allowed {tolerance:g}, relative above 1) on a random batch: a layer "
            "computes differently after conversion; please report it with the model's "
            "summary.")
    return diff


def _random_batch(model, size=4):
    rng = np.random.default_rng(0)
    vocab = min((layer.input_dim for layer in graph_lib.layers(model)
                 if type(layer).__name__ == "Embedding"), default=10)
    batch = []
    for tensor in model.inputs:
        shape = [size] + [d if d is not None else 8 for d in tuple(tensor.shape)[1:]]
        dtype = np.dtype(_dtype_name(getattr(tensor, "dtype", "float32")) if not hasattr(
            tensor.dtype, "as_numpy_dtype") else tensor.dtype.as_numpy_dtype)
        if np.issubdtype(dtype, np.integer):
            batch.append(rng.integers(0, vocab, shape).astype(dtype))
        else:
            batch.append(rng.uniform(0, 1, shape).astype(dtype))
    return batch[0] if len(batch) == 1 else batch


def _numpy_outputs(outputs):
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [np.asarray(output) for output in outputs]
