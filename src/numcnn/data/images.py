"""Image files (PNG, JPEG, ... through Pillow) as arrays, and turned into a model's input."""

from __future__ import annotations

import os

import numpy as np

from .._validation import _short


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
            image = image.convert("L" if grayscale else "RGB")
            return np.asarray(image, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise ValueError(f"{path}: no such image file. Received: path={path!r}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: not a readable image (PNG, JPEG, ...): {e}. Received: path={path!r}") from None


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
    height, width, channels = input_shape
    if channels != 1:
        raise ValueError(f"Only grayscale models (1 channel) take images here. Received: input_shape={tuple(input_shape)}")
    image = np.asarray(image, dtype=np.float32)
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
