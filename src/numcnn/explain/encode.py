"""Arrays as a page takes them: PNG heatmaps, and compact base64 arrays (exact float32, or uint8 with the
range they were quantised over) inside JSON.

The PNGs are encoded in memory with Pillow: ``viz``'s helper draws matplotlib figures into files, which
costs tens of milliseconds a picture, where a page of a 2,048-channel layer needs a map in well under one.
The colours are matplotlib's colormaps, the ones ``numcnn show`` draws with.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np

from ..utils.validation import _short

#: colormaps a heatmap may use: values (viridis), signed values such as gradients (RdBu_r), pictures (gray)
COLORMAPS = ("viridis", "magma", "inferno", "RdBu_r", "bwr", "gray", "Greys")
_LUTS = {}


def _lut(name) -> np.ndarray:
    """256 RGB colours of matplotlib's colormap ``name`` as uint8, ``(256, 3)``."""
    if name not in _LUTS:
        from matplotlib import colormaps

        _LUTS[name] = (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255 + 0.5).astype(np.uint8)
    return _LUTS[name]


def quantise(array, vmin=None, vmax=None) -> tuple:
    """``array`` mapped linearly from ``[vmin, vmax]`` (default its finite min and max) onto 0..255, clipped;
    NaN goes to 0. Returns ``(uint8 array, vmin, vmax)``; ``vmin + q / 255 * (vmax - vmin)`` reads it back."""
    a = np.asarray(array, np.float64)
    finite = a[np.isfinite(a)]
    low = float(vmin) if vmin is not None else float(finite.min()) if finite.size else 0.0
    high = float(vmax) if vmax is not None else float(finite.max()) if finite.size else 0.0
    span = high - low
    with np.errstate(invalid="ignore"):
        q = np.zeros(a.shape) if span <= 0 else np.clip((a - low) / span * 255 + 0.5, 0, 255)
    return np.nan_to_num(q).astype(np.uint8), low, high


def to_png_heatmap(array, vmin=None, vmax=None, cmap="viridis", scale=1) -> bytes:
    """A 2-D array as a PNG heatmap: each value one pixel (``scale`` x ``scale`` pixels), coloured by
    ``cmap`` over ``[vmin, vmax]`` (default the array's own range).

    Shape:
        array: (H, W); the image is (H * scale, W * scale).
    """
    from PIL import Image

    a = np.asarray(array)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"The `array` argument must be a non-empty 2-D map (H, W). Received: shape {a.shape}")
    if cmap not in COLORMAPS:
        raise ValueError(f"The `cmap` argument must be one of {list(COLORMAPS)}. Received: cmap={_short(cmap)}")
    if not (isinstance(scale, int) and 1 <= scale <= 64):
        raise ValueError(f"The `scale` argument must be an int in [1, 64]. Received: scale={_short(scale)}")
    q, _, _ = quantise(a, vmin, vmax)
    rgb = _lut(cmap)[q]
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    out = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue()


def to_png_picture(picture) -> bytes:
    """A picture in [0, 1], ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``, as a grey or colour PNG."""
    from PIL import Image

    p = np.asarray(picture, np.float64)
    if p.ndim == 3 and p.shape[-1] == 1:
        p = p[..., 0]
    if p.ndim not in (2, 3) or (p.ndim == 3 and p.shape[-1] != 3) or 0 in p.shape:
        raise ValueError(f"The `picture` argument must be (H, W) or (H, W, 1 or 3). Received: shape {p.shape}")
    out = io.BytesIO()
    Image.fromarray((np.clip(np.nan_to_num(p), 0, 1) * 255 + 0.5).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def encode_array(array, exact=True) -> dict:
    """An array for JSON: ``{"shape", "dtype": "float32", "data"}`` (exact float32, little-endian, base64) or,
    with ``exact=False``, ``{"shape", "dtype": "uint8", "min", "max", "data"}`` (see :func:`quantise`). A
    uint8 array (indices) is kept as it is: ``{"shape", "dtype": "uint8", "data"}``."""
    a = np.asarray(array)
    if a.dtype == np.uint8:
        data, extra = np.ascontiguousarray(a).tobytes(), {"dtype": "uint8"}
    elif exact:
        data, extra = np.ascontiguousarray(a, "<f4").tobytes(), {"dtype": "float32"}
    else:
        q, low, high = quantise(a)
        data, extra = q.tobytes(), {"dtype": "uint8", "min": low, "max": high}
    return {"shape": list(a.shape), **extra, "data": base64.b64encode(data).decode("ascii")}


def decode_array(encoded) -> np.ndarray:
    """The array :func:`encode_array` encoded (quantised ones read back to float32)."""
    raw = base64.b64decode(encoded["data"])
    if encoded["dtype"] == "float32":
        return np.frombuffer(raw, "<f4").reshape(encoded["shape"])
    q = np.frombuffer(raw, np.uint8).reshape(encoded["shape"])
    if "min" not in encoded:
        return q
    q = q.astype(np.float32)
    return np.float32(encoded["min"]) + q / np.float32(255) * np.float32(encoded["max"] - encoded["min"])


def jsonable(value):
    """``value`` with every NumPy array and scalar made a list or a Python number (non-finite floats as None),
    so that ``json.dumps`` takes it."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
