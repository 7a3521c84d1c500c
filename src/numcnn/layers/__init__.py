"""Thin stateful layers: they own parameters and shapes and call :mod:`numcnn.functional`."""

from .._validation import check_config
from .base import Layer
from .conv import Conv2D
from .core import Activation, Dense, Dropout, Flatten, LeakyReLU, ReLU, Rescaling, Reshape, Softmax
from .merge import Add, Concatenate
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D

#: Every built-in layer by class name: how configs name layers (no eval, no pickle).
LAYERS = {cls.__name__: cls for cls in (
    Activation, Add, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, Dense, Dropout, Flatten,
    GlobalAveragePooling2D, GlobalMaxPooling2D, LeakyReLU, MaxPooling2D, ReLU, Rescaling, Reshape, Softmax)}


def serialize(layer: Layer) -> dict:
    """``{"class_name": ..., "config": ...}`` for a built-in layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict) -> Layer:
    """A new layer from :func:`serialize`'s output; unknown class names and configs that are not dicts are refused."""
    name = config.get("class_name") if isinstance(config, dict) else None
    if not isinstance(name, str) or name not in LAYERS:  # a list or dict class_name is unhashable
        raise ValueError(f"The layer config must name one of {sorted(LAYERS)}. Received: class_name={name!r}")
    return LAYERS[name].from_config(dict(check_config(config.get("config", {}), f"The config of layer '{name}'")))


__all__ = ["Layer", "LAYERS", "serialize", "deserialize", *sorted(LAYERS)]
