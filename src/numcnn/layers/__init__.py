"""Thin stateful layers: they own parameters, shapes and config, and call :mod:`numcnn.functional`."""

from ..utils.registry import Registry
from .base import Layer
from .conv import Conv2D
from .input_layer import Input, InputLayer
from .arithmetic import Multiply, Subtract
from .augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from .conv_variants import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from .core import (
    Activation,
    Clip,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    PReLU,
    ReLU,
    Rescaling,
    Reshape,
    Softmax,
    SpatialDropout2D,
)
from .merge import Add, Concatenate
from .normalization import BatchNormalization, LocalResponseNormalization
from .one_d import AveragePooling1D, Conv1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from .reshaping import Cropping2D, Permute, UpSampling2D, ZeroPadding2D

#: Every built-in layer by class name: how configs name layers (no eval, no pickle).
LAYERS = Registry("layer", Layer)
for _cls in (Activation, Add, AveragePooling1D, AveragePooling2D, BatchNormalization, Clip, Concatenate, Conv1D,
             Conv2D, Conv2DTranspose, Cropping2D, Dense, DepthwiseConv2D, Dropout, Flatten, GlobalAveragePooling1D,
             GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, InputLayer, LeakyReLU,
             LocalResponseNormalization, MaxPooling1D, MaxPooling2D, Multiply, Permute, PReLU, ReLU, Rescaling, Reshape,
             SeparableConv2D, Softmax, SpatialDropout2D, Subtract, UpSampling2D, ZeroPadding2D):
    LAYERS.register(_cls)
for _cls in (RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom):
    LAYERS.register(_cls)
del _cls

serialize = LAYERS.serialize
deserialize = LAYERS.deserialize

__all__ = ["Input", "Layer", "LAYERS", "serialize", "deserialize", *sorted(LAYERS.classes)]
