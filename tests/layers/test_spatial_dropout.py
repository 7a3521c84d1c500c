"""SpatialDropout2D: whole feature maps dropped or scaled, seeded masks, the gradient, Keras parity, config,
bad arguments and ONNX export; and the noise_shape of dropout_forward it is made of."""

import json
import os

import numpy as np
import pytest
from helpers import import_keras, numerical_grad
from numpy.testing import assert_allclose, assert_array_equal

from numcnn import Sequential
from numcnn.functional.dropout import dropout_backward, dropout_forward, noise_shape_for
from numcnn.layers.core import Dropout, SpatialDropout2D

FORMATS = ("channels_last", "channels_first")
KERAS_ARRAY_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword"  # Keras', not ours


def maps(y, data_format):
    """``(N, C, H * W)``: each feature map as one row."""
    nchw = y if data_format == "channels_first" else y.transpose(0, 3, 1, 2)
    return nchw.reshape(*nchw.shape[:2], -1)


def shape_of(data_format, n=4, h=5, w=6, c=7):
    return (n, h, w, c) if data_format == "channels_last" else (n, c, h, w)


@pytest.mark.parametrize("data_format", FORMATS)
def test_whole_feature_maps_are_zero_or_scaled(data_format, rng):
    x = rng.uniform(1.0, 2.0, shape_of(data_format, n=20, c=30))  # never 0: a 0 output means dropped
    y = SpatialDropout2D(0.4, data_format=data_format, seed=0)(x, training=True)
    ratio = maps(y, data_format) / maps(x, data_format)
    dropped = (ratio == 0).all(axis=2)
    kept = np.isclose(ratio, 1 / 0.6, rtol=1e-12, atol=0).all(axis=2)
    assert (dropped | kept).all()  # every map entirely one or the other
    assert abs(dropped.mean() - 0.4) < 0.06  # 600 draws


@pytest.mark.parametrize("data_format", FORMATS)
def test_one_draw_per_sample_and_channel(data_format, rng):
    x = np.ones(shape_of(data_format, n=3, c=5))
    layer = SpatialDropout2D(0.5, data_format=data_format, seed=3)
    y = layer(x, training=True)
    keep = np.random.default_rng(3).random((3, 5)) >= 0.5  # what a Generator seeded 3 draws
    assert_array_equal(maps(y, data_format)[:, :, 0] != 0, keep)


@pytest.mark.parametrize("data_format", FORMATS)
def test_inference_is_the_identity(data_format, rng):
    x = rng.standard_normal(shape_of(data_format))
    layer = SpatialDropout2D(0.5, data_format=data_format, seed=0)
    assert_array_equal(layer(x), x)
    assert_array_equal(layer(x, training=False), x)
    dy = rng.standard_normal(x.shape)
    assert_array_equal(layer.backward(dy), dy)


def test_rate_zero_is_the_identity_in_training(rng):
    x = rng.standard_normal((2, 3, 3, 4))
    assert_array_equal(SpatialDropout2D(0.0, seed=0)(x, training=True), x)


@pytest.mark.parametrize("data_format", FORMATS)
def test_same_seed_same_masks_and_each_call_a_new_one(data_format):
    x = np.ones(shape_of(data_format, n=6, c=8))
    a, b = SpatialDropout2D(0.5, data_format=data_format, seed=5), SpatialDropout2D(0.5, data_format=data_format,
                                                                                     seed=5)
    a1, a2 = a(x, training=True), a(x, training=True)
    assert_array_equal(a1, b(x, training=True))
    assert_array_equal(a2, b(x, training=True))
    assert not np.array_equal(a1, a2)
    assert not np.array_equal(a1, SpatialDropout2D(0.5, data_format=data_format, seed=6)(x, training=True))


@pytest.mark.parametrize("data_format", FORMATS)
def test_backward_is_dy_times_the_channel_mask(data_format, rng):
    x = rng.uniform(1.0, 2.0, shape_of(data_format))
    layer = SpatialDropout2D(0.3, data_format=data_format, seed=1)
    y = layer(x, training=True)
    dy = rng.standard_normal(x.shape)
    assert_allclose(layer.backward(dy), (y != 0) * dy / 0.7, rtol=1e-12)


@pytest.mark.parametrize("data_format", FORMATS)
def test_gradient_check_with_a_replayed_mask(data_format, rng):
    # a fresh layer with the same seed draws the same mask, so the loss is a fixed function of x
    x = rng.standard_normal(shape_of(data_format, n=2, h=2, w=3, c=3))
    g = rng.standard_normal(x.shape)

    def loss(point):
        return float(np.sum(SpatialDropout2D(0.5, data_format=data_format, seed=11)(point, training=True) * g))

    layer = SpatialDropout2D(0.5, data_format=data_format, seed=11)
    y = layer(x, training=True)
    assert (y == 0).any() and (y != 0).any()  # the seed drops some maps, not all
    assert_allclose(layer.backward(g), numerical_grad(loss, x), rtol=1e-6, atol=1e-9)


def test_in_a_model_the_mask_comes_from_the_model_seed():
    x = np.ones((4, 3, 3, 6), dtype=np.float32)
    y1 = Sequential([SpatialDropout2D(0.5)], seed=2)(x, training=True)
    y2 = Sequential([SpatialDropout2D(0.5)], seed=2)(x, training=True)
    assert_array_equal(y1, y2)


def test_global_numpy_rng_is_neither_used_nor_advanced():
    np.random.seed(0)
    state = np.random.get_state()
    SpatialDropout2D(0.5, seed=2)(np.ones((2, 3, 3, 4)), training=True)
    after = np.random.get_state()
    assert after[2] == state[2] and np.array_equal(after[1], state[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    layer = SpatialDropout2D(0.5, seed=0)
    y = layer(np.ones((4, 2, 2, 4), dtype), training=True)
    assert y.dtype == dtype and layer.backward(np.ones_like(y)).dtype == dtype
    assert set(np.unique(y)) <= {0.0, 2.0}


def test_the_mask_is_a_view_of_one_value_per_map():
    _, mask = dropout_forward(np.ones((2, 8, 8, 3)), 0.5, np.random.default_rng(0), (2, 1, 1, 3))
    assert mask.shape == (2, 8, 8, 3) and mask.strides[1:3] == (0, 0)  # broadcast, not copied


# Keras parity ------------------------------------------------------------------------------------

@pytest.mark.filterwarnings(KERAS_ARRAY_WARNING)
@pytest.mark.parametrize("data_format", FORMATS)
def test_matches_keras(data_format, rng):
    keras = import_keras()
    x = rng.uniform(1.0, 2.0, shape_of(data_format, n=8, c=16)).astype(np.float32)
    theirs = keras.layers.SpatialDropout2D(0.5, data_format=data_format, seed=0)
    ours = SpatialDropout2D(0.5, data_format=data_format, seed=0)
    assert_array_equal(ours(x), keras.ops.convert_to_numpy(theirs(x, training=False)))
    # in training the draws differ (other generators) but the rule is the same: whole maps, 0 or x / (1 - rate)
    for y in (ours(x, training=True), keras.ops.convert_to_numpy(theirs(x, training=True))):
        ratio = maps(y, data_format) / maps(x, data_format)
        assert (np.isclose(ratio, 0) | np.isclose(ratio, 2, rtol=1e-6)).all()
        assert (ratio.min(axis=2) == ratio.max(axis=2)).all()
    config, keras_config = ours.get_config(), theirs.get_config()
    assert (config["rate"], config["data_format"]) == (keras_config["rate"], keras_config["data_format"])
    assert "noise_shape" not in keras_config and "noise_shape" not in config


# config, shapes, bad arguments -------------------------------------------------------------------

def test_config_round_trip():
    layer = SpatialDropout2D(0.25, data_format="channels_first", name="sd", dtype="float64")
    config = json.loads(json.dumps(layer.get_config()))
    assert config == {"name": "sd", "trainable": True, "dtype": "float64", "rate": 0.25,
                      "data_format": "channels_first"}
    copy = SpatialDropout2D.from_config(config)
    assert copy.get_config() == config
    x = np.ones((3, 4, 2, 2))
    assert_array_equal(copy(x), layer(x))
    assert SpatialDropout2D(0.5).data_format == "channels_last"
    assert isinstance(layer, Dropout)  # as in Keras


@pytest.mark.parametrize("shape", [(None, 8, 8, 3), (2, 3, 4, 5)])
def test_output_shape_without_data(shape):
    assert SpatialDropout2D(0.5).compute_output_shape(shape) == shape


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(rate=1.0), "rate"), (dict(rate=-0.1), "rate"), (dict(rate="0.5"), "rate"), (dict(rate=float("nan")), "rate"),
    (dict(rate=0.5, data_format="NCHW"), "data_format"),
])
def test_bad_arguments_are_refused_with_their_name(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`.*Received: "):
        SpatialDropout2D(**kwargs)


def test_noise_shape_is_not_an_argument():
    with pytest.raises(TypeError, match="noise_shape"):
        SpatialDropout2D(0.5, noise_shape=(None, 1, 1, None))


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 4, 5, 6), (5,)])
def test_other_ranks_are_refused_naming_the_layer(shape):
    with pytest.raises(ValueError, match=r"'spatial_dropout2d'.*4D.*Received: inputs with shape"):
        SpatialDropout2D(0.5)(np.ones(shape), training=True)
    with pytest.raises(ValueError, match="4D"):
        SpatialDropout2D(0.5).compute_output_shape((None, *shape[1:]))


# ONNX export: nothing at inference ----------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_onnx_export_is_the_identity(data_format, tmp_path, rng):
    ort = pytest.importorskip("onnxruntime")
    from numcnn.io.onnx_export import export_onnx
    from numcnn.layers import Conv2D

    shape = shape_of(data_format, n=3)
    model = Sequential([Conv2D(4, 3, data_format=data_format, input_shape=shape[1:], seed=0),
                        SpatialDropout2D(0.5, data_format=data_format)])
    x = rng.standard_normal(shape).astype(np.float32)
    proto = export_onnx(model, tmp_path / "m.onnx")
    assert "Dropout" not in [node.op_type for node in proto.graph.node]
    got = ort.InferenceSession(os.fspath(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-6)


# the functional door: dropout_forward's noise_shape ------------------------------------------------

def test_noise_shape_for_fills_none_from_the_input():
    assert noise_shape_for((None, 1, 1, None), (8, 28, 28, 16)) == (8, 1, 1, 16)
    assert noise_shape_for([8, 1, 28, 1], (8, 28, 28, 16)) == (8, 1, 28, 1)


@pytest.mark.parametrize("noise_shape", [(None, 1, 1), (None, 2, 1, None), "abc", 3, (None, 1.0, 1, None)])
def test_bad_noise_shapes_are_named(noise_shape):
    with pytest.raises(ValueError, match="`noise_shape`.*Received: noise_shape="):
        dropout_forward(np.ones((2, 3, 3, 4)), 0.5, np.random.default_rng(0), noise_shape)


def test_noise_shape_of_the_full_shape_draws_what_none_draws(rng):
    x = rng.standard_normal((3, 4, 5))
    y1, _ = dropout_forward(x, 0.5, np.random.default_rng(9))
    y2, _ = dropout_forward(x, 0.5, np.random.default_rng(9), (None, None, None))
    assert_array_equal(y1, y2)


def test_functional_noise_shape_values_and_backward(rng):
    x = rng.uniform(1.0, 2.0, (2, 3, 4, 5))
    y, mask = dropout_forward(x, 0.5, np.random.default_rng(1), (None, 1, 1, None))
    assert mask.shape == x.shape
    assert (mask == mask[:, :1, :1, :]).all()  # one value per sample and channel
    dy = rng.standard_normal(x.shape)
    assert_array_equal(dropout_backward(dy, mask), dy * mask)
    with pytest.raises(ValueError, match="`dy`"):
        dropout_backward(dy[:1], mask)
