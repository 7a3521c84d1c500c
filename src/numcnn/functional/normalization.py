"""Batch normalisation: normalise each channel over the batch (and the spatial axes), then scale and shift."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..utils.validation import _is_int, _short, as_array, check_number, float_dtype


@dataclass(frozen=True)
class BatchNormCache:
    """What :func:`batch_norm_backward` needs from the forward pass."""

    xhat: np.ndarray  # the normalised input
    inv_std: np.ndarray  # 1 / sqrt(var + epsilon), shaped to broadcast against x
    gamma: np.ndarray  # shaped to broadcast against x
    reduce: tuple  # every axis but the channels'
    training: bool  # batch statistics (they depend on x) or given ones (constants)


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
        rows = x.reshape(-1, x.shape[-1])
        if training:
            mean = _row_sums(rows) / len(rows)
        xhat = np.subtract(rows, mean)
        if training:
            var = np.einsum("ij,ij->j", xhat, xhat) / len(rows)  # the biased variance, in one pass
        inv_std = (1.0 / np.sqrt(var + epsilon)).astype(x.dtype, copy=False)
        xhat *= inv_std
        y = xhat * gamma
        y += beta
        cache = BatchNormCache(xhat.reshape(x.shape), inv_std.reshape(shape), gamma.reshape(shape), reduce, training)
        return y.reshape(x.shape), cache, mean, var
    if training:
        mean = x.mean(axis=reduce)
        var = x.var(axis=reduce)
    inv_std = 1.0 / np.sqrt(var.reshape(shape) + epsilon)
    xhat = (x - mean.reshape(shape)) * inv_std
    y = xhat * gamma.reshape(shape) + beta.reshape(shape)
    return y.astype(x.dtype, copy=False), BatchNormCache(xhat, inv_std, gamma.reshape(shape), reduce, training), mean, var


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
    xhat, inv_std, reduce = cache.xhat, cache.inv_std, cache.reduce
    if check:
        dy = as_array(dy, "dy")
        if dy.shape != xhat.shape:
            raise ValueError(f"The `dy` argument must have the output's shape {xhat.shape}. "
                             f"Received: dy with shape {dy.shape}")
    m = math.prod(xhat.shape[i] for i in reduce)  # values per channel (xhat.size // C fails for C == 0)
    if reduce == tuple(range(xhat.ndim - 1)) and xhat.size and dy.dtype == xhat.dtype:  # channels last
        c = xhat.shape[-1]
        rows, dyr = xhat.reshape(-1, c), np.ascontiguousarray(dy).reshape(-1, c)
        dgamma = np.einsum("ij,ij->j", dyr, rows)
        dbeta = _row_sums(dyr)
        scale = (cache.gamma * inv_std).reshape(c)
        if not cache.training:
            return (dyr * scale).reshape(dy.shape), dgamma, dbeta
        dx = np.multiply(rows, dgamma / m)
        np.subtract(dyr, dx, out=dx)
        dx -= dbeta / m
        dx *= scale
        return dx.reshape(dy.shape), dgamma, dbeta
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
