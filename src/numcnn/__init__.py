"""numcnn: convolutional neural networks in NumPy, with exact forward and backward passes.

    >>> import numcnn
    >>> from numcnn.layers import Conv2D, MaxPooling2D, Flatten, Dense
    >>> model = numcnn.Sequential([Conv2D(30, 5, activation="relu", input_shape=(28, 28, 1)),
    ...                            MaxPooling2D(2), Flatten(), Dense(100, activation="relu"), Dense(10)], seed=0)

This module is the package's face: it re-exports, and nothing inside numcnn imports it.
"""

from . import functional, initializers, layers, losses, models, optimizers, schedules
from ._version import __version__
from .functional.threads import get_num_threads, set_num_threads
from .layers import Input
from .layers.tape import inference
from .models import Model, Sequential, load, save

__all__ = ["functional", "initializers", "layers", "losses", "models", "optimizers", "schedules", "Input", "Model",
           "Sequential", "inference", "get_num_threads", "load", "save", "set_num_threads", "__version__"]
