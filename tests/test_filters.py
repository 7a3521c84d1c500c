"""Named kernels, ``apply_kernel`` (seed 000's sliding window) against a slow loop, ``to_display``, ``load_kernel``."""

import os

import numpy as np
import pytest

from numcnn import functional as F
from numcnn.filters import KERNELS, NORMALIZE, apply_kernel, get_kernel, load_kernel, to_display

SEED000 = np.arange(49, dtype=np.float32).reshape(7, 7)  # seed 000's 7x7 example image


def _slow_filter(image, kernel, strides, padding):
    """Seed 000's formula, one output pixel at a time: ``sum(img[i*s:i*s+kh, j*s:j*s+kw] * K)``.

    "same" padding is worked out here by the TensorFlow rule (output ceil(n / s); an odd total
    padding puts the extra zero after), not taken from numcnn.
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    pads = []
    for n, k in zip(image.shape, kernel.shape):
        if padding == "valid":
            pads.append((0, 0))
        else:
            out = -(-n // strides)
            total = max((out - 1) * strides + k - n, 0)
            pads.append((total // 2, total - total // 2))
    padded = np.pad(image, pads)
    out_h = (padded.shape[0] - kh) // strides + 1
    out_w = (padded.shape[1] - kw) // strides + 1
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = np.sum(padded[i * strides:i * strides + kh, j * strides:j * strides + kw] * kernel)
    return out


# -- the named kernels -------------------------------------------------------------------------------

EXPECTED_KERNELS = {
    "blur": np.ones((3, 3)) / 9,
    "box5": np.ones((5, 5)) / 25,
    "gaussian": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "sobel-x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel-y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "emboss": np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "edge": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
}


def test_every_named_kernel_is_tested_here():
    assert sorted(KERNELS) == sorted(EXPECTED_KERNELS)


@pytest.mark.parametrize("name", sorted(EXPECTED_KERNELS))
def test_named_kernel_known_values(name):
    kernel = get_kernel(name)
    assert kernel.dtype == np.float64
    np.testing.assert_allclose(kernel, EXPECTED_KERNELS[name], rtol=0, atol=1e-15)


def test_get_kernel_returns_a_copy():
    kernel = get_kernel("sharpen")
    kernel[1, 1] = 100.0
    assert KERNELS["sharpen"][1, 1] == 5.0 and get_kernel("sharpen")[1, 1] == 5.0


def test_get_kernel_rejects_an_unknown_name():
    with pytest.raises(ValueError, match=r"Unknown kernel: allowed are \[.*'blur'.*\]\. Received: 'sobel'"):
        get_kernel("sobel")


def test_get_kernel_rejects_an_unhashable_name_with_a_value_error():
    with pytest.raises(ValueError, match="Received"):
        get_kernel(["blur"])


# -- apply_kernel: known values ----------------------------------------------------------------------

def test_blur_on_seed000s_image_is_the_mean_of_each_3x3_window():
    out = apply_kernel(SEED000, get_kernel("blur"), padding="valid")
    # the window centred on (i + 1, j + 1) of arange(49) has mean 7 (i + 1) + (j + 1)
    expected = np.array([[8, 9, 10, 11, 12], [15, 16, 17, 18, 19], [22, 23, 24, 25, 26],
                         [29, 30, 31, 32, 33], [36, 37, 38, 39, 40]], dtype=np.float64)
    assert out.shape == (5, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_blur_same_padding_counts_the_zeros_in_the_corner():
    out = apply_kernel(SEED000, get_kernel("blur"), padding="same")
    assert out.shape == (7, 7)
    np.testing.assert_allclose(out[0, 0], (0 + 1 + 7 + 8) / 9, rtol=1e-6)  # 4 pixels and 5 zeros
    np.testing.assert_allclose(out[1:-1, 1:-1], apply_kernel(SEED000, get_kernel("blur"), padding="valid"))


def test_it_is_cross_correlation_not_convolution():
    image = np.arange(30, dtype=np.float32).reshape(5, 6)
    picks_top_left = np.zeros((3, 3))
    picks_top_left[0, 0] = 1.0  # a flipped (convolution) kernel would pick the bottom-right pixel
    out = apply_kernel(image, picks_top_left, padding="valid")
    np.testing.assert_array_equal(out, image[:3, :4])
    shift = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]], float)  # out[i, j] = image[i, j + 1]
    out = apply_kernel(image, shift, padding="same")
    np.testing.assert_array_equal(out[:, :-1], image[:, 1:])
    np.testing.assert_array_equal(out[:, -1], 0)


def test_sobel_x_sees_a_vertical_edge_and_not_a_horizontal_one():
    vertical = np.zeros((8, 8), np.float32)
    vertical[:, 4:] = 1.0  # dark left, light right
    horizontal = vertical.T.copy()
    response = apply_kernel(vertical, get_kernel("sobel-x"), padding="valid")
    # columns j..j+2 of the window straddle the edge for j = 2, 3: (1 + 2 + 1) * (1 - 0) = 4
    expected = np.zeros((6, 6))
    expected[:, 2:4] = 4.0
    np.testing.assert_array_equal(response, expected)
    np.testing.assert_array_equal(apply_kernel(horizontal, get_kernel("sobel-x"), padding="valid"), 0)
    np.testing.assert_array_equal(apply_kernel(horizontal, get_kernel("sobel-y"), padding="valid"), expected.T)
    np.testing.assert_array_equal(apply_kernel(vertical, get_kernel("sobel-y"), padding="valid"), 0)


def test_flat_regions_give_zero_for_zero_sum_kernels_and_the_value_for_unit_sum_ones():
    flat = np.full((6, 6), 0.25, np.float32)
    for name in ("sobel-x", "sobel-y", "laplacian", "edge"):
        np.testing.assert_allclose(apply_kernel(flat, get_kernel(name), padding="valid"), 0, atol=1e-7)
    for name in ("blur", "box5", "gaussian", "sharpen"):
        np.testing.assert_allclose(apply_kernel(flat, get_kernel(name), padding="valid"), 0.25, rtol=1e-6)
    np.testing.assert_allclose(apply_kernel(flat, get_kernel("emboss"), padding="valid"), 0.25, rtol=1e-6)


# -- apply_kernel: the fast path against the slow loop -------------------------------------------------

@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("shape,kernel_shape", [
    ((9, 11), (3, 3)), ((8, 7), (2, 3)), ((10, 10), (5, 5)), ((6, 9), (1, 4)),
])
def test_gray_image_matches_the_slow_loop_and_conv2d_reference(rng, shape, kernel_shape, strides, padding):
    image = rng.random(shape, dtype=np.float32)
    kernel = rng.standard_normal(kernel_shape)
    out = apply_kernel(image, kernel, strides, padding)
    slow = _slow_filter(image, kernel, strides, padding)
    assert out.shape == slow.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, slow, rtol=1e-5, atol=1e-5)
    pads = F.resolve_padding(padding, shape, kernel_shape, (strides, strides))
    reference = F.conv2d_reference(image[None, :, :, None], kernel[:, :, None, None].astype(np.float32),
                                   strides=(strides, strides), pads=pads)[0, :, :, 0]
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2])
def test_rgb_image_filters_each_channel_on_its_own(rng, strides, padding):
    image = rng.random((9, 12, 3), dtype=np.float32)
    kernel = rng.standard_normal((3, 4))
    out = apply_kernel(image, kernel, strides, padding)
    assert out.ndim == 3 and out.shape[-1] == 3 and out.dtype == np.float32
    for c in range(3):
        channel = image[..., c]
        np.testing.assert_allclose(out[..., c], apply_kernel(channel, kernel, strides, padding), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(out[..., c], _slow_filter(channel, kernel, strides, padding), rtol=1e-5, atol=1e-5)
    # channels do not leak into each other: zeroing one changes only its own output
    other = image.copy()
    other[..., 1] = 0
    changed = apply_kernel(other, kernel, strides, padding)
    np.testing.assert_array_equal(changed[..., [0, 2]], out[..., [0, 2]])


def test_apply_kernel_leaves_its_inputs_alone_and_takes_integer_images(rng):
    image = rng.integers(0, 256, (6, 6)).astype(np.uint8)
    kernel = get_kernel("edge")
    before_image, before_kernel = image.copy(), kernel.copy()
    out = apply_kernel(image, kernel, padding="valid")
    np.testing.assert_array_equal(image, before_image)
    np.testing.assert_array_equal(kernel, before_kernel)
    np.testing.assert_allclose(out, _slow_filter(image, kernel, 1, "valid"), rtol=1e-6)


@pytest.mark.parametrize("image,kernel,message", [
    (np.zeros((1, 4, 4, 1)), np.ones((3, 3)),
     r"`image` argument must be \(H, W\) or \(H, W, C\)\. Received: shape \(1, 4, 4, 1\)"),
    (np.zeros(4), np.ones((3, 3)), r"`image`.*Received: shape \(4,\)"),
    (np.zeros((4, 4)), np.ones(3), r"`kernel` argument must be 2-D \(kh, kw\)\. Received: shape \(3,\)"),
])
def test_apply_kernel_rejects_bad_ranks(image, kernel, message):
    with pytest.raises(ValueError, match=message):
        apply_kernel(image, kernel)


# -- to_display ----------------------------------------------------------------------------------------

Y = np.array([[-2.0, 1.0], [0.0, 0.5]], np.float32)


def test_auto_shows_abs_for_zero_sum_kernels_and_clips_the_others():
    for name in ("sobel-x", "sobel-y", "laplacian", "edge"):
        np.testing.assert_array_equal(to_display(Y, get_kernel(name)), [[1.0, 0.5], [0.0, 0.25]])
    for name in ("blur", "gaussian", "sharpen", "emboss"):
        np.testing.assert_array_equal(to_display(Y, get_kernel(name)), [[0.0, 1.0], [0.0, 0.5]])


@pytest.mark.parametrize("normalize,expected", [
    ("clip", [[0.0, 1.0], [0.0, 0.5]]),
    ("abs", [[1.0, 0.5], [0.0, 0.25]]),
    ("minmax", [[0.0, 1.0], [2 / 3, 2.5 / 3]]),
])
def test_forced_rules_exact_values(normalize, expected):
    y = Y.copy()
    for kernel in (get_kernel("blur"), get_kernel("sobel-x")):  # a forced rule ignores the kernel
        out = to_display(y, kernel, normalize)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_array_equal(y, Y)  # the input is not changed in place


@pytest.mark.parametrize("value", [0.0, 0.5, -3.0, 7.0])
def test_constant_images_give_no_nan(value):
    y = np.full((3, 4), value, np.float32)
    blur = get_kernel("blur")
    np.testing.assert_array_equal(to_display(y, blur, "minmax"), 0)
    np.testing.assert_array_equal(to_display(y, blur, "clip"), np.clip(value, 0, 1))
    np.testing.assert_array_equal(to_display(y, blur, "abs"), 1.0 if value else 0.0)
    assert np.all(np.isfinite(to_display(y, get_kernel("edge"))))


def test_to_display_keeps_the_shape_of_rgb_results():
    y = np.linspace(-1, 2, 24, dtype=np.float32).reshape(2, 4, 3)
    out = to_display(y, get_kernel("blur"), "minmax")
    assert out.shape == (2, 4, 3)
    assert out.min() == 0.0 and out.max() == 1.0


def test_to_display_rejects_an_unknown_rule():
    assert NORMALIZE == ("auto", "clip", "minmax", "abs")
    with pytest.raises(ValueError, match=r"`normalize` argument must be one of .*Received: 'log'"):
        to_display(Y, get_kernel("blur"), "log")


# -- load_kernel ---------------------------------------------------------------------------------------

def test_load_kernel_from_text_and_npy(tmp_path):
    text = tmp_path / "k.txt"
    text.write_text("# my kernel\n1 2 3\n-4.5 0 6e-1\n")
    kernel = load_kernel(text)
    assert kernel.dtype == np.float64
    np.testing.assert_array_equal(kernel, [[1, 2, 3], [-4.5, 0, 0.6]])
    row = tmp_path / "row.txt"
    row.write_text("1 -1\n")
    np.testing.assert_array_equal(load_kernel(str(row)), [[1, -1]])  # one row is still a 2-D (1, 2) kernel
    npy = tmp_path / "k.npy"
    saved = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(npy, saved)
    loaded = load_kernel(npy)
    assert loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded, saved)


class _Trap:
    """Unpickling one of these creates a directory: proof that the file was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _bad_kernel_files(tmp_path):
    files = {}
    files["missing"] = tmp_path / "missing.txt"
    one_d = tmp_path / "one_d.npy"
    np.save(one_d, np.ones(3))
    files["1-D .npy"] = one_d
    three_d = tmp_path / "three_d.npy"
    np.save(three_d, np.ones((2, 2, 2)))
    files["3-D .npy"] = three_d
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 3)))
    files["empty .npy"] = empty
    nan = tmp_path / "nan.txt"
    nan.write_text("1 nan\n2 3\n")
    files["NaN"] = nan
    inf = tmp_path / "inf.npy"
    np.save(inf, np.array([[1.0, np.inf]]))
    files["inf"] = inf
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("1 2\n3\n")
    files["ragged rows"] = ragged
    words = tmp_path / "words.txt"
    words.write_text("a b\nc d\n")
    files["words"] = words
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not an npy file at all")
    files["not npy"] = garbage
    files["a directory"] = tmp_path
    return files


BAD_NAMES = ["missing", "1-D .npy", "3-D .npy", "empty .npy", "NaN", "inf", "ragged rows", "words", "not npy",
             "a directory"]


@pytest.mark.parametrize("which", BAD_NAMES)
def test_bad_kernel_files_are_value_errors_naming_the_file(tmp_path, which):
    path = _bad_kernel_files(tmp_path)[which]
    with pytest.raises(ValueError, match="Received") as info:
        load_kernel(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.filterwarnings("ignore:loadtxt. input contained no data")
def test_an_empty_text_file_is_not_a_kernel(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("")
    with pytest.raises(ValueError, match=r"non-empty 2-D.*Received: shape") as info:
        load_kernel(path)
    assert str(path) in str(info.value)


def test_a_pickled_object_array_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.npy"
    np.save(path, np.array([[_Trap(str(marker)), 1.0]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Received") as info:
        load_kernel(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_a_npy_of_strings_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "strings.npy"
    np.save(path, np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match="Received") as info:
        load_kernel(path)
    assert str(path) in str(info.value)


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
def test_a_complex_npy_kernel_is_refused(tmp_path):
    path = tmp_path / "complex.npy"
    np.save(path, np.array([[1 + 2j, 1.0]]))
    with pytest.raises(ValueError, match="Received"):
        load_kernel(path)
