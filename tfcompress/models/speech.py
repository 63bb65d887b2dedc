"""Speech models: raw samples in, log-mel features computed inside the model.

The feature frontend is a layer of the model (`spectrogram.MelSpectrogram`),
so an exported .tflite file takes the clip's samples and a device needs no
feature code of its own. Every model outputs logits (no softmax), as the
rest of the zoo.
"""

import math

from tfcompress._checks import check_positive_int
from tfcompress._keras import keras
from tfcompress.models import spectrogram

# MLPerf Tiny's KWS reference input: 1 s at 16 kHz as 49 frames of 10 MFCCs.
REFERENCE_SAMPLE_RATE = 16000
REFERENCE_FEATURES_SHAPE = (49, 10, 1)

# The frontend's frames: the reference's 30 ms window every 20 ms (the
# defaults of its kws_util.py, --window_size_ms=30 --window_stride_ms=20;
# Hello Edge used 40 ms). At 8 kHz (FSDD) that is 240 samples every 160, in
# an FFT of 256 (the next power of two, as the reference's tf.signal.stft
# takes; a 40 ms window would need 512, a costlier DFT: `stft_ops`); 1 s
# gives 1 + 8000 // 160 = 51 frames (Keras 3's STFT pads half a window at
# each end; the reference's 49 do not), the same map at any sample rate.
WINDOW_SECONDS = 0.030
STRIDE_SECONDS = 0.020
# A compressed model may take other frames (`window_ms`, `stride_ms`): a
# longer stride means fewer frames (the frontend's and the network's work
# fall with them), a shorter window a smaller FFT (16 ms at 8 kHz: 128).
DEFAULT_WINDOW_MS = WINDOW_SECONDS * 1000
DEFAULT_STRIDE_MS = STRIDE_SECONDS * 1000
# The reference's 4 depthwise-separable blocks; fewer cut a narrow model's
# ops, tensors and bytes.
DEFAULT_BLOCKS = 4
# 10 mel bands per frame: the reference's 10 coefficients per frame, so the
# convolutions see a 51x10 map and cost what the reference's do. Log-mel
# energies instead of MFCCs: no DCT, which is a dense 40x10 matmul that adds
# little for a CNN; `mel_bins=40` gives the reference's 40 bands, at 4x MACs.
DEFAULT_MEL_BINS = 10
# Power floor before the log: -60 dB, about the noise floor of 16-bit audio
# in these frames, so silence (and zero padding) maps to one finite value
# and the features span about 100 dB, which int8 after the frontend keeps.
MIN_POWER = 1e-6
# The dB values, about -60 (silence, and zero padding) to +40 (loud speech),
# mapped to about 0 to 2.5: silence becomes 0, as the convolutions' zero
# padding is, and the features sit near unit scale, as the MFCC-free
# convolutions and their batch norms (moving statistics starting at 0 and 1)
# expect.
FEATURE_SCALE, FEATURE_OFFSET = 1 / 40, 1.5


def _check_ms(arg_name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"`{arg_name}` must be a positive number of milliseconds, "
                         f"got {value!r}.")


def frame_settings(sample_rate, window_ms=DEFAULT_WINDOW_MS, stride_ms=DEFAULT_STRIDE_MS):
    """(window, stride, fft_length) in samples: the FFT is the next power of two.

    Raises:
      ValueError: a window or stride under one sample, or a bad value.
    """
    check_positive_int("sample_rate", sample_rate)
    _check_ms("window_ms", window_ms)
    _check_ms("stride_ms", stride_ms)
    window = round(window_ms / 1000 * sample_rate)
    stride = round(stride_ms / 1000 * sample_rate)
    # A window of one sample has no spectrum worth the name.
    for arg_name, value, samples, least in (("window_ms", window_ms, window, 2),
                                            ("stride_ms", stride_ms, stride, 1)):
        if samples < least:
            raise ValueError(f"`{arg_name}` {value:g} is {samples} sample(s) at "
                             f"{sample_rate} Hz: give a longer one, or the clips' rate in Hz.")
    return window, stride, 2 ** math.ceil(math.log2(window))


def log_mel_frontend(sample_rate, mel_bins=DEFAULT_MEL_BINS, name="log_mel", *,
                     window_ms=DEFAULT_WINDOW_MS, stride_ms=DEFAULT_STRIDE_MS):
    """The zoo's frontend: log-mel energies in dB, per clip (no batch-wide clip).

    Returns a `spectrogram.MelSpectrogram` mapping `(batch, samples)` to
    `(batch, mel_bins, frames)`: a Hann window of `window_ms` every
    `stride_ms`, in an FFT of the next power of two; see the constants
    above for the other settings.
    """
    check_positive_int("mel_bins", mel_bins)
    window, stride, fft_length = frame_settings(sample_rate, window_ms, stride_ms)
    return spectrogram.MelSpectrogram(
        fft_length=fft_length, sequence_length=window,
        sequence_stride=stride, sampling_rate=sample_rate, num_mel_bins=mel_bins,
        min_freq=20.0, power_to_db=True, top_db=None, min_power=MIN_POWER, name=name)


def _features(inputs, input_shape, sample_rate, mel_bins, window_ms, stride_ms):
    """`(frames, mel_bins, 1)` log-mel maps of raw clips `(samples,)` or `(samples, 1)`."""
    x = inputs
    if len(input_shape) == 2:
        if input_shape[1] != 1:
            raise ValueError(f"`input_shape` {tuple(input_shape)!r} has {input_shape[1]} "
                             "channels; speech models take mono clips, (samples,) or "
                             "(samples, 1): mix the channels down first.")
        # Flatten, not Reshape: its shape is a constant in a .tflite file
        # (Reshape computes the batch size each invoke: 3 more ops).
        x = keras.layers.Flatten(name="mono")(x)
    x = log_mel_frontend(sample_rate, mel_bins, window_ms=window_ms, stride_ms=stride_ms)(x)
    if x.shape[2] < 2:
        raise ValueError(f"`input_shape` {tuple(input_shape)!r} holds {x.shape[2]} frame(s) of "
                         f"{stride_ms:g} ms at {sample_rate} Hz; the model needs 2 "
                         "or more: pad the clips to a longer length.")
    x = keras.layers.Permute((2, 1), name="frames_first")(x)
    x = keras.layers.Reshape((x.shape[1], mel_bins, 1), name="feature_map")(x)
    return keras.layers.Rescaling(FEATURE_SCALE, FEATURE_OFFSET, name="feature_scale")(x)


def _check_input_shape(input_shape):
    input_shape = tuple(input_shape)
    if len(input_shape) not in (1, 2, 3) or any(
            not isinstance(d, int) or d <= 0 for d in input_shape):
        raise ValueError(
            f"`input_shape` must be raw clips (samples,) or (samples, 1), or feature maps "
            f"(frames, coefficients, 1) as the reference's {REFERENCE_FEATURES_SHAPE}, "
            f"got {input_shape!r}.")
    return input_shape


def _check_rate(arg_name, rate):
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"`{arg_name}` must be in [0, 1), got {rate!r}.")


def ds_cnn(filters=64, *, l2=0.0, dropout=0.4, stem_dropout=0.2, mel_bins=DEFAULT_MEL_BINS,
           window_ms=DEFAULT_WINDOW_MS, stride_ms=DEFAULT_STRIDE_MS, blocks=DEFAULT_BLOCKS,
           sample_rate=REFERENCE_SAMPLE_RATE, input_shape=(REFERENCE_SAMPLE_RATE,),
           num_classes=12, name="ds_cnn"):
    """MLPerf Tiny's keyword-spotting reference: DS-CNN after Hello Edge.

    As `ds_cnn` in mlcommons/tiny, benchmark/training/keyword_spotting/
    keras_model.py (Zhang et al. 2017, arXiv:1711.07128; Banbury et al.
    2021): conv 10x4 stride 2 of `filters` + BN + ReLU + dropout, then 4
    depthwise-separable blocks (depthwise 3x3 + BN + ReLU, pointwise 1x1 of
    `filters` + BN + ReLU), dropout, average pooling over (frames // 2,
    coefficients // 2) as the reference's, flatten, logits. Same padding and
    biases throughout. On the reference's 49x10x1 MFCCs: 24,908 parameters
    (23,756 trainable) and 2.66M MACs.

    Raw clips `(samples,)` or `(samples, 1)` first go through
    `log_mel_frontend` (in the model: no weights, kept in float by int8
    export) and a fixed rescaling (`FEATURE_SCALE`); a 3-D `input_shape`
    takes ready feature maps, as the reference.

    Args:
      filters: width of every conv (the reference's 64).
      l2: L2 weight on every kernel; the reference trains with 1e-4, a
        training choice kept off by default.
      dropout: rate before the pooling (the reference's 0.4).
      stem_dropout: rate after the first conv (the reference's 0.2).
      mel_bins: mel bands per frame of the frontend (raw clips only).
      window_ms: the frontend's window in ms (raw clips only; the
        reference's 30); the FFT is the next power of two of its samples.
      stride_ms: the frontend's hop in ms (raw clips only; the reference's
        20): 1 + samples // stride frames.
      blocks: depthwise-separable blocks (the reference's 4).
      sample_rate: the clips' rate in Hz (raw clips only).
      input_shape: `(samples,)`, `(samples, 1)`, or `(frames, coefficients, 1)`.
      num_classes: number of output logits (the reference ends in a softmax
        over 12 keywords).
      name: model name.
    """
    check_positive_int("filters", filters)
    check_positive_int("blocks", blocks)
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not 0 <= l2 < math.inf:
        raise ValueError(f"`l2` must be a float >= 0, got {l2!r}.")
    _check_rate("dropout", dropout)
    _check_rate("stem_dropout", stem_dropout)
    input_shape = _check_input_shape(input_shape)
    layers = keras.layers
    regularizer = keras.regularizers.L2(l2) if l2 else None

    inputs = keras.Input(shape=input_shape, name="audio" if len(input_shape) < 3 else "features")
    x = inputs if len(input_shape) == 3 else _features(inputs, input_shape, sample_rate,
                                                       mel_bins, window_ms, stride_ms)
    pool_size = (x.shape[1] // 2, x.shape[2] // 2)  # the reference's final_pool_size
    x = layers.Conv2D(filters, (10, 4), strides=(2, 2), padding="same",
                      kernel_regularizer=regularizer, name="stem_conv")(x)
    x = layers.ReLU(name="stem_relu")(layers.BatchNormalization(name="stem_bn")(x))
    x = layers.Dropout(stem_dropout, name="stem_dropout")(x)
    for i in range(1, blocks + 1):
        x = layers.DepthwiseConv2D(3, padding="same", depthwise_regularizer=regularizer,
                                   name=f"block_{i}_depthwise")(x)
        x = layers.ReLU(name=f"block_{i}_dw_relu")(
            layers.BatchNormalization(name=f"block_{i}_dw_bn")(x))
        x = layers.Conv2D(filters, 1, padding="same", kernel_regularizer=regularizer,
                          name=f"block_{i}_pointwise")(x)
        x = layers.ReLU(name=f"block_{i}_pw_relu")(
            layers.BatchNormalization(name=f"block_{i}_pw_bn")(x))
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.AveragePooling2D(pool_size, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(num_classes, kernel_regularizer=regularizer, name="logits")(x)
    return keras.Model(inputs, logits, name=name)
