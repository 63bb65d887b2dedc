"""Keras 3's spectrogram layers to their tf_keras twins and back.

Keras 3 has `MelSpectrogram` and `STFTSpectrogram`; tf_keras has neither,
so `tfcompress.models.spectrogram` holds twins with the same configs and
math. The configs carry over key for key (dtype policies translated by
`configs`); STFTSpectrogram's DFT kernels are weights, which the bridge
copies after. Keras 3 itself comes from the bridge (`converters`), the one
module that imports it.
"""

import warnings

from tfcompress.keras3 import configs
from tfcompress.models import spectrogram


class BatchDependentWarning(UserWarning):
    """A converted layer whose output for one example depends on its batch."""


def _no_sub_objects(obj):
    raise configs.ConfigError(f"unexpected serialized object {obj.get('class_name')!r}")


def _mel_to_tf_keras(layer):
    config = configs.to_tf_keras("MelSpectrogram", layer.get_config(), _no_sub_objects)
    if (config.get("top_db") is not None
            and config["top_db"] >= spectrogram.never_clipping_top_db(config["min_power"])):
        config["top_db"] = None  # a clip that never clips: per clip, as it was written
    if config.get("power_to_db") and config.get("top_db") is not None:
        warnings.warn(
            f"MelSpectrogram {layer.name!r} has top_db={config['top_db']}: Keras 3 clips "
            "its dB values against the max over the whole batch, so one clip's features "
            "depend on the other clips of its batch; the converted layer does the same "
            "(the models agree), but a device running one clip per invoke computes other "
            "features than training did (exported files are checked against Keras run "
            "one clip at a time). Use power_to_db=False, or normalize per clip, for a "
            "model you deploy.", BatchDependentWarning, stacklevel=2)
    return spectrogram.MelSpectrogram.from_config(config)


def _stft_to_tf_keras(layer):
    config = configs.to_tf_keras("STFTSpectrogram", layer.get_config(), _no_sub_objects)
    return spectrogram.STFTSpectrogram.from_config(config)


def _to_keras3(keras3_class):
    def convert(layer):
        config = configs.to_keras3(keras3_class.__name__, layer.get_config(), _no_sub_objects)
        if keras3_class.__name__ == "MelSpectrogram" and config.get("top_db") is None:
            # Keras 3 always clips: at this top_db the clip never changes a value.
            config["top_db"] = spectrogram.never_clipping_top_db(config["min_power"])
        return keras3_class.from_config(config)
    return convert


def converters(keras3):
    """({Keras 3 class: fn(layer) -> tf_keras layer}, {tf_keras class: the reverse}).

    Args:
      keras3: the Keras 3 module.
    """
    return ({keras3.layers.MelSpectrogram: _mel_to_tf_keras,
             keras3.layers.STFTSpectrogram: _stft_to_tf_keras},
            {spectrogram.MelSpectrogram: _to_keras3(keras3.layers.MelSpectrogram),
             spectrogram.STFTSpectrogram: _to_keras3(keras3.layers.STFTSpectrogram)})
