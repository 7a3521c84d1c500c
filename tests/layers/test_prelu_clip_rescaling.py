"""PReLU, Clip and Rescaling with array scale/offset: values, float64 gradients, PyTorch and Keras parity,
shapes through numcnn.Input, configs (JSON) and refused arguments."""

import json
import re

import numpy as np
import pytest
from _layer_grad import check_layer_grads
from helpers import assert_close, import_keras, import_torch
from numpy.testing import assert_allclose, assert_array_equal

import numcnn
from numcnn import Input, Model, Sequential
from numcnn.layers import Clip, Conv2D, PReLU, Rescaling

KERAS_ARRAY_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword"  # Keras', not ours
NAN, INF = np.nan, np.inf


def away_from(rng, shape, kinks, scale=3.0, gap=0.05):
    """Uniform values at least ``gap`` away from each kink (a central difference across one measures neither side)."""
    x = rng.uniform(-scale, scale, shape)
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, x + 2 * gap, x)
    return x


def built_prelu(sample, shared_axes, rng, dtype="float64"):
    """A PReLU built for ``(N, *sample)`` with a random alpha (the default zeros hide half the math)."""
    layer = PReLU(shared_axes=shared_axes, dtype=dtype)
    layer.build((None, *sample))
    layer.params["alpha"][...] = rng.uniform(-0.5, 1.5, layer.params["alpha"].shape)
    return layer


# -- PReLU: values and shapes ---------------------------------------------------------------------------------

def test_prelu_starts_as_a_relu_with_keras_default_zeros():
    layer = PReLU()
    x = np.array([[-2.0, -0.5, 0.0, 3.0]])
    assert_array_equal(layer(x), [[0, 0, 0, 3]])
    assert_array_equal(layer.params["alpha"], np.zeros(4, np.float64))


def test_prelu_known_values_one_alpha_per_channel():
    layer = PReLU(shared_axes=[1, 2], dtype="float64")
    layer.build((None, 1, 2, 2))
    layer.set_weights([np.array([[[0.5, 0.25]]])])
    # channel 0 holds -1, 3, -5, -7 and channel 1 holds -2, -4, 6, 8
    x = np.array([[[[-1.0, -2.0], [3.0, -4.0]]], [[[-5.0, 6.0], [-7.0, 8.0]]]])
    assert_array_equal(layer(x), [[[[-0.5, -0.5], [3, -1]]], [[[-2.5, 6], [-3.5, 8]]]])
    assert_array_equal(layer.backward(np.ones_like(x)), [[[[0.5, 0.25], [1, 0.25]]], [[[0.5, 1], [0.5, 1]]]])
    assert_array_equal(layer.grads["alpha"], [[[-1 - 5 - 7, -2 - 4]]])  # over the batch and the pixels


@pytest.mark.parametrize(("sample", "shared_axes", "alpha_shape"), [
    ((4, 5, 3), None, (4, 5, 3)), ((4, 5, 3), [1, 2], (1, 1, 3)), ((3, 4, 5), [2, 3], (3, 1, 1)),
    ((4, 5, 3), 3, (4, 5, 1)), ((4, 5, 3), (2,), (4, 1, 3)), ((4, 5, 3), [2, 1, 2], (1, 1, 3)),
    ((6,), [1], (1,)), ((6,), [], (6,)),
])
def test_prelu_alpha_has_one_samples_shape_with_shared_axes_of_size_1(sample, shared_axes, alpha_shape):
    layer = PReLU(shared_axes=shared_axes)
    y = layer(np.ones((2, *sample), np.float32))
    assert y.shape == (2, *sample) and layer.params["alpha"].shape == alpha_shape
    assert layer.params["alpha"].dtype == np.float32 and layer.weights[0] is layer.params["alpha"]


def test_prelu_output_shape_through_input_with_a_batch_of_none():
    x = Input((4, 5, 3))
    layer = PReLU(shared_axes=[1, 2])
    y = layer(x)
    assert y.shape == (None, 4, 5, 3)
    assert layer.compute_output_shape((None, 4, 5, 3)) == (None, 4, 5, 3)
    model = Model(x, Conv2D(2, 1)(y))
    assert layer.params["alpha"].shape == (1, 1, 3)
    assert model.compute_output_shape((None, 4, 5, 3)) == (None, 4, 5, 2)
    assert model.predict(np.ones((7, 4, 5, 3), np.float32)).shape == (7, 4, 5, 2)


def test_prelu_built_for_one_channel_count_refuses_another():
    layer = PReLU(shared_axes=[1, 2])
    layer(np.ones((1, 4, 4, 3)))
    assert layer(np.ones((2, 6, 2, 3))).shape == (2, 6, 2, 3)  # shared axes may change size
    with pytest.raises(ValueError, match=r"alpha shape \(1, 1, 3\)\. Received: inputs with shape \(2, 4, 4, 2\)"):
        layer(np.ones((2, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"\(PReLU\).*Received: inputs with shape \(None, 4, 4, 2\)"):
        layer.compute_output_shape((None, 4, 4, 2))


# -- PReLU: gradients ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("sample", "shared_axes"), [
    ((3, 2, 2), None), ((3, 2, 2), [1, 2]), ((2, 3, 2), [2, 3]), ((3, 2, 2), [2]), ((5,), [1]), ((5,), None),
])
def test_prelu_gradients_match_numerical(sample, shared_axes, rng):
    layer = built_prelu(sample, shared_axes, rng)
    dx, grads = check_layer_grads(layer, away_from(rng, (3, *sample), [0.0]), rng)
    assert grads["alpha"].shape == layer.params["alpha"].shape


def test_prelu_alpha_gradient_sums_over_shared_axes_and_the_batch(rng):
    layer = built_prelu((3, 4, 2), [1, 2], rng)
    x = rng.uniform(-2, 2, (5, 3, 4, 2))
    dy = rng.standard_normal(x.shape)
    layer(x)
    layer.backward(dy)
    want = np.zeros((1, 1, 2))
    for n, i, j, c in np.ndindex(x.shape):  # every position of every sample adds into its channel's alpha
        want[0, 0, c] += 0.0 if x[n, i, j, c] > 0 else x[n, i, j, c] * dy[n, i, j, c]
    assert_close(layer.grads["alpha"], want, rtol=1e-13, scale=np.sum(np.abs(x * dy)))
    # the batch's gradient is the sum of each sample's
    per_sample = []
    for n in range(5):
        layer(x[n:n + 1])
        layer.backward(dy[n:n + 1])
        per_sample.append(layer.grads["alpha"].copy())
    assert_close(np.sum(per_sample, axis=0), want, rtol=1e-13, scale=np.sum(np.abs(x * dy)))


def test_prelu_used_twice_in_a_model_adds_both_calls_alpha_gradients(rng):
    x = Input((3, 2), dtype="float64")
    shared = PReLU(shared_axes=[1])
    model = Model(x, shared(shared(x)), seed=0)
    alpha = np.array([[0.5, -0.25]])
    shared.set_weights([alpha])
    data = rng.uniform(-2, 2, (4, 3, 2))
    g = rng.standard_normal(data.shape)
    model(data)
    model.backward(g)
    h = np.where(data > 0, data, alpha * data)  # the first call's output
    dh = np.where(h > 0, g, alpha * g)
    want = (np.where(h > 0, 0, g * h) + np.where(data > 0, 0, dh * data)).sum(axis=(0, 1), keepdims=True)[0]
    assert_allclose(model.grads["p_re_lu/alpha"], want, rtol=1e-12)


# -- PReLU: parity --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_prelu_per_channel_matches_torch_in_float64(data_format, rng):
    torch = import_torch()
    channels = 3
    x = rng.uniform(-3, 3, (2, channels, 4, 5))
    x[0, 0, 0, :2] = 0.0  # the kink: dx = alpha, as torch
    weight = rng.uniform(-1, 1, channels)
    dy = rng.standard_normal(x.shape)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    yt = torch.nn.functional.prelu(xt, wt)
    yt.backward(torch.from_numpy(dy))
    first = data_format == "channels_first"
    layer = PReLU(shared_axes=[2, 3] if first else [1, 2], dtype="float64")
    ours = (lambda a: a) if first else (lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1)))
    back = (lambda a: a) if first else (lambda a: a.transpose(0, 3, 1, 2))
    layer.build((None, *ours(x).shape[1:]))
    layer.set_weights([weight.reshape(channels, 1, 1) if first else weight.reshape(1, 1, channels)])
    assert_array_equal(back(layer(ours(x))), yt.detach().numpy())
    assert_array_equal(back(layer.backward(ours(dy))), xt.grad.numpy())
    assert_close(layer.grads["alpha"].reshape(-1), wt.grad.numpy(), rtol=1e-13, scale=np.sum(np.abs(x * dy)))


@pytest.mark.filterwarnings(KERAS_ARRAY_WARNING)
@pytest.mark.parametrize(("sample", "shared_axes"), [
    ((4, 5, 3), [1, 2]), ((3, 4, 5), [2, 3]), ((4, 5, 3), None), ((4, 5, 3), [1]), ((6,), None), ((2, 3, 4, 2), [1, 3]),
])
def test_prelu_matches_keras_forward(sample, shared_axes, rng):
    keras = import_keras()
    x = rng.uniform(-3, 3, (3, *sample))
    x.reshape(-1)[:2] = 0.0
    ours = built_prelu(sample, shared_axes, rng)
    theirs = keras.layers.PReLU(shared_axes=shared_axes, dtype="float64")
    theirs.build((None, *sample))
    theirs.set_weights(ours.get_weights())  # same alpha shape: Keras' own check
    assert_array_equal(ours(x), keras.ops.convert_to_numpy(theirs(x)))
    assert ours.get_config()["shared_axes"] == (None if shared_axes is None else sorted(set(shared_axes)))
    assert theirs.get_config()["shared_axes"] == shared_axes


# -- Clip -----------------------------------------------------------------------------------------------------

def test_clip_values_and_gradient_at_the_bounds():
    layer = Clip(-1, 2)
    x = np.array([[-3.0, -1.0, 0.0, 2.0, 5.0]])
    assert_array_equal(layer(x), [[-1, -1, 0, 2, 2]])
    assert_array_equal(layer.backward(np.full_like(x, 3.0)), [[0, 3, 3, 3, 0]])
    assert layer.grads == {} and layer.params == {}


@pytest.mark.parametrize("bounds", [(-1.0, 2.0), (None, 0.5), (-0.5, None), (None, None)])
def test_clip_gradient_matches_numerical(bounds, rng):
    x = away_from(rng, (2, 3, 4), [b for b in bounds if b is not None])
    check_layer_grads(Clip(*bounds), x, rng)


@pytest.mark.parametrize("bounds", [(-1.0, 2.0), (None, 2.0), (-1.0, None), (0.5, 0.5)])
def test_clip_matches_torch_clamp_with_bounds_nan_and_inf(bounds, rng):
    # torch.clamp: 1 at the bounds, NaN kept with gradient 0, infinities clipped where there is a bound
    torch = import_torch()
    x = rng.uniform(-3, 3, (2, 8))
    x[0, :5] = [NAN, INF, -INF, *(b if b is not None else 0.0 for b in bounds)]
    dy = rng.standard_normal(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.clamp(xt, *bounds)
    yt.backward(torch.from_numpy(dy))
    layer = Clip(*bounds, dtype="float64")
    assert_array_equal(layer(x), yt.detach().numpy())
    assert_array_equal(layer.backward(dy), xt.grad.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_and_prelu_keep_the_dtype(dtype):
    x = np.linspace(-3, 3, 12).reshape(2, 6).astype(dtype)
    for layer in (Clip(-1, 1), PReLU(alpha_initializer="ones")):
        y = layer(x)
        assert y.dtype == dtype and layer.backward(np.ones_like(y)).dtype == dtype
        assert all(g.dtype == dtype for g in layer.grads.values())


# -- Rescaling with array scale and offset ---------------------------------------------------------------------

def test_rescaling_array_scale_and_offset_normalise_each_channel():
    mean, std = np.array([0.5, 0.25, 0.125]), np.array([2.0, 4.0, 0.5])
    layer = Rescaling(list(1 / std), list(-mean / std), dtype="float64")
    x = np.arange(24, dtype=np.float64).reshape(2, 2, 2, 3)
    assert_allclose(layer(x), (x - mean) / std, rtol=1e-15)
    assert_allclose(layer.backward(np.ones_like(x)), np.broadcast_to(1 / std, x.shape), rtol=0)
    assert layer.params == {} and layer.grads == {}


def test_rescaling_arrays_of_one_samples_shape_and_channels_first():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)
    scale = [[[1.0]], [[2.0]], [[-1.0]]]  # (3, 1, 1): per channel of NCHW
    assert_array_equal(Rescaling(scale, dtype="float64")(x), x * np.array([1.0, 2.0, -1.0]).reshape(3, 1, 1))
    full = np.linspace(-1, 1, 12).reshape(3, 2, 2)
    assert_array_equal(Rescaling(2.0, full, dtype="float64")(x), x * 2 + full)
    assert_array_equal(Rescaling(np.float32(0.5), np.array(3.0))(x).astype(np.float64), x * 0.5 + 3)  # 0-d: a number


@pytest.mark.parametrize(("scale", "offset"), [
    ([0.5, -2.0, 3.0], [0.1, 0.2, -0.3]), ([[1.0], [2.0], [3.0], [4.0]], 1.0), (2.0, [[-1.0, 0.0, 1.0]]),
])
def test_rescaling_gradient_matches_numerical(scale, offset, rng):
    dx, grads = check_layer_grads(Rescaling(scale, offset, dtype="float64"), rng.standard_normal((2, 4, 3)), rng)
    assert grads == {}


@pytest.mark.filterwarnings(KERAS_ARRAY_WARNING)
@pytest.mark.parametrize(("scale", "offset", "sample"), [
    ([1 / 0.229, 1 / 0.224, 1 / 0.225], [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225], (4, 5, 3)),
    ([[[2.0]], [[0.5]]], [[[1.0]], [[-1.0]]], (2, 3, 4)),  # channels first, as (C, 1, 1) arrays
    (np.linspace(0.5, 2, 12).reshape(4, 3), 0.25, (4, 3)),
    (1 / 255, [0.0, -1.0], (3, 2)),
])
def test_rescaling_matches_keras_forward(scale, offset, sample, rng):
    keras = import_keras()
    x = rng.uniform(0, 255, (3, *sample))
    theirs = keras.layers.Rescaling(np.asarray(scale), np.asarray(offset), dtype="float64")
    assert_allclose(Rescaling(scale, offset, dtype="float64")(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-15)
    x32 = x.astype(np.float32)
    theirs32 = keras.layers.Rescaling(np.asarray(scale), np.asarray(offset))
    got = Rescaling(scale, offset)(x32)
    assert got.dtype == np.float32
    assert_allclose(got, keras.ops.convert_to_numpy(theirs32(x32)), rtol=1e-6)


def test_rescaling_array_that_does_not_broadcast_to_the_sample_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"\(Rescaling\): the `scale` argument, of shape \(2,\), must broadcast to one "
                                         r"sample.*Received: inputs with shape \(None, 4, 3\)"):
        Rescaling([1.0, 2.0])(Input((4, 3)))
    with pytest.raises(ValueError, match=r"the `offset` argument, of shape \(1, 4, 3\).*Received: inputs with shape "
                                         r"\(2, 4, 3\)"):
        Rescaling(1.0, np.zeros((1, 4, 3)))(np.ones((2, 4, 3)))  # would broadcast over the batch: refused
    layer = Rescaling([1.0, 2.0, 3.0])
    layer(np.ones((2, 4, 3)))
    with pytest.raises(ValueError, match=r"`scale`.*Received: inputs with shape \(2, 3, 4\)"):
        layer(np.ones((2, 3, 4)))


# -- configs --------------------------------------------------------------------------------------------------

def json_round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    copy = type(layer).from_config(config)
    assert copy.get_config() == layer.get_config()
    return copy, config


def test_prelu_config_round_trip(rng):
    layer = PReLU(alpha_initializer="ones", shared_axes=(2, 1), name="act", dtype="float64")
    copy, config = json_round_trip(layer)
    assert config["shared_axes"] == [1, 2] and config["alpha_initializer"]["class_name"] == "Ones"
    x = rng.uniform(-2, 2, (2, 3, 4, 2))
    assert_array_equal(copy(x), layer(x))
    assert_array_equal(copy(x), x)  # alpha = 1
    assert json_round_trip(PReLU())[1]["shared_axes"] is None


@pytest.mark.parametrize("bounds", [(-1.5, 2.0), (None, 0.0), (-3, None), (None, None)])
def test_clip_config_round_trip(bounds, rng):
    copy, config = json_round_trip(Clip(*bounds, name="clamp"))
    assert (config["min_value"], config["max_value"]) == bounds
    x = rng.uniform(-4, 4, (3, 5))
    assert_array_equal(copy(x), Clip(*bounds)(x))


@pytest.mark.parametrize(("scale", "offset"), [
    (1 / 255, 0.0), ([0.5, 2.0, -1.0], [0.1, 0.2, 0.3]), (np.array([[[2.0]], [[3.0]]]), 1.5),
    (2.0, np.linspace(0, 1, 6).reshape(2, 3)),
])
def test_rescaling_config_round_trip_with_arrays(scale, offset, rng):
    layer = Rescaling(scale, offset, name="norm")
    copy, config = json_round_trip(layer)
    assert config["scale"] == np.asarray(scale).tolist() and config["offset"] == np.asarray(offset).tolist()
    x = rng.uniform(0, 1, (2, 2, 2, 3)).astype(np.float32)
    assert_array_equal(copy(x), layer(x))


def test_a_model_with_the_three_layers_saves_and_loads(tmp_path, rng):
    model = Sequential([Rescaling([0.5, 2.0], [1.0, -1.0]), PReLU(shared_axes=[1], alpha_initializer="random_normal"),
                        Clip(-1.0, 1.5)], seed=0)
    x = rng.uniform(-2, 2, (3, 4, 2)).astype(np.float32)
    want = model.predict(x)
    model.save(tmp_path / "m.safetensors")
    loaded = numcnn.load(tmp_path / "m.safetensors")
    assert_array_equal(loaded.predict(x), want)
    assert_array_equal(loaded.layers[1].params["alpha"], model.layers[1].params["alpha"])


# -- refused arguments ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shared_axes", ["1", [1.0], [True], [[1]], [0], 0, [1, 0], [-1], {1, 2}, [1, None]])
def test_prelu_bad_shared_axes_are_refused_with_their_name(shared_axes):
    with pytest.raises(ValueError, match=re.escape("The `shared_axes` argument must be None, an int or a list of "
                                                   "ints >= 1") + r".*Received: shared_axes="):
        PReLU(shared_axes=shared_axes)


@pytest.mark.parametrize("shared_axes", [[4], [1, 2, 3, 4], 7])
def test_prelu_shared_axes_beyond_the_rank_are_refused_naming_them(shared_axes):
    with pytest.raises(ValueError, match=r"the `shared_axes` argument must name axes from 1 to 3 of its input\. "
                                         r"Received: shared_axes=\[.*for inputs with shape \(None, 4, 5, 3\)"):
        PReLU(shared_axes=shared_axes)(Input((4, 5, 3)))
    with pytest.raises(ValueError, match=r"`shared_axes`.*Received: shared_axes=.*\(2, 4, 5, 3\)"):
        PReLU(shared_axes=shared_axes)(np.ones((2, 4, 5, 3)))


def test_prelu_bad_initializer_is_refused_with_its_name():
    with pytest.raises(ValueError, match=r"`alpha_initializer`.*Received"):
        PReLU(alpha_initializer="no_such_initializer")


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(min_value=2.0, max_value=1.0), r"`min_value` argument must be <= max_value\. Received: min_value=2\.0, "
                                         r"max_value=1\.0"),
    (dict(min_value="0"), r"`min_value`.*Received: min_value='0'"),
    (dict(max_value=np.nan), r"`max_value`.*Received: max_value=nan"),
    (dict(max_value=[6.0]), r"`max_value`.*Received: max_value=\[6\.0\]"),
])
def test_clip_bad_bounds_are_refused_with_their_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Clip(**kwargs)


@pytest.mark.parametrize("name", ["scale", "offset"])
@pytest.mark.parametrize("value", [["1.5", "2"], [1.0, None], [True, False], [[1.0, 2.0], [3.0]], [], "0.5",
                                   np.array(["1"]), [1 + 2j], None])
def test_rescaling_non_numeric_scale_or_offset_is_refused_with_its_name(name, value):
    kwargs = {"scale": 1.0, "offset": 0.0, name: value}
    with pytest.raises(ValueError, match=rf"The `{name}` argument must be a .*number.*Received: {name}="):
        Rescaling(**kwargs)


def test_prelu_on_inputs_of_one_axis_has_one_scalar_alpha(rng):
    """(N,) inputs: a sample is a number, so alpha has shape () (Keras' too); it was stored as (1,), and then every
    call was refused as 'built for samples of alpha shape (1,)'."""
    layer = PReLU(alpha_initializer={"class_name": "Constant", "config": {"value": 0.25}}, dtype="float64")
    x = np.array([-2.0, 0.0, 3.0, -4.0])
    assert_array_equal(layer(x), [-0.5, 0.0, 3.0, -1.0])
    assert layer.params["alpha"].shape == () and [w.shape for w in layer.get_weights()] == [()]
    assert_array_equal(layer.backward(np.ones(4)), [0.25, 0.25, 1.0, 0.25])  # alpha at exactly 0, as PyTorch
    assert layer.grads["alpha"].shape == () and layer.grads["alpha"] == -2.0 - 4.0
    layer.set_weights([np.array(-1.5)])
    assert_array_equal(layer(np.array([-2.0, 1.0, 5.0])), [3.0, 1.0, 5.0])  # a second call, another batch size
    check_layer_grads(layer, away_from(rng, (5,), [0.0]), rng)
