"""Slow, obvious reference implementations: the sliding-window loops of notes 000 and 003.

They exist to be read and to be trusted: the tests check the fast paths against
them on random shapes. Each one visits every output position with plain Python
loops and computes ``np.sum(window * filter) + bias`` — the formula of note 000:

    out[i, j] = sum(img[i*s : i*s + k, j*s : j*s + k] * F) + b

All take and return channels-last arrays ``(N, H, W, C)`` and explicit
``((top, bottom), (left, right))`` padding, and compute in float64.
"""

from __future__ import annotations

import numpy as np


def _pad(x, pads, value=0.0):
    (t, b), (l, r) = pads
    return np.pad(x.astype(np.float64), [(0, 0), (t, b), (l, r), (0, 0)], constant_values=value)


def conv2d_reference(x, kernel, bias=None, strides=(1, 1), pads=((0, 0), (0, 0)), dilation_rate=(1, 1), groups=1):
    """Convolution by loops over every output pixel and filter.

    Shape:
        x: (N, H, W, C); kernel: (kh, kw, C // groups, F); bias: (F,)
        output: (N, OH, OW, F), float64
    """
    xp = _pad(x, pads)
    n, hp, wp, c = xp.shape
    kh, kw, cg, f = kernel.shape
    sh, sw = strides
    dh, dw = dilation_rate
    oh = (hp - (kh - 1) * dh - 1) // sh + 1
    ow = (wp - (kw - 1) * dw - 1) // sw + 1
    fg = f // groups
    out = np.zeros((n, oh, ow, f))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                window = xp[b, i * sh: i * sh + (kh - 1) * dh + 1: dh, j * sw: j * sw + (kw - 1) * dw + 1: dw, :]
                for k in range(f):
                    g = k // fg
                    out[b, i, j, k] = np.sum(window[:, :, g * cg:(g + 1) * cg] * kernel[:, :, :, k])
                    out[b, i, j, k] += 0.0 if bias is None else bias[k]
    return out


def conv2d_backward_reference(dy, x, kernel, strides=(1, 1), pads=((0, 0), (0, 0)), dilation_rate=(1, 1), groups=1):
    """Gradients of :func:`conv2d_reference` by the same loops, run backwards.

    Every output pixel ``y[b, i, j, k]`` received ``window * kernel[..., k]``, so it sends
    ``dy * kernel[..., k]`` back to its window and ``dy * window`` to the kernel.

    Returns:
        ``(dx, dkernel, dbias)`` in float64.
    """
    xp = _pad(x, pads)
    dxp = np.zeros_like(xp)
    kh, kw, cg, f = kernel.shape
    sh, sw = strides
    dh, dw = dilation_rate
    n, oh, ow, _ = dy.shape
    fg = f // groups
    dkernel = np.zeros(kernel.shape)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * sh, i * sh + (kh - 1) * dh + 1, dh)
                cols = slice(j * sw, j * sw + (kw - 1) * dw + 1, dw)
                for k in range(f):
                    chans = slice((k // fg) * cg, (k // fg + 1) * cg)
                    dxp[b, rows, cols, chans] += dy[b, i, j, k] * kernel[:, :, :, k]
                    dkernel[:, :, :, k] += dy[b, i, j, k] * xp[b, rows, cols, chans]
    (t, _), (l, _) = pads
    dx = dxp[:, t:t + x.shape[1], l:l + x.shape[2], :]
    return dx, dkernel, dy.sum(axis=(0, 1, 2))


def pool2d_reference(x, pool_size, strides, pads=((0, 0), (0, 0)), mode="max"):
    """Max or average pooling by loops (note 000's ``np.max(X[i, 2*j:2*(j+1), ...])``).

    Padding never counts: max ignores it, average divides by the real pixels.

    Shape:
        x: (N, H, W, C); output: (N, OH, OW, C), float64
    """
    xp = _pad(x, pads, value=np.nan)  # NaN marks padding
    n, hp, wp, c = xp.shape
    ph, pw = pool_size
    sh, sw = strides
    oh, ow = (hp - ph) // sh + 1, (wp - pw) // sw + 1
    out = np.zeros((n, oh, ow, c))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for k in range(c):
                    window = xp[b, i * sh: i * sh + ph, j * sw: j * sw + pw, k]
                    real = window[~np.isnan(window)]
                    out[b, i, j, k] = real.max() if mode == "max" else real.mean()
    return out
