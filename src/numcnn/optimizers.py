"""``numcnn.optimizers``: the optimizers of :mod:`numcnn.training.optimizers`, under their Keras path."""

from .training.optimizers import (  # noqa: F401
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    deserialize,
    get,
    serialize,
)
