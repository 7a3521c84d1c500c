"""Random image augmentation layers, as Keras 3's: RandomFlip, RandomRotation, RandomTranslation,
RandomZoom, RandomCrop, RandomContrast, RandomBrightness.

Each is active only when called with ``training=True`` (``fit`` does), and is the identity at
inference, except RandomCrop, which then resizes to its output size as Keras documents. Every
image of a batch gets its own draw of the parameters (one angle, one shift...; RandomCrop, as
Keras, one window for the batch) from the layer's Generator ``self.rng``: ``seed=`` or the one its
model hands down, so the same seed gives the same augmentation. The math, with its backward pass,
is in :mod:`numcnn.functional.augmentation`.

Under data parallelism each process runs a share of the global batch inside
:class:`~numcnn.layers.tape.global_batch`; the layers then draw for the whole global batch and keep
their share's rows, and their generators stay the same on every rank (``same_on_every_rank``), so
the augmentation equals one process's.
"""

from __future__ import annotations

import math

import numpy as np

from ..functional import augmentation as A
from ..functional.reshaping import standardize_interpolation
from ..utils.validation import _is_finite_number, _short, check_int, check_number, standardize_data_format
from .base import Layer
from .tape import current_batch_part


def _factor_range(factor, name, low=-1.0, high=1.0, low_open=False):
    """Keras's reading of a factor: a number ``f`` is the range ``(-|f|, |f|)``, a pair ``(low, high)`` itself
    (sorted, as Keras), each number within ``[low, high]``."""
    numbers = list(factor) if isinstance(factor, (tuple, list)) else [factor]
    ok = len(numbers) in (1, 2) and isinstance(factor, (tuple, list)) == (len(numbers) == 2) and all(
        _is_finite_number(v) and (v > low if low_open else v >= low) and v <= high for v in numbers)
    if not ok:
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"The `{name}` argument must be a number or a pair (low, high) of numbers, each in {bounds}. "
                         f"Received: {name}={_short(factor)}")
    if len(numbers) == 1:
        return -abs(float(factor)), abs(float(factor))
    return tuple(sorted(float(v) for v in numbers))


def _plain(factor):
    """A factor as given, JSON-friendly (a pair as a list)."""
    return [float(v) for v in factor] if isinstance(factor, (tuple, list)) else float(factor)


def _value_range(value_range):
    ok = isinstance(value_range, (tuple, list)) and len(value_range) == 2 and all(
        _is_finite_number(v) for v in value_range) and value_range[0] < value_range[1]
    if not ok:
        raise ValueError("The `value_range` argument must be a pair (low, high) of finite numbers with low < high, "
                         f"e.g. (0, 255) or (0, 1). Received: value_range={_short(value_range)}")
    return float(value_range[0]), float(value_range[1])


def _choice(value, name, allowed):
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    raise ValueError(f"The `{name}` argument must be one of {allowed}. Received: {name}={_short(value)}")


class _RandomImageLayer(Layer):
    """Shared by the augmentation layers: data format, 4D check, draws for the (global) batch."""

    same_on_every_rank = True  # its Generator is not given a stream of its own per rank (MPIStrategy)

    def __init__(self, data_format="channels_last", **kwargs):
        self.data_format = standardize_data_format(data_format)
        super().__init__(**kwargs)

    def _hw(self, shape):
        return (shape[1], shape[2]) if self.data_format == "channels_last" else (shape[2], shape[3])

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            layout = "(N, H, W, C)" if self.data_format == "channels_last" else "(N, C, H, W)"
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs 4D inputs {layout}. "
                             f"Received: inputs with shape {tuple(input_shape)}")
        return tuple(input_shape)

    def _rows(self, n):
        """``(total, rows)``: how many samples to draw for, and which of them this call's ``n`` are."""
        part = current_batch_part()
        if part is None:
            return n, slice(0, n)
        total, start = part
        if start + n > total:
            raise ValueError(f"Layer '{self.name}' runs rows {start}:{start + n} of a global batch of {total} "
                             f"samples (numcnn.layers.tape.global_batch), past its end. Received: a batch of {n}")
        return total, slice(start, start + n)

    def _uniform(self, n, low, high):
        total, rows = self._rows(n)
        return self.rng.uniform(low, high, total)[rows]

    def _forward(self, x, training):
        self.compute_output_shape(x.shape)
        if not training:
            return x, None
        return self._augment(x)

    def _backward(self, dy, cache):
        return (dy if cache is None else self._augment_backward(dy, cache)), {}

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class RandomFlip(_RandomImageLayer):
    """Flip images at random (Keras ``RandomFlip``): each image is flipped with probability 1/2.

    As Keras 3 does, one draw per image decides: ``"horizontal_and_vertical"`` flips an image both
    ways or leaves it (a half turn or nothing).

    Args:
        mode: ``"horizontal"`` (left-right), ``"vertical"`` (top-bottom) or ``"horizontal_and_vertical"``.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: same.
    """

    def __init__(self, mode="horizontal_and_vertical", **kwargs):
        self.mode = _choice(mode, "mode", A.FLIP_MODES)
        super().__init__(**kwargs)

    def _augment(self, x):
        flips = self._uniform(len(x), 0.0, 1.0) <= 0.5
        none = np.zeros_like(flips)
        horizontal = flips if self.mode != "vertical" else none
        vertical = flips if self.mode != "horizontal" else none
        return A.flip_forward(x, horizontal, vertical, self.data_format, check=False)

    def _augment_backward(self, dy, cache):
        return A.flip_backward(dy, cache, check=False)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _RandomAffine(_RandomImageLayer):
    """A per-image affine warp (rotation, translation, zoom), with Keras's fill and interpolation options."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", fill_value=0.0, **kwargs):
        self.fill_mode = A.standardize_fill_mode(fill_mode)
        self.interpolation = standardize_interpolation(interpolation)
        self.fill_value = check_number(fill_value, "fill_value")
        super().__init__(**kwargs)

    def _augment(self, x):
        h, w = self._hw(x.shape)
        return A.affine_transform_forward(x, self._transform(len(x), h, w), self.interpolation, self.fill_mode,
                                          self.fill_value, self.data_format, check=False)

    def _augment_backward(self, dy, cache):
        return A.affine_transform_backward(dy, cache, check=False)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomRotation(_RandomAffine):
    """Rotate each image by a random angle about its centre (Keras ``RandomRotation``).

    Args:
        factor: a fraction of a full turn (2 pi): a number ``f`` draws angles in ``[-f, f]``, a pair
            ``(low, high)`` in ``[low, high]``; each in [-1, 1]. Positive turns counter-clockwise:
            ``factor=(0.25, 0.25)`` is ``np.rot90`` on the H and W axes.
        fill_mode: how points outside the image are filled: ``"reflect"`` (d c b a | a b c d | d c b a),
            ``"wrap"`` (a b c d | a b c d), ``"constant"`` (``fill_value``) or ``"nearest"`` (a a | a b c d | d d).
        interpolation: ``"bilinear"`` or ``"nearest"``.
        fill_value: the value of ``fill_mode="constant"``.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: same.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", fill_value=0.0, **kwargs):
        self.lower, self.upper = _factor_range(factor, "factor")
        self.factor = _plain(factor)
        super().__init__(fill_mode, interpolation, fill_value, **kwargs)

    def _transform(self, n, h, w):
        return A.rotation_transform(2 * math.pi * self._uniform(n, self.lower, self.upper), h, w)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomTranslation(_RandomAffine):
    """Shift each image by a random amount (Keras ``RandomTranslation``).

    Args:
        height_factor: a fraction of the height: a number ``f`` shifts by ``[-f, f]`` of it, a pair
            ``(low, high)`` by ``[low, high]``; each in [-1, 1]. Positive shifts down.
        width_factor: the same for the width; positive shifts right.
        fill_mode, interpolation, fill_value, data_format: as :class:`RandomRotation`.

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: same.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", fill_value=0.0,
                 **kwargs):
        self.height_range = _factor_range(height_factor, "height_factor")
        self.width_range = _factor_range(width_factor, "width_factor")
        self.height_factor, self.width_factor = _plain(height_factor), _plain(width_factor)
        super().__init__(fill_mode, interpolation, fill_value, **kwargs)

    def _transform(self, n, h, w):
        dy = self._uniform(n, *self.height_range) * h  # drawn first, as Keras
        dx = self._uniform(n, *self.width_range) * w
        return A.translation_transform(dx, dy)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomZoom(_RandomAffine):
    """Zoom each image in or out by a random amount about its centre (Keras ``RandomZoom``).

    Args:
        height_factor: a fraction: the image is zoomed by ``1 + u`` vertically with ``u`` drawn from
            ``[-f, f]`` for a number ``f``, or ``[low, high]`` for a pair; each in (-1, 1]. Positive
            zooms out, negative zooms in: ``(-0.3, -0.2)`` zooms in by 20 to 30%.
        width_factor: the same horizontally; None zooms both ways by the same draw (keeps the aspect ratio).
        fill_mode, interpolation, fill_value, data_format: as :class:`RandomRotation`.

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: same.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear",
                 fill_value=0.0, **kwargs):
        self.height_range = _factor_range(height_factor, "height_factor", low_open=True)
        self.width_range = None if width_factor is None else _factor_range(width_factor, "width_factor", low_open=True)
        self.height_factor = _plain(height_factor)
        self.width_factor = None if width_factor is None else _plain(width_factor)
        super().__init__(fill_mode, interpolation, fill_value, **kwargs)

    def _transform(self, n, h, w):
        zoom_y = 1 + self._uniform(n, *self.height_range)
        zoom_x = zoom_y if self.width_range is None else 1 + self._uniform(n, *self.width_range)
        return A.zoom_transform(zoom_x, zoom_y, h, w)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomCrop(_RandomImageLayer):
    """Crop the batch to ``height x width`` at a random place (Keras ``RandomCrop``).

    In training, one window, at a random place, is cut from every image of the batch (Keras: "the
    layer will crop all the images in the same batch to the same cropping location"). At inference,
    and in training when the images are smaller than the window, the largest centred window of the
    aspect ratio ``height / width`` is resized to ``height x width`` (bilinear, half-pixel centres),
    as Keras documents. Keras 3 itself returns its input unchanged at inference and resizes a
    window of the wrong aspect ratio when the images are smaller; numcnn follows the documentation.

    Args:
        height, width: the output size, positive ints.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: (N, height, width, C) or (N, C, height, width).
    """

    def __init__(self, height, width, **kwargs):
        self.height, self.width = check_int(height, "height"), check_int(width, "width")
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        n, *rest = super().compute_output_shape(input_shape)
        if self.data_format == "channels_last":
            return (n, self.height, self.width, rest[2])
        return (n, rest[0], self.height, self.width)

    def _forward(self, x, training):
        self.compute_output_shape(x.shape)
        h, w = self._hw(x.shape)
        if min(h, w) < 1:
            raise ValueError(f"Layer '{self.name}' (RandomCrop) needs images of at least one pixel to crop or resize. "
                             f"Received: inputs with shape {x.shape}")
        if training and h >= self.height and w >= self.width:
            self._rows(len(x))  # one window for the whole (global) batch: the same draws on every rank
            box = (int(self.rng.integers(0, h - self.height + 1)), int(self.rng.integers(0, w - self.width + 1)),
                   self.height, self.width)
        else:
            box = A.center_crop_box(h, w, self.height, self.width)
        return A.crop_resize_forward(x, box, (self.height, self.width), self.data_format, check=False)

    def _backward(self, dy, cache):
        return A.crop_resize_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomContrast(_RandomImageLayer):
    """Scale each image's contrast by a random factor (Keras ``RandomContrast``).

    Each channel of each image becomes ``(x - mean) * c + mean`` (``mean`` over its pixels), clipped to
    ``value_range``, with one ``c`` per image.

    Args:
        factor: a number ``f`` draws ``c`` from ``[1 - f, 1 + f]``; a pair ``(lower, upper)`` from
            ``[1 - lower, 1 + upper]``; each in [0, 1]. (Keras 3 reads a number ``f`` as
            ``[1, 1 + f]``, against its documentation; numcnn follows the documentation.)
        value_range: ``(low, high)`` of the pixel values, which the output is clipped to.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: same.
    """

    def __init__(self, factor, value_range=(0, 255), **kwargs):
        numbers = list(factor) if isinstance(factor, (tuple, list)) else [factor]
        if len(numbers) not in (1, 2) or not all(_is_finite_number(v) and 0 <= v <= 1 for v in numbers) or (
                isinstance(factor, (tuple, list)) and len(numbers) != 2):
            raise ValueError("The `factor` argument must be a number or a pair (lower, upper) of numbers, each in "
                             f"[0, 1]. Received: factor={_short(factor)}")
        self.lower, self.upper = (float(numbers[0]), float(numbers[-1]))
        self.factor = _plain(factor)
        self.value_range = _value_range(value_range)
        super().__init__(**kwargs)

    def _augment(self, x):
        factor = self._uniform(len(x), 1 - self.lower, 1 + self.upper)
        return A.contrast_forward(x, factor, self.value_range, self.data_format, check=False)

    def _augment_backward(self, dy, cache):
        return A.contrast_backward(dy, cache, check=False)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


class RandomBrightness(_RandomImageLayer):
    """Shift each image's brightness by a random amount (Keras ``RandomBrightness``).

    ``y = clip(x + u * (high - low), low, high)`` with ``(low, high) = value_range`` and one ``u`` per image.

    Args:
        factor: a number ``f`` draws ``u`` from ``[-f, f]``, a pair ``(low, high)`` from ``[low, high]``; each
            in [-1, 1] (-1 makes the image black, 1 white).
        value_range: ``(low, high)`` of the pixel values: the shift is scaled to it and the output clipped.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: same.
    """

    def __init__(self, factor, value_range=(0, 255), **kwargs):
        self.lower, self.upper = _factor_range(factor, "factor")
        self.factor = _plain(factor)
        self.value_range = _value_range(value_range)
        super().__init__(**kwargs)

    def _augment(self, x):
        low, high = self.value_range
        delta = self._uniform(len(x), self.lower, self.upper) * (high - low)
        return A.brightness_forward(x, delta, self.value_range, check=False)

    def _augment_backward(self, dy, cache):
        return A.brightness_backward(dy, cache, check=False)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}
