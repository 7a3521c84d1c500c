"""The model file: a model's arrays in safetensors and what describes them as JSON, in one file.

One safetensors file holds the arrays by name (``"conv2d/kernel"``,
``"batch_normalization/moving_mean"``, ...) and JSON metadata under the ``"numcnn"`` key:
``format`` (``"numcnn.model"`` or ``"numcnn.weights"``), ``format_version``, ``numcnn_version``,
``name``, ``class_name``, ``input_shape`` and, for a model whose architecture is data
(a Sequential), ``model_config``. Readers accept every version up to theirs and refuse newer
ones by name. Nothing is pickled, and a config is data, never code.
"""

from __future__ import annotations

import os

from .._version import __version__
from ..utils.arrays import FileFormatError, load_arrays, save_arrays
from ..utils.files import check_suffix

FORMAT_VERSION = 1
KINDS = ("numcnn.model", "numcnn.weights")
SUFFIX = ".safetensors"


def write_model_file(model, path, kind: str, model_config=None) -> None:
    """Write ``model``'s arrays and metadata to ``path`` (a ``.safetensors`` file), atomically."""
    hint = " (ONNX: numcnn.io.export_onnx(model, path))" if str(path).lower().endswith(".onnx") else ""
    path = check_suffix(path, (SUFFIX,), "path", hint)
    first = model.layers[0] if getattr(model, "layers", None) else model
    shape = (getattr(model, "input_shape", None) or first.input_shape
             or getattr(first, "_batch_input_shape", None))
    meta = {"format": kind, "format_version": FORMAT_VERSION, "numcnn_version": __version__,
            "name": model.name, "class_name": type(model).__name__,
            "input_shape": None if shape is None else list(shape[1:])}
    if model_config is not None:
        meta["model_config"] = model_config
    save_arrays(path, model.named_weights(), meta)


def read_model_file(path) -> tuple[dict, dict]:
    """``(arrays, meta)`` of a file :func:`write_model_file` wrote, after checking its kind and version."""
    arrays, meta = load_arrays(path)
    source = os.fspath(path)
    if meta.get("format") not in KINDS:
        raise FileFormatError(f"{source}: not a numcnn model or weights file. Received: format={meta.get('format')!r}")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FileFormatError(
            f"{source}: the numcnn metadata has no valid format_version (numcnn writes 1, 2, ... since its first "
            f"release), so it was not written by numcnn. Received: format_version={version!r}")
    if version > FORMAT_VERSION:
        raise FileFormatError(
            f"{source}: written by a newer numcnn (format version {version}); this numcnn reads version "
            f"{FORMAT_VERSION} and older: upgrade numcnn to load it. Received: format_version={version!r}")
    return arrays, meta
