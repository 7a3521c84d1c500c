"""How an image becomes one sample of a network trained elsewhere: size, scale, mean and std per
channel, channel order and layout (what ``numcnn import`` saves and ``predict`` applies).

PyTorch's ImageNet models: ``Preprocessing((224, 224), 3, scale=1/255, mean=(0.485, 0.456, 0.406),
std=(0.229, 0.224, 0.225))``; Caffe's: ``scale=1, mean=(103.94, 116.78, 123.68), channel_order="bgr"``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..utils.validation import _is_int, _short, check_number, standardize_data_format


@dataclass(frozen=True)
class Preprocessing:
    """``sample = (pixel * scale - mean) / std``, with ``pixel`` in 0..255 after resizing to ``size``.

    Args:
        size: ``(height, width)`` the image is resized to (bilinear, the whole image).
        channels: 1 (grayscale) or 3 (colour).
        scale: factor of the 0..255 pixel values (``1 / 255`` for inputs in [0, 1]).
        mean, std: one number, or one per channel in ``channel_order``.
        channel_order: ``"rgb"`` or ``"bgr"`` (Caffe's models).
        data_format: the model's layout: ``"channels_last"`` (H, W, C) or ``"channels_first"`` (C, H, W).
    """

    size: tuple
    channels: int = 3
    scale: float = 1 / 255
    mean: tuple = (0.0,)
    std: tuple = (1.0,)
    channel_order: str = "rgb"
    data_format: str = "channels_last"

    def __post_init__(self):
        size = self.size
        if not isinstance(size, (tuple, list)) or len(size) != 2 or not all(_is_int(d) and d > 0 for d in size):
            raise ValueError(f"The `size` argument must be (height, width), two positive ints. Received: size={_short(size)}")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ValueError(f"The `channels` argument must be 1 or 3. Received: channels={_short(self.channels)}")
        check_number(self.scale, "scale")
        for name in ("mean", "std"):
            values = getattr(self, name)
            values = (values,) if not isinstance(values, (tuple, list)) else values
            if len(values) not in (1, self.channels) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values):
                raise ValueError(f"The `{name}` argument must be one number or {self.channels} (one per channel). "
                                 f"Received: {name}={_short(getattr(self, name))}")
            if name == "std" and any(v == 0 for v in values):
                raise ValueError(f"The `std` argument must not hold 0 (it divides). Received: std={_short(values)}")
            object.__setattr__(self, name, tuple(float(v) for v in values))
        if self.channel_order not in ("rgb", "bgr"):
            raise ValueError(f"The `channel_order` argument must be 'rgb' or 'bgr'. Received: {_short(self.channel_order)}")
        object.__setattr__(self, "size", tuple(int(d) for d in size))
        object.__setattr__(self, "data_format", standardize_data_format(self.data_format))

    @property
    def input_shape(self) -> tuple:
        """One sample's shape in the model's layout."""
        h, w = self.size
        return (h, w, self.channels) if self.data_format == "channels_last" else (self.channels, h, w)

    def normalize(self, pixels01) -> np.ndarray:
        """Images in [0, 1] of the right size, ``(N, H, W, C)`` or ``(H, W, C)``, as the model's input (float32)."""
        pixels = np.asarray(pixels01, np.float32) * np.float32(255)
        if self.channel_order == "bgr":
            pixels = pixels[..., ::-1]
        x = (pixels * np.float32(self.scale) - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.moveaxis(x, -1, -3) if self.data_format == "channels_first" else x

    def image_to_sample(self, image) -> np.ndarray:
        """An image from :func:`~numcnn.data.images.load_image` (``(H, W)`` gray or ``(H, W, 3)``, in [0, 1]),
        resized and normalised: one sample of shape :attr:`input_shape`."""
        from PIL import Image

        image = np.asarray(image, np.float32)
        planes = [image] if image.ndim == 2 else [image[..., k] for k in range(image.shape[2])]
        h, w = self.size
        resized = [np.asarray(Image.fromarray(p, mode="F").resize((w, h), Image.Resampling.BILINEAR)) for p in planes]
        pixels = np.stack(resized, axis=-1)
        if self.channels == 1 and pixels.shape[-1] == 3:
            pixels = pixels.mean(axis=-1, keepdims=True)
        elif self.channels == 3 and pixels.shape[-1] == 1:
            pixels = np.repeat(pixels, 3, axis=-1)
        return self.normalize(np.clip(pixels, 0, 1))

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> Preprocessing:
        known = {k: data[k] for k in ("size", "channels", "scale", "mean", "std", "channel_order", "data_format")
                 if k in data}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in known.items()})
