"""Standard classification models. Every model outputs logits (no softmax).

All builders return functional tf_keras models, so later stages (pruning
wrappers, structured pruning, distillation hints) can walk and rebuild the
graph by layer name. Image models take `input_shape`; text models take int
token ids and `vocab_size` and `sequence_length`, which the data fixes.
"""

import math

from tfcompress._checks import check_positive_int
from tfcompress._keras import keras

MNIST_SHAPE = (28, 28, 1)
CIFAR_SHAPE = (32, 32, 3)


def _check_positive_ints(arg_name, values, count=None):
    values = tuple(values)
    if not values or any(not isinstance(v, int) or v <= 0 for v in values):
        raise ValueError(
            f"`{arg_name}` must be a non-empty list of positive ints, got {values!r}.")
    if count is not None and len(values) != count:
        raise ValueError(f"`{arg_name}` must hold {count} ints, got {values!r}.")
    return values


def _check_rate(arg_name, rate):
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"`{arg_name}` must be in [0, 1), got {rate!r}.")


def mlp(hidden=(300, 100), *, dropout=0.0, input_dropout=0.0, input_shape=MNIST_SHAPE,
        num_classes=10, name="mlp"):
    """A ReLU multilayer perceptron; images are flattened inside the model.

    Args:
      hidden: sizes of the hidden Dense layers, e.g. (300, 100).
      dropout: dropout rate after each hidden layer.
      input_dropout: dropout rate on the input pixels (Hinton's teachers).
      input_shape: shape of one example; flat (784,) works too.
      num_classes: number of output logits.
      name: model name.
    """
    hidden = _check_positive_ints("hidden", hidden)
    _check_rate("dropout", dropout)
    _check_rate("input_dropout", input_dropout)
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    if input_dropout:
        x = keras.layers.Dropout(input_dropout, name="input_dropout")(x)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def lenet_300_100(*, input_shape=MNIST_SHAPE, num_classes=10):
    """LeNet-300-100 (LeCun et al. 1998): 266,610 parameters on MNIST."""
    return mlp((300, 100), input_shape=input_shape, num_classes=num_classes,
               name="lenet_300_100")


def lenet5(*, input_shape=MNIST_SHAPE, num_classes=10):
    """LeNet-5 as in Caffe's example and Han et al. 2015: 431,080 parameters.

    conv 20@5x5, max-pool, conv 50@5x5, max-pool, dense 500, dense 10.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Conv2D(20, 5, name="conv_1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool_1")(x)
    x = keras.layers.Conv2D(50, 5, name="conv_2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(500, activation="relu", name="dense_1")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="lenet5")


def residual_cnn(filters=(32, 64), *, input_shape=MNIST_SHAPE, num_classes=10,
                 name="residual_cnn"):
    """A small ResNet: batch norm, residual Adds, strided downsampling.

    stem conv 3x3 (stride 2) -> residual block -> conv 3x3 (stride 2) ->
    residual block -> global average pooling -> logits; each block is
    conv-BN-ReLU-conv-BN added to its input, then ReLU (He et al. 2016).
    """
    filters = _check_positive_ints("filters", filters, count=2)
    layers = keras.layers

    def conv_bn(x, width, stride, name):
        x = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False,
                          name=f"{name}_conv")(x)
        return layers.BatchNormalization(name=f"{name}_bn")(x)

    def block(x, width, name):
        y = layers.ReLU(name=f"{name}_relu_1")(conv_bn(x, width, 1, f"{name}_1"))
        y = conv_bn(y, width, 1, f"{name}_2")
        return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, y]))

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.ReLU(name="stem_relu")(conv_bn(inputs, filters[0], 2, "stem"))
    x = block(x, filters[0], "block_1")
    x = layers.ReLU(name="down_relu")(conv_bn(x, filters[1], 2, "down"))
    x = block(x, filters[1], "block_2")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name=name)


def small_cnn(filters=(16, 32), *, input_shape=MNIST_SHAPE, num_classes=10,
              name="small_cnn"):
    """The CNN of the keras.io distillation example.

    With filters (16, 32) it is that example's student; with (256, 512) its
    teacher (keras.io/examples/vision/knowledge_distillation).
    """
    filters = _check_positive_ints("filters", filters, count=2)
    first, second = filters
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Conv2D(first, 3, strides=2, padding="same", name="conv_1")(inputs)
    x = keras.layers.LeakyReLU(0.2, name="leaky_relu")(x)
    x = keras.layers.MaxPooling2D(2, strides=1, padding="same", name="pool")(x)
    x = keras.layers.Conv2D(second, 3, strides=2, padding="same", name="conv_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def hinton_teacher(*, input_shape=MNIST_SHAPE, num_classes=10):
    """Hinton et al. 2015's MNIST teacher: 784-1200-1200-10 with dropout.

    Dropout rates 0.2 on inputs and 0.5 on hidden units, as in Hinton et al.
    2012 (the dropout paper the distillation paper's teacher follows).
    """
    return mlp((1200, 1200), dropout=0.5, input_dropout=0.2,
               input_shape=input_shape, num_classes=num_classes,
               name="hinton_teacher")


def hinton_student(*, input_shape=MNIST_SHAPE, num_classes=10):
    """Hinton et al. 2015's MNIST student: 784-800-800-10, no regularization."""
    return mlp((800, 800), input_shape=input_shape, num_classes=num_classes,
               name="hinton_student")


def resnet8(filters=16, *, l2=0.0, input_shape=CIFAR_SHAPE, num_classes=10, name="resnet8"):
    """MLPerf Tiny's image-classification reference: ResNet-8 on CIFAR-10.

    As `resnet_v1_eembc` in mlcommons/tiny, benchmark/training/
    image_classification/keras_model.py (Banbury et al. 2021): conv 3x3 of
    `filters` + BN + ReLU, then 3 stacks of conv 3x3-BN-ReLU-conv 3x3-BN
    added to the stack's input, then ReLU. Stacks 2 and 3 double the width,
    stride 2 in their first conv and take their input through a strided 1x1
    conv (no BN). Average pooling over the whole (smaller side of the) map,
    flatten, logits. Convs: same padding, biases, he_normal; batch norm at
    Keras's defaults. 78,666 parameters and 12.5M MACs at 32x32x3 with the
    default 16 filters (the reference's Keras summary).

    Args:
      filters: width of the first stack; the others have 2x and 4x.
      l2: L2 weight on every conv kernel; the reference trains with 1e-4,
        a training choice kept off by default.
      input_shape: shape of one image.
      num_classes: number of output logits (the reference ends in softmax).
      name: model name.
    """
    check_positive_int("filters", filters)
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not 0 <= l2 < math.inf:
        raise ValueError(f"`l2` must be a float >= 0, got {l2!r}.")
    layers = keras.layers
    regularizer = keras.regularizers.L2(l2) if l2 else None

    def conv(x, width, kernel_size, stride, name):
        return layers.Conv2D(width, kernel_size, strides=stride, padding="same",
                             kernel_initializer="he_normal",
                             kernel_regularizer=regularizer, name=name)(x)

    def stack(x, width, stride, name):
        y = conv(x, width, 3, stride, f"{name}_conv_1")
        y = layers.ReLU(name=f"{name}_relu_1")(layers.BatchNormalization(name=f"{name}_bn_1")(y))
        y = layers.BatchNormalization(name=f"{name}_bn_2")(conv(y, width, 3, 1, f"{name}_conv_2"))
        if stride != 1:
            x = conv(x, width, 1, stride, f"{name}_shortcut")
        return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, y]))

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.BatchNormalization(name="stem_bn")(conv(inputs, filters, 3, 1, "stem_conv"))
    x = layers.ReLU(name="stem_relu")(x)
    x = stack(x, filters, 1, "stack_1")
    x = stack(x, 2 * filters, 2, "stack_2")
    x = stack(x, 4 * filters, 2, "stack_3")
    x = layers.AveragePooling2D(min(x.shape[1:3]), name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(num_classes, kernel_initializer="he_normal", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


# MobileNetV2's inverted residual blocks (Sandler et al. 2018, Table 2):
# (expansion, output channels at alpha=1, blocks, stride of the first).
_MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _divisible_by_8(width):
    """A width scaled by alpha, rounded to a multiple of 8, never more than 10%
    below it: the rule of the paper's TF-slim code, which Keras's
    MobileNetV2 repeats (so the same alpha gives the same widths)."""
    rounded = max(8, int(width + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * width else rounded


def mobilenet_v2(*, alpha=0.35, imagenet_strides=False, input_shape=CIFAR_SHAPE,
                 num_classes=10, name="mobilenet_v2"):
    """MobileNetV2 (Sandler et al. 2018) at width multiplier `alpha`.

    stem conv 3x3 of 32*alpha -> 17 inverted residual blocks (1x1 expand
    conv, 3x3 depthwise conv, 1x1 linear projection, each with batch norm,
    ReLU6 after the first two; added to the block's input where the shapes
    match) -> conv 1x1 of 1280 -> global average pooling -> logits. Widths
    are rounded to multiples of 8, and the last conv keeps 1280 when alpha
    <= 1, as in the paper and Keras's MobileNetV2, whose parameter count
    this equals with `imagenet_strides` (3,538,984 at alpha=1, 224x224x3,
    1000 classes; ~300M MACs, the paper's Table 4).

    For 32x32 inputs (the default), the stem and the first 24-channel block
    have stride 1 instead of 2, as in common CIFAR-10 versions (kuangliu/
    pytorch-cifar's mobilenetv2.py): a 32x32 image ends as 4x4 maps, not
    1x1. Batch norm uses tf_keras's defaults (momentum 0.99; Keras's
    ImageNet model has 0.999, whose statistics settle too slowly for short
    runs); no dropout.

    Args:
      alpha: width multiplier, e.g. 0.35, 0.5, 0.75, 1.0.
      imagenet_strides: the paper's strides (32x downsampling, for 224x224).
      input_shape: shape of one image.
      num_classes: number of output logits.
      name: model name.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < math.inf:
        raise ValueError(f"`alpha` must be a float > 0 (e.g. 0.35), got {alpha!r}.")
    if not isinstance(imagenet_strides, bool):
        raise ValueError(f"`imagenet_strides` must be True or False, got {imagenet_strides!r}.")
    layers = keras.layers

    def conv_bn(x, width, kernel_size, stride, name, conv_name=None, relu=True):
        """Conv `conv_name` (default NAME_conv), then NAME_bn [and NAME_relu]."""
        x = layers.Conv2D(width, kernel_size, strides=stride, padding="same", use_bias=False,
                          name=conv_name or f"{name}_conv")(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x

    def block(x, expansion, width, stride, name):
        y = x
        if expansion != 1:
            y = conv_bn(y, expansion * x.shape[-1], 1, 1, f"{name}_expand", f"{name}_expand")
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                                   name=f"{name}_depthwise")(y)
        y = layers.BatchNormalization(name=f"{name}_depthwise_bn")(y)
        y = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(y)
        y = conv_bn(y, width, 1, 1, f"{name}_project", f"{name}_project", relu=False)
        if stride == 1 and x.shape[-1] == width:
            y = layers.Add(name=f"{name}_add")([x, y])
        return y

    reduced_stride = 2 if imagenet_strides else 1  # of the stem and stage 2
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_bn(inputs, _divisible_by_8(32 * alpha), 3, reduced_stride, "stem")
    block_id = 0
    for stage, (expansion, width, blocks, stride) in enumerate(_MOBILENET_V2_STAGES):
        if stage == 1:
            stride = reduced_stride
        for i in range(blocks):
            x = block(x, expansion, _divisible_by_8(int(width * alpha)), stride if i == 0 else 1,
                      f"block_{block_id}")
            block_id += 1
    x = conv_bn(x, _divisible_by_8(1280 * alpha) if alpha > 1.0 else 1280, 1, 1, "head")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name=name)


def _image_rows(inputs, input_shape):
    """An image as a sequence of its rows: [height steps, width * channels]."""
    if len(input_shape) == 2:  # already (steps, features)
        return inputs
    if len(input_shape) != 3:
        raise ValueError(
            f"`input_shape` must be (height, width, channels) or (steps, features) "
            f"for a recurrent model, got {tuple(input_shape)!r}.")
    height, width, channels = input_shape
    return keras.layers.Reshape((height, width * channels), name="rows")(inputs)


def _row_reader(recurrent_layer, input_shape, num_classes, name):
    inputs = keras.Input(shape=input_shape, name="image")
    x = recurrent_layer(_image_rows(inputs, input_shape))
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(x),
                       name=name)


def lstm(units=128, *, input_shape=MNIST_SHAPE, num_classes=10, name="lstm"):
    """An LSTM reading an image row by row (MNIST: 28 steps of 28 pixels).

    image -> rows -> LSTM(units), its last output -> logits, with tf_keras'
    defaults (exported as a stateless loop: `export.recurrent`).

    Args:
      units: size of the LSTM's state.
      input_shape: (height, width, channels), read as `height` steps; or
        (steps, features) for sequences.
      num_classes: number of output logits.
      name: model name.
    """
    check_positive_int("units", units)
    return _row_reader(keras.layers.LSTM(units, name="lstm"), input_shape,
                       num_classes, name)


def gru(units=128, *, input_shape=MNIST_SHAPE, num_classes=10, name="gru"):
    """`lstm` with a GRU."""
    check_positive_int("units", units)
    return _row_reader(keras.layers.GRU(units, name="gru"), input_shape,
                       num_classes, name)


def _check_text_sizes(vocab_size, sequence_length, embedding_dim):
    check_positive_int("vocab_size", vocab_size)
    check_positive_int("sequence_length", sequence_length)
    check_positive_int("embedding_dim", embedding_dim)


def _token_inputs(vocab_size, sequence_length, embedding_dim):
    """Int token ids [batch, sequence_length] and their embeddings.

    No masking (mask_zero=False): TFLite's fused LSTM takes no mask, so the
    padding id 0 is embedded and read like any token.
    """
    inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="tokens")
    embedded = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=False,
                                      name="embedding")(inputs)
    return inputs, embedded


def _text_logits(inputs, x, dropout, num_classes, name):
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(x),
                       name=name)


def text_cnn(embedding_dim=64, filters=128, *, kernel_size=5, dropout=0.0,
             vocab_size, sequence_length, num_classes=2, name="text_cnn"):
    """A 1-D CNN over token embeddings (Kim 2014, one filter width).

    tokens -> Embedding -> Conv1D(filters, kernel_size, ReLU) -> global max
    pooling over time -> [dropout] -> logits.

    Args:
      embedding_dim: size of each token's embedding.
      filters: number of convolution filters (features after pooling).
      kernel_size: tokens each filter spans; at most `sequence_length`.
      dropout: dropout rate before the logits.
      vocab_size: number of token ids, from the text job's vocabulary (ids
        are in [0, vocab_size); 0 is padding, embedded like any token).
      sequence_length: tokens per example (inputs are padded or cut to it).
      num_classes: number of output logits.
      name: model name.
    """
    _check_text_sizes(vocab_size, sequence_length, embedding_dim)
    check_positive_int("filters", filters)
    check_positive_int("kernel_size", kernel_size)
    if kernel_size > sequence_length:
        raise ValueError(f"`kernel_size` must be at most `sequence_length` "
                         f"({sequence_length}), got {kernel_size}.")
    _check_rate("dropout", dropout)
    inputs, x = _token_inputs(vocab_size, sequence_length, embedding_dim)
    x = keras.layers.Conv1D(filters, kernel_size, activation="relu", name="conv")(x)
    x = keras.layers.GlobalMaxPooling1D(name="pool")(x)
    return _text_logits(inputs, x, dropout, num_classes, name)


def text_lstm(embedding_dim=64, units=64, *, bidirectional=False, dropout=0.0,
              vocab_size, sequence_length, num_classes=2, name="text_lstm"):
    """An LSTM over token embeddings; its last output gives the logits.

    tokens -> Embedding -> LSTM(units) (or Bidirectional, both final outputs
    concatenated) -> [dropout] -> logits.

    Args:
      embedding_dim: size of each token's embedding.
      units: size of the LSTM's state (per direction).
      bidirectional: also read the sequence backwards.
      dropout: dropout rate before the logits.
      vocab_size: number of token ids, from the text job's vocabulary (ids
        are in [0, vocab_size); 0 is padding, embedded like any token).
      sequence_length: tokens per example (inputs are padded or cut to it).
      num_classes: number of output logits.
      name: model name.
    """
    _check_text_sizes(vocab_size, sequence_length, embedding_dim)
    check_positive_int("units", units)
    if not isinstance(bidirectional, bool):
        raise ValueError(f"`bidirectional` must be True or False, got {bidirectional!r}.")
    _check_rate("dropout", dropout)
    inputs, x = _token_inputs(vocab_size, sequence_length, embedding_dim)
    recurrent = keras.layers.LSTM(units, name="lstm")
    if bidirectional:
        recurrent = keras.layers.Bidirectional(recurrent, name="bidirectional")
    return _text_logits(inputs, recurrent(x), dropout, num_classes, name)
