"""Loss objects for ``model.compile(loss=...)``, with Keras names.

A loss is called as ``loss(y_true, y_pred) -> float``; training uses the pair
``forward(y_true, y_pred) -> (value, cache)`` and ``backward(cache) -> dy_pred``,
which call :mod:`numcnn.functional.losses`.

``from_logits=True`` (what ``numcnn train`` uses: the last Dense layer has no
softmax) fuses softmax and cross-entropy; it is exact and never takes log(0).
With ``from_logits=False`` the predictions must be probabilities: rows that are
not (negative values, or rows not summing to 1) raise a ``ValueError`` instead of
training silently on a wrong loss.
"""

from __future__ import annotations

import numpy as np

from . import functional as F
from ._validation import _short, as_array


def _check_probabilities(y_pred):
    p = as_array(y_pred, "y_pred")
    if p.ndim == 2 and p.size and np.all(np.isfinite(p)):
        sums = p.sum(axis=1)
        if p.min() < 0 or p.max() > 1 or np.abs(sums - 1).max() > 1e-3:
            raise ValueError(
                "The `y_pred` argument must hold probabilities (rows in [0, 1] summing to 1) when "
                "from_logits=False; for a model whose last layer has no softmax, use from_logits=True. "
                f"Received: rows summing to {sums.min():.4g}..{sums.max():.4g}, values {p.min():.4g}..{p.max():.4g}")
    return p


class Loss:
    """Base class. Subclasses set ``name`` and implement ``forward`` / ``backward``."""

    name = "loss"

    def __call__(self, y_true, y_pred) -> float:
        return float(self.forward(y_true, y_pred)[0])

    def forward(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, cache):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class _CrossEntropy(Loss):
    sparse = False

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def _check_labels(self, y_true, y_pred):
        y_true = as_array(y_true, "y_true")
        if self.sparse and not (y_true.ndim == 1 or (y_true.ndim == 2 and y_true.shape[1] == 1)):
            raise ValueError(
                f"{type(self).__name__} takes integer labels of shape (N,); for one-hot rows use "
                f"CategoricalCrossentropy. Received: y_true with shape {y_true.shape}")
        if not self.sparse and y_true.shape != np.shape(y_pred):
            raise ValueError(
                f"{type(self).__name__} takes one-hot rows of shape (N, classes); for integer labels use "
                f"SparseCategoricalCrossentropy. Received: y_true with shape {y_true.shape}")
        return y_true

    def forward(self, y_true, y_pred):
        y_true = self._check_labels(y_true, y_pred)
        if self.from_logits:
            value, cache = F.softmax_cross_entropy_forward(y_true, y_pred)
            return value, (True, cache)
        value, cache = F.categorical_cross_entropy_forward(y_true, _check_probabilities(y_pred))
        return value, (False, cache)

    def backward(self, cache):
        fused, inner = cache
        return F.softmax_cross_entropy_backward(inner) if fused else F.categorical_cross_entropy_backward(inner)

    def get_config(self):
        return {"from_logits": self.from_logits}


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy with integer labels ``(N,)``.

    Shape:
        y_true: (N,) ints in [0, K); y_pred: (N, K) logits or probabilities; returns a scalar.
    """

    name = "sparse_categorical_crossentropy"
    sparse = True


class CategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy with one-hot (or probability) rows ``(N, K)``."""

    name = "categorical_crossentropy"


class MeanSquaredError(Loss):
    """Mean of ``(y_pred - y_true) ** 2`` over all elements."""

    name = "mean_squared_error"

    def forward(self, y_true, y_pred):
        return F.mean_squared_error_forward(y_true, y_pred)

    def backward(self, cache):
        return F.mean_squared_error_backward(cache)


LOSSES = {cls.__name__: cls for cls in (SparseCategoricalCrossentropy, CategoricalCrossentropy, MeanSquaredError)}
_NAMES = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(identifier) -> Loss:
    """A loss from a Keras name (``"sparse_categorical_crossentropy"``, ``"categorical_crossentropy"``,
    ``"mse"``) or a :class:`Loss` instance as is."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _NAMES:
        return _NAMES[identifier]()
    raise ValueError(f"Unknown loss: allowed are {sorted(_NAMES)} or a numcnn.losses.Loss. Received: {_short(identifier)}")


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: dict) -> Loss:
    if not isinstance(config, dict) or config.get("class_name") not in LOSSES:
        raise ValueError(f"A loss config must name one of {sorted(LOSSES)}. Received: {_short(config)}")
    return LOSSES[config["class_name"]](**config.get("config", {}))
