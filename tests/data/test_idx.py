"""IDX reader: known values on hand-made files, the real MNIST files, and every way a file can be wrong."""

import gzip
import struct

import numpy as np
import pytest
from _mnist_files import idx_bytes, mnist_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numcnn.data import read_idx, read_idx_bytes


def _write(path, data, compress=False):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# -- known values ------------------------------------------------------------------------------

def test_uint8_images_written_byte_by_byte():
    # 2 images of 2x3: magic 00 00 08 03, dims 2, 2, 3, then the pixels row by row
    data = bytes([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(0, 240, 20))
    x = read_idx_bytes(data)
    assert x.dtype == np.uint8 and x.shape == (2, 2, 3)
    np.testing.assert_array_equal(x, [[[0, 20, 40], [60, 80, 100]], [[120, 140, 160], [180, 200, 220]]])


def test_labels_written_byte_by_byte():
    data = bytes([0, 0, 0x08, 1, 0, 0, 0, 5, 7, 2, 1, 0, 255])
    y = read_idx_bytes(data)
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y, [7, 2, 1, 0, 255])


def test_big_endian_int32_and_float32_come_out_native():
    int32 = bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + bytes.fromhex("fffffffe 00011170")
    y = read_idx_bytes(int32)
    np.testing.assert_array_equal(y, [-2, 70000])
    assert y.dtype == np.int32 and y.dtype.isnative
    float32 = bytes([0, 0, 0x0D, 2, 0, 0, 0, 1, 0, 0, 0, 2]) + bytes.fromhex("3fc00000 be800000")
    z = read_idx_bytes(float32)
    np.testing.assert_array_equal(z, [[1.5, -0.25]])
    assert z.dtype == np.float32 and z.dtype.isnative


@pytest.mark.parametrize("dtype, values", [
    (np.uint8, [[0, 1], [254, 255]]),
    (np.int8, [[-128, -1], [0, 127]]),
    (">i2", [[-32768, 2], [300, 32767]]),
    (">i4", [[-(2 ** 31), 2], [70000, 2 ** 31 - 1]]),
    (">f4", [[0.5, -1e30], [3.25, np.inf]]),
    (">f8", [[1e-300, -2.0], [np.pi, 0.0]]),
])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_every_type_code_from_a_file(tmp_path, dtype, values, compress):
    expected = np.array(values, dtype=dtype)
    path = _write(tmp_path / "a-idx2", idx_bytes(expected), compress)
    x = read_idx(path)
    assert x.dtype == expected.dtype.newbyteorder("=") and x.dtype.isnative
    np.testing.assert_array_equal(x, expected)


def test_gzip_is_detected_by_content_not_by_name(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    path = _write(tmp_path / "labels.idx", idx_bytes(labels), compress=True)  # no .gz suffix
    np.testing.assert_array_equal(read_idx(str(path)), labels)


def test_a_dimension_of_size_zero_is_an_empty_array():
    x = read_idx_bytes(idx_bytes(np.zeros((0, 28, 28), np.uint8)))
    assert x.shape == (0, 28, 28) and x.dtype == np.uint8


def test_result_is_writable_and_does_not_share_the_bytes():
    data = bytearray(idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3)))
    x = read_idx_bytes(bytes(data))
    x[0, 0] = 99  # a read-only view of the bytes would raise here
    assert x[0, 0] == 99


# -- the real MNIST files ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_raw():
    d = mnist_dir()
    return {name: read_idx(d / f"{stem}.gz") for name, stem in [
        ("train_images", "train-images-idx3-ubyte"), ("train_labels", "train-labels-idx1-ubyte"),
        ("test_images", "t10k-images-idx3-ubyte"), ("test_labels", "t10k-labels-idx1-ubyte")]}


def test_mnist_shapes_and_dtypes(mnist_raw):
    assert mnist_raw["train_images"].shape == (60000, 28, 28)
    assert mnist_raw["test_images"].shape == (10000, 28, 28)
    assert mnist_raw["train_labels"].shape == (60000,)
    assert mnist_raw["test_labels"].shape == (10000,)
    for array in mnist_raw.values():
        assert array.dtype == np.uint8
    assert mnist_raw["train_images"].min() == 0 and mnist_raw["train_images"].max() == 255


def test_mnist_first_labels_and_class_counts(mnist_raw):
    np.testing.assert_array_equal(mnist_raw["train_labels"][:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    np.testing.assert_array_equal(mnist_raw["test_labels"][:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    np.testing.assert_array_equal(np.bincount(mnist_raw["train_labels"]),
                                  [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    np.testing.assert_array_equal(np.bincount(mnist_raw["test_labels"]),
                                  [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


def test_mnist_first_image_is_centred_with_a_black_border(mnist_raw):
    # MNIST puts each digit's 20x20 box in the middle of 28x28: the outer rows and columns are 0
    first = mnist_raw["train_images"][0]
    assert first[:2].max() == 0 and first[-2:].max() == 0 and first[:, :2].max() == 0 and first[:, -2:].max() == 0
    assert first.sum() == 27525  # the "5" of train[0]


# -- bad files ---------------------------------------------------------------------------------

_GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
_BAD_FILES = {
    "wrong magic": (b"\x01\x00" + _GOOD[2:], "magic"),
    "wrong magic second byte": (b"\x00\x01" + _GOOD[2:], "magic"),
    "unknown type code": (_GOOD[:2] + b"\x07" + _GOOD[3:], "type code"),
    "zero dims": (b"\x00\x00\x08\x00" + _GOOD[4:], "dimension"),
    "truncated header": (b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", "truncated IDX header"),
    "truncated data": (_GOOD[:-1], "truncated"),
    "trailing bytes": (_GOOD + b"\x00", "trailing bytes"),
    "short file": (b"\x00\x00", "only 2 bytes"),
    "empty file": (b"", "only 0 bytes"),
    "text": (b"hello, world\n", "magic"),
}


@pytest.mark.parametrize("case", sorted(_BAD_FILES))
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_bad_file_is_a_value_error_naming_the_file(tmp_path, case, compress):
    data, words = _BAD_FILES[case]
    path = _write(tmp_path / "bad-file-idx", data, compress)
    with pytest.raises(ValueError, match="Received") as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and words in message


@pytest.mark.parametrize("case", sorted(_BAD_FILES))
def test_bad_bytes_name_the_source(case):
    data, words = _BAD_FILES[case]
    with pytest.raises(ValueError, match="Received") as info:
        read_idx_bytes(data, source="my-labels.idx")
    assert str(info.value).startswith("my-labels.idx: ") and words in str(info.value)


@pytest.mark.parametrize("gz", [
    gzip.compress(_GOOD)[:-6],                           # cut inside the trailer
    gzip.compress(_GOOD)[:15],                           # cut inside the stream
    b"\x1f\x8b" + b"\x00" * 20,                          # gzip magic, garbage after it
    gzip.compress(_GOOD)[:12] + b"\xff" * 20,            # a broken deflate stream
], ids=["no-trailer", "cut-stream", "garbage-header", "bad-deflate"])
def test_corrupted_gzip_is_a_value_error_naming_the_file(tmp_path, gz):
    path = _write(tmp_path / "broken.gz", gz)
    with pytest.raises(ValueError, match="Received") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "gzip" in str(info.value)


def test_gzip_with_a_wrong_crc_is_rejected(tmp_path):
    gz = bytearray(gzip.compress(_GOOD))
    gz[-8] ^= 0xFF  # the CRC-32 of the trailer
    path = _write(tmp_path / "crc.gz", bytes(gz))
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_and_directory_are_value_errors_naming_them(tmp_path):
    missing = tmp_path / "nowhere-idx1-ubyte.gz"
    with pytest.raises(ValueError, match="Received") as info:
        read_idx(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(ValueError, match="Received") as info:
        read_idx(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_dimensions_whose_product_overflows_int64_name_the_file():
    data = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 2 ** 31, 2 ** 31, 4)  # 2**64 pixels, no data
    with pytest.raises(ValueError, match="Received") as info:
        read_idx_bytes(data, source="huge.idx")
    assert str(info.value).startswith("huge.idx: ")


def test_huge_dimensions_are_reported_as_truncated():
    data = bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2 ** 32 - 1, 2 ** 32 - 1)
    with pytest.raises(ValueError, match="truncated"):
        read_idx_bytes(data, source="huge.idx")


# -- fuzz: nothing but ValueError --------------------------------------------------------------

def _parse_or_value_error(data):
    try:
        x = read_idx_bytes(data, "fuzz")
    except ValueError as e:
        assert str(e).startswith("fuzz: ") and "Received" in str(e)
        return None
    # whatever parses is exactly header + data
    assert 4 + 4 * x.ndim + x.nbytes == len(data)
    return x


@given(st.binary(max_size=48))
def test_random_bytes_never_raise_anything_but_value_error(data):
    _parse_or_value_error(data)


@given(code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x0A, 0xFF]),
       dims=st.lists(st.integers(0, 4), min_size=0, max_size=4),
       body=st.binary(max_size=64))
def test_random_headers_with_small_dims_never_raise_anything_but_value_error(code, dims, body):
    data = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + body
    x = _parse_or_value_error(data)
    if x is not None:
        assert x.shape == tuple(dims)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=48), as_gzip=st.sampled_from(["raw", "gzip", "gzip-magic"]))
def test_random_files_never_raise_anything_but_value_error(tmp_path, data, as_gzip):
    content = {"raw": data, "gzip": gzip.compress(data), "gzip-magic": b"\x1f\x8b" + data}[as_gzip]
    path = _write(tmp_path / "fuzz-idx", content)
    try:
        read_idx(path)
    except ValueError as e:
        assert str(path) in str(e)
