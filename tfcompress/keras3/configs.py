"""Translating one layer's config between Keras 3 and tf_keras.

The two Keras versions write almost the same layer configs. What differs:
Keras 3 writes dtype policies as dicts, a few options tf_keras lacks (LoRA,
quantization, renorm flags, `rms_scaling`, `seed` of recurrent layers), a
few renamed keys (LeakyReLU's `alpha` is `negative_slope`), and activations
tf_keras lacks. An option that only has a neutral value may be dropped; any
other value has no equivalent, and the layer is refused rather than changed.
No Keras is imported here: the caller passes the classes.
"""

import inspect

from tfcompress.keras3 import equivalents

ANY = object()  # the option is dropped whatever its value

# Keras 3 options tf_keras lacks -> the values that may be dropped.
_KERAS3_ONLY = {
    "*": {"quantization_config": (None,), "lora_rank": (None,), "lora_alpha": ANY,
          "lora_enabled": (False,)},
    "InputLayer": {"optional": (False,)},
    "BatchNormalization": {"synchronized": (False,)},
    "LayerNormalization": {"rms_scaling": (False,)},
    "Resizing": {"pad_to_aspect_ratio": (False,), "fill_mode": ANY, "fill_value": ANY,
                 "antialias": (False,), "data_format": ("channels_last", None)},
    "LSTM": {"seed": ANY, "use_cudnn": ANY},
    "GRU": {"seed": ANY, "use_cudnn": ANY},
    "SimpleRNN": {"seed": ANY},
    "ZeroPadding1D": {"data_format": ("channels_last", None)},
}
# tf_keras options Keras 3 lacks -> the values that may be dropped.
_TF_KERAS_ONLY = {
    # rng_type picks tf_keras's random stream (written once training.seed has
    # enabled tf.random.Generator); Keras 3 layers draw from their own seeds.
    "*": {"batch_input_shape": ANY, "rng_type": ANY},
    "Embedding": {"input_length": ANY},
    "LSTM": {"time_major": (False,), "implementation": ANY},
    "GRU": {"time_major": (False,), "implementation": ANY},
    "SimpleRNN": {"time_major": (False,)},
    "DepthwiseConv2D": {"groups": (1,)},
    "Conv2DTranspose": {"groups": (1,)},
    "SeparableConv2D": {"groups": (1,), "kernel_initializer": ANY,
                        "kernel_regularizer": ANY, "kernel_constraint": ANY},
    "SpatialDropout1D": {"noise_shape": (None,), "trainable": ANY},
    "SpatialDropout2D": {"noise_shape": (None,), "trainable": ANY},
}
_RENAMED = {"LeakyReLU": {"negative_slope": "alpha"},
            "InputLayer": {"batch_shape": "batch_input_shape"}}
_ACTIVATION_KEYS = ("activation", "recurrent_activation")
# Activations whose tf_keras function differs from Keras 3's of the same name.
_NOT_IN_KERAS3 = {"hard_sigmoid": "tf_keras's hard_sigmoid (clip(0.2 x + 0.5)) "
                                  "differs from Keras 3's (relu6(x + 3) / 6)"}


class ConfigError(ValueError):
    """A layer option that the other Keras cannot express."""


def to_tf_keras(class_name, config, sub_object):
    """A Keras 3 layer config as tf_keras's `from_config` takes it.

    Args:
      class_name: the layer's class name.
      config: its `get_config()`.
      sub_object: fn(serialized dict) -> the same object for tf_keras
        (initializers, regularizers, constraints, inner layers).

    Raises:
      ConfigError: an option tf_keras cannot express.
    """
    config = _plain(config, sub_object)
    config = _drop(class_name, config, _KERAS3_ONLY, "tf_keras")
    if class_name == "BatchNormalization" and not config.get("renorm"):
        for key in ("renorm", "renorm_clipping", "renorm_momentum"):
            config.pop(key, None)
    for old, new in _RENAMED.get(class_name, {}).items():
        if old in config:
            config[new] = config.pop(old)
    for key in _ACTIVATION_KEYS:
        if key in config:
            name = _activation_name(config[key])
            config[key] = equivalents.TO_TF_KERAS.get(name, name)
    return config


def to_keras3(class_name, config, sub_object):
    """A tf_keras layer config as Keras 3's `from_config` takes it.

    Raises:
      ConfigError: an option Keras 3 cannot express.
    """
    config = dict(config)
    for key in _ACTIVATION_KEYS:
        if key in config:
            name = _activation_name(config[key])
            if name in _NOT_IN_KERAS3:
                raise ConfigError(f"`{key}`={name!r}: {_NOT_IN_KERAS3[name]}")
            config[key] = equivalents.TO_KERAS3.get(name, name)
    for new, old in _RENAMED.get(class_name, {}).items():
        if old in config:
            config[new] = config.pop(old)
    if class_name == "InputLayer":
        config.pop("batch_input_shape", None)
    if class_name == "BatchNormalization" and isinstance(config.get("axis"), list):
        if len(config["axis"]) != 1:  # tf_keras writes [3]; Keras 3 takes one axis
            raise ConfigError(f"option `axis`={config['axis']!r}: Keras 3 normalizes "
                              "over one axis")
        config["axis"] = config["axis"][0]
    config = _drop(class_name, config, _TF_KERAS_ONLY, "Keras 3")
    return _plain(config, sub_object)


def accepted_keys(cls):
    """The keyword arguments `cls.__init__` names, or None if it takes **kwargs."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.name != "self"}


def _drop(class_name, config, table, target):
    rules = {**table["*"], **table.get(class_name, {})}
    for key, neutral in rules.items():
        if key not in config:
            continue
        if neutral is not ANY and config[key] not in neutral:
            raise ConfigError(f"option `{key}`={config[key]!r} has no {target} "
                              "equivalent")
        del config[key]
    return config


def _activation_name(value):
    """'relu' from 'relu' or from a serialized function {'config': 'relu', ...}."""
    if isinstance(value, dict) and value.get("class_name") == "function":
        value = value.get("config")
    if isinstance(value, str):
        return value
    if callable(value):
        return getattr(value, "__name__", value)
    raise ConfigError(f"activation {value!r} is not a named function")


def _plain(value, sub_object):
    """Dtype policies as names; serialized objects through `sub_object`."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        if "class_name" in value and "config" in value and value["class_name"] != "function":
            return sub_object(value)
        return {key: _plain(item, sub_object) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, sub_object) for item in value]
    return value
