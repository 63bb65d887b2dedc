"""tf_keras twins of Keras 3's `MelSpectrogram` and `STFTSpectrogram` layers.

tf_keras has no spectrogram layers, so these are written here, by hand, with
the constructor arguments, config keys and math of Keras 3's (keras 3.x,
`keras/src/layers/preprocessing/{mel,stft}_spectrogram.py` and the TF
backend's `stft`), in TF ops the TFLite converter turns into builtin ops.
`MelSpectrogram` on clips of a known length computes its STFT with
`stft_ops` (reshapes and small matmuls, which LiteRT's XNNPACK delegate
runs: about 3x faster in a file than RFFT2D for 8 kHz clips), and with
`tf.signal.stft` (RFFT2D in a file) otherwise; both give Keras 3's numbers
to float32 rounding. They serve two ends: the Keras 3
bridge converts a user's Keras 3 layer into one of these (checked equal),
and the audio zoo (`models.speech`) computes its log-mel features inside the
model, so an exported file takes raw samples.

One difference is allowed on purpose: `MelSpectrogram(top_db=None)` skips
the `top_db` clip, which Keras 3 cannot express. Keras 3 clips against the
max over the whole batch tensor, so one clip's features depend on the other
clips of its batch; a device running one clip per invoke would see other
features than training did. The zoo uses `top_db=None` (the `min_power`
floor still bounds the features).
"""

import math

import numpy as np
import scipy.signal
import tensorflow as tf

from tfcompress import graph
from tfcompress._keras import keras
from tfcompress.models import stft_ops

_PACKAGE = "tfcompress"
# Keras 3's mel constants (HTK: mel = 1127 ln(1 + f / 700)).
_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0
_STFT_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
# Keras 3's backend.epsilon() default, which STFTSpectrogram floors with.
_EPSILON = 1e-7


def _window_config(window):
    """A window as a config value: a name, None, or a list of floats."""
    if window is None or isinstance(window, str):
        return window
    return [float(w) for w in np.asarray(window).reshape(-1)]


def _compute_dtype(layer):
    """float64 if the layer computes in it, else float32 (what `stft` takes)."""
    return tf.float64 if layer.compute_dtype == "float64" else tf.float32


@keras.utils.register_keras_serializable(package=_PACKAGE)
class MelSpectrogram(keras.layers.Layer):
    """Raw audio `(..., samples)` -> mel spectrogram `(..., num_mel_bins, frames)`.

    Keras 3's `keras.layers.MelSpectrogram` for tf_keras: same arguments (see
    Keras 3's docstring), same math (a centered, reflect-padded STFT with a
    periodic window; |STFT| ** mag_exp; an HTK mel matrix; optionally dB).
    `frames` is 1 + samples // sequence_stride. `top_db=None` (not in Keras
    3) skips the batch-wide dB clip: see the module docstring.
    """

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None,
                 window="hann", sampling_rate=16000, num_mel_bins=128, min_freq=20.0,
                 max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0,
                 min_power=1e-10, ref_power=1.0, **kwargs):
        super().__init__(**kwargs)
        self.fft_length = int(fft_length)
        self.sequence_stride = int(sequence_stride)
        self.sequence_length = int(sequence_length or fft_length)
        if self.fft_length < self.sequence_length:
            raise ValueError(
                f"`fft_length` must be >= `sequence_length`, got fft_length={fft_length} "
                f"and sequence_length={sequence_length}: raise fft_length.")
        if isinstance(window, str) and window not in ("hann", "hamming"):
            raise ValueError(f"`window` must be 'hann', 'hamming', None or an array, "
                             f"got {window!r}.")
        self.window = _window_config(window)
        if self.window is not None and not isinstance(self.window, str) and (
                len(self.window) != self.sequence_length):
            raise ValueError(f"`window` must hold sequence_length={self.sequence_length} "
                             f"values, got {len(self.window)}.")
        self.sampling_rate = sampling_rate
        self.num_mel_bins = int(num_mel_bins)
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.power_to_db = power_to_db
        self.top_db = top_db
        self.mag_exp = mag_exp
        self.min_power = min_power
        self.ref_power = ref_power

    def call(self, inputs):
        dtype = _compute_dtype(self)
        x = tf.cast(inputs, dtype)
        if x.shape.rank == 2 and stft_ops.supports(x.shape[-1], self.fft_length,
                                                   self.sequence_stride):
            outputs = self._mel_power_by_matmuls(x)
        else:
            outputs = self._spectrogram(x)
            outputs = tf.tensordot(outputs, self._mel_matrix(outputs.shape[-1], dtype),
                                   axes=1)
        if self.power_to_db:
            outputs = self._dbscale(outputs)
        rank = outputs.shape.rank
        outputs = tf.transpose(outputs, list(range(rank - 2)) + [rank - 1, rank - 2])
        return tf.cast(outputs, self.compute_dtype)

    def _mel_power_by_matmuls(self, x):
        """Mel energies `(batch, frames, num_mel_bins)` of clips of a known length.

        The same numbers as `_spectrogram` and the mel matmul, in ops that
        LiteRT's XNNPACK delegate runs (`stft_ops`): about 3x faster in a
        TFLite file for 8 kHz clips (fft_length 256).
        """
        frames = stft_ops.reflect_frames(x, self.fft_length, self.sequence_stride)
        window = self._padded_window(x.dtype)
        if window is not None:
            frames = frames * window
        bins = self.fft_length // 2 + 1
        mel = linear_to_mel_weight_matrix(self.num_mel_bins, bins, self.sampling_rate,
                                          self.min_freq, self.max_freq)
        needed = int(np.max(np.nonzero(np.any(mel != 0, axis=1))[0], initial=0)) + 1
        power = stft_ops.power_spectrum(frames, self.fft_length, needed)
        order = stft_ops.bin_order(self.fft_length, needed)
        # Rows of the bins above Nyquist (computed, not in the spectrum) weigh 0.
        rows = np.where((order < bins)[:, None], mel[np.minimum(order, bins - 1)], 0.0)
        if self.mag_exp != 2:
            power = tf.pow(tf.sqrt(power), tf.cast(self.mag_exp, power.dtype))
        count = power.shape[1]
        outputs = tf.matmul(tf.reshape(power, [-1, power.shape[-1]]),
                            tf.constant(rows, x.dtype))
        return tf.reshape(outputs, [-1, count, self.num_mel_bins])

    def _padded_window(self, dtype):
        """The window centred in fft_length samples, or None (Keras 3's STFT)."""
        if self.window is None:
            return None
        if self.window == "hann":
            window = tf.signal.hann_window(self.sequence_length, periodic=True, dtype=dtype)
        elif self.window == "hamming":
            window = tf.signal.hamming_window(self.sequence_length, periodic=True,
                                              dtype=dtype)
        else:
            window = tf.constant(self.window, dtype)
        left = (self.fft_length - self.sequence_length) // 2
        return tf.pad(window, [[left, self.fft_length - self.sequence_length - left]])

    def _spectrogram(self, x):
        """|STFT| ** mag_exp, `(..., frames, fft_length // 2 + 1)`, as Keras 3's TF backend."""
        half = self.fft_length // 2
        paddings = [[0, 0]] * (x.shape.rank - 1) + [[half, half]]
        x = tf.pad(x, paddings, mode="REFLECT")
        window = self._padded_window(x.dtype)
        window_fn = None
        if window is not None:
            window_fn = lambda length, dtype: window  # noqa: E731 (tf.signal's signature)
        stft = tf.signal.stft(x, frame_length=self.fft_length,
                              frame_step=self.sequence_stride,
                              fft_length=self.fft_length, window_fn=window_fn)
        real, imag = tf.math.real(stft), tf.math.imag(stft)
        spec = tf.sqrt(tf.square(real) + tf.square(imag))
        return tf.pow(spec, tf.cast(self.mag_exp, spec.dtype))

    def _dbscale(self, x):
        # 10 log10(x) as one product, ln(x) * (10 / ln 10): one MUL in a file.
        log_spec = tf.math.log(tf.maximum(x, tf.cast(self.min_power, x.dtype))) * tf.cast(
            10.0 / math.log(10.0), x.dtype)
        ref = max(abs(float(self.ref_power)), float(self.min_power))
        log_spec -= tf.cast(10.0 * math.log10(ref), x.dtype)
        if self.top_db is not None:
            # Keras 3 clips against the max over the whole batch tensor.
            log_spec = tf.maximum(log_spec, tf.reduce_max(log_spec) - self.top_db)
        return log_spec

    def _mel_matrix(self, num_spectrogram_bins, dtype):
        """[bins, num_mel_bins] triangles, Keras 3's `linear_to_mel_weight_matrix`."""
        return tf.constant(linear_to_mel_weight_matrix(
            self.num_mel_bins, num_spectrogram_bins, self.sampling_rate, self.min_freq,
            self.max_freq), dtype)

    def compute_output_shape(self, input_shape):
        input_shape = tf.TensorShape(input_shape).as_list()
        samples = input_shape[-1]
        frames = None if samples is None else 1 + samples // self.sequence_stride
        return tf.TensorShape(input_shape[:-1] + [self.num_mel_bins, frames])

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length,
                "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window,
                "sampling_rate": self.sampling_rate, "num_mel_bins": self.num_mel_bins,
                "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db,
                "mag_exp": self.mag_exp, "min_power": self.min_power,
                "ref_power": self.ref_power}


def never_clipping_top_db(min_power):
    """A `top_db` at which Keras 3's batch-wide clip never changes a value.

    The dB values lie between 10 log10(min_power) and 10 log10 of the
    largest float64 (less the same reference): a `top_db` at least their
    span never clips, so `top_db=None` is this in Keras 3's terms.
    """
    span = 10.0 * math.log10(np.finfo(np.float64).max) - 10.0 * math.log10(min_power)
    return float(math.ceil(span))


def _hertz_to_mel(hertz):
    return _MEL_HIGH_FREQUENCY_Q * tf.math.log(1.0 + hertz / _MEL_BREAK_FREQUENCY_HERTZ)


def linear_to_mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate,
                                lower_edge_hertz, upper_edge_hertz):
    """Keras 3's mel matrix (HTK, peak 1, DC bin zeroed) in float32, as numpy.

    Computed with the same float32 TF ops as Keras 3's TF backend, so the two
    layers agree to float32 rounding.
    """
    with tf.init_scope():  # eager, also while a model is traced: a constant
        dtype = tf.float32
        nyquist = tf.cast(sampling_rate, dtype) / 2.0
        linear = tf.linspace(tf.constant(0.0, dtype), nyquist, num_spectrogram_bins)[1:]
        bins_mel = tf.expand_dims(_hertz_to_mel(linear), 1)
        edges = tf.linspace(_hertz_to_mel(tf.constant(lower_edge_hertz, dtype)),
                            _hertz_to_mel(tf.constant(upper_edge_hertz, dtype)), num_mel_bins + 2)
        lower, center, upper = (tf.reshape(edges[i:i + num_mel_bins], [1, num_mel_bins])
                                for i in range(3))
        lower_slopes = (bins_mel - lower) / (center - lower)
        upper_slopes = (upper - bins_mel) / (upper - center)
        weights = tf.maximum(0.0, tf.minimum(lower_slopes, upper_slopes))
        return tf.pad(weights, [[1, 0], [0, 0]]).numpy()


def stft_kernel(side, window, scaling, periodic, frame_length, fft_bins):
    """Keras 3's `initializers.STFT`: a [frame_length, 1, fft_bins] DFT kernel.

    `side` is "real" (cosines) or "imag" (sines); the window (by scipy name,
    or an array) multiplies each, divided by its norm ("density") or its sum
    ("spectrum").
    """
    fft_length = (fft_bins - 1) * 2
    freq = np.arange(fft_bins, dtype=np.float32).reshape(1, 1, fft_bins) / fft_length
    time = np.arange(frame_length, dtype=np.float32).reshape(frame_length, 1, 1)
    args = (-2 * time) * freq * np.float32(np.pi)
    kernel = np.cos(args) if side == "real" else np.sin(args)
    if window is not None:
        win = window
        if isinstance(win, str):
            win = scipy.signal.get_window(win, frame_length, periodic)
        win = np.asarray(win, np.float32).reshape(frame_length, 1, 1)
        scale = 1.0
        if scaling == "density":
            scale = np.sqrt(np.sum(np.square(win)))
        elif scaling == "spectrum":
            scale = np.sum(np.abs(win))
        kernel = kernel * win / scale
    return kernel.astype(np.float32)


@keras.utils.register_keras_serializable(package=_PACKAGE)
class STFTSpectrogram(keras.layers.Layer):
    """Keras 3's `keras.layers.STFTSpectrogram` for tf_keras: an STFT as a strided conv.

    Same arguments and weights (`real_kernel`, `imag_kernel`, each
    [frame_length, 1, fft_length // 2 + 1], trainable unless
    `trainable=False`) and modes: "log", "magnitude", "psd", "real",
    "imag", "angle", "stft". Input `(batch, time, channels)` (channels_last)
    or `(batch, channels, time)`; see Keras 3's docstring for the outputs.
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None,
                 window="hann", periodic=False, scaling="density", padding="valid",
                 expand_dims=False, data_format=None, **kwargs):
        if frame_step is not None and not 1 <= frame_step <= frame_length:
            raise ValueError(f"`frame_step` must be in [1, frame_length={frame_length}], "
                             f"got {frame_step!r}.")
        if fft_length is not None and fft_length < frame_length:
            raise ValueError(f"`fft_length` must be >= frame_length={frame_length}, "
                             f"got {fft_length!r}.")
        if mode not in _STFT_MODES:
            raise ValueError(f"`mode` must be one of {', '.join(_STFT_MODES)}, got {mode!r}.")
        if scaling not in (None, "density", "spectrum"):
            raise ValueError(f"`scaling` must be None, 'density' or 'spectrum', got {scaling!r}.")
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid' or 'same', got {padding!r}.")
        if isinstance(window, str):
            scipy.signal.get_window(window, 1)  # raises for an unknown window name
        super().__init__(**kwargs)
        self.mode = mode
        self.frame_length = int(frame_length)
        self.frame_step = frame_step
        self._frame_step = frame_step or self.frame_length // 2
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window = _window_config(window)
        self.periodic = periodic
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = expand_dims
        self.data_format = data_format or keras.backend.image_data_format()
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"`data_format` must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}.")
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def build(self, input_shape):
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        for side in ("real", "imag"):  # Keras 3's weight order
            if self.mode != {"real": "imag", "imag": "real"}[side]:
                kernel = stft_kernel(side, self.window, self.scaling, self.periodic,
                                     self.frame_length, shape[-1])
                setattr(self, f"{side}_kernel", self.add_weight(
                    name=f"{side}_kernel", shape=shape,
                    initializer=keras.initializers.Constant(kernel)))
        super().build(input_shape)

    def get_prunable_weights(self):
        """None: the DFT kernels are the transform (TFMOT's PrunableLayer protocol)."""
        return []

    def _conv(self, inputs, kernel):
        """Each channel's STFT side: `(batch, channels, bins, frames)`."""
        if self.data_format == "channels_last":
            inputs = tf.transpose(inputs, [0, 2, 1])
        channels, time = inputs.shape[1], tf.shape(inputs)[2]
        signals = tf.reshape(inputs, [-1, time, 1])
        outputs = tf.nn.conv1d(signals, tf.cast(kernel, inputs.dtype), stride=self._frame_step,
                               padding=self.padding.upper())
        outputs = tf.transpose(outputs, [0, 2, 1])  # (batch * channels, bins, frames)
        return tf.reshape(outputs, [-1, channels, outputs.shape[1], tf.shape(outputs)[2]])

    def _adjust_shapes(self, outputs):
        channels, bins = outputs.shape[1], outputs.shape[2]
        if self.expand_dims:
            order = [0, 3, 2, 1] if self.data_format == "channels_last" else [0, 1, 3, 2]
            return tf.transpose(outputs, order)
        outputs = tf.reshape(outputs, [-1, channels * bins, tf.shape(outputs)[3]])
        return tf.transpose(outputs, [0, 2, 1]) if self.data_format == "channels_last" else outputs

    def call(self, inputs):
        if inputs.dtype not in (tf.float16, tf.float32, tf.float64):
            raise TypeError(f"STFTSpectrogram takes float16, float32 or float64 inputs, "
                            f"got {inputs.dtype.name}: cast the samples to float first.")
        real = self._conv(inputs, self.real_kernel) if self.mode != "imag" else None
        imag = self._conv(inputs, self.imag_kernel) if self.mode != "real" else None
        if self.mode == "real":
            return self._adjust_shapes(real)
        if self.mode == "imag":
            return self._adjust_shapes(imag)
        if self.mode == "angle":
            return self._adjust_shapes(tf.math.atan2(imag, real))
        if self.mode == "stft":
            return self._adjust_shapes(tf.concat([real, imag], axis=2))
        power = tf.square(real) + tf.square(imag)
        if self.mode == "psd":
            return self._adjust_shapes(
                power + tf.pad(power[:, :, 1:-1, :], [[0, 0], [0, 0], [1, 1], [0, 0]]))
        epsilon = tf.cast(_EPSILON, power.dtype)
        magnitude = self._adjust_shapes(tf.sqrt(tf.maximum(power, epsilon)))
        if self.mode == "magnitude":
            return magnitude
        return tf.math.log(tf.maximum(magnitude, epsilon))

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length,
                "window": self.window, "periodic": self.periodic, "scaling": self.scaling,
                "padding": self.padding, "data_format": self.data_format,
                "expand_dims": self.expand_dims}


FRONTEND_LAYERS = (MelSpectrogram, STFTSpectrogram)


def is_frontend(layer):
    """Whether `layer` is one of these feature layers (kept in float, never pruned)."""
    return isinstance(layer, FRONTEND_LAYERS)


def float_layers(model):
    """Names of the frontend layers of `model` and of every layer before them.

    Empty when `model` has no frontend.
    """
    names, pending = set(), [layer for layer in graph.layers(model)
                             if is_frontend(layer)]
    while pending:
        layer = pending.pop()
        if layer.name in names or isinstance(layer, keras.layers.InputLayer):
            continue  # an input has no ops of its own
        names.add(layer.name)
        for node in layer.inbound_nodes:
            inbound = node.inbound_layers
            pending.extend(inbound if isinstance(inbound, list) else [inbound])
    return sorted(names)


def batch_dependent_layers(model):
    """Names of the layers of `model` whose output for one example depends on its batch.

    Keras 3's MelSpectrogram (and its twin) with `top_db` clips against the
    max of the whole batch tensor (see the module docstring).
    """
    return [layer.name for layer in graph.layers(model)
            if isinstance(layer, MelSpectrogram) and layer.power_to_db
            and layer.top_db is not None]
