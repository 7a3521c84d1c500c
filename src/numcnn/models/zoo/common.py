"""What the zoo's ImageNet networks share: the checked arguments, the layers made the PyTorch way,
ceil-mode pooling as explicit padding, and the parameter count read from weight shapes alone.

Every builder is one :class:`Architecture`: a function from :class:`Arguments` to the graph's
``(inputs, outputs)`` symbolic tensors, and the smallest input side whose every stage keeps a pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...layers import BatchNormalization, Conv2D, Input, MaxPooling2D
from ...utils.validation import _is_int, _short, check_int, check_number, standardize_data_format
from ..graph import Graph
from ..model import Model

#: PyTorch's BatchNorm2d defaults in Keras terms: Keras' momentum 0.9 is PyTorch's 0.1
BN_EPSILON, BN_MOMENTUM = 1e-5, 0.9


@dataclass(frozen=True)
class Arguments:
    """A builder's arguments once checked.

    Attributes:
        classes: outputs of the classifier (logits).
        input_shape: one sample's shape, (H, W, C) for channels_last, (C, H, W) for channels_first.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        width: the factor on every channel count.
    """

    classes: int
    input_shape: tuple
    data_format: str
    width: float

    @property
    def channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def scaled(self, channels: int) -> int:
        """``channels * width`` rounded half up, at least 1 (MobileNet rounds its own way)."""
        return max(1, int(channels * self.width + 0.5))


def spatial(args: Arguments, x) -> tuple[int, int]:
    """(H, W) of a symbolic tensor."""
    return tuple(x.shape[1:3]) if args.data_format == "channels_last" else tuple(x.shape[2:4])


def conv(args: Arguments, name: str, filters: int, kernel_size: int, strides: int = 1, padding: int = 0,
         use_bias: bool = False, initializer: str = "he_normal") -> Conv2D:
    """A Conv2D with PyTorch's symmetric integer padding (``padding=1`` pads one pixel on every side)."""
    return Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                  data_format=args.data_format, kernel_initializer=initializer, name=name)


def batch_norm(args: Arguments, name: str, epsilon: float = BN_EPSILON) -> BatchNormalization:
    """A BatchNormalization with PyTorch's defaults (epsilon 1e-5, Keras momentum 0.9)."""
    return BatchNormalization(axis=args.channel_axis, epsilon=epsilon, momentum=BN_MOMENTUM, name=name)


def ceil_mode_padding(size: int, pool_size: int, strides: int, padding: int = 0) -> tuple[int, int]:
    """(before, after) padding that makes a floor-mode pooling give PyTorch's ``ceil_mode=True`` output.

    PyTorch: ``out = ceil((size + 2 padding - pool_size) / strides) + 1``, less one when the last
    window would start in the right padding. The extra pixels after are what that window reaches
    past the input; max pooling pads with -inf, so they never win.

    Example:
        >>> ceil_mode_padding(112, 3, 2)   # GoogLeNet's maxpool1: 56 outputs where floor mode gives 55
        (0, 1)
    """
    out = -(-(size + 2 * padding - pool_size) // strides) + 1
    if (out - 1) * strides >= size + padding:
        out -= 1
    if out < 1:
        raise ValueError(f"A {pool_size}x{pool_size} pooling of stride {strides} has no output for an input of "
                         f"{size} pixels. Received: size={size}")
    extra = max(0, (out - 1) * strides + pool_size - size - 2 * padding)
    return padding, padding + extra


def max_pool(args: Arguments, x, name: str, pool_size: int, strides: int, padding: int = 0, ceil_mode=False):
    """``MaxPool2d(pool_size, strides, padding, ceil_mode)`` applied to ``x``; ceil mode becomes explicit padding
    after (bottom and right), so the layer depends on the input size it is built for."""
    h, w = spatial(args, x)
    if ceil_mode:
        pads = (ceil_mode_padding(h, pool_size, strides, padding), ceil_mode_padding(w, pool_size, strides, padding))
    else:
        pads = ((padding, padding), (padding, padding))
    return MaxPooling2D(pool_size, strides, padding=pads, data_format=args.data_format, name=name)(x)


def _check_seed(seed):
    ok = seed is None or isinstance(seed, np.random.Generator) or (_is_int(seed) and seed >= 0)
    if not ok:
        raise ValueError("The `seed` argument must be None, a non-negative int or a numpy.random.Generator. "
                         f"Received: seed={_short(seed)}")


class _WeightShapes:
    """Stands for ``layer`` in the layer's own ``build``: reads its attributes, records each ``add_weight``."""

    def __init__(self, layer):
        self._layer, self.found = layer, []

    def __getattr__(self, name):
        return getattr(self._layer, name)

    def add_weight(self, name, shape, initializer, trainable=True):
        self.found.append((name, tuple(shape), trainable))


def weight_shapes(layer, input_shape) -> list:
    """``[(name, shape, trainable)]`` of the weights ``layer.build(input_shape)`` would make, none made."""
    recorder = _WeightShapes(layer)
    type(layer).build(recorder, input_shape)
    return recorder.found


@dataclass(frozen=True)
class Architecture:
    """One zoo network: its name, its graph and the smallest input side it takes.

    Attributes:
        name: the model's name (``"resnet50"``).
        graph: ``graph(args) -> (inputs, outputs)``, the symbolic tensors of the network.
        smallest: the smallest input height and width every stage keeps at least 1x1.
    """

    name: str
    graph: Callable
    smallest: int

    def arguments(self, classes, input_shape, data_format, width) -> Arguments:
        """The arguments checked at the door, each error naming its argument."""
        classes = check_int(classes, "classes")
        data_format = standardize_data_format(data_format)
        width = check_number(width, "width", 0, low_open=True)
        last = data_format == "channels_last"
        if input_shape is None:
            input_shape = (224, 224, 3) if last else (3, 224, 224)
        if not (isinstance(input_shape, (tuple, list)) and len(input_shape) == 3
                and all(_is_int(d) and d > 0 for d in input_shape)):
            raise ValueError("The `input_shape` argument must be three positive ints, (height, width, channels) for "
                             "channels_last or (channels, height, width) for channels_first. "
                             f"Received: input_shape={_short(input_shape)}")
        input_shape = tuple(int(d) for d in input_shape)
        hw = input_shape[:2] if last else input_shape[1:]
        if min(hw) < self.smallest:
            layout = "(height, width, channels)" if last else "(channels, height, width)"
            raise ValueError(f"The `input_shape` argument of {self.name} must have a height and width of at least "
                             f"{self.smallest} (smaller inputs leave a stage without pixels); with data_format="
                             f"{data_format!r} it is {layout}. Received: input_shape={input_shape}")
        return Arguments(classes, input_shape, data_format, width)

    def build(self, classes, input_shape, data_format, width, seed) -> Model:
        """The randomly initialised model."""
        args = self.arguments(classes, input_shape, data_format, width)
        _check_seed(seed)
        inputs, outputs = self.graph(args)
        return Model(inputs, outputs, name=self.name, seed=seed)

    def count_params(self, classes=1000, input_shape=None, data_format="channels_last", width=1.0,
                     trainable_only=True) -> int:
        """The model's parameter count, read from the weight shapes its layers would build: no weight is
        made, no data flows. ``trainable_only`` leaves out the batch norm moving statistics, as
        PyTorch's ``parameters()`` (and torchvision's published counts) do."""
        inputs, outputs = self.graph(self.arguments(classes, input_shape, data_format, width))
        total, seen = 0, set()
        for node in Graph(inputs, outputs).nodes:
            if not node.inputs or id(node.layer) in seen:  # the input layer; a layer's later calls
                continue
            seen.add(id(node.layer))
            shapes = [t.shape for t in node.inputs]
            for _, shape, trainable in weight_shapes(node.layer, shapes if node.multi else shapes[0]):
                total += math.prod(shape) if trainable or not trainable_only else 0
        return total


def model_input(args: Arguments):
    """The graph's input tensor, named ``input`` as the ONNX files exported from PyTorch name theirs."""
    return Input(args.input_shape, name="input")
