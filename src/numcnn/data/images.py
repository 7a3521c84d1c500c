"""Image files (PNG, JPEG, ... through Pillow) as arrays in [0, 1]."""

from __future__ import annotations

import io
import os

import numpy as np

from ..utils.validation import _short


def load_image(path, grayscale=True, max_pixels=None) -> np.ndarray:
    """Read an image file as float32 in [0, 1].

    Args:
        path: the file's path, or its contents as bytes (an upload).
        grayscale: one channel (ITU-R 601 luma) instead of RGB.
        max_pixels: refuse images of more pixels than this (read from the header, before decoding),
            or None for Pillow's own limit.

    Shape:
        returns (H, W) when ``grayscale``, else (H, W, 3).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(path, (bytes, bytearray, memoryview)):
        source, path = io.BytesIO(bytes(path)), f"<{len(path)} bytes>"
    else:
        source = path = os.fspath(path)
    try:
        with Image.open(source) as image:  # a GIF or WebP animation: its first frame
            if max_pixels is not None and image.width * image.height > max_pixels:
                raise ValueError(f"{path}: {image.width}x{image.height} pixels, more than the {max_pixels:,} allowed. "
                                 f"Received: an image of {image.width * image.height:,} pixels")
            image.load()
            image = ImageOps.exif_transpose(image)  # a phone's photo stands as it was taken
            return _to_array(image, grayscale)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such image file. Received: path={path!r}") from None
    except Image.DecompressionBombError as e:  # Pillow's guard against files that unpack to gigabytes
        raise ValueError(f"{path}: too large to open ({e}); shrink the image first. Received: path={path!r}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: not a readable image (PNG, JPEG, ...): {e}. Received: path={path!r}") from None


def _to_array(image, grayscale):
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grayscale: scale, do not clip at 255
        pixels = np.asarray(image, dtype=np.float32) / 65535.0
        return np.clip(pixels, 0, 1) if grayscale else np.repeat(np.clip(pixels, 0, 1)[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # transparent pixels are paper: composite on white (a canvas export draws ink on nothing)
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return np.asarray(image.convert("L" if grayscale else "RGB"), dtype=np.float32) / 255.0
