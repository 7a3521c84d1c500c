"""Files and other frameworks: saving and loading models (safetensors for arrays, JSON for everything
else, atomic writes, no pickle), weights to and from PyTorch and Keras, ONNX export and import.

The low-level file helpers live in :mod:`numcnn.utils` and model saving in :mod:`numcnn.models`;
this package gathers them under one name, beside the interop and ONNX modules.
"""

from ..models.saving import (
    load,
    load_model,
    load_weights,
    model_from_config,
    save,
    save_model,
    save_weights,
)
from ..utils.arrays import FileFormatError, load_arrays, save_arrays
from ..utils.files import atomic_path, write_bytes_atomic, write_text_atomic
from .interop import from_keras, from_torch, to_keras, to_torch
from .onnx_export import export_onnx
from .onnx_import import from_onnx
from .onnx_values import OnnxImportError

__all__ = [
    "FileFormatError", "OnnxImportError", "atomic_path", "export_onnx", "from_keras", "from_onnx", "from_torch",
    "load", "load_arrays",
    "load_model", "load_weights", "model_from_config", "save", "save_arrays", "save_model", "save_weights",
    "to_keras", "to_torch", "write_bytes_atomic", "write_text_atomic",
]
