"""Standard classification models. Every model outputs logits (no softmax).

All builders return functional tf_keras models, so later stages (pruning
wrappers, structured pruning, distillation hints) can walk and rebuild the
graph by layer name. Image models take `input_shape`; text models take int
token ids and `vocab_size` and `sequence_length`, which the data fixes.
"""

from tfcompress._checks import check_positive_int
from tfcompress._keras import keras

MNIST_SHAPE = (28, 28, 1)


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
