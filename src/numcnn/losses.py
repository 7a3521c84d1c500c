"""``numcnn.losses``: the loss objects of :mod:`numcnn.training.losses`, under their Keras path."""

from .training.losses import (  # noqa: F401
    LOSSES,
    CategoricalCrossentropy,
    Loss,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    deserialize,
    get,
    serialize,
)
