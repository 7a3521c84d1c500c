"""Batch normalisation: normalise each channel over the batch (and the spatial axes), then scale and shift."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..utils.validation import _is_int, _short, as_array, check_number, float_dtype


@dataclass(frozen=True)
class BatchNormCache:
    """What :func:`batch_norm_backward` needs from the forward pass."""

    centred: np.ndarray  # x - mean, or (given statistics) a view of x itself with ``mean`` set: shaped as x,
    # or channels last as long rows (:func:`_long_rows`)
    inv_std: np.ndarray  # 1 / sqrt(var + epsilon), shaped to broadcast against x
    gamma: np.ndarray  # shaped to broadcast against x
    reduce: tuple  # every axis but the channels'
    training: bool  # batch statistics (they depend on x) or given ones (constants)
    shape: tuple  # of x
    tiles: int = 0  # channels last: the k of the long rows ``(R / k, k*C)``; 0: ``centred`` is shaped as x
    mean: np.ndarray | None = None  # given statistics: the backward pass centres x itself (predict never needs it)


def _check_batch_norm_args(x, gamma, beta, axis, epsilon, mean, var):
    x = as_array(x, "x")
    if x.ndim < 2 or not _is_int(axis) or not -x.ndim <= axis < x.ndim or axis % x.ndim == 0:
        raise ValueError(f"The `axis` argument must name a non-batch axis of `x`. "
                         f"Received: axis={_short(axis)} for x with shape {x.shape}")
    channels = x.shape[axis]
    dtype = float_dtype(x)
    stats = {}
    for name, value in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)):
        if value is None and name in ("mean", "var"):
            stats[name] = None
            continue
        value = as_array(value, name)
        if value.shape != (channels,):
            raise ValueError(f"The `{name}` argument must have shape ({channels},), one value per channel on axis "
                             f"{axis}. Received: {name} with shape {value.shape}")
        stats[name] = value.astype(dtype, copy=False)
    if (mean is None) != (var is None):
        raise ValueError(f"The `mean` and `var` arguments go together (both None: batch statistics). "
                         f"Received: mean={_short(mean)}, var={_short(var)}")
    epsilon = check_number(epsilon, "epsilon", 0, low_open=True)
    return x.astype(dtype, copy=False), stats["gamma"], stats["beta"], int(axis), epsilon, stats["mean"], stats["var"]


# batch norm: xhat = (x - mean) / sqrt(var + eps), y = gamma * xhat + beta
def batch_norm_forward(x, gamma, beta, axis, epsilon, mean=None, var=None, *, check=True):
    """Normalise ``x`` over every axis but ``axis``; returns ``(y, cache, mean, var)``.

    In training (``mean``/``var`` None) the batch statistics are used and returned (the biased
    variance, as Keras and PyTorch normalise with); otherwise the given (moving) statistics.
    A batch with no value per channel has no statistics: give it the moving ones.
    ``check=False`` (the BatchNormalization layer) takes float arrays of matching sizes.

    Shape:
        x: (N, ..., C, ...) with C at ``axis``; gamma, beta, mean, var: (C,)

    Example:
        >>> y, _, mean, var = batch_norm_forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), -1, 0.0)
        >>> y.ravel(), mean, var
        (array([-1.,  1.]), array([2.]), array([1.]))
    """
    if check:
        x, gamma, beta, axis, epsilon, mean, var = _check_batch_norm_args(x, gamma, beta, axis, epsilon, mean, var)
    axis %= x.ndim
    reduce = tuple(i for i in range(x.ndim) if i != axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    training = mean is None
    if axis == x.ndim - 1 and x.size:  # channels last: rows of C, sums as matrix products over the rows
        rows, k = _long_rows(x.reshape(-1, x.shape[-1]))
        m = len(rows) * k
        if training:  # the mean, and the biased variance in one pass over the centred values
            mean = _channel_sums(rows, k) / m
            centred = np.subtract(rows, np.tile(mean, k))
            var = np.einsum("ij,ij->j", centred, centred).reshape(k, -1).sum(axis=0) / m
        inv_std = (1.0 / np.sqrt(var + epsilon)).astype(x.dtype, copy=False)
        alpha = gamma * inv_std
        if training:  # gamma * xhat + beta, in two passes
            y = np.multiply(centred, np.tile(alpha, k))
            y += np.tile(beta, k)
        else:  # as PyTorch's kernel: x * alpha + (beta - mean * alpha)
            y = np.multiply(rows, np.tile(alpha, k))
            y += np.tile(beta - mean * alpha, k)
        cache = BatchNormCache(centred if training else rows, inv_std.reshape(shape), gamma.reshape(shape), reduce,
                               training, x.shape, k, None if training else mean.copy())
        return y.reshape(x.shape), cache, mean, var
    if training:
        mean = x.mean(axis=reduce)
        var = x.var(axis=reduce)
    inv_std = 1.0 / np.sqrt(var.reshape(shape) + epsilon)
    alpha = inv_std * gamma.reshape(shape)
    if training:
        centred = x - mean.reshape(shape)
        y = centred * alpha + beta.reshape(shape)
    else:
        y = x * alpha + (beta.reshape(shape) - mean.reshape(shape) * alpha)
    cache = BatchNormCache(centred if training else x, inv_std, gamma.reshape(shape), reduce, training, x.shape,
                           mean=None if training else mean.copy())
    return y.astype(x.dtype, copy=False), cache, mean, var


def _long_rows(rows):
    """``(rows, k)``: channels-last rows ``(R, C)`` viewed as ``(R / k, k*C)`` rows of at least 512 numbers
    where ``R`` allows (k a power of two), so that NumPy's loops over a channel vector tiled ``k`` times
    run over long rows: with 16 channels, each pass is about a third faster."""
    r, c = rows.shape
    k = 1
    while c * k < 512 and r % (2 * k) == 0:
        k *= 2
    return rows.reshape(r // k, k * c), k


def _channel_sums(rows, k):
    """Per-channel sums of long rows ``(R / k, k*C)``: ``(C,)``."""
    return _row_sums(rows).reshape(k, -1).sum(axis=0)


def _row_sums(rows):
    """``rows.sum(axis=0)`` as a matrix-vector product: multithreaded, and more accurate in float32."""
    return np.ones(len(rows), dtype=rows.dtype) @ rows


def batch_norm_backward(dy, cache: BatchNormCache, *, check=True):
    """Gradients ``(dx, dgamma, dbeta)`` of :func:`batch_norm_forward` (``check``: that ``dy`` has the
    output's shape).

    In training the batch statistics depend on ``x``, which gives the usual
    ``dx = inv_std / m * (m * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))``, computed as
    ``gamma * inv_std * (dy - dbeta / m - xhat * dgamma / m)`` (``dxhat = gamma * dy``);
    in inference they are constants and ``dx = dxhat * inv_std``.
    """
    centred, inv_std, reduce, k = cache.centred, cache.inv_std, cache.reduce, cache.tiles
    if check:
        dy = as_array(dy, "dy")
        if dy.shape != cache.shape:
            raise ValueError(f"The `dy` argument must have the output's shape {cache.shape}. "
                             f"Received: dy with shape {dy.shape}")
    m = math.prod(cache.shape[i] for i in reduce)  # values per channel (size // C fails for C == 0)
    if k and dy.dtype == centred.dtype:  # channels last, as long rows
        dyr = np.ascontiguousarray(dy).reshape(centred.shape)
        inv_std = inv_std.reshape(-1)
        if cache.mean is not None:
            centred = centred - np.tile(cache.mean, k)
        dbeta = _channel_sums(dyr, k)
        dgamma = np.einsum("ij,ij->j", dyr, centred).reshape(k, -1).sum(axis=0) * inv_std
        scale = cache.gamma.reshape(-1) * inv_std
        if not cache.training:
            return (dyr * np.tile(scale, k)).reshape(dy.shape), dgamma, dbeta
        dx = np.multiply(centred, np.tile(inv_std * dgamma / m, k))  # xhat * dgamma / m
        np.subtract(dyr, dx, out=dx)
        dx -= np.tile(dbeta / m, k)
        dx *= np.tile(scale, k)
        return dx.reshape(dy.shape), dgamma, dbeta
    centred = centred.reshape(cache.shape)
    if cache.mean is not None:
        centred = centred - cache.mean.reshape(inv_std.shape)
    xhat = centred * inv_std
    dgamma = (dy * xhat).sum(axis=reduce)
    dbeta = dy.sum(axis=reduce)
    dxhat = dy * cache.gamma
    if not cache.training:
        return (dxhat * inv_std).astype(dy.dtype, copy=False), dgamma, dbeta
    if m == 0:  # no value per channel: nothing depends on x
        return np.zeros_like(dxhat), dgamma, dbeta
    dx = inv_std / m * (m * dxhat - dxhat.sum(axis=reduce, keepdims=True)
                        - xhat * (dxhat * xhat).sum(axis=reduce, keepdims=True))
    return dx.astype(dy.dtype, copy=False), dgamma, dbeta


def moving_average(moving: np.ndarray, value: np.ndarray, momentum: float) -> np.ndarray:
    """Keras' update of a moving statistic: ``momentum * moving + (1 - momentum) * value``."""
    return moving * momentum + value * (1 - momentum)
