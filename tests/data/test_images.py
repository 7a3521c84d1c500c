"""Image files through Pillow: modes, bit depths, transparency, EXIF orientation, bad files."""

import numpy as np
import pytest

from numcnn.data.images import load_image

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
    assert x[10, 10] == 0.0 and x[0, 0] == 1.0  # ink on white paper


def test_the_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40), np.uint8)
    pixels[:, :10] = 255  # a white band at the left, as stored
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": a phone held upright
    path = tmp_path / "phone.jpg"
    image.save(path, exif=exif, quality=95)
    x = load_image(path)
    assert x.shape == (40, 20)  # standing
    assert x[:10].mean() > 0.9 and x[15:].mean() < 0.1  # the band is at the top once turned
    plain = tmp_path / "plain.jpg"
    image.save(plain, quality=95)
    assert load_image(plain).shape == (20, 40)


def test_an_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((6, 6), v, np.uint8)) for v in (40, 200)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    np.testing.assert_allclose(load_image(path), 40 / 255, atol=1 / 255)
