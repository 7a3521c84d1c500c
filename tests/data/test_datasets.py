"""Data sets: MNIST from IDX files (lookup order, checksums, downloads from a local mirror), digits.

No test touches the network or the user's cache: every test runs with ``NUMCNN_DATA_DIR``
unset, the platformdirs cache dir in ``tmp_path``, and ``urlopen`` refusing all but ``file://``.
The lookup and download tests use tiny hand-made MNIST files whose checksums are patched
in; the checksum tests use the real files and the real digests.
"""

import gzip
import hashlib
import os
import urllib.error
import urllib.request

import numpy as np
import platformdirs
import pytest
from _mnist_files import STEMS, idx_bytes, mnist_dir

from numcnn.data import (
    DATASET_NAMES,
    DataError,
    dataset_files,
    download,
    load_dataset,
    load_digits,
    load_idx_dataset,
    verify_file,
)
from numcnn.data import datasets as datasets_module

_real_urlopen = urllib.request.urlopen


def _local_urlopen(url, *args, **kwargs):
    if not str(getattr(url, "full_url", url)).startswith("file:"):
        raise urllib.error.URLError(f"the tests never touch the network (asked for {url})")
    return _real_urlopen(url, *args, **kwargs)


def _isolate(mp, cache):
    mp.delenv("NUMCNN_DATA_DIR", raising=False)
    mp.setattr(platformdirs, "user_cache_dir", lambda *args, **kwargs: str(cache))
    mp.setattr(urllib.request, "urlopen", _local_urlopen)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """The user cache dir, in tmp_path (``<cache>/datasets/<name>/`` is where the loader looks)."""
    cache = tmp_path / "user-cache"
    _isolate(monkeypatch, cache)
    return cache / "datasets"


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, tmp_path_factory.mktemp("module-cache"))
        return load_idx_dataset("mnist", mnist_dir(), download_missing=False, progress=False)


def _files_in(directory):
    """Every file under ``directory``, relative, sorted (temporary files included)."""
    return sorted(os.path.relpath(os.path.join(root, f), directory)
                  for root, _, files in os.walk(directory) for f in files)


# -- tiny hand-made MNIST, its checksums patched in --------------------------------------------

_TINY = {
    "train-images-idx3-ubyte": np.arange(3 * 28 * 28).reshape(3, 28, 28).astype(np.uint8),
    "train-labels-idx1-ubyte": np.array([7, 0, 9], np.uint8),
    "t10k-images-idx3-ubyte": np.full((2, 28, 28), 255, np.uint8),
    "t10k-labels-idx1-ubyte": np.array([3, 5], np.uint8),
}


@pytest.fixture
def tiny(monkeypatch):
    """The bytes of four tiny MNIST files; the loader's MNIST checksums are theirs for this test."""
    raw = {stem: idx_bytes(array) for stem, array in _TINY.items()}
    checksums = {stem: ("sha256", hashlib.sha256(data).hexdigest()) for stem, data in raw.items()}
    monkeypatch.setitem(datasets_module._SOURCES["mnist"], "checksums", checksums)
    return raw


def _put(raw, directory, layout="flat", compress=True, stems=STEMS):
    directory = directory / "mnist" if layout == "nested" else directory
    directory.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        name, data = (f"{stem}.gz", gzip.compress(raw[stem])) if compress else (stem, raw[stem])
        (directory / name).write_bytes(data)
    return directory


def _dirs_of(files):
    return {os.path.dirname(path) for path, _ in files.values()}


# -- lookup order ------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["flat", "nested"])
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_files_are_found_in_both_layouts_gzipped_or_not(tiny, tmp_path, layout, compress):
    where = _put(tiny, tmp_path / "data", layout, compress)
    files = dataset_files("mnist", tmp_path / "data", download_missing=False, progress=False)
    assert sorted(files) == ["test_images", "test_labels", "train_images", "train_labels"]
    for part, stem in [("train_images", STEMS[0]), ("train_labels", STEMS[1]),
                       ("test_images", STEMS[2]), ("test_labels", STEMS[3])]:
        path, data = files[part]
        assert path == os.path.join(str(where), f"{stem}.gz" if compress else stem)
        assert data == tiny[stem]  # the uncompressed bytes


def test_data_dir_comes_before_the_env_var_and_the_env_var_before_the_cache(tiny, tmp_path, monkeypatch, isolated):
    data_dir, env_dir = tmp_path / "data", tmp_path / "env"
    for d in (data_dir, env_dir, isolated):
        _put(tiny, d)
    monkeypatch.setenv("NUMCNN_DATA_DIR", str(env_dir))
    assert _dirs_of(dataset_files("mnist", data_dir, download_missing=False)) == {str(data_dir)}
    assert _dirs_of(dataset_files("mnist", None, download_missing=False)) == {str(env_dir)}
    monkeypatch.delenv("NUMCNN_DATA_DIR")
    assert _dirs_of(dataset_files("mnist", None, download_missing=False)) == {str(isolated)}


def test_the_cache_dir_is_searched_in_both_layouts(tiny, isolated):
    _put(tiny, isolated, "nested", compress=False)
    assert _dirs_of(dataset_files("mnist", download_missing=False)) == {str(isolated / "mnist")}


def test_a_place_earlier_in_the_order_wins_over_the_layout(tiny, tmp_path, monkeypatch):
    # data_dir/mnist/<file> beats NUMCNN_DATA_DIR/<file>
    data_dir, env_dir = tmp_path / "data", tmp_path / "env"
    _put(tiny, data_dir, "nested")
    _put(tiny, env_dir, "flat")
    monkeypatch.setenv("NUMCNN_DATA_DIR", str(env_dir))
    assert _dirs_of(dataset_files("mnist", data_dir, download_missing=False)) == {str(data_dir / "mnist")}


def test_each_file_is_looked_up_on_its_own(tiny, tmp_path, monkeypatch, isolated):
    data_dir, env_dir = tmp_path / "data", tmp_path / "env"
    _put(tiny, data_dir, stems=STEMS[:1])
    _put(tiny, env_dir, "nested", stems=STEMS[1:2])
    _put(tiny, isolated, stems=STEMS[2:])
    monkeypatch.setenv("NUMCNN_DATA_DIR", str(env_dir))
    files = dataset_files("mnist", data_dir, download_missing=False)
    assert os.path.dirname(files["train_images"][0]) == str(data_dir)
    assert os.path.dirname(files["train_labels"][0]) == str(env_dir / "mnist")
    assert os.path.dirname(files["test_images"][0]) == str(isolated)
    assert os.path.dirname(files["test_labels"][0]) == str(isolated)


def test_missing_files_without_download_list_every_place_looked(tiny, tmp_path, monkeypatch, isolated):
    data_dir, env_dir = tmp_path / "data", tmp_path / "env"
    data_dir.mkdir()
    _put(tiny, data_dir, stems=STEMS[:2])  # the test files are missing
    monkeypatch.setenv("NUMCNN_DATA_DIR", str(env_dir))
    with pytest.raises(DataError, match="Received") as info:
        load_idx_dataset("mnist", data_dir, download_missing=False)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message
    for place in (data_dir, data_dir / "mnist", env_dir, env_dir / "mnist", isolated, isolated / "mnist"):
        assert repr(str(place)) in message
    assert "--data-dir" in message and "NUMCNN_DATA_DIR" in message
    assert _files_in(data_dir) == sorted(f"{s}.gz" for s in STEMS[:2])  # nothing downloaded


def test_data_dir_must_exist(tmp_path):
    with pytest.raises(DataError, match="data_dir") as info:
        dataset_files("mnist", tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)


def test_unknown_name_for_the_idx_loader():
    with pytest.raises(ValueError, match="Received: name='digits'"):
        dataset_files("digits")


# -- what the tiny files load as ---------------------------------------------------------------

def test_tiny_files_load_as_scaled_float32_and_int64(tiny, tmp_path):
    _put(tiny, tmp_path)
    ds = load_dataset("mnist", tmp_path, download_missing=False)
    assert ds.name == "mnist" and ds.pixel_scale == 255.0 and ds.input_shape == (28, 28, 1) and ds.classes == 10
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train[..., 0], _TINY["train-images-idx3-ubyte"].astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.x_test, np.ones((2, 28, 28, 1), np.float32))
    np.testing.assert_array_equal(ds.y_train, [7, 0, 9])
    np.testing.assert_array_equal(ds.y_test, [3, 5])
    assert repr(ds) == "Dataset('mnist', train=(3, 28, 28, 1), test=(2, 28, 28, 1), classes=10)"


def test_fashion_mnist_with_md5_of_the_gzipped_files(tmp_path, monkeypatch):
    gz = {stem: gzip.compress(idx_bytes(array), mtime=0) for stem, array in _TINY.items()}
    monkeypatch.setitem(datasets_module._SOURCES["fashion-mnist"], "checksums",
                        {stem: ("md5-gz", hashlib.md5(data).hexdigest()) for stem, data in gz.items()})
    (tmp_path / "fashion-mnist").mkdir()
    for stem, data in gz.items():
        (tmp_path / "fashion-mnist" / f"{stem}.gz").write_bytes(data)
    ds = load_dataset("fashion-mnist", tmp_path, download_missing=False)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    np.testing.assert_array_equal(ds.y_test, [3, 5])
    # the same bytes, compressed differently, have another MD5: rejected
    (tmp_path / "fashion-mnist" / f"{STEMS[3]}.gz").write_bytes(gzip.compress(idx_bytes(_TINY[STEMS[3]]), 9, mtime=1))
    with pytest.raises(DataError, match="checksum"):
        load_dataset("fashion-mnist", tmp_path, download_missing=False)


def test_labels_that_do_not_match_the_images_are_a_data_error(tiny, tmp_path, monkeypatch):
    bad = dict(tiny, **{STEMS[1]: idx_bytes(np.array([1, 2], np.uint8))})  # 3 images, 2 labels
    monkeypatch.setitem(datasets_module._SOURCES["mnist"], "checksums",
                        {stem: ("sha256", hashlib.sha256(data).hexdigest()) for stem, data in bad.items()})
    _put(bad, tmp_path)
    with pytest.raises(DataError, match="one label each") as info:
        load_idx_dataset("mnist", tmp_path, download_missing=False)
    assert str(tmp_path / f"{STEMS[0]}.gz") in str(info.value)


def test_images_that_are_not_uint8_are_a_data_error(tiny, tmp_path, monkeypatch):
    bad = dict(tiny, **{STEMS[2]: idx_bytes(np.zeros((2, 28, 28), ">f4"))})
    monkeypatch.setitem(datasets_module._SOURCES["mnist"], "checksums",
                        {stem: ("sha256", hashlib.sha256(data).hexdigest()) for stem, data in bad.items()})
    _put(bad, tmp_path)
    with pytest.raises(DataError, match="uint8"):
        load_idx_dataset("mnist", tmp_path, download_missing=False)


def test_a_file_with_the_right_checksum_but_a_bad_idx_header_is_a_data_error(tiny, tmp_path, monkeypatch):
    bad = dict(tiny, **{STEMS[3]: tiny[STEMS[3]] + b"\x00"})  # trailing byte
    monkeypatch.setitem(datasets_module._SOURCES["mnist"], "checksums",
                        {stem: ("sha256", hashlib.sha256(data).hexdigest()) for stem, data in bad.items()})
    _put(bad, tmp_path)
    with pytest.raises(DataError, match="trailing bytes") as info:
        load_idx_dataset("mnist", tmp_path, download_missing=False)
    assert str(tmp_path / f"{STEMS[3]}.gz") in str(info.value)


# -- verify_file -------------------------------------------------------------------------------

def test_verify_file_returns_the_uncompressed_bytes(tmp_path):
    data = idx_bytes(np.array([1, 2, 3], np.uint8))
    raw, gz = tmp_path / "a", tmp_path / "a.gz"
    raw.write_bytes(data)
    gz.write_bytes(gzip.compress(data))
    sha = hashlib.sha256(data).hexdigest()
    assert verify_file(raw, "sha256", sha) == data
    assert verify_file(gz, "sha256", sha) == data
    assert verify_file(gz, "md5-gz", hashlib.md5(gz.read_bytes()).hexdigest()) == data
    with pytest.raises(DataError, match="checksum") as info:
        verify_file(gz, "md5-gz", hashlib.md5(data).hexdigest())  # the MD5 of the wrong bytes
    assert str(gz) in str(info.value) and "Received: " + hashlib.md5(gz.read_bytes()).hexdigest() in str(info.value)


def test_verify_file_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="Received") as info:
        verify_file(tmp_path / "missing.gz", "sha256", "0" * 64)
    assert str(tmp_path / "missing.gz") in str(info.value)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")[:-5])
    with pytest.raises(DataError, match="gzip") as info:
        verify_file(broken, "sha256", "0" * 64)
    assert str(broken) in str(info.value)


# -- the real MNIST files ----------------------------------------------------------------------

def test_mnist_shapes_dtypes_and_range(mnist):
    assert mnist.x_train.shape == (60000, 28, 28, 1) and mnist.x_test.shape == (10000, 28, 28, 1)
    assert mnist.y_train.shape == (60000,) and mnist.y_test.shape == (10000,)
    assert mnist.x_train.dtype == np.float32 and mnist.x_test.dtype == np.float32
    assert mnist.y_train.dtype == np.int64 and mnist.y_test.dtype == np.int64
    assert mnist.x_train.min() == 0.0 and mnist.x_train.max() == 1.0
    assert mnist.x_test.min() == 0.0 and mnist.x_test.max() == 1.0
    assert mnist.pixel_scale == 255.0 and mnist.classes == 10 and mnist.input_shape == (28, 28, 1)
    assert mnist.class_names == tuple("0123456789")
    np.testing.assert_array_equal(mnist.y_train[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    np.testing.assert_array_equal(mnist.y_test[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])


def test_mnist_pixels_are_the_raw_bytes_over_255(mnist):
    raw = np.frombuffer(gzip.decompress((mnist_dir() / f"{STEMS[0]}.gz").read_bytes()), np.uint8, offset=16)
    raw = raw.reshape(60000, 28, 28)
    np.testing.assert_array_equal(mnist.x_train[0, :, :, 0], raw[0].astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(mnist.x_train[-1, :, :, 0], raw[-1].astype(np.float32) / np.float32(255))
    # every pixel is k/255 for a whole k
    k = mnist.x_train[:500] * 255
    np.testing.assert_allclose(k, np.round(k), atol=1e-4)


def test_load_dataset_by_name_reads_the_same_mnist(mnist, tmp_path):
    d = tmp_path / "nested"
    (d / "mnist").mkdir(parents=True)
    for stem in STEMS:
        os.symlink(mnist_dir() / f"{stem}.gz", d / "mnist" / f"{stem}.gz")
    ds = load_dataset("mnist", d, download_missing=False, progress=False)
    np.testing.assert_array_equal(ds.y_test, mnist.y_test)
    np.testing.assert_array_equal(ds.x_test, mnist.x_test)


def _real_copies(directory, stems=STEMS):
    directory.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        os.symlink(mnist_dir() / f"{stem}.gz", directory / f"{stem}.gz")
    return directory


def _one_byte_changed(stem, index=-1):
    data = bytearray(gzip.decompress((mnist_dir() / f"{stem}.gz").read_bytes()))
    data[index] = (data[index] + 1) % 256  # a label 4 becomes 5: the file still parses
    return bytes(data)


def test_a_modified_real_file_fails_its_checksum(tmp_path):
    data_dir = _real_copies(tmp_path / "data", [s for s in STEMS if s != STEMS[1]])
    (data_dir / f"{STEMS[1]}.gz").write_bytes(gzip.compress(_one_byte_changed(STEMS[1])))
    with pytest.raises(DataError, match="checksum") as info:
        load_idx_dataset("mnist", data_dir, download_missing=False, progress=False)
    message = str(info.value)
    assert str(data_dir / f"{STEMS[1]}.gz") in message
    assert "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5" in message  # the expected digest


def test_an_uncompressed_real_file_passes_the_same_checksum(tmp_path):
    data_dir = _real_copies(tmp_path / "data", STEMS[:3])
    (data_dir / STEMS[3]).write_bytes(gzip.decompress((mnist_dir() / f"{STEMS[3]}.gz").read_bytes()))
    files = dataset_files("mnist", data_dir, download_missing=False, progress=False)
    assert files["test_labels"][0] == str(data_dir / STEMS[3])
    assert files["test_labels"][1][8:18] == bytes([7, 2, 1, 0, 4, 1, 4, 9, 5, 9])


# -- downloads from a local mirror -------------------------------------------------------------

def _mirror(monkeypatch, *directories, name="mnist"):
    urls = tuple(d.as_uri() + "/" for d in directories)
    monkeypatch.setitem(datasets_module._SOURCES[name], "mirrors", urls)
    return urls


def test_download_of_the_real_files_from_a_mirror(mnist, tmp_path, monkeypatch):
    _mirror(monkeypatch, _real_copies(tmp_path / "mirror"))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    ds = load_idx_dataset("mnist", data_dir, progress=False)
    assert _files_in(data_dir) == sorted(f"{stem}.gz" for stem in STEMS)  # and no temporary file
    for stem in STEMS:
        assert not (data_dir / f"{stem}.gz").is_symlink()
        assert (data_dir / f"{stem}.gz").read_bytes() == (mnist_dir() / f"{stem}.gz").read_bytes()
    np.testing.assert_array_equal(ds.y_train, mnist.y_train)
    np.testing.assert_array_equal(ds.x_test, mnist.x_test)
    np.testing.assert_array_equal(ds.x_train[::997], mnist.x_train[::997])


def test_a_corrupted_real_file_on_the_mirror_is_rejected_and_removed(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / f"{STEMS[1]}.gz").write_bytes(gzip.compress(_one_byte_changed(STEMS[1], index=100)))
    _mirror(monkeypatch, mirror)
    data_dir = _real_copies(tmp_path / "data", STEMS[:1])
    with pytest.raises(DataError) as info:
        load_idx_dataset("mnist", data_dir, progress=False)
    message = str(info.value)
    assert "checksum" in message and mirror.as_uri() in message and f"{STEMS[1]}.gz" in message
    assert _files_in(data_dir) == [f"{STEMS[0]}.gz"]  # no bad file, no temporary file


def test_download_goes_to_the_cache_dir_without_data_dir(tiny, tmp_path, monkeypatch, isolated):
    _mirror(monkeypatch, _put(tiny, tmp_path / "mirror"))
    ds = load_idx_dataset("mnist", progress=False)
    np.testing.assert_array_equal(ds.y_train, [7, 0, 9])
    assert _files_in(isolated) == sorted(os.path.join("mnist", f"{stem}.gz") for stem in STEMS)


def test_the_next_mirror_is_tried_when_one_fails(tiny, tmp_path, monkeypatch):
    _mirror(monkeypatch, tmp_path / "no-such-mirror", _put(tiny, tmp_path / "mirror"))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    ds = load_idx_dataset("mnist", data_dir, progress=False)
    np.testing.assert_array_equal(ds.y_test, [3, 5])
    assert _files_in(data_dir) == sorted(f"{stem}.gz" for stem in STEMS)


def test_garbage_on_every_mirror_leaves_nothing_behind(tiny, tmp_path, monkeypatch):
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / f"{STEMS[0]}.gz").write_bytes(b"\x1f\x8b<html>not found</html>")
    bad_gz = tmp_path / "bad-gz"
    _put({STEMS[0]: tiny[STEMS[0]][:-1]}, bad_gz, stems=STEMS[:1])  # a truncated IDX, gzipped
    urls = _mirror(monkeypatch, garbage, bad_gz)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(DataError, match="Received") as info:
        load_idx_dataset("mnist", data_dir, progress=False)
    assert urls[0] in str(info.value) and urls[1] in str(info.value)
    assert "gzip" in str(info.value) and "checksum" in str(info.value)
    assert _files_in(data_dir) == []


def test_no_network_says_how_to_point_at_local_files(tmp_path, monkeypatch, isolated):
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for where in (data_dir, None):
        with pytest.raises(DataError, match="Received") as info:
            load_idx_dataset("mnist", where, progress=False)
        message = str(info.value)
        assert "--data-dir" in message and "NUMCNN_DATA_DIR" in message
        assert "could not be downloaded" in message and "name resolution" in message
        for url in datasets_module._SOURCES["mnist"]["mirrors"]:  # the real mirrors, never reached
            assert url in message
    assert _files_in(data_dir) == [] and _files_in(isolated.parent) == []


def test_download_writes_through_a_temporary_file(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 1000)
    target = tmp_path / "out" / "new" / "file.bin"  # directories are created
    download(source.as_uri(), target, progress=False)
    assert target.read_bytes() == source.read_bytes()
    assert _files_in(target.parent) == ["file.bin"]
    with pytest.raises(urllib.error.URLError):
        download((tmp_path / "missing.bin").as_uri(), tmp_path / "out" / "missing.bin", progress=False)
    assert _files_in(tmp_path / "out") == [os.path.join("new", "file.bin")]


# -- digits ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sklearn_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = datasets.load_digits()
    return bunch.images, bunch.target


def _sorted_rows(x, y):
    table = np.column_stack([np.asarray(x, np.float64).reshape(len(y), -1), y])
    return table[np.lexsort(table.T[::-1])]


def test_digits_sizes_types_and_range():
    ds = load_digits()
    assert ds.x_train.shape == (1438, 8, 8, 1) and ds.x_test.shape == (359, 8, 8, 1)
    assert ds.y_train.shape == (1438,) and ds.y_test.shape == (359,)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert ds.pixel_scale == 16.0 and ds.input_shape == (8, 8, 1) and ds.classes == 10
    assert set(ds.y_test.tolist()) == set(range(10))


def test_digits_are_sklearns_images_over_16_split_into_disjoint_parts(sklearn_digits):
    images, target = sklearn_digits
    ds = load_digits()
    # train + test is exactly scikit-learn's set (all 1797 rows are distinct), so the parts are disjoint
    both = _sorted_rows(np.concatenate([ds.x_train, ds.x_test]), np.concatenate([ds.y_train, ds.y_test]))
    np.testing.assert_array_equal(both, _sorted_rows(images / 16.0, target))
    train_rows = {row.tobytes() for row in ds.x_train.reshape(len(ds.x_train), -1)}
    test_rows = {row.tobytes() for row in ds.x_test.reshape(len(ds.x_test), -1)}
    assert len(train_rows) == 1438 and len(test_rows) == 359 and not train_rows & test_rows
    # each image keeps its own label
    index = {(images[i] / 16.0).astype(np.float32).tobytes(): target[i] for i in range(len(target))}
    assert [index[x.tobytes()] for x in ds.x_test[..., 0]] == ds.y_test.tolist()


def test_digits_split_is_deterministic_and_follows_split_seed():
    a, b, c = load_digits(), load_digits(), load_digits(split_seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_test, c.y_test)
    # another split of the same images
    np.testing.assert_array_equal(
        _sorted_rows(np.concatenate([a.x_train, a.x_test]), np.concatenate([a.y_train, a.y_test])),
        _sorted_rows(np.concatenate([c.x_train, c.x_test]), np.concatenate([c.y_train, c.y_test])))
    half = load_digits(test_fraction=0.5)
    assert len(half.y_test) == 898 and len(half.y_train) == 899  # round(898.5) is 898


def test_digits_ship_inside_numcnn_with_their_licence_and_never_import_scikit_learn():
    import importlib.resources
    import subprocess
    import sys

    data = importlib.resources.files("numcnn.data")
    assert (data / "digits.csv.gz").is_file()
    licence = (data / "digits.LICENSE.txt").read_text(encoding="utf-8")
    assert "BSD 3-Clause License" in licence and "scikit-learn developers" in licence and "UCI" in licence
    code = ("import sys; from numcnn.data import load_digits; d = load_digits(); "
            "print(len(d.y_train), any(m.split('.')[0] in ('sklearn', 'scipy') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1438", "False"]


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan")])
def test_digits_test_fraction_out_of_range(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=fraction)


def test_load_dataset_digits_and_unknown_names():
    ds = load_dataset("digits")
    assert ds.name == "digits" and len(ds.y_train) == 1438
    assert DATASET_NAMES == ("digits", "mnist", "fashion-mnist", "cifar10")
    for bad in ("cifar", "MNIST", ""):
        with pytest.raises(ValueError, match="Received") as info:
            load_dataset(bad)
        assert repr(bad) in str(info.value) and "'fashion-mnist'" in str(info.value)


def test_a_dataset_folder_wins_over_flat_files_of_another_data_set(tiny, tmp_path):
    # flat files with MNIST's names but other contents beside a nested mnist/ folder: the folder is used
    other = {stem: idx_bytes(np.zeros_like(_TINY[stem])) for stem in STEMS}
    _put(other, tmp_path, "flat")
    _put(tiny, tmp_path, "nested")
    files = dataset_files("mnist", tmp_path, download_missing=False)
    assert _dirs_of(files) == {str(tmp_path / "mnist")}


def test_a_file_with_a_wrong_checksum_is_skipped_for_a_good_one_later_in_the_order(tiny, tmp_path):
    other = {stem: idx_bytes(np.zeros_like(_TINY[stem])) for stem in STEMS}
    _put(other, tmp_path, "nested")  # looked at first, wrong checksum
    _put(tiny, tmp_path, "flat")
    files = dataset_files("mnist", tmp_path, download_missing=False)
    assert _dirs_of(files) == {str(tmp_path)}
    assert all(raw == tiny[stem] for stem, (_, raw) in zip(STEMS, files.values()))


def test_an_uncompressed_fashion_file_is_not_checked_against_the_md5_of_the_gzip(tmp_path, monkeypatch):
    gz = {stem: gzip.compress(idx_bytes(array), mtime=0) for stem, array in _TINY.items()}
    monkeypatch.setitem(datasets_module._SOURCES["fashion-mnist"], "checksums",
                        {stem: ("md5-gz", hashlib.md5(data).hexdigest()) for stem, data in gz.items()})
    for stem, data in gz.items():
        (tmp_path / f"{stem}.gz").write_bytes(data)
        (tmp_path / stem).write_bytes(gzip.decompress(data))  # a gunzipped copy beside it is ignored
    files = dataset_files("fashion-mnist", tmp_path, download_missing=False)
    assert all(path.endswith(".gz") for path, _ in files.values())
    for stem in STEMS:  # only gunzipped copies: their MD5 cannot be checked, so they are not found
        (tmp_path / f"{stem}.gz").unlink()
    with pytest.raises(DataError, match="not found"):
        dataset_files("fashion-mnist", tmp_path, download_missing=False)
