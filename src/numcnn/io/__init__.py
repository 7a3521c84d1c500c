"""Saving and loading (safetensors for arrays, JSON for everything else, atomic writes, no pickle),
weights to and from PyTorch and Keras, and ONNX export."""

from .arrays import FileFormatError, load_arrays, save_arrays
from .files import atomic_path, write_bytes_atomic, write_text_atomic
from .interop import from_keras, from_torch, to_keras, to_torch
from .model_io import (
    assign_arrays,
    load,
    load_model,
    load_weights,
    model_arrays,
    model_from_config,
    save,
    save_model,
    save_weights,
)
from .onnx_export import export_onnx

__all__ = [
    "FileFormatError", "assign_arrays", "atomic_path", "export_onnx", "from_keras", "from_torch", "load", "load_arrays",
    "load_model", "load_weights", "model_arrays", "model_from_config", "save", "save_arrays", "save_model",
    "save_weights", "to_keras", "to_torch", "write_bytes_atomic", "write_text_atomic",
]
