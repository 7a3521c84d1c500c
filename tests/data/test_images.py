"""Image files through Pillow, and their conversion into a model's input (inverted, cropped, centred)."""

import numpy as np
import pytest

from numcnn.data.images import load_image, to_model_input

Image = pytest.importorskip("PIL.Image")


def _paper(shape=(100, 100), rows=(10, 40), cols=(60, 80)):
    """A black rectangle "digit" on white paper, off centre: uint8."""
    page = np.full(shape, 255, np.uint8)
    page[rows[0]:rows[1], cols[0]:cols[1]] = 0
    return page


def _save(tmp_path, array, name, mode=None, **kwargs):
    path = tmp_path / name
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(path, **kwargs)
    return path


def _box(out):
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


# -- load_image --------------------------------------------------------------------------------

def test_grayscale_png_values_are_bytes_over_255(tmp_path):
    pixels = np.array([[0, 1, 127], [128, 254, 255]], np.uint8)
    x = load_image(_save(tmp_path, pixels, "g.png"))
    assert x.dtype == np.float32 and x.shape == (2, 3)
    np.testing.assert_array_equal(x, pixels.astype(np.float32) / np.float32(255))


def test_rgb_png_is_converted_with_the_luma_weights(tmp_path):
    colours = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], np.uint8)
    path = _save(tmp_path, colours, "c.png")
    gray = load_image(path)
    assert gray.shape == (1, 5) and gray.dtype == np.float32
    # ITU-R 601: 0.299 R + 0.587 G + 0.114 B, to within Pillow's integer rounding
    np.testing.assert_allclose(gray[0], [0.299, 0.587, 0.114, 1.0, 0.0], atol=1.01 / 255)
    rgb = load_image(path, grayscale=False)
    assert rgb.shape == (1, 5, 3) and rgb.dtype == np.float32
    np.testing.assert_array_equal(rgb, colours / np.float32(255))


def test_palette_png_is_read_through_its_palette(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    image.putpixel((0, 0), 1)  # white
    image.putpixel((1, 0), 0)  # black
    image.save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_image(tmp_path / "p.png"), [[1.0, 0.0]])


def test_jpeg_is_read_close_to_what_was_written(tmp_path):
    page = _paper((64, 64), (16, 48), (8, 24))
    x = load_image(_save(tmp_path, page, "d.jpg", quality=95))
    assert x.shape == (64, 64) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    # flat areas survive JPEG almost exactly
    np.testing.assert_allclose(x[20:44, 12:20], 0.0, atol=3 / 255)
    np.testing.assert_allclose(x[:, 40:], 1.0, atol=3 / 255)
    rgb = load_image(_save(tmp_path, np.stack([page] * 3, axis=-1), "rgb.jpg", quality=95), grayscale=False)
    assert rgb.shape == (64, 64, 3)
    np.testing.assert_allclose(rgb[20:44, 12:20], 0.0, atol=3 / 255)


def test_values_stay_in_the_unit_interval(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for grayscale in (True, False):
        x = load_image(_save(tmp_path, pixels, "noise.png"), grayscale=grayscale)
        assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.9 and x.min() < 0.1


def test_a_text_file_named_png_is_a_value_error_naming_it(tmp_path):
    path = tmp_path / "digit.png"
    path.write_text("this is not a picture\n")
    with pytest.raises(ValueError, match="not a readable image") as info:
        load_image(path)
    assert str(path) in str(info.value) and "Received" in str(info.value)


def test_a_truncated_png_is_a_value_error_naming_it(tmp_path):
    path = _save(tmp_path, np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8), "cut.png")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match="Received") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_a_missing_file_or_a_directory_is_a_value_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="no such image file") as info:
        load_image(tmp_path / "nowhere.png")
    assert str(tmp_path / "nowhere.png") in str(info.value)
    with pytest.raises(ValueError, match="Received") as info:
        load_image(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_a_16_bit_png_is_scaled_to_the_unit_interval(tmp_path):
    pixels = (np.arange(16, dtype=np.uint16) * 4096).reshape(4, 4)
    path = tmp_path / "deep.png"
    Image.fromarray(pixels).save(path)
    assert Image.open(path).mode == "I;16"
    np.testing.assert_allclose(load_image(path), pixels / 65535.0, atol=1.01 / 255)


def test_a_black_digit_on_a_transparent_background_stays_visible(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)  # transparent black
    rgba[5:15, 8:12] = [0, 0, 0, 255]  # opaque black stroke
    path = tmp_path / "canvas.png"
    Image.fromarray(rgba, "RGBA").save(path)
    x = load_image(path)
    assert x[10, 10] != x[0, 0]
    out = to_model_input(x, (28, 28, 1))
    assert out.max() == 1.0


# -- to_model_input: known values --------------------------------------------------------------

def _expected(shape, box):
    out = np.zeros(shape + (1,), np.float32)
    out[box[0]:box[1], box[2]:box[3]] = 1.0
    return out


def test_a_dark_rectangle_on_paper_becomes_a_light_centred_box_in_28x28():
    # 30x20 box -> scaled by 20/30 into the 20x20 frame: 20x13, centred at rows 4:24, cols 7:20
    out = to_model_input(_paper() / 255.0, (28, 28, 1))
    assert out.shape == (28, 28, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, _expected((28, 28), (4, 24, 7, 20)), atol=1e-6)


def test_a_dark_rectangle_on_paper_becomes_a_light_centred_box_in_8x8():
    # the frame is 6x6 (margin 8 // 7 = 1): 30x20 -> 6x4 at rows 1:7, cols 2:6
    out = to_model_input(_paper() / 255.0, (8, 8, 1))
    assert out.shape == (8, 8, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, _expected((8, 8), (1, 7, 2, 6)), atol=1e-6)


def test_a_wide_stroke_keeps_its_aspect_ratio():
    # 5x50 -> 2x20, rows 13:15 cols 4:24
    page = _paper((80, 90), (30, 35), (5, 55))
    np.testing.assert_allclose(to_model_input(page / 255.0, (28, 28, 1)), _expected((28, 28), (13, 15, 4, 24)),
                               atol=1e-6)


def test_invert_no_keeps_the_paper_white():
    # not inverted: the white page is the "ink", its whole 100x100 box fills the 20x20 frame and the
    # rectangle (rows 10:40, cols 60:80, five pixels per output pixel) is a black hole in it
    out = to_model_input(_paper() / 255.0, (28, 28, 1), invert="no")
    expected = _expected((28, 28), (4, 24, 4, 24))
    expected[6:12, 16:20] = 0.0
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_invert_auto_only_inverts_dark_on_light():
    paper = _paper() / 255.0
    light_on_dark = 1.0 - paper
    auto = to_model_input(paper, (28, 28, 1))
    np.testing.assert_array_equal(to_model_input(light_on_dark, (28, 28, 1)), auto)
    np.testing.assert_array_equal(to_model_input(light_on_dark, (28, 28, 1), invert="no"), auto)
    np.testing.assert_array_equal(to_model_input(light_on_dark, (28, 28, 1), invert="yes"),
                                  to_model_input(paper, (28, 28, 1), invert="no"))
    np.testing.assert_array_equal(to_model_input(paper, (28, 28, 1), invert="yes"), auto)


def test_an_off_centre_ring_ends_up_centred_with_its_box_in_the_margin():
    yy, xx = np.mgrid[:60, :90]
    radius = np.hypot(yy - 20.0, xx - 65.0)
    page = np.where((radius > 8) & (radius < 14), 0.1, 0.95).astype(np.float32)  # a dark "0" on grey paper
    out = to_model_input(page, (28, 28, 1))[..., 0]
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.max() > 0.8
    top, bottom, left, right = _box(out > 0)
    assert 4 <= top and bottom <= 24 and 4 <= left and right <= 24  # MNIST's 20x20 box in 28x28
    assert bottom - top == 20 and right - left == 20  # the ring's longer side fills it
    mass = out.sum()
    centre = ((out.sum(axis=1) * np.arange(28)).sum() / mass, (out.sum(axis=0) * np.arange(28)).sum() / mass)
    np.testing.assert_allclose(centre, (13.5, 13.5), atol=0.5)
    np.testing.assert_allclose(out[13, 13], 0.05, atol=1e-6)  # the hole keeps the paper's (inverted) grey


def test_blank_pages_give_a_blank_input():
    for page in (np.zeros((30, 30)), np.ones((30, 30))):  # black, and white paper (inverted to black)
        out = to_model_input(page, (28, 28, 1))
        assert out.shape == (28, 28, 1)
        np.testing.assert_array_equal(out, 0.0)


def test_the_input_image_is_not_modified():
    page = (_paper() / 255.0).astype(np.float32)
    before = page.copy()
    to_model_input(page, (28, 28, 1), invert="yes")
    to_model_input(page, (28, 28, 1))
    np.testing.assert_array_equal(page, before)


def test_a_png_on_paper_end_to_end(tmp_path):
    out = to_model_input(load_image(_save(tmp_path, _paper(), "digit.png")), (28, 28, 1))
    np.testing.assert_allclose(out, _expected((28, 28), (4, 24, 7, 20)), atol=1e-6)
    rgb = np.stack([_paper()] * 3, axis=-1)
    out = to_model_input(load_image(_save(tmp_path, rgb, "digit.jpg", quality=95)), (28, 28, 1))[..., 0]
    assert out[5:23, 8:19].min() > 0.9 and out[:4].max() == 0 and out[24:].max() == 0
    assert out[:, :7].max() < 0.2 and out[:, 20:].max() < 0.2  # JPEG ringing at most


# -- to_model_input: bad arguments -------------------------------------------------------------

@pytest.mark.parametrize("invert", ["maybe", True, None, "Auto"])
def test_bad_invert_is_a_value_error(invert):
    with pytest.raises(ValueError, match="invert") as info:
        to_model_input(np.zeros((8, 8)), (8, 8, 1), invert=invert)
    assert f"Received: invert={invert!r}" in str(info.value)


@pytest.mark.parametrize("channels", [3, 2, 0])
def test_more_than_one_channel_is_a_value_error(channels):
    with pytest.raises(ValueError, match=rf"Received: input_shape=\(28, 28, {channels}\)"):
        to_model_input(np.zeros((28, 28)), (28, 28, channels))


def test_a_colour_array_is_a_value_error():
    with pytest.raises(ValueError, match="Received"):
        to_model_input(np.zeros((20, 20, 3), np.float32), (28, 28, 1))


def test_an_input_shape_without_channels_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="input_shape"):
        to_model_input(np.zeros((28, 28)), (28, 28))
