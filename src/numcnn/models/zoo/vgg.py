"""VGG-11 and VGG-16 without batch norm, as torchvision's ``vgg11`` and ``vgg16``."""

from __future__ import annotations

import functools

from ...layers import Dense, Dropout, Flatten, Permute, ReLU
from ..model import Model
from .common import Architecture, Arguments, conv, max_pool, model_input

#: torchvision's ``cfgs``: output channels of each 3x3 conv, "M" a 2x2 max pooling
LAYOUTS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def _vgg(layout, args: Arguments):
    """``features`` (conv 3x3 padding 1 - ReLU, 2x2 max pooling), then the classifier on the flattened map.

    torchvision's ``AdaptiveAvgPool2d(7)`` sits between them; it is the identity at 224x224, where the
    features are 7x7. This graph has no pooling there: the first Dense takes the feature map as it is,
    ``C * (H // 32) * (W // 32)`` values (25088 at 224x224), in PyTorch's (C, H, W) order in both data
    formats (channels_last permutes before flattening; channels_first's permutation is the identity,
    kept so both formats have the same layers and one seed gives them the same weights).
    """
    inputs = x = model_input(args)
    i = 0
    for item in layout:
        if item == "M":
            x = max_pool(args, x, f"features_{i}", 2, 2)
            i += 1
        else:
            x = conv(args, f"features_{i}", args.scaled(item), 3, padding=1, use_bias=True)(x)
            x = ReLU(name=f"features_{i + 1}")(x)
            i += 2
    x = Permute((3, 1, 2) if args.data_format == "channels_last" else (1, 2, 3), name="flatten_permute")(x)
    x = Flatten(name="flatten")(x)
    hidden = args.scaled(4096)
    for k in (0, 3):
        x = Dense(hidden, kernel_initializer="he_normal", name=f"classifier_{k}")(x)
        x = ReLU(name=f"classifier_{k + 1}")(x)
        x = Dropout(0.5, name=f"classifier_{k + 2}")(x)
    return inputs, Dense(args.classes, name="classifier_6")(x)


VGG11 = Architecture("vgg11", functools.partial(_vgg, LAYOUTS["vgg11"]), smallest=32)
VGG16 = Architecture("vgg16", functools.partial(_vgg, LAYOUTS["vgg16"]), smallest=32)


def vgg11(classes=1000, input_shape=None, data_format="channels_last", width=1.0, seed=0) -> Model:
    """VGG-11 (configuration A), without batch norm: 8 convs in 5 stages, then 4096 - 4096 - ``classes``.

    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition" (2014);
    torchvision's ``vgg11``. 132,863,336 parameters at the defaults. See :func:`vgg16` for the
    arguments, the names and the pooling before the classifier.
    """
    return VGG11.build(classes, input_shape, data_format, width, seed)


def vgg16(classes=1000, input_shape=None, data_format="channels_last", width=1.0, seed=0) -> Model:
    """VGG-16 (configuration D), without batch norm: 13 convs in 5 stages, then 4096 - 4096 - ``classes``.

    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition" (2014);
    torchvision's ``vgg16``. 138,357,544 parameters at the defaults.

    torchvision's ``AdaptiveAvgPool2d(7)`` before the classifier is the identity at 224x224 and is left
    out: the first Dense takes ``C * (H // 32) * (W // 32)`` features (25088 at 224x224), flattened in
    PyTorch's (C, H, W) order, so torchvision's weights pair by name at 224x224.

    Args:
        classes: outputs (logits, no softmax).
        input_shape: (H, W, C) for channels_last, (C, H, W) for channels_first; None is 224x224 RGB.
            Height and width at least 32.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        width: factor on every channel count (the 4096 hidden units too), rounded, at least 1.
        seed: int, Generator or None, for the random weights.

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: (N, classes)
    """
    return VGG16.build(classes, input_shape, data_format, width, seed)
