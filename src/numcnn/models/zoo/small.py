"""The small networks of the study notes, for ``numcnn train --model {simple,lenet5,deep}``.

All end in a Dense layer without softmax (logits): train them with
``SparseCategoricalCrossentropy(from_logits=True)``.
"""

from __future__ import annotations

from ...layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, ReLU
from ...utils.validation import _short
from ..sequential import Sequential


def _check_input(input_shape, smallest, name):
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(isinstance(d, int) and d > 0 for d in input_shape)):
        raise ValueError(f"The `input_shape` argument must be (height, width, channels). Received: {_short(input_shape)}")
    if min(input_shape[:2]) < smallest:
        raise ValueError(f"The {name} model needs images of at least {smallest}x{smallest}. "
                         f"Received: input_shape={tuple(input_shape)}")


def simple_convnet(input_shape=(28, 28, 1), classes=10, seed=0) -> Sequential:
    """Seed 002/004's SimpleConvNet: conv(30, 5x5) - relu - maxpool 2 - dense 100 - relu - dense ``classes``.

    On 8x8 digits the 5x5 convolution uses "same" padding (a valid one would leave 4x4 and
    pooling 2x2, too little to learn from); on 28x28 MNIST it is the seed's "valid".
    """
    _check_input(input_shape, 4, "simple")
    padding = "same" if min(input_shape[:2]) < 16 else "valid"
    return Sequential([
        Conv2D(30, 5, padding=padding, activation="relu", input_shape=tuple(input_shape)),
        MaxPooling2D(2),
        Flatten(),
        Dense(100, activation="relu"),
        Dense(classes),
    ], name="simple_convnet", seed=seed)


def lenet5(input_shape=(28, 28, 1), classes=10, seed=0) -> Sequential:
    """LeNet-5 with ReLU and max pooling: conv 6@5x5 (same) - pool - conv 16@5x5 - pool - 120 - 84 - ``classes``."""
    _check_input(input_shape, 16, "lenet5")
    return Sequential([
        Conv2D(6, 5, padding="same", activation="relu", input_shape=tuple(input_shape)),
        MaxPooling2D(2),
        Conv2D(16, 5, activation="relu"),
        MaxPooling2D(2),
        Flatten(),
        Dense(120, activation="relu"),
        Dense(84, activation="relu"),
        Dense(classes),
    ], name="lenet5", seed=seed)


def _conv_block(filters, **kwargs):
    return [Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal", **kwargs),
            BatchNormalization(), ReLU()]


def deep_convnet(input_shape=(28, 28, 1), classes=10, seed=0) -> Sequential:
    """The deep network of Deep Learning from Scratch (ch. 8) with batch norm: three blocks of two 3x3 convs (16, 32, 64
    filters, "same" padding) each followed by 2x2 max pooling, then dense 50 - dropout 0.5 -
    dense ``classes``. Every conv is conv (no bias) - batch norm - relu. He's initialisation, as the
    book, in the ReLU layers.
    """
    _check_input(input_shape, 8, "deep")
    return Sequential([
        *_conv_block(16, input_shape=tuple(input_shape)), *_conv_block(16), MaxPooling2D(2),
        *_conv_block(32), *_conv_block(32), MaxPooling2D(2),
        *_conv_block(64), *_conv_block(64), MaxPooling2D(2, padding="same"),
        Flatten(),
        Dense(50, activation="relu", kernel_initializer="he_normal"),
        Dropout(0.5),
        Dense(classes),
    ], name="deep_convnet", seed=seed)


MODELS = {"simple": simple_convnet, "lenet5": lenet5, "deep": deep_convnet}


def get(name, input_shape, classes=10, seed=0) -> Sequential:
    """A zoo model by its command-line name."""
    if name not in MODELS:
        raise ValueError(f"Unknown model: allowed are {sorted(MODELS)}. Received: {_short(name)}")
    return MODELS[name](tuple(input_shape), classes, seed)
