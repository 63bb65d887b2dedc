"""Benchmark models shared by several scripts under benchmarks/.

The scripts run as `.venv/bin/python benchmarks/<script>.py`, so their own
directory is on sys.path and `import cifar_models` finds this module.
"""

from tfcompress._keras import keras


def cifar_cnn(widths=(16, 32, 64), name="cifar_cnn"):
    """Issue 26's CIFAR-10 CNN: 3x3 convs of `widths`, each then 2x2 max pooling.

    Then global average pooling and a 10-way dense layer, on 32x32x3 input.
    Layers are named conv_i, pool_i (i from 1), gap and logits.
    """
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for i, filters in enumerate(widths, start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                name=f"conv_{i}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name=name)
