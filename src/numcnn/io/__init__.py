"""Saving and loading: safetensors for arrays, JSON for everything else, atomic writes, no pickle."""

from .arrays import FileFormatError, load_arrays, save_arrays
from .files import atomic_path, write_bytes_atomic, write_text_atomic
from .model_io import (
    assign_arrays,
    load_model,
    load_weights,
    model_arrays,
    model_from_config,
    save_model,
    save_weights,
)

__all__ = [
    "FileFormatError", "assign_arrays", "atomic_path", "load_arrays", "load_model", "load_weights", "model_arrays",
    "model_from_config", "save_arrays", "save_model", "save_weights", "write_bytes_atomic", "write_text_atomic",
]
