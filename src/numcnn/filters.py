"""Named image kernels and filtering an image with numcnn's ``conv2d`` (note 000's sliding window).

    >>> from numcnn.filters import KERNELS, apply_kernel
    >>> KERNELS["blur"]            # note 000's 3x3 mean filter
    array([[0.111..., ...]])
"""

from __future__ import annotations

import math
import os
import tokenize
import warnings

import numpy as np

from . import functional as F
from .utils.validation import _short

_BOX3 = np.full((3, 3), 1 / 9)
_GAUSS = np.outer([1, 2, 1], [1, 2, 1]) / 16

KERNELS = {
    "blur": _BOX3,                                                             # note 000: mean of the 3x3 neighbourhood
    "box5": np.full((5, 5), 1 / 25),
    "gaussian": _GAUSS,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float),
    "sobel-x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float),          # responds to vertical edges
    "sobel-y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], float),          # responds to horizontal edges
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float),
    "emboss": np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], float),
    "edge": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], float),
}
NORMALIZE = ("auto", "clip", "minmax", "abs")


def get_kernel(name) -> np.ndarray:
    """A copy of the named kernel (float64, (kh, kw))."""
    if not isinstance(name, str) or name not in KERNELS:
        raise ValueError(f"Unknown kernel: allowed are {sorted(KERNELS)}. Received: {_short(name)}")
    return KERNELS[name].copy()


def _load_npy(path) -> np.ndarray:
    """``np.load`` without pickle, after checking that the header's shape fits the file's size
    (a header may claim any shape; NumPy would try to allocate it first)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, _, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)(f)
        stored = os.fstat(f.fileno()).st_size - f.tell()
    if dtype.hasobject:
        raise ValueError("object arrays are not kernels (and would need pickle)")
    needed = math.prod(shape) * dtype.itemsize
    if needed != stored:
        raise ValueError(f"the header's shape {shape} of {dtype} needs {needed} bytes but {stored} follow it")
    return np.load(path, allow_pickle=False)


def load_kernel(path) -> np.ndarray:
    """A 2-D kernel from a ``.npy`` file or a text file of rows of numbers."""
    path = os.fspath(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy's "input contained no data": reported below
            kernel = _load_npy(path) if path.endswith(".npy") else np.loadtxt(path, ndmin=2)
        if kernel.dtype.kind not in "iuf":
            raise ValueError(f"the numbers must be real (int or float), not {kernel.dtype}")
        kernel = np.asarray(kernel, dtype=np.float64)
    except (OSError, ValueError, EOFError, SyntaxError, tokenize.TokenError) as e:
        # EOFError: an empty file; SyntaxError / TokenError: a header NumPy cannot parse
        raise ValueError(f"{path}: cannot read a kernel ({type(e).__name__}: {e}). Received: path={path!r}") from None
    if kernel.ndim != 2 or kernel.size == 0 or not np.all(np.isfinite(kernel)):
        raise ValueError(f"{path}: a kernel must be a non-empty 2-D array of finite numbers. Received: shape {kernel.shape}")
    return kernel


def apply_kernel(image, kernel, strides=1, padding="same") -> np.ndarray:
    """Filter every channel of ``image`` with the same 2-D ``kernel`` (a depthwise ``conv2d``).

    As in note 000 (and every deep-learning library) this is cross-correlation: the kernel
    is not flipped.

    Shape:
        image: (H, W) or (H, W, C); kernel: (kh, kw); returns (H', W') or (H', W', C), float32.
    """
    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if image.ndim not in (2, 3):
        raise ValueError(f"The `image` argument must be (H, W) or (H, W, C). Received: shape {image.shape}")
    if kernel.ndim != 2:
        raise ValueError(f"The `kernel` argument must be 2-D (kh, kw). Received: shape {kernel.shape}")
    x = image[None, ..., None] if image.ndim == 2 else image[None]
    channels = x.shape[-1]
    weights = np.repeat(kernel[:, :, None, None], channels, axis=3)  # (kh, kw, 1, C): one filter per channel
    y = F.conv2d(x, weights, None, strides, padding, groups=channels)[0]
    return y[..., 0] if image.ndim == 2 else y


def to_display(y, kernel, normalize="auto") -> np.ndarray:
    """Map a filtered image to [0, 1] for saving.

    ``auto``: kernels that sum to about 0 (edges, Laplacian) show ``|y|`` over its maximum;
    the others are clipped to [0, 1]. ``clip``, ``minmax`` and ``abs`` force one rule.
    """
    if normalize not in NORMALIZE:
        raise ValueError(f"The `normalize` argument must be one of {NORMALIZE}. Received: {_short(normalize)}")
    if normalize == "auto":
        normalize = "abs" if abs(float(np.sum(kernel))) < 1e-6 else "clip"
    y = np.asarray(y, dtype=np.float32)
    if normalize == "clip":
        return np.clip(y, 0, 1)
    if normalize == "abs":
        y = np.abs(y)
        top = float(y.max())
        return y / top if top > 0 else y
    low, high = float(y.min()), float(y.max())
    return (y - low) / (high - low) if high > low else np.zeros_like(y)
