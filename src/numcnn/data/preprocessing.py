"""How an image file becomes one sample, the same way for every command: the ``preprocessing``
object a run's ``config.json`` records (``train`` from its data set, ``numcnn import`` from its
flags) and ``predict``, ``show`` and ``explain`` apply.

The steps, in order: colour (grey or RGB), polarity (``invert``), framing (``fit``: the whole image
stretched, centre-cropped or padded to the aspect ratio, or the ink's bounding box scaled into a
``box`` and centred by its box or its centre of mass), resizing (``interpolation``), grey levels
(``levels``), then ``sample = (pixel * scale - mean) / std`` per channel, in ``channel_order``.

The built-in data sets, as their images were made:

- digits (UCI's 8x8): the digit's height fills the frame, aspect kept, centred; 17 grey levels.
- MNIST: the digit scaled into a 20x20 box, aspect kept, centred by its centre of mass in 28x28.
- Fashion-MNIST: the product's longest side fills 28, centred.
- CIFAR-10: the whole photo shrunk to 32x32 colour pixels.

PyTorch's ImageNet models: ``Preprocessing((224, 224), 3, mean=(0.485, 0.456, 0.406), std=(0.229,
0.224, 0.225))``; Caffe's: ``scale=1, mean=(103.94, 116.78, 123.68), channel_order="bgr"``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..utils.validation import _is_int, _short, check_number, standardize_data_format
from .images import load_image

FITS = ("stretch", "crop", "pad", "ink")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "area")
#: ink is what is brighter than this share of the brightest pixel (after inversion)
INK_THRESHOLD = 0.25
#: an image whose grey values spread less than this (standard deviation, in [0, 1]) looks blank
BLANK_STD = 0.02


def _pil_filter(name):
    from PIL import Image

    return {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
            "area": Image.Resampling.BOX}[name]


def resize(image, size, interpolation="bilinear") -> np.ndarray:
    """``image`` resized to ``size`` = (height, width), each channel on its own, in float (no rounding).

    Shape:
        image: (H, W) or (H, W, C); returns (height, width) or (height, width, C).
    """
    from PIL import Image

    image = np.asarray(image, np.float32)
    if image.shape[:2] == tuple(size):
        return image.copy()
    h, w = size
    planes = [image] if image.ndim == 2 else [image[..., k] for k in range(image.shape[2])]
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(p), mode="F").resize((w, h), _pil_filter(interpolation)))
           for p in planes]
    return out[0] if image.ndim == 2 else np.stack(out, axis=-1)


def ink_box(image) -> tuple | None:
    """``(top, bottom, left, right)`` (bottom and right exclusive) around the ink of a light-on-dark
    ``(H, W)`` image: the pixels above :data:`INK_THRESHOLD` of the brightest; None when blank."""
    peak = float(image.max()) if image.size else 0.0
    if peak <= 0:
        return None
    mask = image > INK_THRESHOLD * peak
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def fit_ink(image, size, box, centre="box", interpolation="lanczos") -> np.ndarray:
    """The ink of a light-on-dark ``(H, W)`` image cropped to its bounding box, scaled (aspect kept) to
    fit ``box``, and placed in a black ``size`` frame: its box centred, or its centre of mass at the
    frame's centre (MNIST's rule; kept inside the frame). A blank image is only resized."""
    found = ink_box(image)
    if found is None:
        return resize(image, size, interpolation)
    top, bottom, left, right = found
    ink = image[top:bottom, left:right]
    scale = min(box[0] / ink.shape[0], box[1] / ink.shape[1])
    new_h, new_w = max(1, round(ink.shape[0] * scale)), max(1, round(ink.shape[1] * scale))
    ink = np.clip(resize(ink, (new_h, new_w), interpolation), 0, None)  # lanczos rings below 0
    height, width = size
    if centre == "mass" and ink.sum() > 0:
        total = ink.sum()
        cy, cx = (ink.sum(axis=1) @ np.arange(new_h)) / total, (ink.sum(axis=0) @ np.arange(new_w)) / total
        top, left = int(round(height / 2 - cy)), int(round(width / 2 - cx))
        top, left = min(max(top, 0), height - new_h), min(max(left, 0), width - new_w)
    else:
        top, left = (height - new_h) // 2, (width - new_w) // 2
    out = np.zeros(size, np.float32)
    out[top:top + new_h, left:left + new_w] = ink
    return out


def _to_aspect(image, size, fit):
    """Centre-crop (``fit="crop"``) or zero-pad (``"pad"``) ``image`` to the aspect ratio of ``size``."""
    h, w = image.shape[:2]
    target = size[1] / size[0]
    if fit == "crop":
        new_h, new_w = (h, max(1, round(h * target))) if w / h > target else (max(1, round(w / target)), w)
        top, left = (h - new_h) // 2, (w - new_w) // 2
        return image[top:top + new_h, left:left + new_w]
    new_h, new_w = (max(h, round(w / target)), w) if w / h > target else (h, max(w, round(h * target)))
    out = np.zeros((new_h, new_w, *image.shape[2:]), np.float32)
    top, left = (new_h - h) // 2, (new_w - w) // 2
    out[top:top + h, left:left + w] = image
    return out


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes one sample (see the module docstring for the order of the steps).

    Args:
        size: ``(height, width)`` of a sample.
        channels: 1 (grey) or 3 (colour).
        scale: factor of the 0..255 pixel values (``1 / 255`` for inputs in [0, 1]).
        mean, std: one number, or one per channel in ``channel_order``.
        channel_order: ``"rgb"`` or ``"bgr"`` (Caffe's models).
        data_format: the model's layout: ``"channels_last"`` (H, W, C) or ``"channels_first"`` (C, H, W).
        fit: ``"stretch"`` (the whole image to ``size``, Keras' default), ``"crop"`` / ``"pad"`` (to the
            aspect ratio first, Keras' ``crop_to_aspect_ratio`` / ``pad_to_aspect_ratio``) or ``"ink"``
            (grey only: the ink's bounding box into ``box``).
        box: ``(height, width)`` the ink is scaled into (default ``size``); ``fit="ink"`` only.
        centre: ``"box"`` or ``"mass"``: how the ink is centred; ``fit="ink"`` only.
        invert: ``"no"``, ``"yes"``, or ``"auto"`` (when the image is mostly light: dark ink on paper,
            for models trained on light ink on black).
        levels: grey levels to round to (17 for digits' 0..16), or None.
        interpolation: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"``, ``"lanczos"`` or ``"area"``.
    """

    size: tuple
    channels: int = 3
    scale: float = 1 / 255
    mean: tuple = (0.0,)
    std: tuple = (1.0,)
    channel_order: str = "rgb"
    data_format: str = "channels_last"
    fit: str = "stretch"
    box: tuple | None = None
    centre: str = "box"
    invert: str = "no"
    levels: int | None = None
    interpolation: str = "bilinear"

    def __post_init__(self):
        size = self.size
        if not isinstance(size, (tuple, list)) or len(size) != 2 or not all(_is_int(d) and d > 0 for d in size):
            raise ValueError(f"The `size` argument must be (height, width), two positive ints. Received: size={_short(size)}")
        object.__setattr__(self, "size", tuple(int(d) for d in size))
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
        for name, allowed in (("channel_order", ("rgb", "bgr")), ("fit", FITS), ("centre", ("box", "mass")),
                              ("invert", ("auto", "yes", "no")), ("interpolation", INTERPOLATIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"The `{name}` argument must be one of {list(allowed)}. "
                                 f"Received: {name}={_short(getattr(self, name))}")
        if self.fit == "ink" and self.channels != 1:
            raise ValueError("The `fit` argument 'ink' frames the ink of grey images: it needs channels=1. "
                             f"Received: fit='ink', channels={self.channels}")
        box = self.size if self.box is None else self.box
        if (not isinstance(box, (tuple, list)) or len(box) != 2
                or not all(_is_int(d) and 0 < d <= s for d, s in zip(box, self.size))):
            raise ValueError(f"The `box` argument must be (height, width) within size={self.size}. "
                             f"Received: box={_short(self.box)}")
        object.__setattr__(self, "box", tuple(int(d) for d in box))
        if self.levels is not None and (not _is_int(self.levels) or self.levels < 2):
            raise ValueError(f"The `levels` argument must be None or an int >= 2. Received: levels={_short(self.levels)}")
        object.__setattr__(self, "data_format", standardize_data_format(self.data_format))

    @property
    def input_shape(self) -> tuple:
        """One sample's shape in the model's layout."""
        h, w = self.size
        return (h, w, self.channels) if self.data_format == "channels_last" else (self.channels, h, w)

    def normalize(self, pixels01) -> np.ndarray:
        """Images in [0, 1] of the right size, ``(N, H, W, C)`` or ``(H, W, C)``, as the model's input (float32)."""
        if self.is_identity:  # the built-in data sets: their arrays are the samples, bit for bit
            return np.asarray(pixels01, np.float32)
        pixels = np.asarray(pixels01, np.float32) * np.float32(255)
        if self.channel_order == "bgr":
            pixels = pixels[..., ::-1]
        x = (pixels * np.float32(self.scale) - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.moveaxis(x, -1, -3) if self.data_format == "channels_first" else x

    @property
    def is_identity(self) -> bool:
        """Whether :meth:`normalize` keeps pixels in [0, 1] as they are."""
        return (self.scale == 1 / 255 and set(self.mean) == {0.0} and set(self.std) == {1.0}
                and (self.channel_order == "rgb" or self.channels == 1) and self.data_format == "channels_last")

    def colour(self, image) -> np.ndarray:
        """An image from :func:`~numcnn.data.images.load_image` with this preprocessing's channels, ``(H, W, C)``."""
        image = np.asarray(image, np.float32)
        image = image[..., None] if image.ndim == 2 else image
        if self.channels == 1 and image.shape[-1] == 3:
            image = image @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]  # ITU-R 601, as Pillow's "L"
        elif self.channels == 3 and image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        return image

    def frame(self, image) -> np.ndarray:
        """Every step but the normalisation: an image in [0, 1] (``(H, W)`` or ``(H, W, C)``) as the
        ``(height, width, channels)`` picture in [0, 1] the model is shown (``predict --save-input``)."""
        image = self.colour(image)
        if self.invert == "yes" or (self.invert == "auto" and image.mean() > 0.5):
            image = 1.0 - image
        if self.fit == "ink":
            out = fit_ink(image[..., 0], self.size, self.box, self.centre, self.interpolation)[..., None]
        else:
            if self.fit in ("crop", "pad"):
                image = _to_aspect(image, self.size, self.fit)
            out = resize(image, self.size, self.interpolation)
            out = out[..., None] if out.ndim == 2 else out
        out = np.clip(out, 0, 1)
        if self.levels is not None:
            out = np.round(out * (self.levels - 1)) / (self.levels - 1)
        return out.astype(np.float32)

    def image_to_sample(self, image) -> np.ndarray:
        """An image in [0, 1] (``(H, W)`` grey or ``(H, W, 3)``) as one sample of shape :attr:`input_shape`."""
        return self.normalize(self.frame(image))

    def load(self, source, max_pixels=None) -> tuple:
        """An image file (its path or its bytes, see :func:`~numcnn.data.images.load_image`) or pixels in
        [0, 1] (``(H, W)`` grey or ``(H, W, 3)``, e.g. a drawing) as ``numcnn predict`` takes it.

        Returns:
            ``(sample, picture, warnings)``: the sample of shape :attr:`input_shape`, the picture in [0, 1]
            the model is shown (:meth:`frame`) and what makes a prediction on it meaningless (:meth:`warnings`).
        """
        if isinstance(source, np.ndarray):
            image = np.asarray(source, np.float32)
            if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)) or 0 in image.shape:
                raise ValueError("The `source` argument, as pixels, must be (H, W) or (H, W, 1 or 3) in [0, 1]. "
                                 f"Received: an array of shape {image.shape}")
            if max_pixels is not None and image.shape[0] * image.shape[1] > max_pixels:
                raise ValueError(f"The `source` argument has {image.shape[0]}x{image.shape[1]} pixels, more than the "
                                 f"{max_pixels:,} allowed. Received: an array of shape {image.shape}")
            if not np.isfinite(image).all():
                raise ValueError("The `source` argument, as pixels, must be finite values in [0, 1]. Received: NaN "
                                 "or infinity")
            image = np.clip(image, 0, 1)
        else:
            image = load_image(source, grayscale=self.channels == 1, max_pixels=max_pixels)
        picture = self.frame(image)
        return self.normalize(picture), picture, self.warnings(image)

    def warnings(self, image) -> list:
        """What makes a prediction on ``image`` (in [0, 1]) meaningless, in words: a near-uniform
        image, or one much smaller than the model's input."""
        found = []
        grey = self.colour(image).mean(axis=-1)
        if grey.std() < BLANK_STD:
            found.append(f"the image looks blank (its grey values spread by {grey.std():.3f})")
        h, w = grey.shape
        if h < self.size[0] / 2 or w < self.size[1] / 2:
            found.append(f"the image is {h}x{w} pixels, under half the model's {self.size[0]}x{self.size[1]}")
        return found

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> Preprocessing:
        names = cls.__dataclass_fields__
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})


#: how the images of the built-in data sets were made (a run records its own in ``config.json``)
DATASET_PREPROCESSING = {
    "digits": Preprocessing((8, 8), 1, fit="ink", centre="box", invert="auto", levels=17, interpolation="lanczos"),
    "mnist": Preprocessing((28, 28), 1, fit="ink", box=(20, 20), centre="mass", invert="auto",
                           interpolation="lanczos"),
    "fashion-mnist": Preprocessing((28, 28), 1, fit="ink", centre="box", invert="auto", interpolation="lanczos"),
    "cifar10": Preprocessing((32, 32), 3, interpolation="area"),
}


def preprocessing_of(config: dict):
    """How an image file becomes one of a run's samples (:class:`Preprocessing`): as its ``config.json``
    records it, else (runs of older numcnn versions) its data set's; None for an imported network
    whose input is not an image."""
    data = config.get("preprocessing")
    if data is not None:
        return Preprocessing.from_json(data)
    imported = isinstance(config.get("source"), dict)
    return None if imported else DATASET_PREPROCESSING.get(config["dataset"]["name"])
