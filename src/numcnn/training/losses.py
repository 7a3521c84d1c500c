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

from .. import functional as F
from ..functional.losses import check_targets
from ..utils.registry import Registry
from ..utils.validation import as_array, check_bool


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
    """Base class. Subclasses set ``name`` and implement ``forward`` / ``backward``.

    ``forward(y_true, y_pred)`` checks its arguments; the training loop, which checked the targets
    once with :meth:`prepare_targets` before the first step, calls it with ``check=False``.
    """

    name = "loss"

    def __call__(self, y_true, y_pred) -> float:
        return float(self.forward(y_true, y_pred)[0])

    def forward(self, y_true, y_pred, *, check=True):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, cache):  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare_targets(self, y_true, outputs) -> np.ndarray:
        """All targets of a data set, checked against the model's ``outputs`` on a few of its samples,
        in the form ``forward(..., check=False)`` takes.

        Shape:
            y_true: (N, ...), every target; outputs: (k, ...), the model's outputs for k samples.
        """
        return as_array(y_true, "y")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class _CrossEntropy(Loss):
    sparse = False

    def __init__(self, from_logits=False):
        self.from_logits = check_bool(from_logits, "from_logits")

    def _check_labels(self, y_true, shape):
        y_true = as_array(y_true, "y_true")
        if self.sparse and not (y_true.ndim == 1 or (y_true.ndim == 2 and y_true.shape[1] == 1)):
            raise ValueError(
                f"{type(self).__name__} takes integer labels of shape (N,); for one-hot rows use "
                f"CategoricalCrossentropy. Received: y_true with shape {y_true.shape}")
        if not self.sparse and y_true.shape != tuple(shape):
            raise ValueError(
                f"{type(self).__name__} takes one-hot rows of shape (N, classes); for integer labels use "
                f"SparseCategoricalCrossentropy. Received: y_true with shape {y_true.shape}")
        return check_targets(y_true, shape)

    def prepare_targets(self, y_true, outputs):
        if outputs.ndim != 2:
            raise ValueError(f"{type(self).__name__} needs model outputs of shape (N, classes). "
                             f"Received: outputs of shape {outputs.shape}")
        if not self.from_logits:
            _check_probabilities(outputs)
        return self._check_labels(y_true, (len(y_true), outputs.shape[-1]))

    def forward(self, y_true, y_pred, *, check=True):
        if check:
            y_pred = as_array(y_pred, "y_pred")
            if y_pred.ndim != 2:
                raise ValueError(f"{type(self).__name__} needs predictions of shape (N, classes). "
                                 f"Received: y_pred with shape {y_pred.shape}")
            y_true = self._check_labels(y_true, y_pred.shape)
            if not self.from_logits:
                _check_probabilities(y_pred)
        if self.from_logits:  # the arguments were checked above, or by the caller
            value, cache = F.softmax_cross_entropy_forward(y_true, y_pred, check=False)
            return value, (True, cache)
        value, cache = F.categorical_cross_entropy_forward(y_true, y_pred, check=False)
        return value, (False, cache)

    def backward(self, cache):
        fused, inner = cache
        if fused:
            return F.softmax_cross_entropy_backward(inner, check=False)
        return F.categorical_cross_entropy_backward(inner, check=False)

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

    def prepare_targets(self, y_true, outputs):
        y_true = as_array(y_true, "y")
        if y_true.shape[1:] != outputs.shape[1:]:
            raise ValueError(f"MeanSquaredError needs one target per output, of shape {outputs.shape[1:]} per "
                             f"sample. Received: y with shape {y_true.shape}")
        return y_true

    def forward(self, y_true, y_pred, *, check=True):
        return F.mean_squared_error_forward(y_true, y_pred, check=check)

    def backward(self, cache):
        return F.mean_squared_error_backward(cache, check=False)


LOSSES = Registry("loss", Loss)
LOSSES.register(SparseCategoricalCrossentropy, names=("sparse_categorical_crossentropy",))
LOSSES.register(CategoricalCrossentropy, names=("categorical_crossentropy",))
LOSSES.register(MeanSquaredError, names=("mean_squared_error", "mse"))


def get(identifier) -> Loss:
    """A loss from a Keras name (``"sparse_categorical_crossentropy"``, ``"categorical_crossentropy"``,
    ``"mse"``), a config, or a :class:`Loss` instance as is."""
    return LOSSES.get(identifier)


serialize = LOSSES.serialize
deserialize = LOSSES.deserialize
