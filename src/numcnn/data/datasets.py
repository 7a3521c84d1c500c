"""The data sets ``numcnn train`` knows: digits (shipped with numcnn), MNIST, Fashion-MNIST and CIFAR-10.

Images come out channels-last, float32 in [0, 1], labels as int64:
``x_train (N, H, W, C)``, ``y_train (N,)``.

MNIST and Fashion-MNIST are read from their original gzipped IDX files, looked
up in this order: the ``data_dir`` argument (``--data-dir``), the
``NUMCNN_DATA_DIR`` environment variable, the user cache dir. In each place
both ``DIR/<file>`` and ``DIR/<dataset>/<file>`` are tried. If the files are
nowhere, they are downloaded from the data set's public mirrors into
``data_dir`` (else the cache dir) and verified before use. Every file is
checked on every load: its IDX header, its shape, and its checksum (SHA-256 of
the uncompressed MNIST files; the MD5 of the gzipped Fashion-MNIST files that
Zalando publishes, the only digests they give). CIFAR-10 is its binary version,
``cifar-10-binary.tar.gz``, found and fetched the same way and checked by the MD5 its authors
publish; it is read from the archive as it is, nothing extracted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import os
import tarfile
import tempfile
import urllib.error
import urllib.request

import numpy as np

from ..utils.validation import _short
from .idx import read_file, read_idx_bytes
from .preprocessing import DATASET_PREPROCESSING, Preprocessing

DATASET_NAMES = ("digits", "mnist", "fashion-mnist", "cifar10")

_PARTS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# (kind, hex digest) per file: "sha256" of the uncompressed bytes, or "md5-gz" of the .gz file.
_SOURCES = {
    "mnist": {
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        "checksums": {
            "train-images-idx3-ubyte": ("sha256", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            "train-labels-idx1-ubyte": ("sha256", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            "t10k-images-idx3-ubyte": ("sha256", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            "t10k-labels-idx1-ubyte": ("sha256", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        },
        "class_names": tuple(str(i) for i in range(10)),
    },
    "fashion-mnist": {
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        "checksums": {
            "train-images-idx3-ubyte": ("md5-gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "train-labels-idx1-ubyte": ("md5-gz", "25c81989df183df01b3e8a0aad5dffbe"),
            "t10k-images-idx3-ubyte": ("md5-gz", "bef4ecab320f06d8554ea6380940ec79"),
            "t10k-labels-idx1-ubyte": ("md5-gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        },
        "class_names": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    },
}


class DataError(ValueError):
    """A data set file is missing, cannot be downloaded, or is not what it should be."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A labelled image data set, split into train and test.

    Shape:
        x_train: (N, H, W, 1) float32 in [0, 1]; y_train: (N,) int64; same for test.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    pixel_scale: float  # what raw pixel values were divided by (16 for digits, 255 for MNIST)
    data_dir: str | None = None  # the directory its files were read from (None: shipped with numcnn)
    preprocessing: Preprocessing | None = None  # how an image file becomes one of its samples

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        return len(self.class_names)

    def __repr__(self):
        return (f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
                f"classes={self.classes})")


def load_digits(test_fraction=0.2, split_seed=0) -> Dataset:
    """The 8x8 digits (1,797 images of 0-16, UCI's, as scikit-learn ships them), split train/test
    with a fixed seed.

    The split does not depend on the training seed, so every run tests on the same images.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"The `test_fraction` argument must be in (0, 1). Received: test_fraction={_short(test_fraction)}")
    table = _digits_table()
    x = (table[:, :64].reshape(-1, 8, 8) / 16.0).astype(np.float32)[..., None]
    y = table[:, 64].astype(np.int64)
    order = np.random.default_rng(split_seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Dataset("digits", x[train], y[train], x[test], y[test], tuple(str(i) for i in range(10)), 16.0,
                   preprocessing=DATASET_PREPROCESSING["digits"])


def _digits_table() -> np.ndarray:
    """``digits.csv.gz`` beside this module: 64 pixels + label per row (licence: ``digits.LICENSE.txt``)."""
    with importlib.resources.as_file(importlib.resources.files(__package__) / "digits.csv.gz") as path:
        return np.loadtxt(path, delimiter=",", dtype=np.float64)

#: CIFAR-10's binary archive (https://www.cs.toronto.edu/~kriz/cifar.html): its MD5 as published there
CIFAR10 = {
    "file": "cifar-10-binary.tar.gz",
    "md5": "c32a1d4ab5d03f1284b67883e8d87530",
    "mirrors": ("https://www.cs.toronto.edu/~kriz/",),
    "members": {"train": tuple(f"cifar-10-batches-bin/data_batch_{k}.bin" for k in range(1, 6)),
                "test": ("cifar-10-batches-bin/test_batch.bin",)},
    "meta": "cifar-10-batches-bin/batches.meta.txt",
}
_CIFAR_RECORD = 1 + 3 * 32 * 32  # a label byte, then the red, green and blue 32x32 planes


def _search_dirs(name, data_dir):
    """Where to look, in order: each base as ``base/<name>/`` first (so a flat MNIST folder
    beside a ``fashion-mnist/`` one is never mistaken for it), then ``base/``."""
    from platformdirs import user_cache_dir

    bases = [data_dir] if data_dir is not None else []
    if os.environ.get("NUMCNN_DATA_DIR"):
        bases.append(os.environ["NUMCNN_DATA_DIR"])
    bases.append(os.path.join(user_cache_dir("numcnn"), "datasets"))
    found = []
    for base in bases:
        base = os.fspath(base)
        found += [os.path.join(base, name), base]
    return found


def _candidates(stem, dirs, kind):
    names = (f"{stem}.gz",) if kind == "md5-gz" else (f"{stem}.gz", stem)  # an MD5 of the .gz needs the .gz
    return [os.path.join(d, n) for d in dirs for n in names if os.path.isfile(os.path.join(d, n))]


def verify_file(path, kind, digest) -> bytes:
    """Check the file's checksum; return its uncompressed bytes. Raises :class:`DataError` on mismatch."""
    try:
        packed, raw = read_file(path)
    except ValueError as e:
        raise DataError(str(e)) from None
    if kind == "md5-gz":
        got, what = hashlib.md5(packed).hexdigest(), "MD5 of the gzipped file"
    else:
        got, what = hashlib.sha256(raw).hexdigest(), "SHA-256 of the uncompressed data"
    if got != digest:
        raise DataError(
            f"{path}: checksum mismatch: the file is damaged or belongs to another data set ({what} must be "
            f"{digest}); move or delete it to download the right one. Received: {got}")
    return raw


def download(url, path, progress=True) -> None:
    """Download ``url`` to ``path`` through a temporary file (no half-written ``path`` on failure)."""
    from tqdm.auto import tqdm

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download-", dir=directory)
    os.close(fd)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(path), disable=not progress,
                      leave=False) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fetch(name, stem, target_dir, progress):
    spec = _SOURCES[name]
    path = os.path.join(target_dir, f"{stem}.gz")
    errors = []
    for mirror in spec["mirrors"]:
        try:
            download(mirror + f"{stem}.gz", path, progress)
            verify_file(path, *spec["checksums"][stem])
            return path
        except (urllib.error.URLError, OSError, DataError) as e:
            errors.append(f"{mirror}: {getattr(e, 'reason', e)}")
            if os.path.exists(path):
                os.unlink(path)
    raise DataError(
        f"{name}: {stem}.gz is not on this machine and could not be downloaded (no network?). Put the four "
        f"{name} IDX files in a directory and pass --data-dir DIR (or set NUMCNN_DATA_DIR). "
        f"Received: {'; '.join(errors)}")


def dataset_files(name, data_dir=None, download_missing=True, progress=True, splits=("train", "test")) -> dict:
    """The IDX files of ``name`` (``"mnist"`` or ``"fashion-mnist"``) for ``splits``, verified.

    Returns:
        dict part -> (path, uncompressed bytes), parts ``train_images``, ``train_labels``,
        ``test_images``, ``test_labels`` (those of ``splits``).
    """
    if name not in _SOURCES:
        raise ValueError(f"The `name` argument must be one of {sorted(_SOURCES)}. Received: name={_short(name)}")
    if data_dir is not None and not os.path.isdir(data_dir):
        raise DataError(f"The `data_dir` argument must be an existing directory. Received: data_dir={os.fspath(data_dir)!r}")
    dirs = _search_dirs(name, data_dir)
    paths = {}
    for part, stem in _PARTS.items():
        if part.split("_")[0] not in splits:
            continue
        kind, digest = _SOURCES[name]["checksums"][stem]
        errors = []
        for path in _candidates(stem, dirs, kind):  # the first file with the right checksum wins
            try:
                paths[part] = (path, verify_file(path, kind, digest))
                break
            except DataError as e:
                errors.append(e)
        if part in paths:
            continue
        if errors:
            raise errors[0]
        if not download_missing:
            raise DataError(
                f"{name}: {stem}(.gz) not found. Looked in: {dirs}. Pass --data-dir DIR or set NUMCNN_DATA_DIR. "
                "Received: no such file")
        target = data_dir if data_dir is not None else os.environ.get("NUMCNN_DATA_DIR") or dirs[-2]
        path = _fetch(name, stem, os.fspath(target), progress)
        paths[part] = (path, verify_file(path, kind, digest))
    return paths


def load_idx_dataset(name, data_dir=None, download_missing=True, progress=True, splits=("train", "test")) -> Dataset:
    """MNIST or Fashion-MNIST from the original IDX files (see the module docstring for the lookup).

    ``splits=("test",)`` reads the test files alone (the training arrays are then empty).
    """
    files = dataset_files(name, data_dir, download_missing, progress, splits)
    arrays, paths = {}, {}
    for part, (path, raw) in files.items():
        try:
            arrays[part], paths[part] = read_idx_bytes(raw, path), path
        except ValueError as e:
            raise DataError(str(e)) from None
    for split in splits:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) or images.dtype != np.uint8:
            raise DataError(
                f"{paths[f'{split}_images']}: images must be uint8 (N, H, W) with one label each. "
                f"Received: images {images.dtype} {images.shape}, labels {labels.shape}")
    shape = arrays[f"{splits[-1]}_images"].shape[1:]
    for split in ("train", "test"):
        if split not in splits:
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = np.zeros((0, *shape), np.uint8), np.zeros(0, np.uint8)
    to_x = lambda a: (a.astype(np.float32) / 255.0)[..., None]  # noqa: E731
    directory = os.path.dirname(os.path.abspath(next(iter(paths.values()))))
    return Dataset(name, to_x(arrays["train_images"]), arrays["train_labels"].astype(np.int64),
                   to_x(arrays["test_images"]), arrays["test_labels"].astype(np.int64),
                   _SOURCES[name]["class_names"], 255.0, directory, DATASET_PREPROCESSING[name])


def _cifar_archive(data_dir, download_missing, progress) -> str:
    """The path of a CIFAR-10 archive whose MD5 is right: found, or downloaded into ``data_dir`` (or the cache)."""
    if data_dir is not None and not os.path.isdir(data_dir):
        raise DataError(f"The `data_dir` argument must be an existing directory. Received: data_dir={os.fspath(data_dir)!r}")
    dirs = _search_dirs("cifar10", data_dir)
    found = [os.path.join(d, CIFAR10["file"]) for d in dirs if os.path.isfile(os.path.join(d, CIFAR10["file"]))]
    for path in found:
        _check_md5(path)
        return path
    if not download_missing:
        raise DataError(f"cifar10: {CIFAR10['file']} not found. Looked in: {dirs}. Pass --data-dir DIR or set "
                        "NUMCNN_DATA_DIR. Received: no such file")
    target = os.fspath(data_dir if data_dir is not None else os.environ.get("NUMCNN_DATA_DIR") or dirs[-2])
    path, errors = os.path.join(target, CIFAR10["file"]), []
    for mirror in CIFAR10["mirrors"]:
        try:
            download(mirror + CIFAR10["file"], path, progress)
            _check_md5(path)
            return path
        except (urllib.error.URLError, OSError, DataError) as e:
            errors.append(f"{mirror}: {getattr(e, 'reason', e)}")
            if os.path.exists(path):
                os.unlink(path)
    raise DataError(f"cifar10: {CIFAR10['file']} is not on this machine and could not be downloaded (no network?). "
                    f"Put it in a directory and pass --data-dir DIR (or set NUMCNN_DATA_DIR). Received: {'; '.join(errors)}")


def _check_md5(path) -> None:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != CIFAR10["md5"]:
        raise DataError(f"{path}: checksum mismatch: the file is damaged or not CIFAR-10's binary version (its MD5 "
                        f"must be {CIFAR10['md5']}); move or delete it to download the right one. "
                        f"Received: {digest.hexdigest()}")


def load_cifar10(data_dir=None, download_missing=True, progress=True, splits=("train", "test")) -> Dataset:
    """CIFAR-10 (60,000 32x32 colour images of 10 classes) from its binary archive, read in place.

    Shape:
        x_train: (50000, 32, 32, 3) float32 in [0, 1]; y_train: (50000,) int64; test: 10,000.
    """
    path = _cifar_archive(data_dir, download_missing, progress)
    arrays = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            meta = archive.extractfile(CIFAR10["meta"])
            names = tuple(line.strip() for line in meta.read().decode("ascii").splitlines() if line.strip())
            for split in ("train", "test"):
                records = [np.zeros((0, _CIFAR_RECORD), np.uint8)]
                for member in CIFAR10["members"][split] if split in splits else ():
                    raw = archive.extractfile(member).read()
                    if len(raw) % _CIFAR_RECORD:
                        raise DataError(f"{path}: {member} is truncated: {len(raw)} bytes is not a whole number of "
                                        f"{_CIFAR_RECORD}-byte records. Received: {len(raw)} bytes")
                    records.append(np.frombuffer(raw, np.uint8).reshape(-1, _CIFAR_RECORD))
                table = np.concatenate(records)
                arrays[split] = ((table[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1) / np.float32(255)),
                                 table[:, 0].astype(np.int64))
    except KeyError as e:
        raise DataError(f"{path}: the archive has no member {e}: not CIFAR-10's binary version. "
                        f"Received: an archive without {e}") from None
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable CIFAR-10 archive ({e}). Received: {type(e).__name__}") from None
    if len(names) != 10:
        raise DataError(f"{path}: {CIFAR10['meta']} must name 10 classes. Received: {len(names)} names")
    for split, (_, y) in arrays.items():
        if y.size and y.max() >= 10:
            raise DataError(f"{path}: the {split} labels must be 0-9. Received: a label {int(y.max())}")
    return Dataset("cifar10", *arrays["train"], *arrays["test"], names, 255.0,
                   os.path.dirname(os.path.abspath(path)), DATASET_PREPROCESSING["cifar10"])


def load_dataset(name, data_dir=None, download_missing=True, progress=True, splits=("train", "test")) -> Dataset:
    """Any data set by name: ``"digits"``, ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"`` (``splits``:
    see :func:`load_idx_dataset`)."""
    if name == "digits":
        return load_digits()
    if name == "cifar10":
        return load_cifar10(data_dir, download_missing, progress, splits)
    if name in _SOURCES:
        return load_idx_dataset(name, data_dir, download_missing, progress, splits)
    raise ValueError(f"Unknown data set: allowed are {list(DATASET_NAMES)}. Received: {_short(name)}")
