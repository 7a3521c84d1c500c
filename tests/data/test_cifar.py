"""CIFAR-10 from its binary archive: records decoded to known pixels, the MD5 table (replaced here by
one for files made in the test), downloads through a mirror, damaged archives, and numcnn train."""

import hashlib
import io
import json
import tarfile

import numpy as np
import pytest

from numcnn.app.cli import main
from numcnn.data import DataError, load_dataset
from numcnn.data import datasets

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def records(n, seed):
    """n CIFAR records: (labels, images (n, 32, 32, 3) uint8) and their bytes."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
    table = np.concatenate([labels[:, None], images.transpose(0, 3, 1, 2).reshape(n, -1)], axis=1)
    return labels, images, table.tobytes()


def make_archive(path, per_batch=4, meta="\n".join(NAMES) + "\n\n", cut=None, drop=None):
    """A cifar-10-binary.tar.gz of the real layout with small batches; returns labels and images."""
    parts = {"train": [], "test": []}
    with tarfile.open(path, "w:gz") as archive:
        def add(name, data):
            if name == drop:
                return
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for k, name in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
            labels, images, data = records(per_batch, k)
            parts["test" if name == "test_batch.bin" else "train"].append((labels, images))
            add(name, data[:cut] if cut and k == 0 else data)
        add("batches.meta.txt", meta.encode())
    return {split: tuple(np.concatenate(a) for a in zip(*p)) for split, p in parts.items()}


@pytest.fixture
def archive(tmp_path, monkeypatch):
    path = tmp_path / "data" / "cifar-10-binary.tar.gz"
    path.parent.mkdir()
    expected = make_archive(path)
    monkeypatch.setitem(datasets.CIFAR10, "md5", hashlib.md5(path.read_bytes()).hexdigest())
    monkeypatch.delenv("NUMCNN_DATA_DIR", raising=False)
    return path, expected


def test_records_become_channels_last_images_in_the_unit_interval(archive):
    path, expected = archive
    data = load_dataset("cifar10", path.parent, download_missing=False)
    assert data.x_train.shape == (20, 32, 32, 3) and data.x_test.shape == (4, 32, 32, 3)
    assert data.x_train.dtype == np.float32 and data.class_names == tuple(NAMES)
    np.testing.assert_array_equal(data.y_train, expected["train"][0])
    np.testing.assert_array_equal(data.x_train, expected["train"][1] / np.float32(255))
    np.testing.assert_array_equal(data.x_test, expected["test"][1] / np.float32(255))
    assert data.preprocessing.size == (32, 32) and data.preprocessing.channels == 3
    only_test = load_dataset("cifar10", path.parent, download_missing=False, splits=("test",))
    assert len(only_test.y_train) == 0 and len(only_test.y_test) == 4


def test_the_real_digest_is_the_published_one():
    assert datasets.CIFAR10["md5"] == "c32a1d4ab5d03f1284b67883e8d87530"


def test_a_wrong_checksum_is_refused_naming_both_digests(archive, monkeypatch):
    path, _ = archive
    monkeypatch.setitem(datasets.CIFAR10, "md5", "0" * 32)
    with pytest.raises(DataError, match="checksum mismatch") as info:
        load_dataset("cifar10", path.parent, download_missing=False)
    assert "0" * 32 in str(info.value) and hashlib.md5(path.read_bytes()).hexdigest() in str(info.value)


def test_it_is_downloaded_from_a_mirror_into_data_dir(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    expected = make_archive(mirror / "cifar-10-binary.tar.gz")
    monkeypatch.setitem(datasets.CIFAR10, "md5", hashlib.md5((mirror / "cifar-10-binary.tar.gz").read_bytes()).hexdigest())
    monkeypatch.setitem(datasets.CIFAR10, "mirrors", ("file:///nowhere/", mirror.as_uri() + "/"))
    monkeypatch.delenv("NUMCNN_DATA_DIR", raising=False)
    target = tmp_path / "target"
    target.mkdir()
    data = load_dataset("cifar10", target, progress=False)
    assert (target / "cifar-10-binary.tar.gz").is_file()
    np.testing.assert_array_equal(data.y_test, expected["test"][0])
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setitem(datasets.CIFAR10, "mirrors", ("file:///nowhere/",))
    with pytest.raises(DataError, match="could not be downloaded"):
        load_dataset("cifar10", empty, progress=False)
    assert list(empty.iterdir()) == []  # nothing half-written left


@pytest.mark.parametrize("kwargs, message", [
    (dict(cut=3073 * 2 + 100), "truncated"),
    (dict(drop="test_batch.bin"), "no member"),
    (dict(meta="a\nb\n"), "must name 10 classes"),
])
def test_damaged_archives_get_a_clear_error(tmp_path, monkeypatch, kwargs, message):
    path = tmp_path / "cifar-10-binary.tar.gz"
    make_archive(path, **kwargs)
    monkeypatch.setitem(datasets.CIFAR10, "md5", hashlib.md5(path.read_bytes()).hexdigest())
    with pytest.raises(DataError, match=message):
        load_dataset("cifar10", tmp_path, download_missing=False)


def test_numcnn_train_on_cifar10(archive, tmp_path, capsys):
    path, _ = archive
    run = tmp_path / "run"
    assert main(["train", "--dataset", "cifar10", "--data-dir", str(path.parent), "--epochs", "1", "--out", str(run),
                 "--progress", "quiet", "--validation-split", "0"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"]["input_shape"] == [32, 32, 3] and config["dataset"]["class_names"] == NAMES
    assert main(["evaluate", str(run)]) == 0
    assert "cifar10 test set, 4 images" in capsys.readouterr().out
