"""Gradient check for a whole model: ``model.backward`` against central differences of ``sum(y * g)``.

Every element of every parameter in ``model.params`` (and of the input, when the model
returns an input gradient) is perturbed, so keep models and inputs small and float64.
"""

from __future__ import annotations

import numpy as np
from helpers import numerical_grad


def assert_grad_close(analytic, numeric, rtol):
    """Elementwise ``rtol``, plus a floor for gradients that are exactly 0 (finite differences give ~1e-10)."""
    assert np.shape(analytic) == np.shape(numeric), f"shape {np.shape(analytic)} != {np.shape(numeric)}"
    scale = float(np.max(np.abs(numeric))) if np.size(numeric) else 0.0
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=max(rtol * scale, 1e-7))


def check_model_grads(model, x, rng, training=False, rtol=1e-5, check_input=True):
    """Assert ``model.grads`` (and the returned input gradient) match finite differences.

    Returns:
        ``(dx, grads)``: what ``model.backward`` gave.
    """
    y = model(x, training=training)
    g = rng.standard_normal(y.shape)
    dx = model.backward(g)
    grads = {k: v.copy() for k, v in model.grads.items()}
    assert list(grads) == list(model.params), f"grads {list(grads)} != params {list(model.params)}"

    def loss(inputs):
        return float(np.sum(model(inputs, training=training) * g))

    if check_input and dx is not None:
        assert_grad_close(dx, numerical_grad(loss, x), rtol)
    for key, param in model.params.items():
        original = param.copy()

        def loss_p(point, param=param):
            param[...] = point
            return loss(x)
        numeric = numerical_grad(loss_p, original)
        param[...] = original
        assert_grad_close(grads[key], numeric, rtol)
    return dx, grads
