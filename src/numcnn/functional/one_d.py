"""1D convolution and pooling over sequences, forward and backward, on top of the 2D ops.

A sequence of length L is an image of height 1 and width L. Each 1D op lifts its input to that
image (a view: one axis of size 1 inserted), runs the 2D op with ``check=False`` and drops the
height axis from the result; its backward lifts ``dy`` the same way and runs the 2D backward::

    channels_last:   x (N, L, C)         -> (N, 1, L, C)
    channels_first:  x (N, C, L)         -> (N, C, 1, L)
    kernel           (k, C // groups, F) -> (1, k, C // groups, F)
    padding          (left, right)       -> ((0, 0), (left, right))

So the 1D ops share the 2D ops' fast paths, dtype rules and NaN behaviour.

Padding along the length:

* ``"valid"``: none;
* ``"same"``: output ``ceil(L / stride)``; an odd total puts the extra step on the right
  (TensorFlow/Keras);
* ``"causal"`` (convolution only, as Keras's ``Conv1D``): ``dilation * (k - 1)`` steps on the
  left and none on the right, so ``output[t]`` reads no input after ``t`` (WaveNet);
* explicit amounts: an int, or ``(left, right)``.

Max pooling pads with ``-inf``; average pooling divides each window by its real steps only
(TensorFlow's rule, see :mod:`numcnn.functional.pooling`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..utils.validation import (
    DATA_FORMATS,
    _is_int,
    _short,
    allocation_guard,
    as_array,
    check_rank,
    standardize_tuple,
)
from .conv import conv2d_backward, conv2d_forward
from .geometry import conv_output_size, same_padding
from .pooling import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d_forward,
    global_max_pool2d_forward,
    global_pool2d_backward,
    max_pool2d_backward,
    max_pool2d_forward,
)


@dataclass(frozen=True)
class Lifted1DCache:
    """What a 1D backward needs: the cache of the 2D op that ran on the height-1 image."""

    inner: object  # Conv2DCache, Pool2DCache or GlobalPoolCache
    data_format: str
    out_shape: tuple  # the 1D output's shape, which dy must have


# -- padding and layout ---------------------------------------------------------------------------

def standardize_padding_1d(padding, allow_causal: bool = True):
    """Normalise a 1D padding spec to ``"valid"``, ``"same"``, ``"causal"`` or ``(left, right)``.

    Args:
        padding: one of the strings (any case), a non-negative int, or a pair ``(left, right)``.
        allow_causal: accept ``"causal"`` (convolution; pooling has no causal padding in Keras).

    Example:
        >>> standardize_padding_1d("Causal"), standardize_padding_1d(2), standardize_padding_1d((1, 0))
        ('causal', (2, 2), (1, 0))
    """
    names = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if isinstance(padding, str) and padding.lower() in names:
        return padding.lower()
    if _is_int(padding) and padding >= 0:
        return (int(padding), int(padding))
    if (isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) == 2
            and all(_is_int(p) and p >= 0 for p in padding)):
        return tuple(int(p) for p in padding)
    raise ValueError(f"The `padding` argument must be {', '.join(repr(n) for n in names)}, a non-negative int or a "
                     f"pair (left, right) of non-negative ints. Received: padding={_short(padding)}")


def standardize_data_format_1d(data_format) -> str:
    """Check ``data_format`` is ``"channels_last"`` (N, L, C) or ``"channels_first"`` (N, C, L)."""
    if isinstance(data_format, str) and data_format.lower() in DATA_FORMATS:
        return data_format.lower()
    raise ValueError("The `data_format` argument must be one of 'channels_last' (N, L, C) or 'channels_first' "
                     f"(N, C, L). Received: data_format={_short(data_format)}")


def resolve_padding_1d(padding, length: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple:
    """Explicit ``(left, right)`` padding of a padding that :func:`standardize_padding_1d` returned.

    Example:
        >>> resolve_padding_1d("causal", 10, 3, dilation=2)   # 2 * (3 - 1) on the left
        (4, 0)
        >>> resolve_padding_1d("same", 10, 3, stride=2)       # out 5: the extra step on the right
        (0, 1)
    """
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        return same_padding(length, kernel_size, stride, dilation, check=False)
    if padding == "causal":
        return (dilation * (kernel_size - 1), 0)
    return tuple(padding)


def output_length(length, kernel_size: int, stride: int, padding, dilation: int = 1):
    """Output length for an input of ``length`` steps (None stays None: a length known only at run time)."""
    if length is None:
        return None
    left, right = resolve_padding_1d(padding, length, kernel_size, stride, dilation)
    return conv_output_size(length, kernel_size, stride, left, right, dilation, check=False)


def length_axis(data_format: str) -> int:
    """The axis of the steps: 1 for (N, L, C), 2 for (N, C, L)."""
    return 1 if data_format == "channels_last" else 2


def _lift(x: np.ndarray, data_format: str) -> np.ndarray:
    """(N, L, C) -> (N, 1, L, C), or (N, C, L) -> (N, C, 1, L): a view."""
    return np.expand_dims(x, length_axis(data_format))


def _drop(y: np.ndarray, data_format: str) -> np.ndarray:
    """The inverse of :func:`_lift`: the height-1 axis removed (a view)."""
    return np.squeeze(y, length_axis(data_format))


def _check_dy(dy, cache: Lifted1DCache) -> np.ndarray:
    dy = as_array(dy, "dy")
    if dy.shape != cache.out_shape:
        raise ValueError(f"The `dy` argument must have the output's shape {cache.out_shape}. "
                         f"Received: dy with shape {dy.shape}")
    return dy


def _check_sequences(x: np.ndarray, data_format: str) -> None:
    layout = "(N, L, C)" if data_format == "channels_last" else "(N, C, L)"
    check_rank(x, 3, "x", f"{layout} for data_format='{data_format}'")


# -- convolution ----------------------------------------------------------------------------------

def _check_conv1d_args(x, kernel, bias, strides, padding, dilation_rate, groups, data_format):
    """The door's checks: arrays and normalised hyper-parameters, in :func:`conv1d_forward`'s order."""
    data_format = standardize_data_format_1d(data_format)
    padding = standardize_padding_1d(padding)
    x, kernel = as_array(x, "x"), as_array(kernel, "kernel")
    _check_sequences(x, data_format)
    check_rank(kernel, 3, "kernel", "(kernel_size, in_channels // groups, filters)")
    strides = standardize_tuple(strides, 1, "strides")
    dilation_rate = standardize_tuple(dilation_rate, 1, "dilation_rate")
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"The `groups` argument must be a positive int. Received: groups={_short(groups)}")
    groups = int(groups)
    axis = -1 if data_format == "channels_last" else 1
    channels = x.shape[axis]
    _, k_in, filters = kernel.shape
    if channels == 0:
        raise ValueError(f"The `x` argument must have at least one input channel (axis {axis} for "
                         f"data_format='{data_format}'). Received: x with shape {x.shape}")
    if 0 in kernel.shape:
        raise ValueError("The `kernel` argument must have a non-zero size on every axis (kernel_size, "
                         f"in_channels // groups, filters). Received: kernel with shape {kernel.shape}")
    if channels % groups or filters % groups:
        raise ValueError("The `groups` argument must divide both the input channels and the filters. "
                         f"Received: groups={groups}, input channels={channels}, filters={filters}")
    if k_in * groups != channels:
        raise ValueError(
            f"The `kernel` argument's second axis must equal in_channels // groups = {channels} // {groups} = "
            f"{channels // groups} (input channels are on axis {axis} for data_format='{data_format}'). "
            f"Received: kernel with shape {kernel.shape}")
    if bias is not None:
        bias = as_array(bias, "bias")
        if bias.shape != (filters,):
            raise ValueError(f"The `bias` argument must have shape (filters,) = ({filters},). "
                             f"Received: bias with shape {bias.shape}")
    return x, kernel, bias, strides, padding, dilation_rate, groups, data_format


def conv1d_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1,
                   data_format="channels_last", *, check=True):
    """1D convolution forward pass that also returns the cache for :func:`conv1d_backward`.

    Same arguments as :func:`conv1d`, and ``check``: check and normalise the arguments (the
    default). numcnn's layers pass False with arrays of the right rank, 1-tuples for ``strides``
    and ``dilation_rate``, a padding from :func:`standardize_padding_1d` and a lower-case data format.

    Returns:
        ``(y, cache)``.
    """
    if check:
        args = _check_conv1d_args(x, kernel, bias, strides, padding, dilation_rate, groups, data_format)
        received = (f"x with shape {args[0].shape}, kernel with shape {args[1].shape}, strides={args[3]}, "
                    f"padding={_short(padding)}, dilation_rate={args[5]}")
        with allocation_guard("conv1d", received):
            return conv1d_forward(*args, check=False)
    pads = resolve_padding_1d(padding, x.shape[length_axis(data_format)], kernel.shape[0], strides[0],
                              dilation_rate[0])
    y, inner = conv2d_forward(_lift(x, data_format), kernel[None], bias, (1, strides[0]), ((0, 0), pads),
                              (1, dilation_rate[0]), groups, data_format, check=False)
    y = _drop(y, data_format)
    return y, Lifted1DCache(inner, data_format, y.shape)


def conv1d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1,
           data_format="channels_last") -> np.ndarray:
    """1D convolution (cross-correlation) of a batch of sequences with a filter bank.

    ``y[n, t, f] = bias[f] + sum_{a, c} xpad[n, t*s + a*d, c] * kernel[a, c, f]`` (for
    ``groups=1``; with groups, output filter ``f`` sees only its group's channels).

    Args:
        x: input sequences.
        kernel: filters, Keras layout ``(k, in_channels // groups, filters)`` for both data formats
            (PyTorch's ``conv1d`` weight ``(filters, in_channels // groups, k)`` is ``kernel.transpose(2, 1, 0)``).
        bias: optional per-filter bias.
        strides: int or (s,).
        padding: ``"valid"``, ``"same"``, ``"causal"``, an int or ``(left, right)`` (module docstring).
        dilation_rate: int or (d,): spacing between filter taps.
        groups: split the channels into this many independent convolutions.
        data_format: ``"channels_last"`` (N, L, C) or ``"channels_first"`` (N, C, L).

    Returns:
        The output, in the caller's float dtype (float32 for integer inputs).

    Shape:
        x: (N, L, C) or (N, C, L)
        kernel: (k, C // groups, F)
        bias: (F,)
        output: (N, OL, F) or (N, F, OL), ``OL = conv_output_size(L, k, s, left, right, d)``

    Example:
        >>> x = np.array([1.0, 2, 3, 4]).reshape(1, 4, 1)
        >>> conv1d(x, np.array([1.0, 10]).reshape(2, 1, 1))[0, :, 0]
        array([21., 32., 43.])
        >>> conv1d(x, np.array([1.0, 10]).reshape(2, 1, 1), padding="causal")[0, :, 0]   # y[t] = x[t-1] + 10 x[t]
        array([10., 21., 32., 43.])
    """
    return conv1d_forward(x, kernel, bias, strides, padding, dilation_rate, groups, data_format)[0]


def conv1d_backward(dy, cache: Lifted1DCache, *, check=True):
    """Gradients of a 1D convolution with respect to its input, kernel and bias.

    Args:
        dy: gradient of the loss with respect to the output of :func:`conv1d_forward`.
        cache: the cache that call returned.
        check: check ``dy`` (an array of the output's shape); layers pass False.

    Returns:
        ``(dx, dkernel, dbias)``; ``dbias`` is None when the forward had no bias.

    Shape:
        dy: like the output, (N, OL, F) or (N, F, OL)
        dx: like x; dkernel: (k, C // groups, F); dbias: (F,)
    """
    if check:
        dy = _check_dy(dy, cache)
    dx, dkernel, dbias = conv2d_backward(_lift(dy, cache.data_format), cache.inner, check=False)
    return _drop(dx, cache.data_format), dkernel[0], dbias


# -- pooling --------------------------------------------------------------------------------------

def check_pool1d_input(x: np.ndarray, data_format: str) -> None:
    """Refuse an input 1D pooling cannot take: not 3D, no channel or no step (the per-call checks)."""
    _check_sequences(x, data_format)
    if x.shape[length_axis(data_format)] == 0 or x.shape[-1 if data_format == "channels_last" else 1] == 0:
        raise ValueError("The `x` argument must have at least one channel and a length of at least 1, as in "
                         f"PyTorch. Received: x with shape {x.shape} (data_format='{data_format}')")


def check_pool1d_padding(padding, pool_size: tuple) -> None:
    """Refuse explicit padding as large as the window on a side: a window of padding only has no value."""
    if not isinstance(padding, str) and max(padding) >= pool_size[0]:
        raise ValueError("The `padding` argument must be smaller than the pool window on each side, so every window "
                         f"holds a real step. Received: padding={_short(padding)} with pool_size={pool_size[0]}")


def _check_pool1d_args(x, pool_size, strides, padding, data_format):
    """The door's checks; returns the arguments normalised, in :func:`_pool1d_forward`'s order."""
    data_format = standardize_data_format_1d(data_format)
    x = as_array(x, "x")
    pool_size = standardize_tuple(pool_size, 1, "pool_size")
    strides = pool_size if strides is None else standardize_tuple(strides, 1, "strides")
    padding = standardize_padding_1d(padding, allow_causal=False)
    check_pool1d_input(x, data_format)
    check_pool1d_padding(padding, pool_size)
    return x, pool_size, strides, padding, data_format


def _pool1d_forward(forward2d, x, pool_size, strides, padding, data_format, check):
    if check:
        args = _check_pool1d_args(x, pool_size, strides, padding, data_format)
        received = f"x with shape {args[0].shape}, pool_size={args[1]}, strides={args[2]}, padding={_short(padding)}"
        with allocation_guard(forward2d.__name__.replace("2d_forward", "1d"), received):
            return _pool1d_forward(forward2d, *args, check=False)
    pads = resolve_padding_1d(padding, x.shape[length_axis(data_format)], pool_size[0], strides[0])
    y, inner = forward2d(_lift(x, data_format), (1, pool_size[0]), (1, strides[0]), ((0, 0), pads), data_format,
                         check=False)
    y = _drop(y, data_format)
    return y, Lifted1DCache(inner, data_format, y.shape)


def _pool1d_backward(backward2d, dy, cache: Lifted1DCache, check):
    if check:
        dy = _check_dy(dy, cache)
    return _drop(backward2d(_lift(dy, cache.data_format), cache.inner, check=False), cache.data_format)


_POOL_DOC = """{title} over windows of ``pool_size`` steps.

    Args:
        x: input sequences.
        pool_size: int or (p,).
        strides: int or (s,); None means ``pool_size`` (Keras default).
        padding: ``"valid"``, ``"same"`` (output ``ceil(L / stride)``, the extra step on the right),
            an int or ``(left, right)`` smaller than the window. {padding_rule}
        data_format: ``"channels_last"`` (N, L, C) or ``"channels_first"`` (N, C, L).

    Shape:
        x: (N, L, C) or (N, C, L)
        output: (N, OL, C) or (N, C, OL)
    """


def max_pool1d_forward(x, pool_size=2, strides=None, padding="valid", data_format="channels_last", *, check=True):
    """Max pooling forward pass; returns ``(y, cache)`` for :func:`max_pool1d_backward`.

    ``check=False`` (numcnn's layers) skips the checks: 1-tuples, a padding from
    ``standardize_padding_1d(..., allow_causal=False)``, an input :func:`check_pool1d_input` accepts.
    """
    return _pool1d_forward(max_pool2d_forward, x, pool_size, strides, padding, data_format, check)


def max_pool1d(x, pool_size=2, strides=None, padding="valid", data_format="channels_last") -> np.ndarray:
    return max_pool1d_forward(x, pool_size, strides, padding, data_format)[0]


max_pool1d.__doc__ = _POOL_DOC.format(
    title="Maximum", padding_rule="Padding is -inf: it never wins; NaN wins every window it is in.") + """
    Example:
        >>> max_pool1d(np.array([1.0, 5, 2, 4, 3]).reshape(1, 5, 1), 2, 1)[0, :, 0]
        array([5., 5., 4., 4.])
    """


def max_pool1d_backward(dy, cache: Lifted1DCache, *, check=True) -> np.ndarray:
    """Gradient of max pooling: each window's ``dy`` goes to its first maximum.

    Shape:
        dy: like the pooled output; returns dx like the input.
    """
    return _pool1d_backward(max_pool2d_backward, dy, cache, check)


def avg_pool1d_forward(x, pool_size=2, strides=None, padding="valid", data_format="channels_last", *, check=True):
    """Average pooling forward pass; returns ``(y, cache)`` for :func:`avg_pool1d_backward`."""
    return _pool1d_forward(avg_pool2d_forward, x, pool_size, strides, padding, data_format, check)


def avg_pool1d(x, pool_size=2, strides=None, padding="valid", data_format="channels_last") -> np.ndarray:
    return avg_pool1d_forward(x, pool_size, strides, padding, data_format)[0]


avg_pool1d.__doc__ = _POOL_DOC.format(
    title="Mean", padding_rule="Each window is averaged over its real steps only (TensorFlow's rule).") + """
    Example:
        >>> avg_pool1d(np.array([1.0, 2, 3]).reshape(1, 3, 1), 2, padding="same")[0, :, 0]   # [1, 2], [3, pad]
        array([1.5, 3. ])
    """


def avg_pool1d_backward(dy, cache: Lifted1DCache, *, check=True) -> np.ndarray:
    """Gradient of average pooling: ``dy / count`` spread evenly over each window's real steps."""
    return _pool1d_backward(avg_pool2d_backward, dy, cache, check)


# -- global pooling -------------------------------------------------------------------------------

def _global_pool1d_forward(forward2d, x, data_format, keepdims, check):
    if check:
        data_format = standardize_data_format_1d(data_format)
        if not (isinstance(keepdims, (bool, np.bool_)) or (_is_int(keepdims) and keepdims in (0, 1))):
            raise ValueError(f"The `keepdims` argument must be True or False. Received: keepdims={_short(keepdims)}")
        keepdims = bool(keepdims)
        x = as_array(x, "x")
        check_pool1d_input(x, data_format)
    y, inner = forward2d(_lift(x, data_format), data_format, keepdims, check=False)
    if keepdims:
        y = _drop(y, data_format)
    return y, Lifted1DCache(inner, data_format, y.shape)


def global_avg_pool1d_forward(x, data_format="channels_last", keepdims=False, *, check=True):
    """Global average pooling forward; returns ``(y, cache)`` for :func:`global_pool1d_backward`."""
    return _global_pool1d_forward(global_avg_pool2d_forward, x, data_format, keepdims, check)


def global_max_pool1d_forward(x, data_format="channels_last", keepdims=False, *, check=True):
    """Global max pooling forward; returns ``(y, cache)``. Ties share the gradient evenly (TensorFlow's
    ``reduce_max``), a channel whose maximum is NaN shares it among its NaNs."""
    return _global_pool1d_forward(global_max_pool2d_forward, x, data_format, keepdims, check)


def global_avg_pool1d(x, data_format="channels_last", keepdims=False) -> np.ndarray:
    """Mean over the steps.

    Shape:
        x: (N, L, C) or (N, C, L)
        output: (N, C), or (N, 1, C) / (N, C, 1) with ``keepdims=True``
    """
    return global_avg_pool1d_forward(x, data_format, keepdims)[0]


def global_max_pool1d(x, data_format="channels_last", keepdims=False) -> np.ndarray:
    """Maximum over the steps. Shapes as :func:`global_avg_pool1d`."""
    return global_max_pool1d_forward(x, data_format, keepdims)[0]


def global_pool1d_backward(dy, cache: Lifted1DCache, *, check=True) -> np.ndarray:
    """Gradient of global average or max pooling over the steps.

    Shape:
        dy: (N, C) (or the keepdims shape); returns dx like the input.
    """
    if check:
        dy = _check_dy(dy, cache)
    if cache.inner.keepdims:  # (N, 1, C) -> (N, 1, 1, C): the 2D backward's keepdims shape
        dy = _lift(dy, cache.data_format)
    return _drop(global_pool2d_backward(dy, cache.inner, check=False), cache.data_format)


__all__ = [
    "Lifted1DCache", "avg_pool1d", "avg_pool1d_backward", "avg_pool1d_forward", "check_pool1d_input",
    "check_pool1d_padding", "conv1d", "conv1d_backward", "conv1d_forward", "global_avg_pool1d",
    "global_avg_pool1d_forward", "global_max_pool1d", "global_max_pool1d_forward", "global_pool1d_backward",
    "length_axis", "max_pool1d", "max_pool1d_backward", "max_pool1d_forward", "output_length",
    "resolve_padding_1d", "standardize_data_format_1d", "standardize_padding_1d",
]
