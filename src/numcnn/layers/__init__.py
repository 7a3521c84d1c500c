"""Thin stateful layers: they own parameters, shapes and config, and call :mod:`numcnn.functional`."""

from ..utils.registry import Registry
from .base import Layer
from .conv import Conv2D
from .input_layer import Input, InputLayer
from .core import Activation, Dense, Dropout, Flatten, LeakyReLU, ReLU, Rescaling, Reshape, Softmax
from .merge import Add, Concatenate
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D

#: Every built-in layer by class name: how configs name layers (no eval, no pickle).
LAYERS = Registry("layer", Layer)
for _cls in (Activation, Add, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, Dense, Dropout, Flatten,
             GlobalAveragePooling2D, GlobalMaxPooling2D, InputLayer, LeakyReLU, MaxPooling2D, ReLU, Rescaling, Reshape,
             Softmax):
    LAYERS.register(_cls)
del _cls

serialize = LAYERS.serialize
deserialize = LAYERS.deserialize

__all__ = ["Input", "Layer", "LAYERS", "serialize", "deserialize", *sorted(LAYERS.classes)]
