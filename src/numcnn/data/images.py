"""Image files (PNG, JPEG, ... through Pillow) as arrays, and turned into a model's input."""

from __future__ import annotations

import os

import numpy as np

from ..utils.validation import _short


def load_image(path, grayscale=True) -> np.ndarray:
    """Read an image file as float32 in [0, 1].

    Shape:
        returns (H, W) when ``grayscale``, else (H, W, 3).
    """
    from PIL import Image, UnidentifiedImageError

    path = os.fspath(path)
    try:
        with Image.open(path) as image:
            image.load()
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


def to_model_input(image, input_shape, invert="auto") -> np.ndarray:
    """Turn a grayscale image into one sample like the training data (light digit on black).

    Dark-on-light images (a mean above 0.5: a digit drawn on paper) are inverted when
    ``invert="auto"``. The digit's bounding box is scaled, keeping its aspect ratio, into the
    centre of the frame with a margin of a seventh of the side (MNIST's 20x20 box in 28x28).

    Args:
        image: grayscale image in [0, 1].
        input_shape: the model's ``(height, width, channels)``; channels must be 1.
        invert: ``"auto"``, ``"yes"`` or ``"no"``.

    Shape:
        image: (H, W); returns (height, width, 1) float32.
    """
    from PIL import Image

    if invert not in ("auto", "yes", "no"):
        raise ValueError(f"The `invert` argument must be 'auto', 'yes' or 'no'. Received: invert={_short(invert)}")
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(isinstance(d, (int, np.integer)) and d > 0 for d in input_shape)):
        raise ValueError(f"The `input_shape` argument must be (height, width, channels). Received: input_shape={_short(input_shape)}")
    height, width, channels = input_shape
    if channels != 1:
        raise ValueError(f"Only grayscale models (1 channel) take images here. Received: input_shape={tuple(input_shape)}")
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"The `image` argument must be a 2-D grayscale image (H, W). Received: shape {image.shape}")
    if invert == "yes" or (invert == "auto" and image.mean() > 0.5):
        image = 1.0 - image
    mask = image > 0.2 * image.max() if image.max() > 0 else np.zeros(image.shape, bool)
    if mask.any():
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        image = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    box_h, box_w = max(1, height - 2 * (height // 7)), max(1, width - 2 * (width // 7))
    scale = min(box_h / image.shape[0], box_w / image.shape[1])
    new_h, new_w = max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))
    resized = np.asarray(Image.fromarray(image, mode="F").resize((new_w, new_h), Image.Resampling.BOX))
    out = np.zeros((height, width), np.float32)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top:top + new_h, left:left + new_w] = resized
    return np.clip(out, 0, 1)[..., None]
