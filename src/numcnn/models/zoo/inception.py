"""GoogLeNet (Inception v1), as torchvision's ``googlenet`` without its auxiliary classifiers."""

from __future__ import annotations

from ...layers import Concatenate, Dense, Dropout, GlobalAveragePooling2D, ReLU
from ..model import Model
from .common import Architecture, Arguments, batch_norm, conv, max_pool, model_input

#: torchvision's ``BasicConv2d`` uses batch norm epsilon 0.001, not PyTorch's default 1e-5
EPSILON = 1e-3

#: each Inception block: 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5" (3x3 in torchvision), pool projection;
#: "M" a ceil-mode max pooling (3x3 stride 2, the last 2x2 stride 2)
LAYOUT = [("inception3a", (64, 96, 128, 16, 32, 32)), ("inception3b", (128, 128, 192, 32, 96, 64)), "M",
          ("inception4a", (192, 96, 208, 16, 48, 64)), ("inception4b", (160, 112, 224, 24, 64, 64)),
          ("inception4c", (128, 128, 256, 24, 64, 64)), ("inception4d", (112, 144, 288, 32, 64, 64)),
          ("inception4e", (256, 160, 320, 32, 128, 128)), "M",
          ("inception5a", (256, 160, 320, 32, 128, 128)), ("inception5b", (384, 192, 384, 48, 128, 128))]


def _basic_conv(args: Arguments, x, name, filters, kernel_size, strides=1, padding=0):
    """torchvision's ``BasicConv2d``: conv (no bias) ``name_conv`` - bn ``name_bn`` - relu."""
    x = conv(args, f"{name}_conv", filters, kernel_size, strides, padding)(x)
    return ReLU(name=f"{name}_relu")(batch_norm(args, f"{name}_bn", EPSILON)(x))


def _inception(args: Arguments, x, name, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
    """Four branches concatenated on the channels: 1x1; 1x1 - 3x3; 1x1 - 3x3 (torchvision's 3x3 where the
    paper has 5x5); 3x3 max pooling (stride 1, padding 1) - 1x1."""
    branch1 = _basic_conv(args, x, f"{name}_branch1", ch1x1, 1)
    branch2 = _basic_conv(args, x, f"{name}_branch2_0", ch3x3red, 1)
    branch2 = _basic_conv(args, branch2, f"{name}_branch2_1", ch3x3, 3, padding=1)
    branch3 = _basic_conv(args, x, f"{name}_branch3_0", ch5x5red, 1)
    branch3 = _basic_conv(args, branch3, f"{name}_branch3_1", ch5x5, 3, padding=1)
    branch4 = max_pool(args, x, f"{name}_branch4_0", 3, 1, padding=1, ceil_mode=True)
    branch4 = _basic_conv(args, branch4, f"{name}_branch4_1", pool_proj, 1)
    return Concatenate(axis=args.channel_axis, name=f"{name}_concat")([branch1, branch2, branch3, branch4])


def _googlenet(args: Arguments):
    inputs = x = model_input(args)
    x = _basic_conv(args, x, "conv1", args.scaled(64), 7, 2, padding=3)
    x = max_pool(args, x, "maxpool1", 3, 2, ceil_mode=True)
    x = _basic_conv(args, x, "conv2", args.scaled(64), 1)
    x = _basic_conv(args, x, "conv3", args.scaled(192), 3, padding=1)
    x = max_pool(args, x, "maxpool2", 3, 2, ceil_mode=True)
    pools = iter([("maxpool3", 3), ("maxpool4", 2)])
    for item in LAYOUT:
        if item == "M":
            name, size = next(pools)
            x = max_pool(args, x, name, size, 2, ceil_mode=True)
        else:
            name, channels = item
            x = _inception(args, x, name, *(args.scaled(c) for c in channels))
    x = GlobalAveragePooling2D(data_format=args.data_format, name="avgpool")(x)
    x = Dropout(0.2, name="dropout")(x)
    return inputs, Dense(args.classes, name="fc")(x)


INCEPTION_NET = Architecture("inception_net", _googlenet, smallest=15)


def inception_net(classes=1000, input_shape=None, data_format="channels_last", width=1.0, seed=0) -> Model:
    """GoogLeNet (Inception v1): a 7x7 stride-2 conv, 1x1 and 3x3 convs, then 9 Inception blocks between
    ceil-mode max poolings, global average pooling, dropout 0.2 and a Dense classifier; every conv is
    conv - batch norm (epsilon 0.001, torchvision's) - relu.

    Szegedy et al., "Going Deeper with Convolutions" (2014); torchvision's ``googlenet`` with
    ``aux_logits=False, transform_input=False`` (and its 3x3 convs where the paper's branch has 5x5).
    6,624,904 parameters at the defaults. The ceil-mode poolings pad the bottom and right explicitly.

    Args:
        classes: outputs (logits, no softmax).
        input_shape: (H, W, C) for channels_last, (C, H, W) for channels_first; None is 224x224 RGB.
            Height and width at least 15.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        width: factor on every channel count but the classes, rounded, at least 1.
        seed: int, Generator or None, for the random weights.

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: (N, classes)
    """
    return INCEPTION_NET.build(classes, input_shape, data_format, width, seed)
