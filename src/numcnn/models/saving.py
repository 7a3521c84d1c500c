"""Save and load whole models: weights in safetensors, architecture as JSON in the same file.

* ``model.save_weights(path)`` / ``model.load_weights(path)`` (and the functions
  :func:`save_weights` / :func:`load_weights`): the arrays of any model.
* :func:`save` / :func:`load` (also ``numcnn.save`` / ``numcnn.load`` and ``model.save``): a
  ``Sequential`` with its config, so :func:`load` rebuilds it without the code that made it;
  a subclassed model's file holds its weights and class name, and ``load(path, model=MyModel())``
  puts them into a fresh instance, since only its code can rebuild it.
* :func:`save_model` / :func:`load_model`: the same for Sequential models, Keras' names.

The file format is :mod:`numcnn.models.model_file`'s. Every mismatch (missing or extra arrays,
other shapes) raises :class:`~numcnn.utils.arrays.FileFormatError` naming the file and the array.
"""

from __future__ import annotations

import os

import numpy as np

from ..utils.arrays import FileFormatError
from ..utils.validation import _short
from ..layers import deserialize as deserialize_layer
from .graph import graph_from_config
from .model import Model
from .model_file import read_model_file
from .sequential import Sequential

#: a run directory (``numcnn train``'s) keeps its trained model under this name
MODEL_FILE = "model.safetensors"


def _check_model(model):
    if not isinstance(model, Model):
        raise TypeError(f"The `model` argument must be a numcnn Model or Sequential. Received: {_short(model)}")
    return model


def save_weights(model, path) -> None:
    """Write the model's arrays to ``path`` (a ``.safetensors`` file), atomically."""
    _check_model(model).save_weights(path)


def load_weights(model, path) -> None:
    """Load arrays written by :func:`save_weights` (or :func:`save`) into a built ``model``."""
    _check_model(model).load_weights(path)


def save_model(model, path) -> None:
    """Write a ``Sequential`` model's architecture and weights to one ``.safetensors`` file.

    A subclassed model has no config to rebuild it from: use :func:`save` and
    ``load(path, model=MyModel())``, or ``save_weights`` / ``load_weights``.
    """
    if not isinstance(model, Sequential):
        raise TypeError(
            "save_model writes Sequential models (their layers are data); for a subclassed model use "
            f"numcnn.save(model, path) and numcnn.load(path, model=MyModel()). Received: {_short(model)}")
    model.save(path)


def save(model, path) -> None:
    """Save any model to one ``.safetensors`` file, atomically (``model.save(path)``)."""
    _check_model(model).save(path)


def _from_config(config):
    """A layer, or a model nested as one, from ``{"class_name": ..., "config": ...}`` (data, no code)."""
    name = config.get("class_name") if isinstance(config, dict) else None
    if name == "Sequential":
        return Sequential.from_config(config.get("config"))
    if name == "Functional":
        inputs, outputs = graph_from_config(config.get("config"), _from_config)
        model_name = config["config"].get("name") if isinstance(config.get("config"), dict) else None
        return Model(inputs, outputs, name=model_name if isinstance(model_name, str) and model_name else None)
    return deserialize_layer(config)


def model_from_config(config: dict, input_shape=None, source="config"):
    """A built model from ``{"class_name": "Sequential" or "Functional", "config": ...}``."""
    if not isinstance(config, dict) or config.get("class_name") not in ("Sequential", "Functional"):
        raise FileFormatError(f"{source}: the model config must be a Sequential or Functional config. "
                              f"Received: {_short(config)}")
    try:
        model = _from_config(config)
        if isinstance(model, Sequential) and input_shape is not None:
            model.build((None, *input_shape))
        else:
            model._ensure_built()
    except (TypeError, ValueError, KeyError) as e:
        raise FileFormatError(f"{source}: invalid model config ({e}). Received: {_short(config)}") from None
    return model


def _model_path(path) -> str:
    """``path``, or the model file of a run directory (``DIR/model.safetensors``)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return path
    inside = os.path.join(path, MODEL_FILE)
    if not os.path.isfile(inside):
        raise FileFormatError(
            f"{path}: a directory without {MODEL_FILE}: give a model file, or the directory of a run that finished "
            f"training (numcnn train writes {MODEL_FILE} at the end). Received: {sorted(os.listdir(path))[:8]}")
    return inside


def load_model(path):
    """Rebuild the model :func:`save_model` (or :func:`save` of a Sequential) wrote, with its weights."""
    return load(path)


def load(path, model=None):
    """Load what :func:`save` (or ``save_model`` / ``save_weights``) wrote.

    Args:
        path: the ``.safetensors`` file, or a run directory (its ``model.safetensors``).
        model: for a subclassed model, a fresh instance of its class (built or not; an unbuilt one is
            built for the saved input shape). For a Sequential file, leave it None to rebuild the model
            from the file, or pass a model with the same layers to load the weights into it.

    Returns:
        The model with the file's weights.
    """
    source = _model_path(path)
    arrays, meta = read_model_file(source)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if model is None:
        if meta.get("model_config") is None:
            raise FileFormatError(
                f"{source}: holds the weights of a {meta.get('class_name')!r} model without an architecture (no "
                f"model_config: subclassed models are code): pass a fresh instance, "
                f"load(path, model={meta.get('class_name')}(...)). "
                "Received: model=None")
        model = model_from_config(meta["model_config"], meta.get("input_shape"), source)
    elif not isinstance(model, Model):
        raise TypeError(f"The `model` argument must be a numcnn Model or None. Received: {_short(model)}")
    elif not model.built:
        shape = meta.get("input_shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape):
            raise FileFormatError(
                f"{source}: no input shape saved to build model '{model.name}' with: build it first "
                f"(model.build((None, H, W, C))). Received: input_shape={shape!r}")
        model.build((None, *shape))
    model.assign_weights(arrays, source)
    return model
