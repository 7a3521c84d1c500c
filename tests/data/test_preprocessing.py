"""Preprocessing: how an image becomes a sample. Known values for each step, the built-in data sets'
rules, warnings, and bad arguments."""

import dataclasses

import numpy as np
import pytest

from numcnn.data.preprocessing import DATASET_PREPROCESSING, Preprocessing, fit_ink, ink_box

pytest.importorskip("PIL.Image")


def paper(shape=(100, 100), rows=(10, 40), cols=(60, 80)):
    """A black 30x20 rectangle "digit" on white paper, off centre, in [0, 1]."""
    page = np.ones(shape, np.float32)
    page[rows[0]:rows[1], cols[0]:cols[1]] = 0
    return page


def box_of(out):
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def ones_at(shape, box):
    out = np.zeros(shape, np.float32)
    out[box[0]:box[1], box[2]:box[3]] = 1
    return out


# -- the built-in data sets' rules, on a rectangle (area resizing: exact) ------------------------------

def test_mnist_rule_scales_the_ink_into_20x20_and_centres_its_mass():
    p = dataclasses.replace(DATASET_PREPROCESSING["mnist"], interpolation="area")
    out = p.frame(paper())[..., 0]
    # 30x20 -> x2/3 -> 20x13; mass centre (9.5, 6) moved to (14, 14): rows round(4.5) = 4, cols 8
    np.testing.assert_allclose(out, ones_at((28, 28), (4, 24, 8, 21)), atol=1e-6)


def test_fashion_rule_fills_the_frame_with_the_longest_side():
    p = dataclasses.replace(DATASET_PREPROCESSING["fashion-mnist"], interpolation="area")
    # 30x20 -> x28/30 -> 28x19, centred: cols (28 - 19) // 2 = 4
    np.testing.assert_allclose(p.frame(paper())[..., 0], ones_at((28, 28), (0, 28, 4, 23)), atol=1e-6)


def test_digits_rule_fills_the_height_and_rounds_to_17_levels():
    p = DATASET_PREPROCESSING["digits"]
    page = paper()
    page[10:40, 60:70] = 0.5  # half the ink grey: 0.5 after inversion, exactly level 8 of 16
    out = dataclasses.replace(p, interpolation="area").frame(page)[..., 0]
    # 30x20 -> x8/30 -> 8x5 at cols (8 - 5) // 2 = 1; left half grey
    assert box_of(out > 0) == (0, 8, 1, 6)
    assert set(np.unique(out * 16)) <= set(range(17))  # on the 17 levels
    assert out[:, 5].min() == 1.0 and out[:, 1].max() == 0.5


def test_lanczos_keeps_values_in_the_unit_interval_and_a_blank_page_blank():
    for name, p in DATASET_PREPROCESSING.items():
        out = p.frame(paper())
        assert out.shape == (*p.size, p.channels) and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1 and out.max() > 0.9, name
        if p.invert == "auto":
            for blank in (np.zeros((30, 30)), np.ones((30, 30))):  # black, and white paper (inverted to black)
                np.testing.assert_array_equal(p.frame(blank), 0.0)


def test_an_image_already_framed_like_the_data_comes_back_unchanged():
    """An MNIST-framed digit (ink box 20 high, mass at (14, 14)) and a digits-framed one (8 high,
    17 levels) go through their rules as they are: `predict` on a saved test image sees it."""
    digit = np.zeros((28, 28), np.float32)
    digit[4:24, 10:18] = np.linspace(0.3, 1, 8)  # 20x8, its mass centre at row 13.5 + ... pinned below
    digit[4:24, 10:18] *= np.linspace(0.5, 1, 20)[:, None]
    mass = digit.sum()
    cy, cx = (digit.sum(1) @ np.arange(28)) / mass, (digit.sum(0) @ np.arange(28)) / mass
    shift = int(round(14 - cy)), int(round(14 - cx))
    digit = np.roll(digit, shift, axis=(0, 1))
    np.testing.assert_allclose(DATASET_PREPROCESSING["mnist"].frame(digit)[..., 0], digit, atol=1e-5)
    small = np.round(np.random.default_rng(0).uniform(0, 1, (8, 6)) * 16) / 16
    small[0, 0] = small[-1, -1] = 1.0  # ink in the first and last rows and columns
    framed = np.zeros((8, 8), np.float32)
    framed[:, 1:7] = small
    np.testing.assert_allclose(DATASET_PREPROCESSING["digits"].frame(framed)[..., 0], framed, atol=1e-6)


# -- each step --------------------------------------------------------------------------------------

def test_invert_auto_only_inverts_mostly_light_images():
    grey = Preprocessing((10, 10), 1, invert="auto")
    light, dark = paper((10, 10), (2, 5), (2, 5)), 1 - paper((10, 10), (2, 5), (2, 5))
    np.testing.assert_array_equal(grey.frame(light), grey.frame(dark))
    np.testing.assert_array_equal(grey.frame(dark)[..., 0], dark)
    np.testing.assert_array_equal(dataclasses.replace(grey, invert="yes").frame(dark)[..., 0], light)
    np.testing.assert_array_equal(dataclasses.replace(grey, invert="no").frame(light)[..., 0], light)


def test_stretch_crop_and_pad_follow_keras_aspect_rules():
    image = (np.arange(8, dtype=np.float32).reshape(2, 4)) / 7
    stretch = Preprocessing((2, 2), 1, interpolation="area").frame(image)[..., 0]
    np.testing.assert_allclose(stretch, image.reshape(2, 2, 2).mean(axis=2), atol=1e-6)
    crop = Preprocessing((2, 2), 1, fit="crop").frame(image)[..., 0]
    np.testing.assert_allclose(crop, image[:, 1:3])  # the centre square, same size: no resampling
    pad = Preprocessing((2, 2), 1, fit="pad", interpolation="area").frame(image)[..., 0]
    padded = np.zeros((4, 4), np.float32)
    padded[1:3] = image
    np.testing.assert_allclose(pad, padded.reshape(2, 2, 2, 2).mean(axis=(1, 3)), atol=1e-6)
    tall = Preprocessing((4, 2), 1, fit="crop").frame(np.eye(4, dtype=np.float32))[..., 0]
    np.testing.assert_allclose(tall, np.eye(4)[:, 1:3])


def test_colour_conversion_and_normalisation():
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[..., 0] = 1.0  # red
    grey = Preprocessing((2, 2), 1)
    np.testing.assert_allclose(grey.frame(rgb), 0.299, atol=1e-6)  # ITU-R 601 luma, as Pillow's "L"
    colour = Preprocessing((2, 2), 3, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0), channel_order="bgr",
                           data_format="channels_first")
    sample = colour.image_to_sample(rgb)
    assert sample.shape == (3, 2, 2)
    np.testing.assert_allclose(sample[:, 0, 0], [(0 - 0.5) / 0.5, (0 - 0.25) / 0.25, 1.0])  # b, g, r
    np.testing.assert_array_equal(Preprocessing((2, 2), 3).image_to_sample(grey.frame(rgb)),
                                  np.full((2, 2, 3), grey.frame(rgb)[0, 0, 0]))


def test_the_built_in_normalisation_is_the_identity_bit_for_bit():
    x = np.random.default_rng(1).uniform(0, 1, (5, 28, 28, 1)).astype(np.float32)
    for p in DATASET_PREPROCESSING.values():
        assert p.is_identity
        np.testing.assert_array_equal(p.normalize(x), x)


def test_ink_box_and_fit_ink_directly():
    image = np.zeros((10, 10), np.float32)
    image[2:5, 3:9] = 1
    image[0, 0] = 0.2  # under a quarter of the brightest: not ink
    assert ink_box(image) == (2, 5, 3, 9)
    assert ink_box(np.zeros((4, 4))) is None
    out = fit_ink(image, (8, 8), (6, 6), "box", "area")
    assert box_of(out > 0.5) == (2, 5, 1, 7)  # 3x6 -> 3x6 fits 6x6 as is, centred in 8x8


def test_the_input_image_is_not_modified():
    page = paper()
    before = page.copy()
    for p in DATASET_PREPROCESSING.values():
        p.frame(page)
    np.testing.assert_array_equal(page, before)


# -- warnings ---------------------------------------------------------------------------------------

def test_warnings_for_blank_and_tiny_images_and_none_for_a_digit():
    p = DATASET_PREPROCESSING["mnist"]
    assert p.warnings(paper()) == []
    (blank,) = p.warnings(np.full((40, 40), 0.9))
    assert "looks blank" in blank
    (tiny,) = p.warnings(np.array([[0.0, 1.0]]))
    assert "1x2 pixels" in tiny and "28x28" in tiny
    assert len(p.warnings(np.zeros((1, 1)))) == 2


# -- config round trip and bad arguments ----------------------------------------------------------

def test_json_round_trip_and_older_configs():
    for p in DATASET_PREPROCESSING.values():
        assert Preprocessing.from_json(p.to_json()) == p
    old = {"size": [224, 224], "channels": 3, "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
           "std": [0.229, 0.224, 0.225], "channel_order": "rgb", "data_format": "channels_last"}
    p = Preprocessing.from_json(old)  # written by numcnn import before the framing steps existed
    assert (p.fit, p.invert, p.levels, p.interpolation, p.box) == ("stretch", "no", None, "bilinear", (224, 224))


@pytest.mark.parametrize("kwargs, name", [
    (dict(fit="zoom"), "fit"), (dict(invert="maybe"), "invert"), (dict(centre="middle"), "centre"),
    (dict(interpolation="cubic"), "interpolation"), (dict(box=(30, 10)), "box"), (dict(box=(0, 4)), "box"),
    (dict(levels=1), "levels"), (dict(levels=2.5), "levels"), (dict(channels=3, fit="ink"), "fit"),
    (dict(size=(0, 28)), "size"), (dict(std=(0.0,)), "std"), (dict(channel_order="gbr"), "channel_order"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    args = {"size": (28, 28), "channels": 1, **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`") as info:
        Preprocessing(**args)
    assert "Received" in str(info.value)
