"""Your own images: a folder with one subfolder of images per class, as Keras'
``image_dataset_from_directory`` and torchvision's ``ImageFolder`` read it.

    flowers/
        daisy/   0001.jpg 0002.png ...
        tulip/   ...

Classes are the subfolders in alphabetical order; their files are read in any depth below them.
Images are PNG, JPEG, BMP, GIF (first frame), WebP or TIFF, in any mode and size; each is prepared
by one :class:`~numcnn.data.preprocessing.Preprocessing` (size, colour, framing), the object a run
records so that ``predict`` prepares an image file the same way. A file that cannot be read is
skipped with a warning naming it; other files are ignored; both are summed up once.

A set that fits the memory budget is decoded once into an array; a larger one is an
:class:`ImageFiles`, which decodes only the images of each batch.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np

from ..utils.validation import _short
from .datasets import Dataset
from .images import load_image
from .preprocessing import Preprocessing

#: image files by suffix (Keras reads .bmp .gif .jpeg .jpg .png; torchvision adds .webp .tif)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: above this many bytes of float32 samples a set stays on disk (decoded a batch at a time)
MEMORY_BUDGET = 1 << 30


class FolderError(ValueError):
    """A folder data set cannot be used (no such folder, no classes, an empty class)."""


def _decode(path, preprocessing) -> np.ndarray:
    """One image file as a sample; a file that no longer reads is named."""
    try:
        image = load_image(path, grayscale=preprocessing.channels == 1)
    except ValueError as error:
        raise FolderError(f"{error} (it opened when the folder was scanned)") from None
    return preprocessing.image_to_sample(image)


class ImageFiles:
    """Image files read as one array of samples, lazily: indexing by an int, slice or index array
    decodes just those images (``x[index]`` in a training loop); a slice is another ``ImageFiles``.

    Shape:
        ``(N, *preprocessing.input_shape)`` float32.
    """

    def __init__(self, paths, preprocessing: Preprocessing):
        self.paths = tuple(paths)
        self.preprocessing = preprocessing
        self.shape = (len(self.paths), *preprocessing.input_shape)
        self.dtype = np.dtype(np.float32)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self):
        return f"ImageFiles({len(self)} images, sample shape {self.shape[1:]})"

    def __getitem__(self, key):
        if isinstance(key, slice):
            return ImageFiles(self.paths[key], self.preprocessing)
        if isinstance(key, (int, np.integer)):
            return _decode(self.paths[key], self.preprocessing)
        index = np.asarray(key)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        out = np.empty((len(index), *self.shape[1:]), np.float32)
        for row, i in enumerate(index.reshape(-1)):
            out[row] = _decode(self.paths[i], self.preprocessing)
        return out

    def __array__(self, dtype=None, copy=None):
        return self[np.arange(len(self))] if dtype is None else self[np.arange(len(self))].astype(dtype)


@dataclasses.dataclass(frozen=True)
class FolderScan:
    """What :func:`scan_directory` found: the readable images, their labels, what it passed over."""

    paths: tuple
    labels: np.ndarray
    class_names: tuple
    skipped: tuple  # (path, reason) of image files that cannot be read
    ignored: tuple  # paths of files that are not images

    def summary(self) -> str:
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        text = (f"{len(self.paths)} images in {len(self.class_names)} classes ("
                + ", ".join(f"{name}: {n}" for name, n in zip(self.class_names, counts)) + ")")
        if self.skipped:
            text += f"; skipped {len(self.skipped)} unreadable: " + ", ".join(p for p, _ in self.skipped[:5])
            text += ", ..." if len(self.skipped) > 5 else ""
        if self.ignored:
            text += f"; ignored {len(self.ignored)} files that are not images"
        return text


def _progress(items, desc, show):
    """``items``, with a progress bar on a terminal when ``show``."""
    if not show or not items:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="image", leave=False, disable=None)


def _check_image(path):
    """None if ``path`` opens as an image (header, size and Pillow's decompression-bomb guard), else why not."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            if width < 1 or height < 1:
                return f"it is {width}x{height} pixels"
        return None
    except Image.DecompressionBombError as error:
        return f"too large to open ({error})"
    except UnidentifiedImageError:
        return "not an image Pillow can read (empty, truncated or another format)"
    except OSError as error:  # permissions, a symlink loop, an I/O error
        return f"cannot be opened ({error.strerror or error})"


def scan_directory(directory, follow_links=False, progress=False) -> FolderScan:
    """Find the class subfolders of ``directory`` and their image files (sorted, so the order is the same
    on every machine); open each file's header to skip those that cannot be read.

    Raises:
        FolderError: no such directory, no class subfolders, a class without images, a single class.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FolderError(f"The `directory` argument must be a folder with one subfolder of images per class. "
                          f"Received: {directory!r}, which is not a folder")
    classes = sorted(e.name for e in os.scandir(directory) if e.is_dir(follow_symlinks=follow_links)
                     and not e.name.startswith("."))
    if not classes:
        raise FolderError(f"{directory} has no class subfolders: put each class's images in a folder of its own "
                          f"(e.g. {directory}/cats/, {directory}/dogs/). Received: no subfolders")
    if len(classes) == 1:
        raise FolderError(f"{directory} has one class subfolder ({classes[0]!r}); a classifier needs at least two. "
                          "Received: 1 class")
    candidates, ignored = [], []
    for label, name in enumerate(classes):
        seen = set()
        for root, dirs, files in os.walk(os.path.join(directory, name), followlinks=follow_links):
            real = os.path.realpath(root)
            if real in seen:  # a link back up the tree
                dirs[:] = []
                continue
            seen.add(real)
            dirs.sort()
            for file in sorted(files):
                path = os.path.join(root, file)
                if file.startswith("."):
                    continue
                (candidates if file.lower().endswith(IMAGE_SUFFIXES) else ignored).append((path, label))
    paths, labels, skipped = [], [], []
    for path, label in _progress(candidates, f"scanning {directory}", progress):
        reason = _check_image(path)
        if reason is None:
            paths.append(path)
            labels.append(label)
        else:
            skipped.append((path, reason))
    labels = np.asarray(labels, np.int64)
    counts = np.bincount(labels, minlength=len(classes))
    empty = [name for name, n in zip(classes, counts) if n == 0]
    scan = FolderScan(tuple(paths), labels, tuple(classes), tuple(skipped), tuple(p for p, _ in ignored))
    for path, reason in skipped:
        warnings.warn(f"{path}: skipped, {reason}", UserWarning, stacklevel=2)
    if empty:
        raise FolderError(f"{directory}: the class folder(s) {empty} hold no readable images ({IMAGE_SUFFIXES}). "
                          f"Received: {scan.summary()}")
    return scan


def _shuffled(scan: FolderScan, seed):
    order = np.random.default_rng(seed).permutation(len(scan.paths))
    return [scan.paths[i] for i in order], scan.labels[order]


def _decoded(paths, preprocessing, progress, what):
    """Every image as one float32 array, skipping (with a warning) those that fail to decode."""
    x = np.empty((len(paths), *preprocessing.input_shape), np.float32)  # filled in place: no second copy
    kept = []
    for k, path in enumerate(_progress(paths, f"decoding {what}", progress)):
        try:
            x[len(kept)] = _decode(path, preprocessing)
            kept.append(k)
        except FolderError as error:
            warnings.warn(f"{path}: skipped, {error}", UserWarning, stacklevel=3)
    return x[:len(kept)], np.asarray(kept, np.int64)


def folder_preprocessing(image_size=(256, 256), color_mode="rgb", fit="stretch", interpolation="bilinear"):
    """The :class:`Preprocessing` of a folder data set: every image to ``image_size``, in ``color_mode``."""
    if color_mode not in ("grayscale", "rgb"):
        raise ValueError(f"The `color_mode` argument must be 'grayscale' or 'rgb'. Received: color_mode={_short(color_mode)}")
    try:
        return Preprocessing(tuple(image_size) if isinstance(image_size, (list, tuple)) else image_size,
                             1 if color_mode == "grayscale" else 3, fit=fit, interpolation=interpolation)
    except ValueError as error:
        raise ValueError(str(error).replace("`size`", "`image_size`")) from None


def load_images(paths, labels, preprocessing, in_memory="auto", progress=False, what="images"):
    """``(x, y)`` for these files: an array when ``in_memory`` (``"auto"``: when it fits
    :data:`MEMORY_BUDGET`), else :class:`ImageFiles`."""
    size = len(paths) * int(np.prod(preprocessing.input_shape)) * 4
    if in_memory is True or (in_memory == "auto" and size <= MEMORY_BUDGET):
        x, kept = _decoded(list(paths), preprocessing, progress, what)
        return x, np.asarray(labels)[kept]
    return ImageFiles(paths, preprocessing), np.asarray(labels)


def image_dataset_from_directory(directory, *, image_size=(256, 256), color_mode="rgb", validation_split=None,
                                 subset=None, seed=None, shuffle=True, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, interpolation="bilinear", follow_links=False,
                                 in_memory="auto", verbose=True):
    """Images in class subfolders as ``(x, y)`` samples, as Keras' function of this name reads them.

    Args:
        directory: a folder with one subfolder per class (see the module docstring).
        image_size: ``(height, width)`` every image is resized to (Keras' default 256x256).
        color_mode: ``"rgb"`` or ``"grayscale"``.
        validation_split: a fraction held out, with ``subset`` ``"training"``, ``"validation"`` or ``"both"``.
        seed: the shuffle's seed (the split must use the same one for both subsets).
        shuffle: shuffle the files (with ``seed``) before splitting; otherwise class by class.
        crop_to_aspect_ratio, pad_to_aspect_ratio: keep the aspect ratio by a centre crop or black bars.
        interpolation: ``"bilinear"``, ``"nearest"``, ``"bicubic"``, ``"lanczos"`` or ``"area"``.
        follow_links: descend into linked folders (loops are cut).
        in_memory: ``"auto"`` (decode once when the set fits 1 GiB of float32), True, or False (an
            :class:`ImageFiles` that decodes each batch).
        verbose: print what was found and show progress bars.

    Returns:
        A :class:`FolderDataset` (``x``, ``y``, ``class_names``, ``preprocessing``), or two for ``subset="both"``.
    """
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True. "
                         "Received: both True")
    fit = "crop" if crop_to_aspect_ratio else "pad" if pad_to_aspect_ratio else "stretch"
    preprocessing = folder_preprocessing(image_size, color_mode, fit, interpolation)
    if validation_split is not None:
        if not isinstance(validation_split, (int, float)) or not 0 < validation_split < 1:
            raise ValueError(f"The `validation_split` argument must be in (0, 1). Received: {_short(validation_split)}")
        if subset not in ("training", "validation", "both"):
            raise ValueError("The `subset` argument must be 'training', 'validation' or 'both' with a "
                             f"validation_split. Received: subset={_short(subset)}")
    elif subset is not None:
        raise ValueError(f"The `subset` argument needs a validation_split. Received: subset={_short(subset)}")
    scan = scan_directory(directory, follow_links, progress=verbose)
    if verbose:
        print(f"{directory}: {scan.summary()}")
    paths, labels = _shuffled(scan, seed) if shuffle else (list(scan.paths), scan.labels)
    parts = {"all": (paths, labels)}
    if validation_split is not None:
        cut = len(paths) - int(validation_split * len(paths))
        parts = {"training": (paths[:cut], labels[:cut]), "validation": (paths[cut:], labels[cut:])}
    made = {}
    for name, (p, y) in parts.items():
        if subset in (None, "both", name) or name == "all":
            x, y = load_images(p, y, preprocessing, in_memory, verbose, name)
            made[name] = FolderDataset(x, y, scan.class_names, preprocessing)
    if subset == "both":
        return made["training"], made["validation"]
    return made[subset or "all"]


@dataclasses.dataclass(frozen=True)
class FolderDataset:
    """Samples from a folder: ``x`` (an array or :class:`ImageFiles`), ``y`` (int64 labels), the class
    names (the folders) and the :class:`Preprocessing` that made each sample."""

    x: object
    y: np.ndarray
    class_names: tuple
    preprocessing: Preprocessing

    def __iter__(self):  # x, y = image_dataset_from_directory(...)
        return iter((self.x, self.y))


def load_folder_dataset(directory, image_size=(64, 64), color_mode="rgb", test_split=0.2, split_seed=0,
                        in_memory="auto", progress=True, splits=("train", "test")) -> Dataset:
    """A folder as a :class:`~numcnn.data.Dataset` for ``numcnn train --dataset PATH``: its ``train/`` and
    ``test/`` folders when it has both (``test_split`` must then be None), else its class subfolders
    shuffled with ``split_seed`` and the first ``test_split`` of them held out for testing (the split
    does not depend on the training seed, as the digits')."""
    directory = os.fspath(directory)
    preprocessing = folder_preprocessing(image_size, color_mode)
    own_test = all(os.path.isdir(os.path.join(directory, d)) for d in ("train", "test"))
    if own_test:
        if test_split is not None:
            raise FolderError(f"{directory} has its own train/ and test/ folders: drop --test-split. "
                              f"Received: test_split={test_split}")
        scans = {split: scan_directory(os.path.join(directory, split), progress=progress) for split in splits}
        names = {split: scan.class_names for split, scan in scans.items()}
        if len(set(names.values())) > 1:
            raise FolderError(f"{directory}: train/ and test/ must hold the same class folders. "
                              f"Received: train {list(names.get('train', ()))}, test {list(names.get('test', ()))}")
        parts = {split: _shuffled(scan, split_seed) for split, scan in scans.items()}
        scan = next(iter(scans.values()))
    else:
        if not isinstance(test_split, (int, float)) or not 0 < test_split < 1:
            raise ValueError(f"The `test_split` argument must be in (0, 1) for a folder without train/ and test/. "
                             f"Received: test_split={_short(test_split)}")
        scan = scan_directory(directory, progress=progress)
        paths, labels = _shuffled(scan, split_seed)
        n_test = int(round(len(paths) * test_split))
        if n_test < 1 or n_test == len(paths):
            raise FolderError(f"{directory}: test_split={test_split} of {len(paths)} images leaves no images for "
                              f"one of the splits. Received: test_split={test_split}")
        parts = {"test": (paths[:n_test], labels[:n_test]), "train": (paths[n_test:], labels[n_test:])}
    if progress:
        print(f"{directory}: {scan.summary()}")
    arrays = {}
    for split in ("train", "test"):
        if split in splits:
            arrays[split] = load_images(*parts[split], preprocessing, in_memory, progress, f"{split} images")
        else:
            arrays[split] = (np.zeros((0, *preprocessing.input_shape), np.float32), np.zeros(0, np.int64))
    return Dataset(directory, *arrays["train"], *arrays["test"], scan.class_names, 255.0, None, preprocessing)
