"""Where the real MNIST files are, for the tests that read them, and tiny hand-made IDX files.

The real files are looked up in ``$NUMCNN_DATA_DIR`` (``DIR/<file>`` or
``DIR/mnist/<file>``), then in ``../shared/datasets/mnist`` next to the repository.
The environment is read once, at import: the data set tests clear ``NUMCNN_DATA_DIR``
so that the loader never sees the user's settings.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# IDX type codes, as the format defines them (not read from numcnn, so a wrong table there shows)
TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
              np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}

_REPO = Path(__file__).resolve().parents[2]
_CANDIDATES = [Path(os.environ["NUMCNN_DATA_DIR"])] if os.environ.get("NUMCNN_DATA_DIR") else []
_CANDIDATES.append(_REPO.parent / "shared" / "datasets" / "mnist")


def _find_gz_dir() -> Path | None:
    for base in _CANDIDATES:
        for d in (base, base / "mnist"):
            if all((d / f"{stem}.gz").is_file() for stem in STEMS):
                return d
    return None


MNIST_DIR = _find_gz_dir()


def mnist_dir() -> Path:
    """The directory holding the four real MNIST ``.gz`` files; skips the test if there is none."""
    if MNIST_DIR is None:
        pytest.skip(f"the real MNIST .gz files are not in any of {[str(c) for c in _CANDIDATES]} "
                    "(set NUMCNN_DATA_DIR to a directory holding them)")
    return MNIST_DIR


def idx_bytes(array) -> bytes:
    """An IDX file's bytes for ``array``, written field by field from the format's definition."""
    array = np.asarray(array)
    dtype = array.dtype if array.dtype.itemsize == 1 else array.dtype.newbyteorder(">")
    header = bytes([0, 0, TYPE_CODES[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()
