"""Standard classification models. Every model outputs logits (no softmax).

All builders return functional tf_keras models, so later stages (pruning
wrappers, structured pruning, distillation hints) can walk and rebuild the
graph by layer name.
"""

from tfcompress._keras import keras

MNIST_SHAPE = (28, 28, 1)


def _check_positive_ints(arg_name, values):
    values = tuple(values)
    if not values or any(not isinstance(v, int) or v <= 0 for v in values):
        raise ValueError(
            f"`{arg_name}` must be a non-empty list of positive ints, got {values!r}."
        )
    return values


def _check_rate(arg_name, rate):
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"`{arg_name}` must be in [0, 1), got {rate!r}.")


def mlp(
    hidden=(300, 100),
    *,
    dropout=0.0,
    input_dropout=0.0,
    input_shape=MNIST_SHAPE,
    num_classes=10,
    name="mlp",
):
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
    filters = _check_positive_ints("filters", filters)
    if len(filters) != 2:
        raise ValueError(f"`filters` must hold 2 ints, got {filters!r}.")
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
    filters = _check_positive_ints("filters", filters)
    if len(filters) != 2:
        raise ValueError(f"`filters` must hold 2 ints, got {filters!r}.")
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
