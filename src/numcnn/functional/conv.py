"""2D convolution (cross-correlation, as in every deep-learning library): forward and backward.

The fast path is im2col + matrix multiply, in channels-last layout, a few images at a time:

* forward:  ``cols (M, kh*kw*Cin) @ kernel (kh*kw*Cin, F) -> y (M, F)`` with ``M = N*OH*OW``;
  ``cols`` is copied from a strided view of the padded input into one reused buffer of about
  :data:`PATCH_BYTES`, which stays in the CPU cache; a training forward pass keeps it instead
  (``keep_patches``, in pieces of :data:`KEEP_PIECE_BYTES`) for the kernel gradient;
* backward: ``dkernel += cols.T @ dy`` with the kept ``cols`` or ``cols`` rebuilt the same way,
  ``dbias`` as one matrix-vector product, and ``dx`` either as the forward pass of the transposed
  convolution (stride 1, one group: ``dy`` padded and convolved with the flipped kernel) or one
  filter tap at a time: ``dy @ kernel[a, b].T`` added onto the input positions tap ``(a, b)`` read
  (col2im without the big gradient matrix).

Grouped convolution (``groups > 1``) runs the same thing as a batch of ``groups``
independent matrix multiplies; depthwise convolution (one channel per group) is kh*kw
multiply-adds of shifted views instead, on threads (:mod:`numcnn.functional.threads`).
The readable seed version, :func:`numcnn.functional.im2col` / ``col2im``, and the slow loops
in :mod:`numcnn.functional.reference` are what the tests check this path against.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..utils.validation import (
    _short,
    allocation_guard,
    as_array,
    check_rank,
    float_dtype,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
)
from .geometry import output_hw, resolve_padding
from .windows import (
    crop_nhwc,
    from_channels_last,
    pad_nhwc,
    shape_from_channels_last,
    tap_nhwc,
    to_channels_last,
    windows_nhwc,
)
from .threads import over_batch


#: the patch matrix is built and multiplied a few images at a time, in pieces of about this
#: many bytes: small enough to stay in the CPU cache, large enough for an efficient GEMM
PATCH_BYTES = 2 << 20
#: a forward pass told to keep its patch matrix (``keep_patches``, training) keeps it when it takes
#: at most this many bytes, and the backward pass reuses it for the kernel gradient
KEEP_PATCHES_BYTES = 64 << 20
#: a kept patch matrix is built in pieces of the batch of at most about this many bytes, each
#: below the size above which the C allocator maps fresh pages for every array (32 MiB with
#: :func:`numcnn.utils.memory.keep_freed_memory`): page faults cost as much as the copy
KEEP_PIECE_BYTES = 16 << 20
#: the input gradient of a stride-1 convolution is the transposed convolution's forward pass when
#: the input has at least this many channels and as many as the output (measured: 16->16 3x3 at 28x28,
#: 13.6 -> 10.2 ms; 6->16 5x5 or 4->32 3x3 take twice as long that way, a thin GEMM on a wide patch matrix)
CONV_INPUT_GRADIENT_CHANNELS = 8
#: inputs of at most this many channels build their patch matrix tap by tap (:func:`_patches_by_tap`)
FEW_CHANNELS = 3


@dataclass(frozen=True)
class Conv2DCache:
    """What :func:`conv2d_backward` needs from the forward pass."""

    padded: np.ndarray  # (N, Hp, Wp, C): the padded NHWC input, in the compute dtype
    kernel: np.ndarray  # (kh, kw, C // groups, F), in the compute dtype
    input_hw: tuple
    out_shape: tuple  # NHWC shape of the output
    pads: tuple
    strides: tuple
    dilation_rate: tuple
    groups: int
    data_format: str
    has_bias: bool
    cols: tuple | None = None  # the patch matrix when kept: ``(start, stop, cols)`` pieces of the batch,
    # cols (groups, (stop - start)*OH*OW, kh*kw*Cg)

    @property
    def pointwise(self) -> bool:
        """A 1x1 kernel at stride 1, unpadded, one group: the input's rows are the patch matrix."""
        return (self.kernel.shape[:2] == (1, 1) and self.strides == (1, 1) and self.groups == 1
                and not any(map(any, self.pads)))

    @property
    def depthwise(self) -> bool:
        """One input channel and one filter per group: shifted multiply-adds instead of GEMMs."""
        return self.groups > 1 and self.kernel.shape[2] == 1 and self.kernel.shape[3] == self.groups


def check_image_conv_args(x, kernel, strides, padding, dilation_rate, data_format, kernel_layout):
    """The checks every 2D convolution's door starts with (conv2d, conv2d_transpose): ``(x, kernel, strides,
    padding, dilation_rate, data_format)`` as arrays and normalised hyper-parameters; ``kernel_layout`` names
    the kernel's axes in the error."""
    data_format = standardize_data_format(data_format)
    padding = standardize_padding(padding)
    x = as_array(x, "x")
    kernel = as_array(kernel, "kernel")
    layout = "(N, H, W, C)" if data_format == "channels_last" else "(N, C, H, W)"
    check_rank(x, 4, "x", f"{layout} for data_format='{data_format}'")
    check_rank(kernel, 4, "kernel", kernel_layout)
    strides = standardize_tuple(strides, 2, "strides")
    dilation_rate = standardize_tuple(dilation_rate, 2, "dilation_rate")
    return x, kernel, strides, padding, dilation_rate, data_format


def check_bias(bias, filters, what="filters"):
    """``bias`` as an array of shape ``(filters,)``, or None; ``what`` names that size in the error."""
    if bias is None:
        return None
    bias = as_array(bias, "bias")
    if bias.shape != (filters,):
        raise ValueError(f"The `bias` argument must have shape ({what},) = ({filters},). "
                         f"Received: bias with shape {bias.shape}")
    return bias


def _check_conv_args(x, kernel, bias, strides, padding, dilation_rate, groups, data_format):
    """The door's checks: arrays and normalised hyper-parameters, in :func:`conv2d_forward`'s order."""
    x, kernel, strides, padding, dilation_rate, data_format = check_image_conv_args(
        x, kernel, strides, padding, dilation_rate, data_format, "(kernel_h, kernel_w, in_channels // groups, filters)")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"The `groups` argument must be a positive int. Received: groups={_short(groups)}")
    groups = int(groups)
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    kh, kw, k_in, filters = kernel.shape
    if channels % groups or filters % groups:
        raise ValueError(
            "The `groups` argument must divide both the input channels and the filters. "
            f"Received: groups={groups}, input channels={channels}, filters={filters}"
        )
    if k_in * groups != channels:
        raise ValueError(
            f"The `kernel` argument's third axis must equal in_channels // groups = {channels} // {groups} "
            f"= {channels // groups} (input channels are on axis {-1 if data_format == 'channels_last' else 1} "
            f"for data_format='{data_format}'). Received: kernel with shape {kernel.shape}"
        )
    bias = check_bias(bias, filters)
    # nothing to convolve: refused (as Keras refuses filters=0) rather than an output no layer can use
    if channels == 0:
        raise ValueError(
            f"The `x` argument must have at least one input channel (axis {-1 if data_format == 'channels_last' else 1} "
            f"for data_format='{data_format}'). Received: x with shape {x.shape}")
    if 0 in kernel.shape:
        raise ValueError(
            "The `kernel` argument must have a non-zero size on every axis (kernel_h, kernel_w, "
            f"in_channels // groups, filters). Received: kernel with shape {kernel.shape}")
    return x, kernel, bias, strides, padding, dilation_rate, groups, data_format


def image_chunks(n: int, bytes_per_image: int, piece_bytes: int | None = None) -> list[tuple[int, int]]:
    """Cut a batch of ``n`` into ``(start, stop)`` pieces of about ``piece_bytes`` each (default
    :data:`PATCH_BYTES`, read at each call)."""
    step = max(1, (PATCH_BYTES if piece_bytes is None else piece_bytes) // max(bytes_per_image, 1))
    return [(start, min(n, start + step)) for start in range(0, n, step)]


def _patches(cache: Conv2DCache, start: int, stop: int, out: np.ndarray) -> np.ndarray:
    """im2col of images ``start:stop``, channels-last, copied into ``out``.

    ``cols[g, (n*OH + i)*OW + j, (a*kw + b)*Cg + c] == xp[start + n, i*sh + a*dh, j*sw + b*dw, g*Cg + c]``
    with ``Cg = C // groups``: one row per output pixel, one column per filter tap and channel.

    Shape:
        out: a buffer with room for (groups, (stop - start)*OH*OW, kh*kw*Cg)
        output: (groups, (stop - start)*OH*OW, kh*kw*Cg), a view of ``out``
    """
    kh, kw, cg, _ = cache.kernel.shape
    _, oh, ow, _ = cache.out_shape
    g, count = cache.groups, stop - start
    if g == 1 and cg <= FEW_CHANNELS:
        return _patches_by_tap(cache, start, stop, out)
    win = windows_nhwc(cache.padded[start:stop], (kh, kw), cache.strides, cache.dilation_rate, (oh, ow))
    cols = out.reshape(-1)[:g * count * oh * ow * kh * kw * cg].reshape(g, count, oh, ow, kh, kw, cg)
    if g == 1:
        cols[0] = win
    else:
        cols[...] = win.reshape(count, oh, ow, kh, kw, g, cg).transpose(5, 0, 1, 2, 3, 4, 6)
    return cols.reshape(g, count * oh * ow, kh * kw * cg)


def _patches_by_tap(cache: Conv2DCache, start: int, stop: int, out: np.ndarray) -> np.ndarray:
    """:func:`_patches` for an input of few channels (an image's first layer): built tap by tap, each
    column a copy of one shifted view of the input (rows of whole image lines), where the general
    copy would move one number at a time. Returns the same matrix, as a transposed view.

    Shape:
        output: (1, (stop - start)*OH*OW, kh*kw*C), a view of ``out`` laid out (kh*kw*C, rows)
    """
    kh, kw, c, _ = cache.kernel.shape
    _, oh, ow, _ = cache.out_shape
    count = stop - start
    cols = out.reshape(-1)[:kh * kw * c * count * oh * ow].reshape(kh, kw, c, count, oh, ow)
    part = cache.padded[start:stop]
    for a in range(kh):
        for b in range(kw):
            tap = tap_nhwc(part, a, b, cache.strides, cache.dilation_rate, (oh, ow))  # (count, OH, OW, C)
            cols[a, b] = tap.transpose(3, 0, 1, 2)
    return cols.reshape(kh * kw * c, count * oh * ow).T[None]


def _patch_pieces(cache: Conv2DCache):
    """``(start, stop, cols)`` for the pieces of the batch (:func:`image_chunks`), each piece's
    patch matrix built by :func:`_patches` in one buffer reused from piece to piece."""
    n, oh, ow, _ = cache.out_shape
    kh, kw, cg, _ = cache.kernel.shape
    per_image = oh * ow * kh * kw * cg * cache.groups
    chunks = image_chunks(n, per_image * cache.padded.itemsize)
    buffer = np.empty((chunks[0][1] - chunks[0][0]) * per_image, dtype=cache.padded.dtype)
    for start, stop in chunks:
        yield start, stop, _patches(cache, start, stop, buffer)


def _per_group(rows: np.ndarray, groups: int) -> np.ndarray:
    """View NHWC rows ``(M, F)`` as one matrix per group, ``(groups, M, F // groups)``."""
    m, f = rows.shape
    return rows.reshape(m, groups, f // groups).transpose(1, 0, 2)


def _gemm_forward(cache: Conv2DCache, keep_patches=False):
    """``y = cols @ kernel`` per group, a few images at a time through one reused patch buffer; or, with
    ``keep_patches`` and a patch matrix of at most :data:`KEEP_PATCHES_BYTES`, in pieces of
    :data:`KEEP_PIECE_BYTES` that are returned for the backward pass. Returns ``(y, kept or None)``,
    ``kept`` a tuple of ``(start, stop, cols)``.

    Shape:
        y: (N, OH, OW, F); each cols: (groups, (stop - start)*OH*OW, kh*kw*Cg)
    """
    kernel, g = cache.kernel, cache.groups
    n, oh, ow, filters = cache.out_shape
    kh, kw, cg, _ = kernel.shape
    y = np.empty(cache.out_shape, dtype=cache.padded.dtype)
    if cache.pointwise:  # one GEMM on the input itself, no patch copy
        np.matmul(cache.padded.reshape(-1, cg), kernel.reshape(cg, filters), out=y.reshape(-1, filters))
        return y, None
    kernel_mat = kernel.reshape(kh, kw, cg, g, filters // g).transpose(3, 0, 1, 2, 4).reshape(g, kh * kw * cg, -1)
    per_image = oh * ow * kh * kw * cg * g
    if keep_patches and n * per_image * cache.padded.itemsize <= KEEP_PATCHES_BYTES:
        kept = []
        for start, stop in image_chunks(n, per_image * cache.padded.itemsize, KEEP_PIECE_BYTES):
            cols = _patches(cache, start, stop, np.empty((stop - start) * per_image, dtype=cache.padded.dtype))
            np.matmul(cols, kernel_mat, out=_per_group(y[start:stop].reshape(-1, filters), g))
            kept.append((start, stop, cols))
        return y, tuple(kept)
    for start, stop, cols in _patch_pieces(cache):
        np.matmul(cols, kernel_mat, out=_per_group(y[start:stop].reshape(-1, filters), g))
    return y, None


def _depthwise_nhwc(xp, k, strides, dilation_rate, out_hw):
    """Depthwise convolution as kh*kw multiply-adds of shifted views, in pieces of the batch on threads.

    Shape:
        xp: (N, Hp, Wp, C); k: (kh, kw, C); output: (N, OH, OW, C)
    """
    n, c = xp.shape[0], xp.shape[3]
    kh, kw, _ = k.shape
    y = np.empty((n, *out_hw, c), dtype=xp.dtype)

    def taps(start, stop):
        part, out = xp[start:stop], y[start:stop]
        term = np.empty_like(out)
        np.multiply(tap_nhwc(part, 0, 0, strides, dilation_rate, out_hw), k[0, 0], out=out)
        for t in range(1, kh * kw):
            a, b = divmod(t, kw)
            out += np.multiply(tap_nhwc(part, a, b, strides, dilation_rate, out_hw), k[a, b], out=term)

    over_batch(taps, n, y.size * kh * kw)
    return y


def conv2d_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1,
                   data_format="channels_last", *, check=True, keep_patches=False):
    """Convolution forward pass that also returns the cache for the backward pass.

    Same arguments as :func:`conv2d`, and ``check``: check and normalise the arguments (the
    default). numcnn's layers, which checked theirs once, pass False with arrays of the right
    rank, int tuples, a padding from ``standardize_padding`` and a lower-case data format. And
    ``keep_patches``: keep the patch matrix in the cache (up to :data:`KEEP_PATCHES_BYTES`) so that
    the backward pass does not build it again (layers pass True in training).

    Returns:
        ``(y, cache)``; pass ``cache`` to :func:`conv2d_backward`.
    """
    if check:
        args = _check_conv_args(x, kernel, bias, strides, padding, dilation_rate, groups, data_format)
        received = (f"x with shape {args[0].shape}, kernel with shape {args[1].shape}, strides={args[3]}, "
                    f"padding={_short(padding)}, dilation_rate={args[5]}")
        with allocation_guard("conv2d", received):
            return conv2d_forward(*args, check=False, keep_patches=keep_patches)
    dtype = float_dtype(x, kernel, bias)
    xl = to_channels_last(x, data_format).astype(dtype, copy=False)
    n, h, w, c = xl.shape
    kh, kw, cg, filters = kernel.shape
    pads = resolve_padding(padding, (h, w), (kh, kw), strides, dilation_rate, check=False)
    oh, ow = output_hw((h, w), (kh, kw), strides, pads, dilation_rate)
    kernel = kernel.astype(dtype, copy=False)
    xp = pad_nhwc(xl, pads) if n else xl  # an empty batch is never padded (nothing to compute)
    cache = Conv2DCache(xp, kernel, (h, w), (n, oh, ow, filters), pads, strides, dilation_rate, groups,
                        data_format, bias is not None)
    if n == 0:
        y = np.zeros((n, oh, ow, filters), dtype=dtype)
    elif cache.depthwise:
        y = _depthwise_nhwc(xp, kernel.reshape(kh, kw, c), strides, dilation_rate, (oh, ow))
    else:
        y, cols = _gemm_forward(cache, keep_patches)
        if cols is not None:
            cache = dataclasses.replace(cache, cols=cols)
    if bias is not None:
        y += bias.astype(dtype, copy=False)
    return from_channels_last(y, data_format), cache


def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1,
           data_format="channels_last") -> np.ndarray:
    """2D convolution (cross-correlation) of a batch of images with a filter bank.

    ``y[n, i, j, f] = bias[f] + sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, f]``
    (for ``groups=1``; with groups, output filter ``f`` sees only its group's channels).

    Args:
        x: input images.
        kernel: filters, Keras layout ``(kh, kw, in_channels // groups, filters)`` for both
            data formats.
        bias: optional per-filter bias.
        strides: int or (sh, sw).
        padding: ``"valid"`` (none), ``"same"`` (output ``ceil(in / stride)``; an odd total
            puts the extra pixel bottom/right, as TensorFlow/Keras), an int, a pair
            ``(pad_h, pad_w)`` or ``((top, bottom), (left, right))``.
        dilation_rate: int or (dh, dw): spacing between filter taps.
        groups: split the channels into this many independent convolutions.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Returns:
        The output, in the caller's float dtype (float32 for integer inputs).

    Shape:
        x: (N, H, W, C) or (N, C, H, W)
        kernel: (kh, kw, C // groups, F)
        bias: (F,)
        output: (N, OH, OW, F) or (N, F, OH, OW), ``OH = conv_output_size(H, kh, sh, top, bottom, dh)``

    Example:
        >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
        >>> conv2d(x, np.ones((2, 2, 1, 1)), bias=np.array([3.0]))[0, :, :, 0]   # note 002
        array([[13., 17., 21.],
               [29., 33., 37.],
               [45., 49., 53.]])
    """
    return conv2d_forward(x, kernel, bias, strides, padding, dilation_rate, groups, data_format)[0]


def conv2d_backward(dy, cache: Conv2DCache, *, check=True, input_gradient=True):
    """Gradients of a convolution with respect to its input, kernel and bias.

    Args:
        dy: gradient of the loss with respect to the output of :func:`conv2d_forward`.
        cache: the cache that call returned.
        check: check ``dy`` (an array of the output's shape); layers pass False.
        input_gradient: False skips ``dx`` (None then): a network's first layer needs none in training.

    Returns:
        ``(dx, dkernel, dbias)``; ``dbias`` is None when the forward had no bias.

    Shape:
        dy: like the output, (N, OH, OW, F) or (N, F, OH, OW)
        dx: like x; dkernel: (kh, kw, C // groups, F); dbias: (F,)
    """
    if check:
        dy = as_array(dy, "dy")
        expected = shape_from_channels_last(cache.out_shape, cache.data_format)
        if dy.shape != expected:
            raise ValueError(f"The `dy` argument must have the output's shape {expected}. Received: dy with shape {dy.shape}")
    dyl = to_channels_last(dy, cache.data_format).astype(cache.padded.dtype, copy=False)
    n, oh, ow, filters = cache.out_shape
    if n == 0:  # an empty batch: an empty dx, and zero gradients for the weights
        dx = np.zeros((0, *cache.input_hw, cache.padded.shape[3]), dtype=dyl.dtype)
        dbias = np.zeros(filters, dtype=dyl.dtype) if cache.has_bias else None
        return from_channels_last(dx, cache.data_format), np.zeros_like(cache.kernel), dbias
    dbias = None
    if cache.has_bias:  # a matrix-vector product: faster and more accurate in float32 than sum(axis=0)
        dbias = np.ones(n * oh * ow, dtype=dyl.dtype) @ dyl.reshape(-1, filters)
    if cache.depthwise:
        dxp, dkernel = _depthwise_backward(dyl, cache)
        dx = crop_nhwc(dxp, cache.pads, cache.input_hw)
    else:
        dkernel = _kernel_gradient(dyl, cache)
        if not input_gradient:
            return None, dkernel, dbias
        transposed = _transposed_conv(dyl, cache)
        if transposed is not None:
            dx = _gemm_forward(transposed)[0]
        else:
            dx = crop_nhwc(_input_gradient_by_taps(dyl, cache), cache.pads, cache.input_hw)
    return from_channels_last(np.ascontiguousarray(dx), cache.data_format), dkernel, dbias


def _kernel_gradient(dyl, cache: Conv2DCache) -> np.ndarray:
    """``dkernel = cols.T @ dy`` per group, summed over pieces of the batch: the pieces a training
    forward pass kept, or ``cols`` rebuilt in one reused patch buffer.

    Shape:
        dyl: (N, OH, OW, F); output: (kh, kw, C // groups, F)
    """
    kernel, g = cache.kernel, cache.groups
    filters = cache.out_shape[3]
    kh, kw, cg, _ = kernel.shape
    if cache.pointwise:
        return (cache.padded.reshape(-1, cg).T @ dyl.reshape(-1, filters)).reshape(kernel.shape)
    dkernel_mat = np.zeros((g, kh * kw * cg, filters // g), dtype=cache.padded.dtype)
    for start, stop, cols in cache.cols or _patch_pieces(cache):  # kept by the forward pass, or rebuilt
        dkernel_mat += np.matmul(cols.transpose(0, 2, 1), _per_group(dyl[start:stop].reshape(-1, filters), g))
    return dkernel_mat.reshape(g, kh, kw, cg, filters // g).transpose(1, 2, 3, 0, 4).reshape(kernel.shape)


def _transposed_conv(dyl, cache: Conv2DCache) -> Conv2DCache | None:
    """The input gradient of a stride-1 convolution of one group as a convolution to run forward, or
    None where the tap-by-tap path applies (strides, groups, fewer input channels than
    :data:`CONV_INPUT_GRADIENT_CHANNELS` or than filters, or a padding wider than the kernel).

    ``dx[n, h, w, c] = sum_{a, b, f} dy[n, h + top - a*dh, w + left - b*dw, f] * kernel[a, b, c, f]``:
    ``dy`` padded by the kernel's extent less the forward padding, convolved with the kernel
    flipped in both directions and its channel axes swapped, gives ``dx`` at the input's size.

    Shape:
        dyl: (N, OH, OW, F); the convolution's output: (N, H, W, C)
    """
    kh, kw, c, filters = cache.kernel.shape
    if cache.strides != (1, 1) or cache.groups != 1 or c < max(CONV_INPUT_GRADIENT_CHANNELS, filters):
        return None
    extent = ((kh - 1) * cache.dilation_rate[0], (kw - 1) * cache.dilation_rate[1])
    pads = tuple((e - before, e - after) for e, (before, after) in zip(extent, cache.pads))
    if min(map(min, pads)) < 0:
        return None
    flipped = np.ascontiguousarray(cache.kernel[::-1, ::-1].transpose(0, 1, 3, 2))
    n, h, w = cache.out_shape[0], *cache.input_hw
    return Conv2DCache(pad_nhwc(dyl, pads), flipped, cache.out_shape[1:3], (n, h, w, c), pads, (1, 1),
                       cache.dilation_rate, 1, "channels_last", False)


def _input_gradient_by_taps(dyl, cache: Conv2DCache) -> np.ndarray:
    """col2im without the ``(M, kh*kw*C)`` gradient matrix: for each filter tap ``(a, b)``,
    ``dy @ kernel[a, b].T`` is added onto the input positions that tap read.

    Each tap's rows are contiguous NHWC, so the additions run at memory speed even with few
    channels; pieces of the batch keep the rows in the CPU cache.

    Shape:
        dyl: (N, OH, OW, F); output: dx padded like the forward's input, (N, Hp, Wp, C)
    """
    xp, kernel, g = cache.padded, cache.kernel, cache.groups
    n, oh, ow, filters = cache.out_shape
    kh, kw, cg, _ = kernel.shape
    if cache.pointwise:
        return (dyl.reshape(-1, filters) @ kernel.reshape(cg, filters).T).reshape(xp.shape)
    # per tap and group, the kernel as (F/g, Cg): dy rows of a group times it give that tap's dx rows
    kernel_taps = kernel.reshape(kh * kw, cg, g, filters // g).transpose(0, 2, 3, 1)  # (kh*kw, g, F/g, Cg)
    chunks = image_chunks(n, oh * ow * cg * g * xp.itemsize)
    tap_rows = np.empty(((chunks[0][1] - chunks[0][0]) * oh * ow, g, cg), dtype=xp.dtype)
    dxp = np.zeros(xp.shape, dtype=xp.dtype)
    for start, stop in chunks:
        count = stop - start
        dy_rows = _per_group(dyl[start:stop].reshape(-1, filters), g)  # (g, rows, F/g)
        out = tap_rows[:count * oh * ow]
        for t in range(kh * kw):
            np.matmul(dy_rows, kernel_taps[t], out=out.transpose(1, 0, 2))
            tap = tap_nhwc(dxp[start:stop], *divmod(t, kw), cache.strides, cache.dilation_rate, (oh, ow))
            tap += out.reshape(count, oh, ow, g * cg)
    return dxp


def _depthwise_backward(dyl, cache: Conv2DCache):
    """Backward of the depthwise path: per tap, ``dkernel[a, b] = sum(window_ab * dy)`` and
    ``dy * kernel[a, b]`` added onto the input positions that tap read; pieces of the batch on threads.

    Shape:
        dyl: (N, OH, OW, C); output: (dx padded (N, Hp, Wp, C), dkernel (kh, kw, 1, C))
    """
    n, oh, ow, c = cache.out_shape
    kh, kw, _, _ = cache.kernel.shape
    k = cache.kernel.reshape(kh, kw, c)
    dxp = np.zeros(cache.padded.shape, dtype=dyl.dtype)

    def taps(start, stop):
        """dx for images start:stop, and their share of dkernel."""
        part, grad, out = cache.padded[start:stop], dyl[start:stop], dxp[start:stop]
        term = np.empty_like(grad)
        dk = np.empty((kh, kw, c), dtype=dyl.dtype)
        for a in range(kh):
            for b in range(kw):
                dk[a, b] = np.einsum("nhwc,nhwc->c", tap_nhwc(part, a, b, cache.strides, cache.dilation_rate,
                                                              (oh, ow)), grad)
                tap = tap_nhwc(out, a, b, cache.strides, cache.dilation_rate, (oh, ow))
                tap += np.multiply(grad, k[a, b], out=term)
        return dk

    dkernel = sum(over_batch(taps, n, dyl.size * kh * kw)).reshape(kh, kw, 1, c)
    return dxp, dkernel
