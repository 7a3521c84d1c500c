"""ReLU layer with Keras' options (max_value, negative_slope, threshold): values, gradients at the kinks,
Keras forward parity, PyTorch parity, config, bad arguments and ONNX export."""

import json
import math
import os

import numpy as np
import pytest
from _layer_grad import check_layer_grads
from helpers import import_keras, import_torch
from numpy.testing import assert_allclose, assert_array_equal

from numcnn import Sequential
from numcnn.layers.core import ReLU

OPTIONS = [  # ReLU(**kwargs)
    dict(), dict(max_value=6), dict(max_value=6.0, negative_slope=0.1), dict(max_value=2.5),
    dict(negative_slope=0.3), dict(threshold=1.5), dict(negative_slope=0.5, threshold=2.0),
    dict(max_value=4, negative_slope=0.2, threshold=1.0), dict(max_value=1.0, threshold=2.0),
    dict(max_value=1.0, negative_slope=0.25, threshold=2.0), dict(max_value=0), dict(max_value=3, threshold=1),
]
IDS = [",".join(f"{k}={v}" for k, v in kw.items()) or "defaults" for kw in OPTIONS]


def inputs(rng, kwargs, shape=(3, 4, 5)):
    """Random values with the kinks (0, threshold, max_value) in them exactly."""
    x = rng.uniform(-8, 8, shape)
    flat = x.reshape(-1)
    flat[:3] = [0.0, kwargs.get("threshold", 0.0), kwargs.get("max_value") or 0.0]
    return x


def expected(x, max_value=None, negative_slope=0.0, threshold=0.0):
    upper = x if max_value is None else np.minimum(x, max_value)
    return np.where(x > threshold, upper, negative_slope * (x - threshold))


@pytest.mark.parametrize("kwargs", OPTIONS, ids=IDS)
def test_values(kwargs, rng):
    x = inputs(rng, kwargs)
    assert_array_equal(ReLU(**kwargs)(x), expected(x, **kwargs))


def test_relu6_values_and_gradient_at_0_and_6():
    layer = ReLU(max_value=6)
    x = np.array([[-1.0, 0.0, 0.5, 6.0, 7.0]])
    assert_array_equal(layer(x), [[0, 0, 0.5, 6, 6]])
    assert_array_equal(layer.backward(np.ones_like(x)), [[0, 0, 1, 0, 0]])  # as torch relu6: 0 at 0 and at 6


def test_keras_layer_docstring_example():
    y = ReLU(max_value=10, negative_slope=0.5, threshold=0)(np.array([[-10, -5, 0.0, 5, 10]]))
    assert_array_equal(y, [[-5, -2.5, 0, 5, 10]])


@pytest.mark.parametrize("kwargs", OPTIONS, ids=IDS)
def test_gradients_match_numerical(kwargs, rng):
    x = rng.uniform(-8, 8, (2, 3, 4))
    kinks = [0.0, kwargs.get("threshold", 0.0), kwargs.get("max_value", 0.0)]
    for k in kinks:  # a finite difference across a kink measures neither side
        x[np.abs(x - k) < 0.01] += 0.05
    _, grads = check_layer_grads(ReLU(**kwargs), x, rng)
    assert grads == {}


KERAS_ARRAY_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword"  # Keras', not ours


@pytest.mark.filterwarnings(KERAS_ARRAY_WARNING)
@pytest.mark.parametrize("kwargs", OPTIONS, ids=IDS)
def test_matches_keras_forward(kwargs, rng):
    keras = import_keras()
    x = inputs(rng, kwargs, (4, 3, 5))
    want = keras.ops.convert_to_numpy(keras.layers.ReLU(**kwargs, dtype="float64")(x))
    assert_array_equal(ReLU(**kwargs)(x), want)
    x32 = x.astype(np.float32)
    got32 = ReLU(**kwargs)(x32)
    assert got32.dtype == np.float32
    assert_allclose(got32, keras.ops.convert_to_numpy(keras.layers.ReLU(**kwargs)(x32)), rtol=1e-6)


@pytest.mark.filterwarnings(KERAS_ARRAY_WARNING)
def test_config_keys_are_keras_ones():
    keras = import_keras()
    ours = ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5).get_config()
    theirs = keras.layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5).get_config()
    for key in ("max_value", "negative_slope", "threshold"):
        assert ours[key] == theirs[key]


@pytest.mark.parametrize("kwargs", OPTIONS, ids=IDS)
def test_matches_torch_in_float64(kwargs, rng):
    torch = import_torch()
    F = torch.nn.functional
    x = inputs(rng, kwargs)
    dy = rng.standard_normal(x.shape)
    top, slope, bend = kwargs.get("max_value"), kwargs.get("negative_slope", 0.0), kwargs.get("threshold", 0.0)
    xt = torch.tensor(x, requires_grad=True)
    if top == 6 and slope == 0 and bend == 0:
        yt = F.relu6(xt)
    elif slope == 0 and bend == 0:
        yt = F.relu(xt) if top is None else F.hardtanh(xt, 0.0, float(top))
    else:  # torch ops with the same kinks: hardtanh's exclusive bounds, leaky_relu's slope at 0
        upper = xt if top is None else F.hardtanh(xt, -math.inf, float(top))
        yt = torch.where(xt > bend, upper, F.leaky_relu(xt - bend, slope) if slope else torch.zeros_like(xt))
    yt.backward(torch.from_numpy(dy))
    layer = ReLU(**kwargs)
    assert_array_equal(layer(x), yt.detach().numpy())
    assert_array_equal(layer.backward(dy), xt.grad.numpy())


def test_plain_relu_takes_the_path_it_always_took():
    layer = ReLU()
    assert layer._options == ()
    layer(np.array([[-1.0, 2.0]]))
    cache, _ = layer._last_cache
    assert type(cache) is np.ndarray and cache.dtype == bool  # relu_forward's mask, no options object
    assert ReLU(0.0 + 1e-300)._options != ()  # any option takes the general path


@pytest.mark.parametrize("kwargs", OPTIONS, ids=IDS)
def test_config_round_trip(kwargs, rng):
    layer = ReLU(**kwargs, name="act")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["max_value"] == kwargs.get("max_value")
    assert config["negative_slope"] == kwargs.get("negative_slope", 0.0)
    assert config["threshold"] == kwargs.get("threshold", 0.0)
    copy = ReLU.from_config(config)
    assert copy.get_config() == layer.get_config()
    x = inputs(rng, kwargs)
    assert_array_equal(copy(x), layer(x))


def test_defaults_config_and_output_shape():
    assert ReLU().get_config() == {"name": "re_lu", "trainable": True, "max_value": None, "negative_slope": 0.0,
                                   "threshold": 0.0}
    assert ReLU(max_value=6).compute_output_shape((None, 7, 7, 3)) == (None, 7, 7, 3)


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(max_value=-1), "max_value"), (dict(max_value="6"), "max_value"), (dict(max_value=float("inf")), "max_value"),
    (dict(negative_slope=-0.5), "negative_slope"), (dict(negative_slope=None), "negative_slope"),
    (dict(negative_slope=float("nan")), "negative_slope"), (dict(threshold=-0.1), "threshold"),
    (dict(threshold=None), "threshold"), (dict(threshold=[1.0]), "threshold"), (dict(max_value=True), "max_value"),
])
def test_bad_arguments_are_refused_with_their_name(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`.*Received: {name}="):
        ReLU(**kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(dtype):
    layer = ReLU(max_value=6, negative_slope=0.1, threshold=1.0)
    y = layer(np.linspace(-3, 9, 12).reshape(2, 6).astype(dtype))
    assert y.dtype == dtype and layer.backward(np.ones_like(y)).dtype == dtype


# ONNX export: Relu, Clip, LeakyRelu, ThresholdedRelu (+ Min), or Where for a slope with a threshold -------------

ONNX_OPS = {  # the ONNX nodes each option set becomes
    "defaults": ["Relu"], "max_value=6": ["Clip"], "max_value=6.0,negative_slope=0.1": ["LeakyRelu", "Min"],
    "max_value=2.5": ["Clip"], "negative_slope=0.3": ["LeakyRelu"], "threshold=1.5": ["ThresholdedRelu"],
    "negative_slope=0.5,threshold=2.0": ["Sub", "Mul", "LessOrEqual", "Where"],
    "max_value=4,negative_slope=0.2,threshold=1.0": ["Min", "Sub", "Mul", "LessOrEqual", "Where"],
    "max_value=1.0,threshold=2.0": ["ThresholdedRelu", "Min"],
    "max_value=1.0,negative_slope=0.25,threshold=2.0": ["Min", "Sub", "Mul", "LessOrEqual", "Where"],
    "max_value=0": ["Clip"], "max_value=3,threshold=1": ["ThresholdedRelu", "Min"],
}


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("kwargs", OPTIONS, ids=IDS)
def test_onnx_export_matches_predict(kwargs, opset, tmp_path, rng):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from numcnn.io.onnx_export import export_onnx

    model = Sequential([ReLU(**kwargs)])
    x = inputs(rng, kwargs, (5, 4, 3)).astype(np.float32)
    model(x[:1])
    path = tmp_path / "relu.onnx"
    proto = export_onnx(model, path, opset=opset)
    onnx.checker.check_model(os.fspath(path), full_check=True)
    assert sorted(node.op_type for node in proto.graph.node) == sorted(ONNX_OPS[IDS[OPTIONS.index(kwargs)]])
    got = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=0)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_onnx_export_after_a_conv_in_both_data_formats(data_format, tmp_path, rng):
    ort = pytest.importorskip("onnxruntime")
    from numcnn.io.onnx_export import export_onnx
    from numcnn.layers import Conv2D

    shape = (6, 6, 2) if data_format == "channels_last" else (2, 6, 6)
    model = Sequential([Conv2D(3, 3, data_format=data_format, input_shape=shape, seed=0),
                        ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2)])
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    export_onnx(model, tmp_path / "m.onnx")
    got = ort.InferenceSession(os.fspath(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-6)
