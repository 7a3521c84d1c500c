"""``ZeroPadding2D``, ``Cropping2D``, ``UpSampling2D`` and ``Permute``: thin layers over
:mod:`numcnn.functional.reshaping`, with Keras 3's arguments, defaults and configs."""

from __future__ import annotations

from ..functional import reshaping as R
from ..utils.validation import standardize_data_format, standardize_tuple
from .base import Layer


class _Spatial2D(Layer):
    """Shared by the 2D layers: 4D inputs in ``data_format``."""

    def _check_rank(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) needs 4D inputs (N, H, W, C) or (N, C, H, W). "
                f"Received: inputs with shape {tuple(input_shape)}")


class ZeroPadding2D(_Spatial2D):
    """Add rows and columns of zeros around each image (Keras ``ZeroPadding2D``).

    Args:
        padding: an int (all four sides), ``(pad_h, pad_w)`` (both sides of each axis) or
            ``((top, bottom), (left, right))``; default ``(1, 1)``.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).
        **kwargs: ``name``, ``input_shape``, ``dtype``, ``trainable`` (see :class:`Layer`).

    Shape:
        input: (N, H, W, C) or (N, C, H, W)
        output: (N, H + top + bottom, W + left + right, C), or channels first

    Example:
        >>> ZeroPadding2D(((1, 0), (2, 2)))(np.ones((1, 3, 3, 1))).shape
        (1, 4, 7, 1)
    """

    def __init__(self, padding=(1, 1), data_format="channels_last", **kwargs):
        self.padding = R.standardize_margins(padding, "padding")
        self.data_format = standardize_data_format(data_format)
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return R.zero_pad2d_output_shape(input_shape, self.padding, self.data_format)

    def _forward(self, x, training):
        self._check_rank(x.shape)
        return R.zero_pad2d_forward(x, self.padding, self.data_format, check=False)

    def _backward(self, dy, cache):
        return R.zero_pad2d_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding], "data_format": self.data_format}


class Cropping2D(_Spatial2D):
    """Remove rows and columns at the sides of each image (Keras ``Cropping2D``).

    Args:
        cropping: an int (all four sides), ``(crop_h, crop_w)`` (both sides of each axis) or
            ``((top, bottom), (left, right))``; default no cropping. At least one row and
            one column must be left.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).
        **kwargs: ``name``, ``input_shape``, ``dtype``, ``trainable`` (see :class:`Layer`).

    Shape:
        input: (N, H, W, C) or (N, C, H, W)
        output: (N, H - top - bottom, W - left - right, C), or channels first

    Example:
        >>> Cropping2D(((2, 2), (4, 4)))(np.zeros((2, 28, 28, 3))).shape
        (2, 24, 20, 3)
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format="channels_last", **kwargs):
        self.cropping = R.standardize_margins(cropping, "cropping")
        self.data_format = standardize_data_format(data_format)
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return R.crop2d_output_shape(input_shape, self.cropping, self.data_format)

    def _forward(self, x, training):
        self.compute_output_shape(x.shape)  # this input's size: at least one row and column left
        return R.crop2d_forward(x, self.cropping, self.data_format, check=False)

    def _backward(self, dy, cache):
        return R.crop2d_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping], "data_format": self.data_format}


class UpSampling2D(_Spatial2D):
    """Enlarge each image by integer factors (Keras ``UpSampling2D``).

    Args:
        size: int or ``(sh, sw)``: the factors for rows and columns; default ``(2, 2)``.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).
        interpolation: ``"nearest"`` (each pixel repeated, the default) or ``"bilinear"``
            (half-pixel centres, ``align_corners=False``, as Keras 3 and PyTorch's
            ``interpolate``); Keras's ``"bicubic"`` and ``"lanczos*"`` are not available.
        **kwargs: ``name``, ``input_shape``, ``dtype``, ``trainable`` (see :class:`Layer`).

    Shape:
        input: (N, H, W, C) or (N, C, H, W)
        output: (N, H * sh, W * sw, C), or channels first

    Example:
        >>> UpSampling2D((1, 2))(np.arange(6.0).reshape(2, 1, 1, 3))[0, 0]
        array([[0., 1., 2.],
               [0., 1., 2.]])
    """

    def __init__(self, size=(2, 2), data_format="channels_last", interpolation="nearest", **kwargs):
        self.size = standardize_tuple(size, 2, "size")
        self.data_format = standardize_data_format(data_format)
        self.interpolation = R.standardize_interpolation(interpolation)
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return R.upsample2d_output_shape(input_shape, self.size, self.data_format)

    def _forward(self, x, training):
        self._check_rank(x.shape)
        return R.upsample2d_forward(x, self.size, self.data_format, self.interpolation, check=False)

    def _backward(self, dy, cache):
        return R.upsample2d_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}


class Permute(Layer):
    """Reorder the non-batch axes of the input (Keras ``Permute``).

    Args:
        dims: a permutation of ``1..k`` over the ``k`` non-batch axes, counted from 1 (the batch
            axis stays first): output axis ``i + 1`` is input axis ``dims[i]``; ``(2, 1)`` swaps
            the two axes of each sample.
        **kwargs: ``name``, ``input_shape``, ``dtype``, ``trainable`` (see :class:`Layer`).

    Shape:
        input: (N, d_1, ..., d_k); output: (N, d_dims[0], ..., d_dims[k-1])

    Example:
        >>> Permute((2, 1))(np.zeros((4, 10, 64))).shape
        (4, 64, 10)
    """

    def __init__(self, dims, **kwargs):
        self.dims = R.standardize_dims(dims)
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        try:
            return R.permute_output_shape(input_shape, self.dims)
        except ValueError as error:
            raise ValueError(f"Layer '{self.name}' (Permute): {error}") from None

    def _forward(self, x, training):
        self.compute_output_shape(x.shape)
        return R.permute_forward(x, self.dims, check=False)

    def _backward(self, dy, cache):
        return R.permute_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}
