"""Reader of the IDX files MNIST and Fashion-MNIST come in (gzipped or not).

Format: two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, each dimension as a big-endian uint32, then the data. Every way a
file can be wrong gives a ``ValueError`` that names the file.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


#: NumPy arrays have at most 32 dimensions in NumPy 1 (64 in NumPy 2); IDX data sets have 1 to 4
MAX_DIMENSIONS = 32


def read_idx_bytes(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file.

    Args:
        data: the file's bytes.
        source: the file name, for error messages.

    Returns:
        the array, e.g. uint8 ``(60000, 28, 28)`` for MNIST training images.
    """
    if len(data) < 4:
        raise ValueError(f"{source}: not an IDX file (only {len(data)} bytes). Received: {data[:8]!r}")
    zero1, zero2, code, ndim = data[:4]
    if zero1 or zero2 or code not in _TYPES or ndim == 0:
        raise ValueError(
            f"{source}: not an IDX file: the magic number must be 00 00, a type code in "
            f"{sorted(hex(c) for c in _TYPES)} and a dimension count >= 1. Received: {data[:4].hex(' ')}")
    if ndim > MAX_DIMENSIONS:
        raise ValueError(f"{source}: an IDX array of {ndim} dimensions; numcnn reads at most {MAX_DIMENSIONS}. "
                         f"Received: {data[:4].hex(' ')}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{source}: truncated IDX header ({ndim} dimensions need {header} bytes). Received: {len(data)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(_TYPES[code])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: a huge header cannot overflow
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(
            f"{source}: IDX data {what}: shape {shape} of {dtype.name} needs {expected} bytes. Received: {len(data)} bytes")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_file(path) -> tuple[bytes, bytes]:
    """A file's bytes as stored and uncompressed (gzip is detected by content, not by name).

    Raises:
        ValueError: the file cannot be read, or its gzip data is corrupted or truncated.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            packed = f.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot read the file ({e.strerror}). Received: path={path!r}") from None
    if packed[:2] != b"\x1f\x8b":
        return packed, packed
    try:
        return packed, gzip.decompress(packed)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupted or truncated gzip data ({e}). Received: {len(packed)} bytes") from None


def read_idx(path) -> np.ndarray:
    """Read an IDX file, gzipped (``.gz``, detected by content) or raw.

    Shape:
        returns the file's shape, e.g. (N, 28, 28) images or (N,) labels.
    """
    return read_idx_bytes(read_file(path)[1], os.fspath(path))
