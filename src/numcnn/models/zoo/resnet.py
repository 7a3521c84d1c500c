"""ResNet-18 and ResNet-50 (v1.5), as torchvision's ``resnet18`` and ``resnet50``."""

from __future__ import annotations

import functools

from ...layers import Add, Dense, GlobalAveragePooling2D, ReLU
from ..model import Model
from .common import Architecture, Arguments, batch_norm, conv, max_pool, model_input

#: blocks per stage
BLOCKS = {"resnet18": (2, 2, 2, 2), "resnet50": (3, 4, 6, 3)}


def _basic_block(args: Arguments, x, name, planes, strides, downsample):
    """conv 3x3 (strides) - bn - relu - conv 3x3 - bn, plus the shortcut, then relu. Output ``planes`` channels."""
    y = conv(args, f"{name}_conv1", planes, 3, strides, padding=1)(x)
    y = ReLU(name=f"{name}_relu1")(batch_norm(args, f"{name}_bn1")(y))
    y = batch_norm(args, f"{name}_bn2")(conv(args, f"{name}_conv2", planes, 3, padding=1)(y))
    return _join(args, x, y, name, planes, strides, downsample)


def _bottleneck(args: Arguments, x, name, planes, strides, downsample):
    """conv 1x1 - bn - relu - conv 3x3 (strides: v1.5) - bn - relu - conv 1x1 (4 planes) - bn, plus the shortcut,
    then relu. Output ``4 * planes`` channels."""
    y = ReLU(name=f"{name}_relu1")(batch_norm(args, f"{name}_bn1")(conv(args, f"{name}_conv1", planes, 1)(x)))
    y = conv(args, f"{name}_conv2", planes, 3, strides, padding=1)(y)
    y = ReLU(name=f"{name}_relu2")(batch_norm(args, f"{name}_bn2")(y))
    y = batch_norm(args, f"{name}_bn3")(conv(args, f"{name}_conv3", 4 * planes, 1)(y))
    return _join(args, x, y, name, 4 * planes, strides, downsample)


def _join(args, x, y, name, channels, strides, downsample):
    """``relu(y + shortcut(x))``; the shortcut is conv 1x1 (strides) - bn where the shape changes."""
    if downsample:
        x = conv(args, f"{name}_downsample_0", channels, 1, strides)(x)
        x = batch_norm(args, f"{name}_downsample_1")(x)
    return ReLU(name=f"{name}_relu")(Add(name=f"{name}_add")([y, x]))


def _resnet(block, expansion, blocks, args: Arguments):
    inputs = x = model_input(args)
    channels = args.scaled(64)
    x = ReLU(name="relu")(batch_norm(args, "bn1")(conv(args, "conv1", channels, 7, 2, padding=3)(x)))
    x = max_pool(args, x, "maxpool", 3, 2, padding=1)
    for stage, (base, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        planes = args.scaled(base)
        for k in range(count):
            strides = 2 if stage > 1 and k == 0 else 1
            downsample = k == 0 and (strides != 1 or channels != planes * expansion)
            x = block(args, x, f"layer{stage}_{k}", planes, strides, downsample)
            channels = planes * expansion
    x = GlobalAveragePooling2D(data_format=args.data_format, name="avgpool")(x)
    return inputs, Dense(args.classes, name="fc")(x)


RESNET18 = Architecture("resnet18", functools.partial(_resnet, _basic_block, 1, BLOCKS["resnet18"]), smallest=1)
RESNET50 = Architecture("resnet50", functools.partial(_resnet, _bottleneck, 4, BLOCKS["resnet50"]), smallest=1)


def resnet18(classes=1000, input_shape=None, data_format="channels_last", width=1.0, seed=0) -> Model:
    """ResNet-18: a 7x7 stem, then 4 stages of 2 basic blocks (two 3x3 convs), 64 to 512 channels.

    He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition" (2015); torchvision's
    ``resnet18``. 11,689,512 parameters at the defaults.

    Args:
        classes: outputs (logits, no softmax).
        input_shape: (H, W, C) for channels_last, (C, H, W) for channels_first; None is 224x224 RGB.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        width: factor on every channel count (the stem's 64 and each stage's planes), rounded, at least 1.
        seed: int, Generator or None, for the random weights.

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: (N, classes)
    """
    return RESNET18.build(classes, input_shape, data_format, width, seed)


def resnet50(classes=1000, input_shape=None, data_format="channels_last", width=1.0, seed=0) -> Model:
    """ResNet-50 v1.5: a 7x7 stem, then 4 stages of 3, 4, 6 and 3 bottleneck blocks (1x1 - 3x3 - 1x1),
    256 to 2048 channels; a stage's first block strides on its 3x3 conv (v1.5), not on the 1x1.

    He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition" (2015); torchvision's
    ``resnet50`` (v1.5). 25,557,032 parameters at the defaults.

    Args:
        classes: outputs (logits, no softmax).
        input_shape: (H, W, C) for channels_last, (C, H, W) for channels_first; None is 224x224 RGB.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        width: factor on every channel count (the stem's 64 and each stage's planes; a bottleneck outputs
            4 planes), rounded, at least 1.
        seed: int, Generator or None, for the random weights.

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: (N, classes)
    """
    return RESNET50.build(classes, input_shape, data_format, width, seed)
