"""ZeroPadding2D, Cropping2D, UpSampling2D, Permute: values, shapes without data, gradients, configs, Keras,
PyTorch, ONNX, and ShuffleNet's channel shuffle (Reshape + Permute + Reshape)."""

import json
import os

import numpy as np
import pytest
from _layer_grad import check_layer_grads
from helpers import assert_close, check_directional_grad, import_keras, import_torch
from numpy.testing import assert_array_equal

from numcnn import Sequential
from numcnn.functional import reshaping as R
from numcnn.io import export_onnx
from numcnn.layers import Conv2D, Reshape
from numcnn.layers.reshaping import Cropping2D, Permute, UpSampling2D, ZeroPadding2D

FORMATS = ("channels_last", "channels_first")

# (class, kwargs without data_format): every layer and form the tests below run in both data formats
CASES = [
    (ZeroPadding2D, dict()),
    (ZeroPadding2D, dict(padding=2)),
    (ZeroPadding2D, dict(padding=(1, 3))),
    (ZeroPadding2D, dict(padding=((0, 2), (3, 1)))),
    (Cropping2D, dict()),
    (Cropping2D, dict(cropping=1)),
    (Cropping2D, dict(cropping=(2, 1))),
    (Cropping2D, dict(cropping=((1, 0), (0, 2)))),
    (UpSampling2D, dict()),
    (UpSampling2D, dict(size=(3, 1))),
    (UpSampling2D, dict(size=(2, 3), interpolation="bilinear")),
    (UpSampling2D, dict(size=3, interpolation="bilinear")),
]
CASE_IDS = [f"{cls.__name__}-{kwargs}" for cls, kwargs in CASES]


def sample(data_format, h=5, w=6, c=3):
    return (h, w, c) if data_format == "channels_last" else (c, h, w)


def functional_twin(layer, x):
    """The layer's output computed by the functional op it wraps."""
    if isinstance(layer, ZeroPadding2D):
        return R.zero_pad2d(x, layer.padding, layer.data_format)
    if isinstance(layer, Cropping2D):
        return R.crop2d(x, layer.cropping, layer.data_format)
    return R.upsample2d(x, layer.size, layer.data_format, layer.interpolation)


# -- known values --------------------------------------------------------------------------------

def test_keras_docstring_examples():
    y = ZeroPadding2D(padding=1)(np.arange(4).reshape(1, 1, 2, 2))
    assert y.shape == (1, 3, 4, 2)
    assert_array_equal(y[0, 1], [[0, 0], [0, 1], [2, 3], [0, 0]])
    assert Cropping2D(cropping=((2, 2), (4, 4)))(np.zeros((2, 28, 28, 3))).shape == (2, 24, 20, 3)
    y = UpSampling2D(size=(1, 2))(np.arange(12).reshape(2, 2, 1, 3))
    assert_array_equal(y[1], [[[6, 7, 8], [6, 7, 8]], [[9, 10, 11], [9, 10, 11]]])
    assert Permute((2, 1))(np.zeros((4, 10, 64))).shape == (4, 64, 10)


def test_defaults_are_keras_defaults():
    assert ZeroPadding2D().padding == ((1, 1), (1, 1))
    assert Cropping2D().cropping == ((0, 0), (0, 0))
    layer = UpSampling2D()
    assert (layer.size, layer.interpolation, layer.data_format) == ((2, 2), "nearest", "channels_last")


def test_bilinear_layer_known_values():
    y = UpSampling2D((1, 2), interpolation="bilinear")(np.array([0.0, 4.0]).reshape(1, 1, 2, 1))
    assert_array_equal(y[0, 0, :, 0], [0, 1, 3, 4])


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=CASE_IDS)
def test_layer_equals_functional_op_and_keeps_dtype(cls, kwargs, data_format, rng):
    layer = cls(data_format=data_format, **kwargs)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, *sample(data_format))).astype(dtype)
        y = cls(data_format=data_format, **kwargs)(x)
        assert y.dtype == dtype
        assert_array_equal(y, functional_twin(layer, x))


# -- shapes without data (batch None) -----------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=CASE_IDS)
def test_compute_output_shape_with_a_none_batch_matches_the_output(cls, kwargs, data_format, rng):
    layer = cls(data_format=data_format, **kwargs)
    x = rng.standard_normal((3, *sample(data_format)))
    shape = layer.compute_output_shape((None, *x.shape[1:]))
    assert shape[0] is None and shape[1:] == layer(x).shape[1:]
    assert layer.compute_output_shape(x.shape) == layer(x).shape


def test_shapes_by_hand_and_unknown_sizes():
    assert ZeroPadding2D(((1, 2), (3, 4))).compute_output_shape((None, 5, 6, 3)) == (None, 8, 13, 3)
    assert ZeroPadding2D(1, "channels_first").compute_output_shape((None, 3, 5, None)) == (None, 3, 7, None)
    assert Cropping2D(((1, 2), (3, 0))).compute_output_shape((None, 5, 6, 3)) == (None, 2, 3, 3)
    assert Cropping2D(1, "channels_first").compute_output_shape((None, 3, None, 6)) == (None, 3, None, 4)
    assert UpSampling2D((2, 3)).compute_output_shape((None, 5, None, 3)) == (None, 10, None, 3)
    assert UpSampling2D((2, 3), "channels_first").compute_output_shape((None, 3, 5, 6)) == (None, 3, 10, 18)
    assert Permute((3, 1, 2)).compute_output_shape((None, 5, 6, 3)) == (None, 3, 5, 6)
    assert Permute((2, 1)).compute_output_shape((None, None, 7)) == (None, 7, None)


def test_a_sequential_builds_from_shapes_alone():
    model = Sequential([ZeroPadding2D(2, input_shape=(5, 6, 3)), Cropping2D(((1, 0), (0, 3))),
                        UpSampling2D((2, 1), interpolation="bilinear"), Permute((3, 1, 2))])
    model.build()
    assert model.compute_output_shape((None, 5, 6, 3)) == (None, 3, 16, 7)
    assert model.layers[-1].output_shape == (None, 3, 16, 7)
    assert model(np.zeros((2, 5, 6, 3))).shape == (2, 3, 16, 7)


def test_a_functional_graph_computes_shapes_without_data(rng):
    numcnn = pytest.importorskip("numcnn")
    if not hasattr(numcnn, "Input"):
        pytest.skip("numcnn.Input (the functional API) is not there")
    inputs = numcnn.Input(shape=(5, 6, 3), dtype="float64")
    padded = ZeroPadding2D(((1, 0), (2, 1)))(inputs)
    up = UpSampling2D(2, interpolation="bilinear")(padded)
    cropped = Cropping2D(((1, 1), (2, 2)))(up)
    outputs = Permute((3, 1, 2))(Conv2D(4, 1)(cropped))
    assert (padded.shape, up.shape, cropped.shape, outputs.shape) == (
        (None, 6, 9, 3), (None, 12, 18, 3), (None, 10, 14, 3), (None, 4, 10, 14))
    model = numcnn.Model(inputs, outputs)
    x = rng.standard_normal((2, 5, 6, 3))
    y = model(x)
    assert y.shape == (2, 4, 10, 14) and y.dtype == np.float64
    g = rng.standard_normal(y.shape)
    check_directional_grad(lambda v: np.sum(model(v) * g), x, model.backward(g), rng)


# -- gradients (float64, central differences of every input element) ---------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=CASE_IDS)
def test_layer_gradients(cls, kwargs, data_format, rng):
    x = rng.standard_normal((2, *sample(data_format, 5, 4, 2)))
    dx, grads = check_layer_grads(cls(data_format=data_format, dtype="float64", **kwargs), x, rng)
    assert dx.shape == x.shape and grads == {}


@pytest.mark.parametrize("dims", [(1,), (2, 1), (3, 1, 2), (2, 3, 1), (4, 2, 1, 3)])
def test_permute_gradients(dims, rng):
    x = rng.standard_normal((2, *(2, 3, 4, 2)[:len(dims)]))
    dx, _ = check_layer_grads(Permute(dims, dtype="float64"), x, rng)
    assert dx.shape == x.shape


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_layer_matches_torch_forward_and_backward(interpolation, data_format, rng):
    torch = import_torch()
    x = rng.standard_normal((2, *sample(data_format, 4, 5, 3)))
    layer = UpSampling2D((3, 2), data_format, interpolation, dtype="float64")
    y = layer(x)
    nchw = x if data_format == "channels_first" else x.transpose(0, 3, 1, 2)
    xt = torch.tensor(nchw, requires_grad=True)
    options = dict(align_corners=False) if interpolation == "bilinear" else {}
    yt = torch.nn.functional.interpolate(xt, size=(12, 10), mode=interpolation, **options)
    to_layout = (lambda a: a) if data_format == "channels_first" else (lambda a: a.transpose(0, 2, 3, 1))
    assert_close(y, to_layout(yt.detach().numpy()), rtol=1e-13)
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.from_numpy(dy if data_format == "channels_first" else dy.transpose(0, 3, 1, 2)))
    assert_close(layer.backward(dy), to_layout(xt.grad.numpy()), rtol=1e-13)


# -- ShuffleNet's channel shuffle ---------------------------------------------------------------------

def channel_shuffle(h, w, channels, groups):
    """ShuffleNet's shuffle, channels_last: (H, W, g, C/g) -> swap the last two axes -> (H, W, C)."""
    return Sequential([Reshape((h, w, groups, channels // groups), input_shape=(h, w, channels)),
                       Permute((1, 2, 4, 3)), Reshape((h, w, channels))])


@pytest.mark.parametrize(("channels", "groups", "order"), [
    (6, 2, [0, 3, 1, 4, 2, 5]),
    (6, 3, [0, 2, 4, 1, 3, 5]),
    (8, 4, [0, 2, 4, 6, 1, 3, 5, 7]),
    (12, 3, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]),
])
def test_channel_shuffle_is_reshape_permute_reshape(channels, groups, order, rng):
    model = channel_shuffle(3, 2, channels, groups)
    x = np.broadcast_to(np.arange(channels, dtype=np.float64), (2, 3, 2, channels)).copy()
    x += rng.integers(0, 100, (2, 3, 2, 1)) * 100  # each pixel its own offset: pixels must not mix
    y = model(x)
    assert_array_equal(y, x[..., order])
    # the channels of group k, one from each: channel j of group g comes from input channel g * (C/g) + j
    per_group = channels // groups
    assert_array_equal(order, [g * per_group + j for j in range(per_group) for g in range(groups)])
    # the backward pass is the inverse shuffle
    dy = rng.standard_normal(y.shape)
    assert_array_equal(model.backward(dy)[..., order], dy)


def test_channel_shuffle_exports_to_onnx(tmp_path, rng):
    ort = pytest.importorskip("onnxruntime")
    model = channel_shuffle(3, 4, 6, 2)
    x = rng.standard_normal((2, 3, 4, 6)).astype(np.float32)
    path = tmp_path / "shuffle.onnx"
    export_onnx(model, path)
    got = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert_array_equal(got, x[..., [0, 3, 1, 4, 2, 5]])


# -- configs ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "kwargs"), [*CASES, (Permute, dict(dims=(3, 1, 2)))], ids=[*CASE_IDS, "Permute"])
def test_config_round_trip(cls, kwargs, data_format, rng):
    if cls is not Permute:
        kwargs = {**kwargs, "data_format": data_format}
    layer = cls(name="shape_op", **kwargs)
    x = rng.standard_normal((2, *sample(data_format))).astype(np.float32)
    config = json.loads(json.dumps(layer.get_config()))  # JSON-friendly
    twin = cls.from_config(config)
    assert twin.get_config() == layer.get_config()
    assert twin.name == "shape_op"
    assert_array_equal(twin(x), layer(x))


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "kwargs"), [*CASES, (Permute, dict(dims=(3, 1, 2)))], ids=[*CASE_IDS, "Permute"])
def test_config_values_are_keras_values(cls, kwargs, data_format):
    keras = import_keras()
    if cls is not Permute:
        kwargs = {**kwargs, "data_format": data_format}
    ours, theirs = cls(**kwargs).get_config(), getattr(keras.layers, cls.__name__)(**kwargs).get_config()
    for key in ("padding", "cropping", "size", "data_format", "interpolation", "dims"):
        if key in theirs:
            assert json.loads(json.dumps(ours[key])) == json.loads(json.dumps(theirs[key])), key


# -- Keras parity of the forward pass --------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=CASE_IDS)
def test_forward_matches_keras(cls, kwargs, data_format, rng):
    keras = import_keras()
    x = rng.standard_normal((2, *sample(data_format, 7, 6, 3))).astype(np.float32)
    expected = keras.ops.convert_to_numpy(getattr(keras.layers, cls.__name__)(data_format=data_format, **kwargs)(x))
    y = cls(data_format=data_format, **kwargs)(x)
    assert y.shape == expected.shape
    assert_close(y, expected, rtol=1e-6)


@pytest.mark.parametrize("dims", [(1,), (2, 1), (3, 1, 2), (1, 3, 2), (4, 2, 1, 3)])
def test_permute_matches_keras(dims, rng):
    keras = import_keras()
    x = rng.standard_normal((2, *(2, 3, 4, 5)[:len(dims)])).astype(np.float32)
    assert_array_equal(Permute(dims)(x), keras.ops.convert_to_numpy(keras.layers.Permute(dims)(x)))


# -- bad arguments and inputs ---------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "name"), [
    (lambda: ZeroPadding2D(-1), "padding"), (lambda: ZeroPadding2D("same"), "padding"),
    (lambda: ZeroPadding2D((1, 2, 3)), "padding"), (lambda: ZeroPadding2D(data_format="NCHW"), "data_format"),
    (lambda: Cropping2D(-2), "cropping"), (lambda: Cropping2D(((1, 1), (1,))), "cropping"),
    (lambda: Cropping2D(1.0), "cropping"), (lambda: UpSampling2D(0), "size"), (lambda: UpSampling2D((2, -1)), "size"),
    (lambda: UpSampling2D(interpolation="bicubic"), "interpolation"),
    (lambda: UpSampling2D(interpolation="lanczos3"), "interpolation"), (lambda: UpSampling2D(2, None), "data_format"),
    (lambda: Permute((0, 1)), "dims"), (lambda: Permute((2, 2)), "dims"), (lambda: Permute(1), "dims"),
    (lambda: Permute(()), "dims"),
])
def test_bad_arguments_are_refused_naming_them(make, name):
    with pytest.raises(ValueError, match=rf"The `{name}` argument must .*Received: {name}="):
        make()


@pytest.mark.parametrize("layer", [ZeroPadding2D(), Cropping2D(), UpSampling2D()], ids=lambda layer: layer.name)
def test_inputs_of_another_rank_are_refused_naming_the_layer(layer):
    with pytest.raises(ValueError, match=rf"Layer '{layer.name}' \(\w+\) needs 4D inputs.*Received: inputs with "
                                         r"shape \(2, 5, 5\)"):
        layer(np.zeros((2, 5, 5)))
    assert not layer.built


def test_permute_refuses_inputs_of_another_rank():
    with pytest.raises(ValueError, match=r"Layer 'permute' \(Permute\): .*inputs must have 3 dimensions.*"
                                         r"Received: inputs with shape \(2, 3\)"):
        Permute((2, 1))(np.zeros((2, 3)))


def test_cropping_is_checked_against_every_input():
    layer = Cropping2D(((2, 1), (0, 0)))
    with pytest.raises(ValueError, match=r"The `cropping` argument must leave at least one row.*Received: "
                                         r"cropping=\(\(2, 1\), \(0, 0\)\) for inputs with shape \(1, 3, 4, 1\)"):
        layer(np.zeros((1, 3, 4, 1)))
    assert layer(np.zeros((1, 5, 4, 1))).shape == (1, 2, 4, 1)
    with pytest.raises(ValueError, match=r"Received: cropping=.* for inputs with shape \(1, 2, 4, 1\)"):
        layer(np.zeros((1, 2, 4, 1)))  # a later, smaller input


# -- ONNX export: onnxruntime against predict, opsets 13 and 17, both formats ------------------------------

@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "kwargs"), [*CASES, (Permute, dict(dims=(3, 1, 2)))], ids=[*CASE_IDS, "Permute"])
def test_onnx_export_matches_onnxruntime(cls, kwargs, data_format, opset, tmp_path, rng):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    if cls is not Permute:
        kwargs = {**kwargs, "data_format": data_format}
    model = Sequential([cls(input_shape=sample(data_format, 7, 6, 3), **kwargs)])
    x = rng.standard_normal((3, *sample(data_format, 7, 6, 3))).astype(np.float32)
    expected = model.predict(x)
    path = tmp_path / "model.onnx"
    proto = export_onnx(model, path, opset=opset)
    onnx.checker.check_model(os.fspath(path), full_check=True)
    assert proto.opset_import[0].version == opset
    got = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    ops = [node.op_type for node in proto.graph.node]
    main = {ZeroPadding2D: "Pad", Cropping2D: "Slice", UpSampling2D: "Resize", Permute: "Transpose"}[cls]
    assert main in ops
    if cls is UpSampling2D:  # Resize runs on NCHW: channels_last is wrapped in two Transposes
        assert ops.count("Transpose") == (2 if data_format == "channels_last" else 0)


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("data_format", FORMATS)
def test_onnx_export_of_a_small_decoder(data_format, opset, tmp_path, rng):
    ort = pytest.importorskip("onnxruntime")
    model = Sequential([Conv2D(4, 3, data_format=data_format, input_shape=sample(data_format, 8, 7, 2)),
                        ZeroPadding2D(((1, 0), (2, 1)), data_format), UpSampling2D(2, data_format, "bilinear"),
                        Conv2D(3, 3, padding="same", data_format=data_format),
                        Cropping2D(((1, 2), (0, 3)), data_format), UpSampling2D((1, 3), data_format)], seed=1)
    x = rng.standard_normal((2, *sample(data_format, 8, 7, 2))).astype(np.float32)
    expected = model.predict(x)
    export_onnx(model, tmp_path / "decoder.onnx", opset=opset)
    session = ort.InferenceSession(os.fspath(tmp_path / "decoder.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=1e-5,
                               atol=1e-5 * max(1.0, float(np.abs(expected).max())))
