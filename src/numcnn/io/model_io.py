"""Save and load models: weights in safetensors, architecture as JSON in the same file.

* :func:`save_weights` / :func:`load_weights`: the arrays of any model or layer
  (``"conv2d/kernel"``, ``"batch_normalization/moving_mean"``, ...).
* :func:`save_model` / :func:`load_model`: a ``Sequential`` with its config, so
  :func:`load_model` rebuilds it without the code that made it.
* :func:`save` / :func:`load` (also ``numcnn.save`` / ``numcnn.load``): either kind of model.
  A subclassed model's file holds its weights and class name; ``load(path, model=MyModel())``
  puts them into a fresh instance, since only its code can rebuild it.

File format (version 1): one safetensors file; the arrays by name, and JSON metadata under
the ``"numcnn"`` key with ``format`` (``"numcnn.model"`` or ``"numcnn.weights"``),
``format_version``, ``numcnn_version``, ``name``, ``class_name``, ``input_shape`` and, for a
Sequential, ``model_config``. Readers accept every version up to theirs and refuse newer
ones by name; a config is data (layer names looked up in a fixed table), never code.

Every mismatch (missing or extra arrays, other shapes) raises
:class:`~numcnn.io.arrays.FileFormatError` naming the file and the array.
"""

from __future__ import annotations

import os

import numpy as np

from .._validation import _short
from .arrays import FileFormatError, load_arrays, save_arrays

FORMAT_VERSION = 1


def model_arrays(model) -> dict:
    """Every array of a built model or layer by name: trainable params and state (moving statistics)."""
    model._ensure_built()
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' has no weights yet: call it on a batch or build(input_shape) first. "
            "Received: an unbuilt model")
    return {**model.params, **model.state}


def assign_arrays(model, arrays: dict, source="weights") -> None:
    """Copy ``arrays`` into the model's arrays of the same names (all must be present, shapes equal)."""
    current = model_arrays(model)
    missing = sorted(set(current) - set(arrays))
    extra = sorted(set(arrays) - set(current))
    if missing or extra:
        raise FileFormatError(
            f"{source}: the arrays do not match model '{model.name}': missing {missing[:5]}, unexpected {extra[:5]}. "
            f"Received: {len(arrays)} arrays for a model with {len(current)}")
    for name, target in current.items():
        value = arrays[name]
        if value.shape != target.shape or value.dtype.kind != "f":
            raise FileFormatError(
                f"{source}: array '{name}' must be float with shape {target.shape}. "
                f"Received: {value.dtype} with shape {value.shape}")
    for name, target in current.items():
        target[...] = arrays[name]


def _meta(model, kind):
    from .. import __version__

    first = model.layers[0] if getattr(model, "layers", None) else model
    shape = (getattr(model, "input_shape", None) or first.input_shape
             or getattr(first, "_batch_input_shape", None))
    return {"format": kind, "format_version": FORMAT_VERSION, "numcnn_version": __version__,
            "name": model.name, "class_name": type(model).__name__,
            "input_shape": None if shape is None else [d for d in shape[1:]]}


def _check_version(meta, path):
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FileFormatError(
            f"{path}: the numcnn metadata has no valid format_version (numcnn writes 1, 2, ... since its first "
            f"release), so it was not written by numcnn. Received: format_version={version!r}")
    if version > FORMAT_VERSION:
        raise FileFormatError(
            f"{path}: written by a newer numcnn (format version {version}); this numcnn reads version "
            f"{FORMAT_VERSION} and older: upgrade numcnn to load it. Received: format_version={version!r}")


def save_weights(model, path) -> None:
    """Write the model's arrays to ``path`` (a ``.safetensors`` file), atomically."""
    save_arrays(path, model_arrays(model), _meta(model, "numcnn.weights"))


def load_weights(model, path) -> None:
    """Load arrays written by :func:`save_weights` (or :func:`save_model`) into a built ``model``."""
    arrays, meta = load_arrays(path)
    if meta.get("format") not in ("numcnn.weights", "numcnn.model"):
        raise FileFormatError(f"{path}: not a numcnn weights file. Received: format={meta.get('format')!r}")
    _check_version(meta, path)
    assign_arrays(model, arrays, os.fspath(path))


def save_model(model, path) -> None:
    """Write a ``Sequential`` model's architecture and weights to one ``.safetensors`` file.

    A subclassed model has no config to rebuild it from: save its weights with
    :func:`save_weights` and load them into a new instance with :func:`load_weights`.
    """
    from ..models import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(
            "save_model writes Sequential models (their layers are data); for a subclassed model use "
            f"save_weights(model, path) and load_weights(new_model, path). Received: {_short(model)}")
    meta = _meta(model, "numcnn.model")
    meta["model_config"] = {"class_name": "Sequential", "config": model.get_config()}
    save_arrays(path, model_arrays(model), meta)


def model_from_config(config: dict, input_shape=None, source="config"):
    """A built ``Sequential`` from ``{"class_name": "Sequential", "config": ...}``."""
    from ..models import Sequential

    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        raise FileFormatError(f"{source}: the model config must be a Sequential config. Received: {_short(config)}")
    try:
        model = Sequential.from_config(config.get("config"))
        if input_shape is not None:
            model.build((None, *input_shape))
        else:
            model._ensure_built()
    except (TypeError, ValueError, KeyError) as e:
        raise FileFormatError(f"{source}: invalid model config ({e}). Received: {_short(config)}") from None
    return model


def load_model(path):
    """Rebuild the model :func:`save_model` wrote, with its weights."""
    arrays, meta = load_arrays(path, "numcnn.model")
    _check_version(meta, path)
    model = model_from_config(meta.get("model_config"), meta.get("input_shape"), os.fspath(path))
    assign_arrays(model, {k: np.asarray(v) for k, v in arrays.items()}, os.fspath(path))
    return model


def save(model, path) -> None:
    """Save any model to one ``.safetensors`` file, atomically.

    A ``Sequential`` is saved with its architecture (:func:`save_model`), so :func:`load`
    rebuilds it. A subclassed ``Model`` is saved with its weights, class name and input shape;
    load it with ``load(path, model=MyModel())``.
    """
    from ..models import Model, Sequential

    if isinstance(model, Sequential):
        save_model(model, path)
    elif isinstance(model, Model):
        save_arrays(path, model_arrays(model), _meta(model, "numcnn.model"))
    else:
        raise TypeError(f"The `model` argument must be a numcnn Model or Sequential. Received: {_short(model)}")


def load(path, model=None):
    """Load what :func:`save` (or ``save_model`` / ``save_weights``) wrote.

    Args:
        path: the ``.safetensors`` file.
        model: for a subclassed model, a fresh instance of its class (built or not; an unbuilt one is
            built for the saved input shape). For a Sequential file, leave it None to rebuild the model
            from the file, or pass a model with the same layers to load the weights into it.

    Returns:
        The model with the file's weights.
    """
    from ..models import Model

    arrays, meta = load_arrays(path)
    source = os.fspath(path)
    if meta.get("format") not in ("numcnn.model", "numcnn.weights"):
        raise FileFormatError(f"{source}: not a numcnn model file. Received: format={meta.get('format')!r}")
    _check_version(meta, source)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if model is None:
        if meta.get("model_config") is None:
            raise FileFormatError(
                f"{source}: holds the weights of a {meta.get('class_name')!r} model without an architecture "
                f"(subclassed models are code): pass a fresh instance, load(path, model={meta.get('class_name')}(...)). "
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
    assign_arrays(model, arrays, source)
    return model
