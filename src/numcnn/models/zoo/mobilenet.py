"""MobileNet v1 (Keras applications' layout and names) and MobileNet v2 (torchvision's), with PyTorch's
symmetric padding.

Both round their channel counts as torchvision does (:func:`make_divisible`): ``c * width`` to the
nearest multiple of 8, at least 8, and never below 90% of ``c * width``. At Keras' alphas 0.25, 0.5,
0.75 and 1.0 that is Keras' ``int(c * alpha)`` for every count of MobileNet v1.
"""

from __future__ import annotations

from ...initializers import VarianceScaling
from ...layers import Add, Dense, DepthwiseConv2D, Dropout, GlobalAveragePooling2D, ReLU, Reshape
from ..model import Model
from .common import Architecture, Arguments, batch_norm, conv, model_input

#: MobileNet v1's depthwise-separable blocks: (pointwise filters, strides of the depthwise conv)
V1_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1)]

#: MobileNet v2's stages, torchvision's ``inverted_residual_setting``: expansion t, channels c, blocks n, strides s
V2_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: ``value`` to the nearest multiple of ``divisor`` (at least
    ``divisor``), one ``divisor`` more when rounding lost over 10%.

    Example:
        >>> make_divisible(32 * 0.35), make_divisible(1280 * 1.0)
        (16, 1280)
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _depthwise(args: Arguments, x, name, strides):
    """A 3x3 depthwise conv (padding 1) applied to ``x``, He-initialised for its fan-in of 9: Keras counts a
    depthwise kernel (3, 3, C, 1) as fan-in 9 C, which would shrink the signal C times at each one."""
    channels = x.shape[args.channel_axis]
    initializer = VarianceScaling(2.0 * channels, "fan_in", "truncated_normal")
    return DepthwiseConv2D(3, strides, padding=1, use_bias=False, data_format=args.data_format,
                           depthwise_initializer=initializer, name=name)(x)


def _mobilenet_v1(args: Arguments):
    inputs = x = model_input(args)
    x = conv(args, "conv1", make_divisible(32 * args.width), 3, 2, padding=1)(x)
    x = ReLU(6.0, name="conv1_relu")(batch_norm(args, "conv1_bn")(x))
    for block, (filters, strides) in enumerate(V1_BLOCKS, start=1):
        x = _depthwise(args, x, f"conv_dw_{block}", strides)
        x = ReLU(6.0, name=f"conv_dw_{block}_relu")(batch_norm(args, f"conv_dw_{block}_bn")(x))
        x = conv(args, f"conv_pw_{block}", make_divisible(filters * args.width), 1)(x)
        x = ReLU(6.0, name=f"conv_pw_{block}_relu")(batch_norm(args, f"conv_pw_{block}_bn")(x))
    x = GlobalAveragePooling2D(data_format=args.data_format, keepdims=True, name="global_average_pooling2d")(x)
    x = Dropout(1e-3, name="dropout")(x)
    x = conv(args, "conv_preds", args.classes, 1, use_bias=True, initializer="glorot_uniform")(x)
    return inputs, Reshape((args.classes,), name="reshape_2")(x)


def _conv_bn_relu6(args: Arguments, x, name, filters, kernel_size, strides=1, depthwise=False):
    """torchvision's ``Conv2dNormActivation`` (conv ``name_0``, bn ``name_1``, ReLU6 ``name_2``), padding
    ``(kernel_size - 1) // 2``."""
    if depthwise:
        x = _depthwise(args, x, f"{name}_0", strides)
    else:
        x = conv(args, f"{name}_0", filters, kernel_size, strides, padding=(kernel_size - 1) // 2)(x)
    return ReLU(6.0, name=f"{name}_2")(batch_norm(args, f"{name}_1")(x))


def _inverted_residual(args: Arguments, x, name, channels, filters, strides, expansion):
    """torchvision's ``InvertedResidual``: [conv 1x1 to ``channels * expansion`` - bn - relu6] - depthwise 3x3
    (strides) - bn - relu6 - conv 1x1 to ``filters`` - bn, plus ``x`` where the shape is kept."""
    hidden = int(round(channels * expansion))
    y, k = x, 0
    if expansion != 1:
        y, k = _conv_bn_relu6(args, y, f"{name}_conv_0", hidden, 1), 1
    y = _conv_bn_relu6(args, y, f"{name}_conv_{k}", hidden, 3, strides, depthwise=True)
    y = conv(args, f"{name}_conv_{k + 1}", filters, 1)(y)
    y = batch_norm(args, f"{name}_conv_{k + 2}")(y)
    if strides == 1 and channels == filters:
        y = Add(name=f"{name}_add")([x, y])
    return y


def _mobilenet_v2(args: Arguments):
    inputs = x = model_input(args)
    channels = make_divisible(32 * args.width)
    last = make_divisible(1280 * max(1.0, args.width))
    x = _conv_bn_relu6(args, x, "features_0", channels, 3, 2)
    index = 1
    for expansion, base, count, first_strides in V2_STAGES:
        filters = make_divisible(base * args.width)
        for k in range(count):
            x = _inverted_residual(args, x, f"features_{index}", channels, filters, first_strides if k == 0 else 1,
                                   expansion)
            channels, index = filters, index + 1
    x = _conv_bn_relu6(args, x, f"features_{index}", last, 1)
    x = GlobalAveragePooling2D(data_format=args.data_format, name="avgpool")(x)
    x = Dropout(0.2, name="classifier_0")(x)
    return inputs, Dense(args.classes, name="classifier_1")(x)


MOBILENET_V1 = Architecture("mobilenet_v1", _mobilenet_v1, smallest=1)
MOBILENET_V2 = Architecture("mobilenet_v2", _mobilenet_v2, smallest=1)


def mobilenet_v1(classes=1000, input_shape=None, data_format="channels_last", width=1.0, seed=0) -> Model:
    """MobileNet v1: a 3x3 stride-2 conv, then 13 depthwise-separable blocks (depthwise 3x3 - bn - relu6 -
    conv 1x1 - bn - relu6), 32 to 1024 channels, global average pooling, dropout 0.001 and a 1x1 conv
    classifier (``conv_preds``).

    Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications"
    (2017); Keras applications' ``MobileNet`` (torchvision has none), with its layer names (``conv1``,
    ``conv_dw_1``, ``conv_pw_1_bn``, ``conv_preds``...) and ``alpha=width``, ``depth_multiplier=1``, but
    PyTorch's conventions: every 3x3 conv pads 1 on each side (Keras' "same" pads (0, 1) at stride 2 on
    even sizes), batch norm epsilon 1e-5, and logits out (no softmax). 4,231,976 parameters at the defaults
    (Keras' trainable count; the batch norm moving statistics add 21,888).

    Args:
        classes: outputs (logits, no softmax).
        input_shape: (H, W, C) for channels_last, (C, H, W) for channels_first; None is 224x224 RGB.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        width: Keras' ``alpha``, the factor on every channel count, rounded by :func:`make_divisible`.
        seed: int, Generator or None, for the random weights.

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: (N, classes)
    """
    return MOBILENET_V1.build(classes, input_shape, data_format, width, seed)


def mobilenet_v2(classes=1000, input_shape=None, data_format="channels_last", width=1.0, seed=0) -> Model:
    """MobileNet v2: a 3x3 stride-2 conv, 17 inverted residual blocks (expand 1x1 - depthwise 3x3 - project
    1x1, linear bottleneck, skip where the shape is kept), a 1x1 conv to 1280 channels, global average
    pooling, dropout 0.2 and a Dense classifier.

    Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (2018); torchvision's
    ``mobilenet_v2``. 3,504,872 parameters at the defaults.

    Args:
        classes: outputs (logits, no softmax).
        input_shape: (H, W, C) for channels_last, (C, H, W) for channels_first; None is 224x224 RGB.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        width: torchvision's ``width_mult``: the factor on every channel count, rounded by
            :func:`make_divisible`; the last conv keeps 1280 channels below 1.0, as torchvision's.
        seed: int, Generator or None, for the random weights.

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: (N, classes)
    """
    return MOBILENET_V2.build(classes, input_shape, data_format, width, seed)
