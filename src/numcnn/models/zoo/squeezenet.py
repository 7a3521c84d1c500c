"""SqueezeNet 1.1, as torchvision's ``squeezenet1_1``."""

from __future__ import annotations

from ...layers import Concatenate, Dropout, GlobalAveragePooling2D, ReLU
from ..model import Model
from .common import Architecture, Arguments, conv, max_pool, model_input

#: ``features`` after the stem: a Fire module (squeeze, expand 1x1, expand 3x3) or "M", a 3x3 stride-2 ceil-mode pooling
LAYOUT = [(16, 64, 64), (16, 64, 64), "M", (32, 128, 128), (32, 128, 128), "M",
          (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]


def _fire(args: Arguments, x, name, squeeze, expand1x1, expand3x3):
    """torchvision's ``Fire``: squeeze 1x1 - relu, then [expand 1x1 - relu, expand 3x3 (padding 1) - relu]
    concatenated on the channels."""
    x = ReLU(name=f"{name}_squeeze_activation")(conv(args, f"{name}_squeeze", squeeze, 1, use_bias=True)(x))
    a = conv(args, f"{name}_expand1x1", expand1x1, 1, use_bias=True)(x)
    b = conv(args, f"{name}_expand3x3", expand3x3, 3, padding=1, use_bias=True)(x)
    a = ReLU(name=f"{name}_expand1x1_activation")(a)
    b = ReLU(name=f"{name}_expand3x3_activation")(b)
    return Concatenate(axis=args.channel_axis, name=f"{name}_concat")([a, b])


def _squeezenet1_1(args: Arguments):
    inputs = x = model_input(args)
    x = ReLU(name="features_1")(conv(args, "features_0", args.scaled(64), 3, 2, use_bias=True)(x))
    x = max_pool(args, x, "features_2", 3, 2, ceil_mode=True)
    for index, item in enumerate(LAYOUT, start=3):
        if item == "M":
            x = max_pool(args, x, f"features_{index}", 3, 2, ceil_mode=True)
        else:
            x = _fire(args, x, f"features_{index}", *(args.scaled(c) for c in item))
    x = Dropout(0.5, name="classifier_0")(x)
    x = conv(args, "classifier_1", args.classes, 1, use_bias=True, initializer="glorot_uniform")(x)
    x = ReLU(name="classifier_2")(x)
    return inputs, GlobalAveragePooling2D(data_format=args.data_format, name="classifier_3")(x)


SQUEEZENET1_1 = Architecture("squeezenet1_1", _squeezenet1_1, smallest=17)


def squeezenet1_1(classes=1000, input_shape=None, data_format="channels_last", width=1.0, seed=0) -> Model:
    """SqueezeNet 1.1: a 3x3 stride-2 conv, 8 Fire modules between three ceil-mode 3x3 max poolings, then
    dropout 0.5, a 1x1 conv to ``classes``, relu and global average pooling.

    Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size"
    (2016); torchvision's ``squeezenet1_1``. 1,235,496 parameters at the defaults. The ceil-mode poolings
    pad the bottom and right explicitly (see :func:`~numcnn.models.zoo.common.ceil_mode_padding`).

    Args:
        classes: outputs (relu'd logits, as torchvision's; no softmax).
        input_shape: (H, W, C) for channels_last, (C, H, W) for channels_first; None is 224x224 RGB.
            Height and width at least 17.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        width: factor on every channel count but the classes, rounded, at least 1.
        seed: int, Generator or None, for the random weights.

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: (N, classes)
    """
    return SQUEEZENET1_1.build(classes, input_shape, data_format, width, seed)
