"""Local response normalisation: known values, the ONNX definition as a slow loop, float64 numerical
gradients, PyTorch parity (values and input gradient), the layer, and ONNX export."""

import json
import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from helpers import assert_close, check_directional_grad, import_torch, numerical_grad
from numcnn import Sequential
from numcnn.functional.lrn import (
    LRNCache,
    local_response_norm,
    local_response_norm_backward,
    local_response_norm_forward,
    lrn_window,
    window_sum,
)
from numcnn.layers.normalization import LocalResponseNormalization

FORMATS = ("channels_last", "channels_first")


def to_channels_first(x, data_format):
    return x if data_format == "channels_first" else np.moveaxis(x, -1, 1)


def from_channels_first(x, data_format):
    return x if data_format == "channels_first" else np.moveaxis(x, 1, -1)


def window(c, channels, size):
    """ONNX's window of channel ``c``, literally: max(0, c - floor((size-1)/2)) ... min(C-1, c + ceil((size-1)/2))."""
    return range(max(0, c - math.floor((size - 1) / 2)), min(channels - 1, c + math.ceil((size - 1) / 2)) + 1)


def lrn_reference(x, size, alpha, beta, bias, data_format):
    """ONNX's LRN, one element at a time."""
    a = to_channels_first(np.asarray(x, dtype=np.float64), data_format)
    n, channels = a.shape[:2]
    flat = a.reshape(n, channels, -1)
    out = np.empty_like(flat)
    for b in range(n):
        for p in range(flat.shape[2]):
            for c in range(channels):
                square_sum = sum(flat[b, i, p] ** 2 for i in window(c, channels, size))
                out[b, c, p] = flat[b, c, p] / (bias + alpha / size * square_sum) ** beta
    return from_channels_first(out.reshape(a.shape), data_format)


def lrn_backward_reference(x, dy, size, alpha, beta, bias, data_format):
    """The derivative by the chain rule, one window at a time: y_c = x_c * d_c ** -beta depends on x_c
    directly and on every x_j of its window through d_c."""
    a = to_channels_first(np.asarray(x, dtype=np.float64), data_format)
    g = to_channels_first(np.asarray(dy, dtype=np.float64), data_format)
    n, channels = a.shape[:2]
    fa, fg = a.reshape(n, channels, -1), g.reshape(n, channels, -1)
    dx = np.zeros_like(fa)
    for b in range(n):
        for p in range(fa.shape[2]):
            for c in range(channels):
                d = bias + alpha / size * sum(fa[b, i, p] ** 2 for i in window(c, channels, size))
                dx[b, c, p] += fg[b, c, p] * d ** -beta
                for j in window(c, channels, size):  # d(d_c)/d(x_j) = 2 alpha / size * x_j
                    dx[b, j, p] += fg[b, c, p] * fa[b, c, p] * -beta * d ** (-beta - 1) * 2 * alpha / size * fa[b, j, p]
    return from_channels_first(dx.reshape(a.shape), data_format)


@st.composite
def lrn_cases(draw):
    """(x, dy, size, alpha, beta, bias, data_format): small inputs of rank 2 to 5, sizes up to past C."""
    data_format = draw(st.sampled_from(FORMATS))
    channels = draw(st.integers(1, 8))
    spatial = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    n = draw(st.integers(1, 2))
    shape = (n, *spatial, channels) if data_format == "channels_last" else (n, channels, *spatial)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = draw(st.integers(1, 10))
    alpha = draw(st.sampled_from([1e-4, 0.1, 0.5, 2.0]))
    beta = draw(st.sampled_from([0.75, 0.5, 1.0, 1.5]))
    bias = draw(st.sampled_from([1.0, 2.0, 0.5]))
    return (rng.standard_normal(shape) * 2, rng.standard_normal(shape), size, alpha, beta, bias, data_format)


# 1. Known values --------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_ones_three_channels_size_three(data_format):
    # the windows hold 2, 3 and 2 channels: 1 / (1 + 3/3 * 2), 1 / (1 + 3/3 * 3), 1 / (1 + 3/3 * 2)
    x = from_channels_first(np.ones((1, 3, 1, 1)), data_format)
    y = local_response_norm(x, size=3, alpha=3.0, beta=1.0, bias=1.0, data_format=data_format)
    assert_allclose(to_channels_first(y, data_format).reshape(-1), [1 / 3, 1 / 4, 1 / 3], rtol=1e-15)


def test_size_one_is_each_value_on_its_own():
    x = np.array([[1.0, -2.0, 3.0]])
    assert_allclose(local_response_norm(x, size=1, alpha=1.0, beta=0.5, bias=1.0), x / np.sqrt(1 + x ** 2),
                    rtol=1e-15)


def test_even_size_window_reaches_one_channel_further_up():
    # size 2: channel c sums c and c + 1 (ONNX); a single 1 in channel 1 is seen by channels 0 and 1 only
    assert lrn_window(2) == (0, 1) and lrn_window(4) == (1, 2) and lrn_window(5) == (2, 2)
    x = np.array([[0.0, 1.0, 0.0, 0.0]])
    _, cache = local_response_norm_forward(x, size=2, alpha=2.0, beta=1.0, bias=1.0)
    assert_array_equal(cache.d, [[2.0, 2.0, 1.0, 1.0]])  # 1 + 2/2 * (square sum)


def test_a_window_larger_than_the_channels_sums_them_all():
    x = np.array([[1.0, 2.0, 3.0]])
    y = local_response_norm(x, size=11, alpha=11.0, beta=1.0, bias=0.0)
    assert_allclose(y, x / 14.0, rtol=1e-15)


def test_alexnet_defaults():
    # size 5, alpha 1e-4, beta 0.75, bias 1: an all-10 5-channel pixel; the middle channel sees 5 of them
    y = local_response_norm(np.full((1, 1, 1, 5), 10.0))
    expected = [10 / (1 + 1e-4 / 5 * 100 * k) ** 0.75 for k in (3, 4, 5, 4, 3)]
    assert_allclose(y[0, 0, 0], expected, rtol=1e-15)


def test_backward_known_values():
    # two channels, size 2 (channel 0 sums 0 and 1, channel 1 sums itself), alpha 2, beta 1, bias 1:
    # y0 = x0 / (1 + x0^2 + x1^2), y1 = x1 / (1 + x1^2); at x = (1, 1): d0 = 3, d1 = 2
    _, cache = local_response_norm_forward(np.array([[1.0, 1.0]]), size=2, alpha=2.0, beta=1.0, bias=1.0)
    # dy = (1, 0): dy0/dx0 = (d0 - 2 x0^2) / d0^2 = 1/9, dy0/dx1 = -2 x0 x1 / d0^2 = -2/9
    assert_allclose(local_response_norm_backward(np.array([[1.0, 0.0]]), cache), [[1 / 9, -2 / 9]], rtol=1e-15)
    # dy = (0, 1): y1 does not depend on x0; dy1/dx1 = (d1 - 2 x1^2) / d1^2 = 0
    assert_allclose(local_response_norm_backward(np.array([[0.0, 1.0]]), cache), [[0.0, 0.0]], atol=1e-16)


def test_window_sum_and_its_mirror():
    a = np.arange(1.0, 6.0)[None]
    assert_array_equal(window_sum(a, 1, 1, 2), [[1 + 2 + 3, 1 + 2 + 3 + 4, 2 + 3 + 4 + 5, 3 + 4 + 5, 4 + 5]])
    assert_array_equal(window_sum(a, 1, 2, 1), [[1 + 2, 1 + 2 + 3, 1 + 2 + 3 + 4, 2 + 3 + 4 + 5, 3 + 4 + 5]])
    assert_array_equal(window_sum(a, 1, 0, 0), a)


def test_tensorflow_form_is_size_2r_plus_1_and_alpha_times_size(rng):
    # tf.nn.local_response_normalization: sqr_sum over d - r ... d + r; x / (bias + alpha * sqr_sum) ** beta
    x = rng.standard_normal((2, 3, 3, 7))
    r, alpha_tf, beta, bias = 2, 0.3, 0.75, 2.0
    padded = np.pad(x ** 2, [(0, 0)] * 3 + [(r, r)])
    sqr_sum = sum(padded[..., k:k + 7] for k in range(2 * r + 1))
    tf_form = x / (bias + alpha_tf * sqr_sum) ** beta
    size = 2 * r + 1
    assert_allclose(local_response_norm(x, size, alpha_tf * size, beta, bias), tf_form, rtol=1e-13)


# 2. The ONNX definition, element by element -----------------------------------------------------

@given(lrn_cases())
def test_forward_matches_the_onnx_definition(case):
    x, _, size, alpha, beta, bias, data_format = case
    assert_close(local_response_norm(x, size, alpha, beta, bias, data_format),
                 lrn_reference(x, size, alpha, beta, bias, data_format), rtol=1e-12)


@given(lrn_cases())
def test_backward_matches_the_chain_rule_loop(case):
    x, dy, size, alpha, beta, bias, data_format = case
    _, cache = local_response_norm_forward(x, size, alpha, beta, bias, data_format)
    expected = lrn_backward_reference(x, dy, size, alpha, beta, bias, data_format)
    assert_close(local_response_norm_backward(dy, cache), expected, rtol=1e-10,
                 scale=float(np.abs(expected).max()) + 1e-300)


# 3. Numerical gradients (float64) ---------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 9])
def test_gradient_matches_numerical(size, data_format, rng):
    # alpha large enough that every neighbour's term matters
    shape = (2, 2, 3, 6) if data_format == "channels_last" else (2, 6, 2, 3)
    x = rng.standard_normal(shape)
    g = rng.standard_normal(shape)
    args = (size, 0.8, 0.75, 1.0, data_format)
    _, cache = local_response_norm_forward(x, *args)
    dx = local_response_norm_backward(g, cache)
    assert_close(dx, numerical_grad(lambda v: np.sum(local_response_norm(v, *args) * g), x), rtol=1e-7)


@pytest.mark.parametrize("data_format", FORMATS)
def test_every_channel_of_a_window_gets_gradient(data_format):
    # dy on one output channel only: the gradient reaches exactly that channel's window (ONNX's, size 4: c-1 .. c+2)
    x = from_channels_first(np.ones((1, 8, 1, 1)), data_format)
    dy = from_channels_first(np.eye(8)[3].reshape(1, 8, 1, 1), data_format)
    _, cache = local_response_norm_forward(x, 4, 0.5, 0.75, 1.0, data_format)
    dx = to_channels_first(local_response_norm_backward(dy, cache), data_format).reshape(-1)
    assert list(np.flatnonzero(dx)) == [2, 3, 4, 5]
    assert dx[3] > 0 and (dx[[2, 4, 5]] < 0).all()


def test_directional_gradient_on_a_larger_input(rng):
    x = rng.standard_normal((2, 5, 5, 16))
    g = rng.standard_normal(x.shape)
    _, cache = local_response_norm_forward(x, 5, 1.0, 0.75, 2.0)
    check_directional_grad(lambda v: np.sum(local_response_norm(v, 5, 1.0, 0.75, 2.0) * g), x,
                           local_response_norm_backward(g, cache), rng)


# 4. PyTorch parity (float64): values and input gradient -----------------------------------------

def torch_lrn(x_nc, dy_nc, size, alpha, beta, bias):
    """torch.nn.functional.local_response_norm on a channels-first array: (y, dx)."""
    torch = import_torch()
    xt = torch.tensor(x_nc, dtype=torch.float64, requires_grad=True)
    yt = torch.nn.functional.local_response_norm(xt, size, alpha=alpha, beta=beta, k=bias)
    yt.backward(torch.tensor(dy_nc, dtype=torch.float64))
    return yt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("data_format", FORMATS)
@given(case=lrn_cases().filter(lambda c: c[0].ndim >= 3), odd=st.integers(0, 4))
def test_odd_sizes_match_torch(data_format, case, odd):
    x, dy, _, alpha, beta, bias, case_format = case
    size = 2 * odd + 1
    if case_format != data_format:  # same data, the other layout
        x, dy = (from_channels_first(to_channels_first(a, case_format), data_format) for a in (x, dy))
    y, cache = local_response_norm_forward(x, size, alpha, beta, bias, data_format)
    dx = local_response_norm_backward(dy, cache)
    y_torch, dx_torch = torch_lrn(to_channels_first(x, data_format), to_channels_first(dy, data_format), size, alpha,
                                  beta, bias)
    assert_close(to_channels_first(y, data_format), y_torch, rtol=1e-12)
    assert_close(to_channels_first(dx, data_format), dx_torch, rtol=1e-10)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("size", [2, 4, 6])
def test_even_sizes_are_torch_on_reversed_channels(size, data_format, rng):
    # PyTorch's even window reaches one channel further down, ONNX's (ours) one further up: reversing
    # the channels turns one into the other, for the values and the gradient
    x_nc, dy_nc = rng.standard_normal((2, 7, 3, 2)), rng.standard_normal((2, 7, 3, 2))
    y, cache = local_response_norm_forward(from_channels_first(x_nc, data_format), size, 0.9, 0.75, 1.0, data_format)
    dx = to_channels_first(local_response_norm_backward(from_channels_first(dy_nc, data_format), cache), data_format)
    y_torch, dx_torch = torch_lrn(x_nc[:, ::-1].copy(), dy_nc[:, ::-1].copy(), size, 0.9, 0.75, 1.0)
    assert_close(to_channels_first(y, data_format), y_torch[:, ::-1], rtol=1e-12)
    assert_close(dx, dx_torch[:, ::-1], rtol=1e-10)
    y_direct, _ = torch_lrn(x_nc, dy_nc, size, 0.9, 0.75, 1.0)
    assert not np.allclose(to_channels_first(y, data_format), y_direct)  # the documented difference


def test_nan_and_inf_spread_over_their_windows_as_in_torch():
    x = np.ones((1, 6, 1, 1))
    x[0, 1], x[0, 4] = np.nan, np.inf
    y, cache = local_response_norm_forward(x, 3, 1.0, 0.75, 1.0, "channels_first")
    y_torch, dx_torch = torch_lrn(x, np.ones_like(x), 3, 1.0, 0.75, 1.0)
    assert_array_equal(np.isnan(y), np.isnan(y_torch))
    assert_allclose(y, y_torch, rtol=1e-12)  # NaN where torch has NaN, the same values elsewhere
    assert_array_equal(np.isnan(local_response_norm_backward(np.ones_like(x), cache)), np.isnan(dx_torch))


# dtypes, bad arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype, rng):
    x = rng.standard_normal((2, 3, 3, 4)).astype(dtype)
    y, cache = local_response_norm_forward(x, 3, 0.5)
    assert y.dtype == dtype and isinstance(cache, LRNCache)
    assert local_response_norm_backward(np.ones_like(y), cache).dtype == dtype


def test_integer_input_is_computed_in_float32():
    assert local_response_norm(np.ones((1, 2, 2, 3), dtype=np.int64)).dtype == np.float32


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(size=0), "size"), (dict(size=-1), "size"), (dict(size=2.0), "size"), (dict(size=True), "size"),
    (dict(alpha=float("nan")), "alpha"), (dict(alpha="1e-4"), "alpha"), (dict(beta=float("inf")), "beta"),
    (dict(bias=None), "bias"), (dict(data_format="NHWC"), "data_format"),
])
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`.*Received: "):
        local_response_norm(np.ones((1, 2, 2, 3)), **kwargs)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="`x`.*at least 2D.*Received: "):
        local_response_norm(np.ones(3))
    with pytest.raises(TypeError, match="`x`"):
        local_response_norm(np.array(["a", "b"]))
    _, cache = local_response_norm_forward(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"`dy`.*\(1, 3\).*Received: dy with shape \(3,\)"):
        local_response_norm_backward(np.ones(3), cache)


# The layer ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_layer_is_the_functional_op_and_its_gradient(data_format, rng):
    layer = LocalResponseNormalization(size=3, alpha=0.7, beta=0.6, bias=1.5, data_format=data_format)
    shape = (2, 3, 2, 5) if data_format == "channels_last" else (2, 5, 3, 2)
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    assert_array_equal(layer(x), local_response_norm(x, 3, 0.7, 0.6, 1.5, data_format))
    dx = layer.backward(g)
    assert layer.grads == {} and layer.weights == [] and layer.count_params() == 0
    assert_close(dx, numerical_grad(lambda v: np.sum(layer(v) * g), x), rtol=1e-7)


@pytest.mark.parametrize("data_format", FORMATS)
def test_layer_matches_torch_local_response_norm(data_format, rng):
    torch = import_torch()
    x_nc = rng.standard_normal((2, 6, 4, 3))
    dy_nc = rng.standard_normal(x_nc.shape)
    layer = LocalResponseNormalization(5, alpha=2e-1, beta=0.75, bias=2.0, data_format=data_format, dtype="float64")
    y = to_channels_first(layer(from_channels_first(x_nc, data_format)), data_format)
    dx = to_channels_first(layer.backward(from_channels_first(dy_nc, data_format)), data_format)
    module = torch.nn.LocalResponseNorm(5, alpha=2e-1, beta=0.75, k=2.0)
    xt = torch.tensor(x_nc, requires_grad=True)
    yt = module(xt)
    yt.backward(torch.tensor(dy_nc))
    assert_close(y, yt.detach().numpy(), rtol=1e-12)
    assert_close(dx, xt.grad.numpy(), rtol=1e-10)


def test_layer_defaults_and_config_round_trip():
    layer = LocalResponseNormalization()
    assert (layer.size, layer.alpha, layer.beta, layer.bias, layer.data_format) == (5, 1e-4, 0.75, 1.0, "channels_last")
    layer = LocalResponseNormalization(size=np.int64(4), alpha=2e-4, beta=0.5, bias=2, data_format="Channels_First",
                                       name="lrn", dtype="float64")
    config = json.loads(json.dumps(layer.get_config()))
    assert config == {"name": "lrn", "trainable": True, "dtype": "float64", "size": 4, "alpha": 2e-4, "beta": 0.5,
                      "bias": 2.0, "data_format": "channels_first"}
    copy = LocalResponseNormalization.from_config(config)
    assert copy.get_config() == config
    x = np.random.default_rng(0).standard_normal((2, 6, 3, 3))
    assert_array_equal(copy(x), layer(x))


@pytest.mark.parametrize("shape", [(None, 8, 8, 3), (4, 5, 6), (None, 7)])
def test_layer_output_shape_without_data(shape):
    assert LocalResponseNormalization().compute_output_shape(shape) == shape


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(size=0), "size"), (dict(size=3.5), "size"), (dict(alpha=float("inf")), "alpha"), (dict(beta="1"), "beta"),
    (dict(bias=float("nan")), "bias"), (dict(data_format="channels_middle"), "data_format"),
])
def test_layer_refuses_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`.*Received: "):
        LocalResponseNormalization(**kwargs)


def test_layer_refuses_inputs_without_a_channel_axis():
    with pytest.raises(ValueError, match="'local_response_normalization'.*Received: inputs with shape"):
        LocalResponseNormalization().compute_output_shape((None,))
    with pytest.raises(ValueError, match="Received: inputs with shape"):
        LocalResponseNormalization()(np.ones(4))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layer_keeps_its_dtype(dtype, rng):
    layer = LocalResponseNormalization(dtype=dtype)
    y = layer(rng.standard_normal((2, 3, 3, 4)))
    assert y.dtype == dtype and layer.backward(np.ones_like(y)).dtype == dtype


# ONNX export: the LRN node for odd sizes on 4D inputs, the written-out form otherwise --------------

@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("size", "shape", "op"), [
    (5, (4, 5, 7), "LRN"), (3, (3, 3, 4), "LRN"), (1, (2, 2, 3), "LRN"), (9, (2, 3, 4), "LRN"),
    (4, (4, 5, 7), "AveragePool"), (2, (3, 3, 4), "AveragePool"), (6, (2, 2, 3), "AveragePool"),
    (3, (5, 7), "AveragePool"), (4, (6,), "AveragePool"),
])
def test_onnx_export_matches_predict(size, shape, op, data_format, tmp_path, rng):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from numcnn.io.onnx_export import export_onnx

    sample = shape if data_format == "channels_last" else (shape[-1], *shape[:-1])
    model = Sequential([LocalResponseNormalization(size, alpha=0.5, beta=0.75, bias=1.5, data_format=data_format)])
    x = (rng.standard_normal((3, *sample)) * 2).astype(np.float32)
    model(x[:1])
    path = tmp_path / "lrn.onnx"
    proto = export_onnx(model, path)
    onnx.checker.check_model(os.fspath(path), full_check=True)
    assert op in [node.op_type for node in proto.graph.node]
    got = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opset", [13, 18])
def test_onnx_export_in_other_opsets(opset, tmp_path, rng):
    ort = pytest.importorskip("onnxruntime")
    from numcnn.io.onnx_export import export_onnx

    model = Sequential([LocalResponseNormalization(5, alpha=1.0), LocalResponseNormalization(4, alpha=1.0)])
    x = rng.standard_normal((2, 3, 3, 6)).astype(np.float32)
    model(x)
    export_onnx(model, tmp_path / "m.onnx", opset=opset)
    got = ort.InferenceSession(os.fspath(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-6)
