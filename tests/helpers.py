"""Test helpers: numerical gradients, a magnitude-aware ``assert_close``, and torch/keras imports.

Import them from any test module as ``from helpers import numerical_grad``
(pytest puts ``tests/`` on ``sys.path`` because ``tests/conftest.py`` lives there).

The gradient helpers are meant for float64 inputs: in float32 a central
difference with ``eps=1e-6`` is mostly rounding noise.

Typical use, checking the gradient of a scalar loss ``f`` at ``x``::

    dx = my_backward(...)                                  # the analytic gradient
    assert_close(dx, numerical_grad(f, x), rtol=1e-6)      # every element, for small x
    check_directional_grad(f, x, dx, rng)                  # a few random directions, for any x
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable

import numpy as np
import pytest


def numerical_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function, one element at a time.

    ``grad[i] = (f(x + eps * e_i) - f(x - eps * e_i)) / (2 * eps)``. Costs ``2 * x.size``
    calls of ``f``, so keep ``x`` small. ``x`` itself is never modified: ``f`` sees a
    perturbed float64 copy.

    Args:
        f: takes an array shaped like ``x`` and returns a scalar.
        x: the point; converted to float64.
        eps: the step.

    Returns:
        float64 array shaped like ``x``.
    """
    point = np.array(x, dtype=np.float64)  # a copy
    flat = point.reshape(-1)  # a view of the copy
    grad = np.zeros(flat.shape)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = float(f(point))
        flat[i] = original - eps
        minus = float(f(point))
        flat[i] = original
        grad[i] = (plus - minus) / (2 * eps)
    return grad.reshape(point.shape)


def directional_derivative(f: Callable[[np.ndarray], float], x: np.ndarray, direction: np.ndarray,
                           eps: float = 1e-6) -> float:
    """Central difference of ``f`` along ``direction``: ``(f(x + eps d) - f(x - eps d)) / (2 eps)``.

    Two calls of ``f`` whatever the size of ``x`` (Chainer's ``check_backward`` idea).
    """
    return _central_difference(f, x, direction, eps)[0]


def _central_difference(f, x, direction, eps):
    """The directional derivative and the rounding noise it may carry."""
    point = np.asarray(x, dtype=np.float64)
    d = np.asarray(direction, dtype=np.float64)
    plus, minus = float(f(point + eps * d)), float(f(point - eps * d))
    # each f value is off by a few ulps of its size; the difference divides that by 2 eps
    noise = 16 * np.finfo(np.float64).eps * max(abs(plus), abs(minus)) / (2 * eps)
    return (plus - minus) / (2 * eps), noise


def check_directional_grad(f: Callable[[np.ndarray], float], x: np.ndarray, grad: np.ndarray,
                           rng: np.random.Generator, n_directions: int = 3, eps: float = 1e-6,
                           rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Assert ``sum(grad * d)`` matches the numerical directional derivative for random ``d``.

    The tolerance is ``atol * (|grad| + 1) + rtol * |numeric|`` plus the rounding noise of
    the central difference (a few ulps of ``|f|`` over ``2 eps``): keep ``f`` of moderate
    size, e.g. inputs and weights around 1, or the check loses its teeth.

    Args:
        f: scalar function of an array shaped like ``x``.
        x: the point.
        grad: the analytic gradient of ``f`` at ``x`` (shape of ``x``).
        rng: source of the random unit directions.
        n_directions: how many directions to try.
        eps: finite-difference step.
        rtol, atol: tolerance of each comparison; ``atol`` is scaled by ``|grad|``.
    """
    grad = np.asarray(grad, dtype=np.float64)
    assert grad.shape == np.shape(x), f"gradient shape {grad.shape} != input shape {np.shape(x)}"
    scale = float(np.linalg.norm(grad)) + 1.0
    for _ in range(n_directions):
        d = rng.standard_normal(grad.shape)
        d /= np.linalg.norm(d) or 1.0
        numeric, noise = _central_difference(f, x, d, eps)
        analytic = float(np.sum(grad * d))
        assert abs(analytic - numeric) <= atol * scale + rtol * abs(numeric) + noise, (
            f"directional derivative: analytic {analytic!r} vs numeric {numeric!r}")


def check_op_grads(forward, backward, arrays, kwargs, rng, *, directional=False, checked=None) -> None:
    """``backward``'s gradients of ``loss = sum(forward(*arrays, **kwargs)[0] * w)`` (so ``dy = w``, random)
    against numerical gradients (float64, rtol 1e-6), or random directional derivatives when
    ``directional``; ``checked`` picks which of ``arrays`` (indices; default all)."""
    y, cache = forward(*arrays, **kwargs)
    weights = rng.standard_normal(y.shape)
    grads = backward(weights, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for index, (array, grad) in enumerate(zip(arrays, grads)):
        if checked is not None and index not in checked:
            continue

        def loss(value, index=index):
            args = list(arrays)
            args[index] = value
            return np.sum(forward(*args, **kwargs)[0] * weights)
        if directional:
            check_directional_grad(loss, array, grad, rng)
        else:
            assert_close(grad, numerical_grad(loss, array), rtol=1e-6)


def assert_close(actual, desired, rtol: float = 1e-5, atol_scale: float | None = None,
                 scale: float | None = None) -> None:
    """``assert_allclose`` with an absolute tolerance proportional to the size of the numbers.

    Sums computed in a different order differ by rounding relative to the size of the
    terms, not of the result, so a result that cancels to near zero needs ``atol``:
    ``atol = atol_scale * scale``.

    Args:
        actual, desired: arrays (or scalars) of exactly the same shape.
        rtol: relative tolerance.
        atol_scale: the absolute tolerance per unit of ``scale``; defaults to ``rtol``.
        scale: the size of the numbers; defaults to ``max|desired|``. Pass more (e.g. the
            sum of ``|terms|``) when a whole result can cancel, as a bias gradient that
            sums ``dy`` of both signs.
    """
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    assert actual.shape == desired.shape, f"shape {actual.shape} != expected {desired.shape}"
    if scale is None:
        scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    atol = (rtol if atol_scale is None else atol_scale) * scale
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


def import_torch():
    """Import torch for a parity test (skip the test if it is missing), with oneDNN turned off.

    torch 2.13's CPU oneDNN kernel for the weight gradient of a 1x1, stride > 1
    convolution with few input channels writes past its workspace
    (uxlfoundation/oneDNN#6035): the gradient is wrong on some runs and right on
    others, and the process may crash. PyTorch's own kernels are right, so the
    reference runs on those.
    """
    torch = pytest.importorskip("torch")
    torch.backends.mkldnn.enabled = False
    return torch


def import_keras():
    """Import Keras 3 on the torch backend (``tests/conftest.py`` chooses it), or skip."""
    keras = pytest.importorskip("keras")
    import_torch()
    assert keras.backend.backend() == "torch", "KERAS_BACKEND must be set before keras is first imported"
    return keras


def popen_taking_ctrl_c(command, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` whose child stops on SIGINT as after Ctrl+C, even when this test process
    ignores SIGINT: a shell runs a background job with SIGINT ignored, children inherit that, and
    Python then installs no KeyboardInterrupt handler. Call it from the main thread."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        return subprocess.Popen(command, **kwargs)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
