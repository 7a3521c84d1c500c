"""Random augmentation layers: known values, Keras 3 as the oracle, seeds and draws, the global batch rule
under data parallelism, numerical gradients, configs, ONNX export and bad arguments."""

import itertools
import json
import os

import numpy as np
import pytest
from _layer_grad import assert_grad_close
from helpers import check_op_grads, import_keras, numerical_grad

from numcnn import Sequential
from numcnn import functional as F
from numcnn.distributed import Communicator, MPIStrategy
from numcnn.layers import (
    LAYERS,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from numcnn.layers.tape import current_batch_part, global_batch
from numcnn.optimizers import SGD
from numcnn.training.strategy import OneProcess

FORMATS = ("channels_last", "channels_first")
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def images(rng, shape=(3, 7, 9, 2), data_format="channels_last", dtype=np.float64):
    x = rng.uniform(0, 1, shape).astype(dtype)
    return x if data_format == "channels_last" else np.ascontiguousarray(np.moveaxis(x, -1, 1))


def to_last(y, data_format):
    return y if data_format == "channels_last" else np.moveaxis(y, 1, -1)


#: one of each layer, every argument away from its default where it has one
def every_layer(data_format="channels_last", seed=0):
    options = dict(data_format=data_format, seed=seed)
    return [RandomFlip("horizontal", **options), RandomRotation(0.2, fill_mode="constant", fill_value=0.5, **options),
            RandomTranslation(0.2, (-0.1, 0.3), interpolation="nearest", **options),
            RandomZoom((-0.3, 0.2), 0.1, fill_mode="wrap", **options), RandomCrop(5, 6, **options),
            RandomContrast((0.2, 0.5), value_range=(0, 1), **options),
            RandomBrightness(0.3, value_range=(-1, 2), **options)]


# -- known values ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_follows_one_uniform_draw_per_image(mode, data_format, rng):
    x = images(rng, (6, 4, 5, 2), data_format)
    flips = np.random.default_rng(7).uniform(0, 1, 6) <= 0.5  # Keras: uniform <= 0.5, one draw per image
    assert flips.any() and not flips.all()
    y = to_last(RandomFlip(mode, seed=7, data_format=data_format)(x, training=True), data_format)
    expected = to_last(x, data_format).copy()
    if mode != "vertical":
        expected[flips] = expected[flips][:, :, ::-1]
    if mode != "horizontal":
        expected[flips] = expected[flips][:, ::-1]
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("data_format", FORMATS)
def test_a_quarter_turn_is_rot90_counter_clockwise(data_format, rng):
    x = images(rng, (2, 5, 5, 3), data_format)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    for factor, k in ((0.25, 1), (-0.25, -1), (0.5, 2)):
        y = RandomRotation((factor, factor), data_format=data_format, seed=0)(x, training=True)
        np.testing.assert_allclose(y, np.rot90(x, k, axes=axes), atol=1e-12)


@pytest.mark.parametrize("data_format", FORMATS)
def test_translation_by_whole_pixels_shifts_the_array(data_format, rng):
    x = images(rng, (2, 8, 10, 3), data_format)
    layer = RandomTranslation((0.25, 0.25), (-0.2, -0.2), fill_mode="constant", fill_value=-3.0,
                              data_format=data_format, seed=0)
    y = to_last(layer(x, training=True), data_format)
    expected = np.full((2, 8, 10, 3), -3.0)
    expected[:, 2:, :8] = to_last(x, data_format)[:, :6, 2:]  # 2 rows down (0.25 * 8), 2 columns left
    np.testing.assert_allclose(y, expected, atol=1e-12)


@pytest.mark.parametrize("fill_mode, row", [("reflect", "ddcb"), ("wrap", "dabc"), ("nearest", "dddd"),
                                            ("constant", "dkkk")])
def test_fill_modes_extend_a_b_c_d_as_keras_documents(fill_mode, row):
    # a shift of 3 columns left: output column j reads column j + 3 of "a b c d" extended by fill_mode
    x = np.array([0.0, 1, 2, 3])[None, None, :, None]
    values = {"a": 0, "b": 1, "c": 2, "d": 3, "k": 9}
    layer = RandomTranslation(0, (-0.75, -0.75), fill_mode=fill_mode, fill_value=9, interpolation="nearest", seed=0)
    np.testing.assert_array_equal(layer(x, training=True)[0, 0, :, 0], [values[c] for c in row])


def test_contrast_and_brightness_formulas(rng):
    x = rng.uniform(0, 1, (4, 3, 5, 2))
    factors = np.random.default_rng(3).uniform(1 - 0.2, 1 + 0.5, 4)
    mean = x.mean(axis=(1, 2), keepdims=True)
    expected = np.clip((x - mean) * factors[:, None, None, None] + mean, 0.1, 0.9)
    y = RandomContrast((0.2, 0.5), value_range=(0.1, 0.9), seed=3)(x, training=True)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert (y == 0.9).any() and (y == 0.1).any()  # the clip was exercised

    shifts = np.random.default_rng(4).uniform(-0.3, 0.3, 4) * (2 - (-1))
    y = RandomBrightness(0.3, value_range=(-1, 2), seed=4)(x * 3 - 1, training=True)
    np.testing.assert_allclose(y, np.clip(x * 3 - 1 + shifts[:, None, None, None], -1, 2), rtol=1e-12)


def test_contrast_factor_as_a_number_is_read_as_keras_documents(rng):
    # documented: c in [1 - f, 1 + f]; Keras 3.15's code draws from [1, 1 + f] (it keeps (0, f)): we follow the docs
    x = rng.uniform(0, 1, (200, 2, 2, 1))
    y = RandomContrast(0.5, value_range=(-100, 100), seed=0)(x, training=True)
    c = (y - x.mean(axis=(1, 2), keepdims=True)) / (x - x.mean(axis=(1, 2), keepdims=True))
    c = c[:, 0, 0, 0]
    np.testing.assert_allclose(c, np.random.default_rng(0).uniform(0.5, 1.5, 200), rtol=1e-9)
    assert c.min() < 0.6 and c.max() > 1.4


@pytest.mark.parametrize("data_format", FORMATS)
def test_random_crop_in_training_cuts_one_window_for_the_batch(data_format, rng):
    x = images(rng, (3, 7, 9, 2), data_format)
    draws = np.random.default_rng(5)
    top, left = int(draws.integers(0, 7 - 4 + 1)), int(draws.integers(0, 9 - 5 + 1))
    y = to_last(RandomCrop(4, 5, data_format=data_format, seed=5)(x, training=True), data_format)
    np.testing.assert_array_equal(y, to_last(x, data_format)[:, top:top + 4, left:left + 5])


def reference_warp(x, transform, interpolation, fill_mode, fill_value):
    """The warp pixel by pixel, as the module docstring of functional/augmentation.py states it (NHWC)."""
    n, h, w, _ = x.shape

    def read(b, row, col):
        if fill_mode == "constant" and not (0 <= row < h and 0 <= col < w):
            return np.full(x.shape[-1], fill_value)
        extend = {"wrap": lambda i, size: i % size, "nearest": lambda i, size: min(max(i, 0), size - 1),
                  "constant": lambda i, size: i,
                  "reflect": lambda i, size: i % (2 * size) if i % (2 * size) < size else 2 * size - 1 - i % (2 * size)}
        return x[b, extend[fill_mode](row, h), extend[fill_mode](col, w)]

    y = np.zeros(x.shape)
    for b, row, col in itertools.product(range(n), range(h), range(w)):
        a0, a1, a2, b0, b1, b2 = transform[b]
        u, v = a0 * col + a1 * row + a2, b0 * col + b1 * row + b2  # input column, row
        if interpolation == "nearest":
            y[b, row, col] = read(b, int(np.rint(v)), int(np.rint(u)))
            continue
        r0, c0 = int(np.floor(v)), int(np.floor(u))
        tv, tu = v - r0, u - c0
        y[b, row, col] = ((1 - tv) * (1 - tu) * read(b, r0, c0) + (1 - tv) * tu * read(b, r0, c0 + 1)
                          + tv * (1 - tu) * read(b, r0 + 1, c0) + tv * tu * read(b, r0 + 1, c0 + 1))
    return y


@pytest.mark.parametrize("fill_mode, interpolation", list(itertools.product(FILL_MODES, INTERPOLATIONS)))
def test_affine_transform_matches_the_pixel_loop_for_any_matrix(fill_mode, interpolation, rng):
    x = rng.uniform(0, 1, (3, 5, 6, 2))
    transform = rng.uniform(-1.5, 1.5, (3, 6)) + [1, 0, 0, 0, 1, 0]  # shears, flips and scales as well
    transform[:, [2, 5]] *= 4
    y = F.affine_transform(x, transform, interpolation, fill_mode, -0.5)
    np.testing.assert_allclose(y, reference_warp(x, transform, interpolation, fill_mode, -0.5), atol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda x: F.affine_transform(x, np.zeros((2, 6))), r"`transform` argument must be 1 rows of 6 .* shape \(2, 6\)"),
    (lambda x: F.affine_transform(x[0], np.zeros((1, 6))), r"`x` argument must be a 4D array .* shape \(4, 4, 1\)"),
    (lambda x: F.affine_transform(x, np.zeros((1, 6)), fill_mode="mirror"), r"`fill_mode` .* Received: fill_mode="),
    (lambda x: F.crop_resize_forward(x, (0, 0, 5, 4), (2, 2)), r"`box` argument .* Received: box=\(0, 0, 5, 4\)"),
    (lambda x: F.contrast_forward(x, [1.0], (3, 1)), r"`value_range` .* low <= high. Received: value_range=\(3, 1\)"),
    (lambda x: F.brightness_forward(x, [1.0, 2.0]), r"`delta` argument must hold 1 finite numbers"),
    (lambda x: F.flip_forward(x, [True], [True, False]), r"`horizontal` and `vertical` .* shapes \(1,\) and \(2,\)"),
])
def test_the_functions_check_their_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.ones((1, 4, 4, 1)))


# -- Keras 3 as the oracle ---------------------------------------------------------------------------------------

def _keras_and_numcnn(keras, name, data_format, fill_mode, interpolation):
    """The same layer in both libraries with ranges of one point: no randomness left."""
    args = {"rotation": [(0.1, 0.1)], "rotation_back": [(-0.37, -0.37)],
            "translation": [(0.23, 0.23), (-0.41, -0.41)], "zoom": [(0.33, 0.33), (-0.27, -0.27)],
            "zoom_in": [(-0.45, -0.45)]}[name]
    kind = {"rotation": "RandomRotation", "rotation_back": "RandomRotation", "translation": "RandomTranslation",
            "zoom": "RandomZoom", "zoom_in": "RandomZoom"}[name]
    options = dict(fill_mode=fill_mode, interpolation=interpolation, fill_value=0.7, data_format=data_format)
    ours = {"RandomRotation": RandomRotation, "RandomTranslation": RandomTranslation, "RandomZoom": RandomZoom}[kind]
    return getattr(keras.layers, kind)(*args, **options), ours(*args, seed=0, **options)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("fill_mode, interpolation", list(itertools.product(FILL_MODES, INTERPOLATIONS)))
@pytest.mark.parametrize("name", ["rotation", "rotation_back", "translation", "zoom", "zoom_in"])
def test_warps_match_keras(name, fill_mode, interpolation, data_format, rng):
    keras = import_keras()
    x = images(rng, (2, 7, 9, 3), data_format, np.float32)
    theirs, ours = _keras_and_numcnn(keras, name, data_format, fill_mode, interpolation)
    expected = keras.ops.convert_to_numpy(theirs(x, training=True))
    y = ours(x, training=True)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, expected, atol=2e-6)


def test_brightness_matches_keras(rng):
    keras = import_keras()
    x = rng.uniform(0, 255, (2, 4, 5, 3)).astype(np.float32)
    for factor in ((0.3, 0.3), (-0.6, -0.6)):
        expected = keras.ops.convert_to_numpy(keras.layers.RandomBrightness(factor)(x, training=True))
        np.testing.assert_allclose(RandomBrightness(factor, seed=0)(x, training=True), expected, atol=1e-4)


def test_contrast_formula_matches_keras(rng):
    # Keras's factor reading differs from its docs (above); with its factor pinned, the formula is the same
    keras = import_keras()
    x = rng.uniform(0, 255, (1, 4, 5, 3)).astype(np.float32)
    for c in (0.6, 1.7):
        theirs = keras.layers.RandomContrast(0.1)
        theirs.factor = (1 - c, c - 1)  # draws from [1 - factor[0], 1 + factor[1]] = [c, c]
        expected = keras.ops.convert_to_numpy(theirs(x, training=True))
        np.testing.assert_allclose(F.contrast_forward(x, [c])[0], expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("shape, size", [((2, 10, 20, 3), (8, 8)), ((2, 6, 30, 3), (8, 8)), ((1, 7, 9, 2), (12, 5)),
                                         ((2, 32, 32, 1), (24, 24)), ((1, 8, 30, 1), (8, 8))])
def test_random_crop_at_inference_resizes_the_largest_centred_window_as_keras_documents(shape, size, data_format,
                                                                                          rng):
    # Keras 3.15's RandomCrop returns its input unchanged at inference, against its documentation ("the input
    # will be resized and cropped so as to return the largest possible window in the image that matches the
    # target aspect ratio"): numcnn follows the documentation, which is Keras's resize(crop_to_aspect_ratio=True)
    keras = import_keras()
    x = images(rng, shape, data_format, np.float32)
    expected = keras.ops.convert_to_numpy(keras.ops.image.resize(x, size, crop_to_aspect_ratio=True,
                                                                 data_format=data_format))
    layer = RandomCrop(*size, data_format=data_format, seed=0)
    np.testing.assert_allclose(layer(x), expected, atol=2e-6)
    if shape[1] < size[0] or shape[2] < size[1]:  # images smaller than the window: the same in training
        np.testing.assert_allclose(layer(x, training=True), expected, atol=2e-6)


# -- inference, seeds, one draw per image --------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_inference_is_the_identity(data_format, rng):
    x = images(rng, (3, 5, 6, 2), data_format)
    for layer in every_layer(data_format):
        if isinstance(layer, RandomCrop):
            continue
        for training in (None, False):
            np.testing.assert_array_equal(layer(x, training=training), x)
        np.testing.assert_array_equal(layer.backward(x * 2), x * 2)


def test_random_crop_of_the_input_size_at_inference_is_the_identity(rng):
    x = images(rng, (3, 5, 6, 2))
    np.testing.assert_array_equal(RandomCrop(5, 6)(x), x)


@pytest.mark.parametrize("data_format", FORMATS)
def test_the_same_seed_gives_the_same_output_and_each_call_draws_anew(data_format, rng):
    x = images(rng, (4, 7, 8, 2), data_format)
    for a, b in zip(every_layer(data_format, seed=3), every_layer(data_format, seed=3)):
        first = a(x, training=True)
        np.testing.assert_array_equal(first, b(x, training=True))
        assert not np.array_equal(first, a(x, training=True)), type(a).__name__


def test_each_image_of_a_batch_gets_its_own_draw(rng):
    x = np.repeat(rng.uniform(0, 1, (1, 7, 8, 2)), 6, axis=0)  # six copies of one image
    for layer in every_layer(seed=1):
        y = layer(x, training=True)
        distinct = len({y[i].tobytes() for i in range(6)})
        # a flip has two outcomes; RandomCrop cuts one window for the batch, as Keras documents
        expected = {RandomFlip: 2, RandomCrop: 1}.get(type(layer), 6)
        assert distinct == expected, type(layer).__name__


# -- the global batch rule ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_parts_of_a_global_batch_draw_as_the_whole_batch(data_format, rng):
    x = images(rng, (8, 7, 8, 2), data_format)
    for whole, first, second in zip(every_layer(data_format, 9), every_layer(data_format, 9),
                                    every_layer(data_format, 9)):
        for _ in range(2):  # the generators stay in step from call to call
            expected = whole(x, training=True)
            with global_batch(8, 0):
                a = first(x[:3], training=True)
            with global_batch(8, 3):
                b = second(x[3:], training=True)
            np.testing.assert_array_equal(np.concatenate([a, b]), expected, err_msg=type(whole).__name__)
    assert current_batch_part() is None


def test_a_part_past_the_end_of_the_global_batch_is_refused(rng):
    with global_batch(8, 6), pytest.raises(ValueError, match=r"rows 6:9 of a global batch of 8 .* Received: a batch"):
        RandomRotation(0.1, seed=0)(rng.uniform(0, 1, (3, 4, 4, 1)), training=True)
    with pytest.raises(ValueError, match="0 <= start <= total. Received: total=3, start=4"):
        global_batch(3, 4)


def test_other_ranks_keep_the_augmentation_streams_and_jump_the_others(rng):
    class FakeComm:
        def Get_rank(self):  # noqa: N802 - mpi4py's names
            return 1

        def Get_size(self):  # noqa: N802
            return 2

    def net():
        model = Sequential([RandomRotation(0.1), RandomFlip(), Conv2D(2, 3), Dropout(0.5), Flatten(), Dense(2)],
                           seed=4)
        model.build((None, 6, 6, 1))
        return model

    reference, rank1 = net(), net()
    MPIStrategy(Communicator(FakeComm())).own_random_streams(rank1)
    for index in range(4):
        expected = reference.layers[index].rng.random(3)
        got = rank1.layers[index].rng.random(3)
        assert np.array_equal(got, expected) == (index < 2), index  # augmentation kept, Conv2D and Dropout jumped


def _recording(cls):
    class Recorded(cls):
        seen: list = []

        def _forward(self, x, training):
            y, cache = super()._forward(x, training)
            if training:
                type(self).seen.append(y.copy())
            return y, cache
    Recorded.__name__ = cls.__name__
    return Recorded


class SecondOfTwo(OneProcess):
    """Rank 1 of 2 without MPI: its share of each global batch and MPIStrategy's streams; it sends nothing."""

    rank, size = 1, 2

    def shard(self, n):
        return slice(n - n // 2, n)  # Communicator.shard's for rank 1 of 2

    def begin(self, model, optimizer, state):
        MPIStrategy.own_random_streams(self, model)


def test_fit_on_rank_1_of_2_augments_its_share_as_one_process_would(rng):
    x, y = rng.uniform(0, 1, (10, 6, 6, 1)), rng.standard_normal((10, 3))
    runs = []
    for strategy in (None, SecondOfTwo()):
        layer = _recording(RandomRotation)
        layer.seen = []
        model = Sequential([layer(0.2, input_shape=(6, 6, 1)), Dropout(0.3), Flatten(), Dense(3)], seed=2)
        model.compile(SGD(0.01), "mean_squared_error")
        model.fit(x, y, batch_size=4, epochs=2, seed=1, verbose=0, distributed=strategy)
        runs.append(layer.seen)
    one, rank1 = runs
    assert len(one) == len(rank1) == 6
    for whole, share in zip(one, rank1):  # rank 1 runs the second half of each global batch (4, 4, 2)
        assert len(share) == len(whole) // 2
        np.testing.assert_array_equal(share, whole[len(whole) - len(share):])


# -- gradients ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("fill_mode, interpolation", list(itertools.product(FILL_MODES, INTERPOLATIONS)))
def test_affine_transform_backward_is_its_transpose(fill_mode, interpolation, data_format, rng):
    x = images(rng, (2, 5, 6, 2), data_format)
    transform = np.concatenate([F.rotation_transform([0.7], 5, 6), F.zoom_transform([1.4], [0.6], 5, 6)])
    transform[:, [2, 5]] += [[0.3, -1.2], [2.6, 0.4]]
    check_op_grads(F.affine_transform_forward, F.affine_transform_backward, [x],
                   dict(transform=transform, interpolation=interpolation, fill_mode=fill_mode, fill_value=0.3,
                        data_format=data_format), rng)


def test_crop_resize_flip_contrast_brightness_backward(rng):
    x = rng.uniform(0, 1, (2, 6, 7, 3))
    for box, size in (((1, 0, 5, 5), (8, 3)), ((0, 2, 6, 4), (6, 4))):
        check_op_grads(F.crop_resize_forward, F.crop_resize_backward, [x], dict(box=box, size=size), rng)
    check_op_grads(F.flip_forward, F.flip_backward, [x], dict(horizontal=[True, False], vertical=[True, True]), rng)
    check_op_grads(F.contrast_forward, F.contrast_backward, [x], dict(factor=[0.5, 1.8], value_range=(0.1, 0.9)), rng)
    check_op_grads(F.brightness_forward, F.brightness_backward, [x], dict(delta=[0.3, -0.4], value_range=(0, 1)), rng)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("index", range(7))
def test_layer_gradients_with_the_draws_fixed_by_the_seed(index, data_format, rng):
    x = images(rng, (3, 7, 8, 2), data_format) * 0.8 + 0.1  # away from the clip bounds of contrast and brightness
    layer = every_layer(data_format, seed=6)[index]
    y = layer(x, training=True)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)

    def loss(point):  # a fresh layer with the same seed draws the same parameters
        return float(np.sum(every_layer(data_format, seed=6)[index](point, training=True) * g))

    assert_grad_close(dx, numerical_grad(loss, x), rtol=1e-6)


def test_a_sequential_with_augmentation_trains_one_step_with_the_right_gradients(rng):
    # Conv2D first, so that its gradient comes back through every augmentation layer
    def net():
        return Sequential([Conv2D(2, 1, input_shape=(8, 8, 1)), RandomFlip(), RandomRotation(0.1), RandomZoom(0.2),
                           RandomTranslation(0.1, 0.1), RandomContrast(0.3, value_range=(-50, 50)),
                           RandomBrightness(0.1, value_range=(-50, 50)), RandomCrop(6, 6), Flatten(), Dense(3)],
                          seed=0)

    model = net()
    x, target = rng.uniform(0, 1, (4, 8, 8, 1)), rng.standard_normal((4, 3))
    model(x)  # builds in float64; at inference nothing is drawn
    states = {path: g.bit_generator.state for path, g in model.random_generators().items()}

    def replay():
        for path, g in model.random_generators().items():
            g.bit_generator.state = states[path]

    def loss(kernel):
        saved = model.params["conv2d/kernel"].copy()
        model.params["conv2d/kernel"][...] = kernel
        replay()
        value = float(np.mean((model(x, training=True) - target) ** 2))
        model.params["conv2d/kernel"][...] = saved
        return value

    before = model.params["conv2d/kernel"].copy()
    numeric = numerical_grad(loss, before)
    assert np.abs(numeric).max() > 1e-3
    model.compile(SGD(0.01), "mean_squared_error")
    replay()
    model.train_on_batch(x, target)
    assert_grad_close((before - model.params["conv2d/kernel"]) / 0.01, numeric, rtol=1e-6)


# -- config, ONNX -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_config_round_trip(data_format):
    for layer in every_layer(data_format):
        config = layer.get_config()
        again = LAYERS.deserialize(json.loads(json.dumps(LAYERS.serialize(layer))))
        assert type(again) is type(layer) and again.get_config() == config
        assert config["data_format"] == data_format
    assert RandomZoom(0.2).get_config()["width_factor"] is None
    assert RandomRotation((0.1, -0.2)).get_config()["factor"] == [0.1, -0.2]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("crop", [(6, 6), (12, 10), (9, 11)])
def test_onnx_export_runs_in_onnxruntime_as_the_model_at_inference(crop, data_format, tmp_path, rng):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from numcnn.io.onnx_export import export_onnx

    shape = (9, 11, 2) if data_format == "channels_last" else (2, 9, 11)
    layers = [*every_layer(data_format)[:4], *every_layer(data_format)[5:], RandomCrop(*crop, data_format=data_format),
              Conv2D(3, 3, data_format=data_format), Flatten(data_format=data_format), Dense(4)]
    model = Sequential(layers, seed=0)
    x = rng.uniform(0, 1, (3, *shape)).astype(np.float32)
    expected = model.predict(x)
    export_onnx(model, tmp_path / "model.onnx", input_shape=shape)
    session = ort.InferenceSession(os.fspath(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=1e-5, atol=1e-5)


# -- bad arguments -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: RandomFlip("diagonal"), r"`mode` argument must be one of .* Received: mode='diagonal'"),
    (lambda: RandomRotation(1.5), r"`factor` argument must be a number or a pair .* Received: factor=1.5"),
    (lambda: RandomRotation((0.1, 0.2, 0.3)), r"`factor` .* Received: factor=\(0.1, 0.2, 0.3\)"),
    (lambda: RandomRotation("0.1"), r"`factor` .* Received: factor='0.1'"),
    (lambda: RandomRotation(True), r"`factor` .* Received: factor=True"),
    (lambda: RandomRotation(float("nan")), r"`factor` .* Received: factor=nan"),
    (lambda: RandomRotation(0.1, fill_mode="mirror"), r"`fill_mode` argument must be one of .* Received: fill_mode="),
    (lambda: RandomRotation(0.1, interpolation="bicubic"), r"`interpolation` .* Received: interpolation='bicubic'"),
    (lambda: RandomRotation(0.1, fill_value="black"), r"`fill_value` argument .* Received: fill_value='black'"),
    (lambda: RandomRotation(0.1, data_format="NHWC"), r"`data_format` .* Received: data_format='NHWC'"),
    (lambda: RandomTranslation(0.1, (-1.2, 0)), r"`width_factor` .* \[-1, 1\]. Received: width_factor=\(-1.2, 0\)"),
    (lambda: RandomTranslation(None, 0.1), r"`height_factor` .* Received: height_factor=None"),
    (lambda: RandomZoom(-1.0), r"`height_factor` .* each in \(-1, 1\]. Received: height_factor=-1.0"),
    (lambda: RandomZoom(0.2, (0.1, 2)), r"`width_factor` .* Received: width_factor=\(0.1, 2\)"),
    (lambda: RandomCrop(0, 5), r"`height` argument must be a positive int. Received: height=0"),
    (lambda: RandomCrop(5, 2.5), r"`width` argument must be a positive int. Received: width=2.5"),
    (lambda: RandomContrast(-0.1), r"`factor` .* each in \[0, 1\]. Received: factor=-0.1"),
    (lambda: RandomContrast((0.1, 1.5)), r"`factor` .* Received: factor=\(0.1, 1.5\)"),
    (lambda: RandomContrast(0.1, value_range=(255, 0)), r"`value_range` .* low < high.* Received: value_range="),
    (lambda: RandomBrightness(0.1, value_range=[0]), r"`value_range` .* Received: value_range=\[0\]"),
    (lambda: RandomBrightness(-1.5), r"`factor` .* Received: factor=-1.5"),
])
def test_bad_arguments_are_refused_in_the_constructor(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("layer", every_layer(), ids=lambda layer: type(layer).__name__)
def test_inputs_that_are_not_4d_are_refused(layer, rng):
    with pytest.raises(ValueError, match=r"needs 4D inputs \(N, H, W, C\). Received: inputs with shape \(2, 5, 3\)"):
        layer(rng.uniform(0, 1, (2, 5, 3)), training=True)
