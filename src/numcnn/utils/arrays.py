"""Named arrays + JSON metadata in one safetensors file, with clear errors for bad files.

safetensors stores tensors and a ``str -> str`` metadata map; we keep one JSON
document under the ``"numcnn"`` key. No pickle, nothing executable.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

from .files import write_bytes_atomic


#: safetensors dtypes without a NumPy equivalent (safetensors.numpy cannot load them)
_NO_NUMPY_DTYPE = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"}


class FileFormatError(ValueError):
    """A file is missing, truncated, corrupted, or does not match what it is loaded into."""


def save_arrays(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (name -> ndarray) and ``meta`` (JSON-friendly) to ``path``, atomically."""
    from safetensors.numpy import save

    tensors = {name: np.require(a, requirements="C") for name, a in arrays.items()}  # 0-d stays 0-d
    data = save(tensors, metadata={"numcnn": json.dumps(meta)})  # key order kept: history columns
    write_bytes_atomic(path, data)


def _header(raw: bytes, path) -> dict:
    if len(raw) < 8:
        raise FileFormatError(f"{path}: not a safetensors file (only {len(raw)} bytes). Received: {raw[:8]!r}")
    (size,) = struct.unpack("<Q", raw[:8])
    if size > len(raw) - 8:
        raise FileFormatError(
            f"{path}: truncated safetensors file: the header says {size} bytes of JSON. Received: {len(raw)} bytes in all")
    try:
        header = json.loads(raw[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise FileFormatError(f"{path}: corrupted safetensors header ({e}). Received: {raw[8:40]!r}") from None
    if not isinstance(header, dict):
        raise FileFormatError(f"{path}: corrupted safetensors header. Received: {type(header).__name__}")
    return header


def load_arrays(path, expected_format: str | None = None) -> tuple[dict, dict]:
    """Read what :func:`save_arrays` wrote: ``(arrays, meta)``.

    Raises:
        FileFormatError: missing, truncated or corrupted file, or a file of another kind
            (``meta["format"]`` differs from ``expected_format``).
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise FileFormatError(f"{path}: cannot read the file ({e.strerror}). Received: path={path!r}") from None
    header = _header(raw, path)
    for name, entry in header.items():
        if name != "__metadata__" and isinstance(entry, dict) and entry.get("dtype") in _NO_NUMPY_DTYPE:
            raise FileFormatError(
                f"{path}: tensor {name!r} is {entry['dtype']}, which NumPy has no type for; save it as F32. "
                f"Received: dtype {entry['dtype']}")
    try:
        arrays = load(raw)
    except (SafetensorError, ValueError, TypeError, OverflowError, KeyError) as e:
        raise FileFormatError(f"{path}: corrupted or truncated safetensors data ({e}). Received: {len(raw)} bytes") from None
    try:
        meta = json.loads((header.get("__metadata__") or {}).get("numcnn", "null"))
    except (AttributeError, json.JSONDecodeError, RecursionError) as e:
        raise FileFormatError(f"{path}: corrupted numcnn metadata ({e}). Received: {str(header.get('__metadata__'))[:80]}") from None
    if not isinstance(meta, dict):
        raise FileFormatError(f"{path}: not a numcnn file (no numcnn metadata). Received: a safetensors file without it")
    if expected_format is not None and meta.get("format") != expected_format:
        raise FileFormatError(f"{path}: expected a {expected_format!r} file. Received: format={meta.get('format')!r}")
    return arrays, meta
