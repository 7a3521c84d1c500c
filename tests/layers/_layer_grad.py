"""Gradient check for one layer: ``backward`` against central differences of ``sum(y * g)``.

Built on ``tests/helpers.py`` (``numerical_grad``, ``assert_close``). Meant for float64
layers and small inputs: every element of ``x`` and of each parameter is perturbed.
"""

from __future__ import annotations

import numpy as np
from helpers import numerical_grad


def assert_grad_close(analytic, numeric, rtol):
    """Elementwise ``rtol``, plus a floor for gradients that are exactly 0 (finite differences give ~1e-10)."""
    assert np.shape(analytic) == np.shape(numeric), f"shape {np.shape(analytic)} != {np.shape(numeric)}"
    scale = float(np.max(np.abs(numeric))) if np.size(numeric) else 0.0
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=max(rtol * scale, 1e-7))


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def check_layer_grads(layer, x, rng, training=False, rtol=1e-5):
    """Assert ``layer.backward`` gives d(sum(y * g))/d(x) and d/d(param) for every param.

    Args:
        layer: a layer (built or not); it must be deterministic for fixed inputs.
        x: one float64 array, or a list of them for merge layers.
        rng: draws the fixed output weighting ``g``.
        training: passed to every call.

    Returns:
        ``(dx, grads)``: the analytic gradients that were checked.
    """
    multi = isinstance(x, (list, tuple))
    xs = [np.asarray(a, dtype=np.float64) for a in _as_list(x)]
    y = layer(xs if multi else xs[0], training=training)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert set(grads) == set(layer.params), f"grads {sorted(grads)} != params {sorted(layer.params)}"

    def loss_with(inputs):
        return float(np.sum(layer(inputs if multi else inputs[0], training=training) * g))

    for i, xi in enumerate(xs):
        def loss_x(point, i=i):
            inputs = list(xs)
            inputs[i] = point
            return loss_with(inputs)
        analytic = dx[i] if multi else dx
        assert_grad_close(analytic, numerical_grad(loss_x, xi), rtol)

    for name, param in layer.params.items():
        original = param.copy()

        def loss_p(point, param=param):
            param[...] = point
            return loss_with(xs)
        numeric = numerical_grad(loss_p, original)
        param[...] = original
        assert grads[name].dtype == param.dtype
        assert_grad_close(grads[name], numeric, rtol)
    return dx, grads
