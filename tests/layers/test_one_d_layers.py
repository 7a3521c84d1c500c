"""Conv1D and the 1D pooling layers: shapes, the functional ops, gradients, Keras and PyTorch, config, ONNX."""

import os

import numpy as np
import pytest
from _layer_grad import check_layer_grads
from helpers import assert_close, import_keras, import_torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numcnn import Sequential
from numcnn.functional import get_activation
from numcnn.functional import one_d as F1
from numcnn.io import export_onnx
from numcnn.layers import Dense, Flatten
from numcnn.layers.one_d import (
    AveragePooling1D,
    Conv1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
)

FORMATS = ("channels_last", "channels_first")
POOLS = (MaxPooling1D, AveragePooling1D)
GLOBAL_POOLS = (GlobalAveragePooling1D, GlobalMaxPooling1D)


def sample_shape(data_format, length=11, channels=4):
    return (length, channels) if data_format == "channels_last" else (channels, length)


def _distinct(rng, shape):
    """Values at least 1 apart in random order: no ties, no kink within a finite-difference step."""
    size = int(np.prod(shape))
    return (rng.permutation(size) - size / 2 + rng.uniform(-0.25, 0.25, size)).reshape(shape)


# -- known values and shapes ----------------------------------------------------------------------

def test_seed_001_windows_of_three():
    # note 001: a window of 3 slides over 1..7 one step at a time; a ones filter with bias 1 sums it
    conv = Conv1D(1, 3, input_shape=(7, 1))
    conv.set_weights([np.ones((3, 1, 1)), np.array([1.0])])
    np.testing.assert_array_equal(conv(np.arange(1, 8).reshape(1, 7, 1))[0, :, 0], [7, 10, 13, 16, 19])


def test_causal_conv1d_known_values_channels_first():
    conv = Conv1D(1, 2, padding="causal", dilation_rate=2, data_format="channels_first", use_bias=False,
                  input_shape=(1, 4))
    conv.set_weights([np.array([1.0, 10.0]).reshape(2, 1, 1)])
    np.testing.assert_array_equal(conv(np.array([[[1, 2, 3, 4]]]))[0, 0], [10, 20, 31, 42])  # x[t-2] + 10 x[t]


@pytest.mark.parametrize(("layer", "x_shape", "expected"), [
    (Conv1D(8, 3), (2, 10, 16), (2, 8, 8)),  # Keras's docstring example: (4, 10, 128) -> (4, 8, 32)
    (Conv1D(8, 3, padding="same", strides=2), (2, 11, 3), (2, 6, 8)),
    (Conv1D(8, 3, padding="causal", strides=2), (2, 11, 3), (2, 6, 8)),
    (Conv1D(8, 3, padding="causal", dilation_rate=4), (2, 11, 3), (2, 11, 8)),
    (Conv1D(4, 3, dilation_rate=2, padding=(1, 0)), (2, 9, 2), (2, 6, 4)),
    (Conv1D(6, 2, groups=3, data_format="channels_first"), (2, 3, 7), (2, 6, 6)),
    (MaxPooling1D(), (2, 7, 3), (2, 3, 3)),
    (MaxPooling1D(3, strides=2, padding="same"), (2, 8, 3), (2, 4, 3)),
    (AveragePooling1D(2, strides=1, padding=1, data_format="channels_first"), (1, 3, 5), (1, 3, 6)),
    (GlobalAveragePooling1D(), (2, 7, 3), (2, 3)),
    (GlobalMaxPooling1D(keepdims=True), (2, 7, 3), (2, 1, 3)),
    (GlobalAveragePooling1D(data_format="channels_first", keepdims=True), (2, 7, 3), (2, 7, 1)),
])
def test_output_shapes_with_and_without_a_batch_size(layer, x_shape, expected):
    assert layer(np.zeros(x_shape, np.float32)).shape == expected
    assert layer.compute_output_shape(x_shape) == expected
    assert layer.compute_output_shape((None, *x_shape[1:])) == (None, *expected[1:])
    assert layer.output_shape == (None, *expected[1:])


def test_a_length_known_only_at_run_time_stays_none():
    assert Conv1D(4, 3, padding="causal").compute_output_shape((None, None, 2)) == (None, None, 4)
    assert MaxPooling1D(data_format="channels_first").compute_output_shape((None, 3, None)) == (None, 3, None)
    assert GlobalAveragePooling1D().compute_output_shape((None, None, 5)) == (None, 5)


def test_weights_are_keras_shaped_and_ordered():
    conv = Conv1D(6, 5, groups=2, input_shape=(20, 4))
    assert [w.shape for w in conv.get_weights()] == [(5, 2, 6), (6,)]
    assert conv.count_params() == 5 * 2 * 6 + 6
    assert [w.shape for w in Conv1D(3, 2, use_bias=False, input_shape=(5, 2)).get_weights()] == [(2, 2, 3)]
    assert all(layer.count_params() == 0 for layer in (MaxPooling1D(input_shape=(4, 2)), GlobalMaxPooling1D()))


def test_float32_stays_float32_and_float64_stays_float64(rng):
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 6, 3)).astype(dtype)
        for layer in (Conv1D(2, 3, padding="causal"), MaxPooling1D(), AveragePooling1D(), GlobalAveragePooling1D()):
            y = layer(x)
            assert y.dtype == dtype
            assert layer.backward(np.ones_like(y)).dtype == dtype


# -- against the functional ops -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(strides=2, padding="same"),
    dict(padding="causal", dilation_rate=3),
    dict(strides=3, padding=(2, 1)),
    dict(groups=2, padding="causal", data_format="channels_first"),
    dict(use_bias=False, padding="same", data_format="channels_first"),
])
def test_conv1d_layer_equals_functional(kwargs, rng):
    fmt = kwargs.get("data_format", "channels_last")
    x = rng.standard_normal((2, *sample_shape(fmt, 9, 4)))
    conv = Conv1D(6, 3, dtype="float64", seed=3, bias_initializer="random_normal", **kwargs)
    y = conv(x)
    expected = F1.conv1d(x, conv.params["kernel"], conv.params.get("bias"), strides=kwargs.get("strides", 1),
                         padding=kwargs.get("padding", "valid"), dilation_rate=kwargs.get("dilation_rate", 1),
                         groups=kwargs.get("groups", 1), data_format=fmt)
    assert_close(y, expected, rtol=1e-12)
    assert ("bias" in conv.params) == kwargs.get("use_bias", True)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), length=st.integers(4, 12), c=st.integers(1, 3), pool=st.integers(1, 3),
       strides=st.one_of(st.none(), st.integers(1, 3)), padding=st.sampled_from(["valid", "same"]),
       fmt=st.sampled_from(FORMATS), seed=st.integers(0, 2**31))
def test_pooling_layers_equal_functional(n, length, c, pool, strides, padding, fmt, seed):
    x = np.random.default_rng(seed).standard_normal((n, *sample_shape(fmt, length, c))).astype(np.float32)
    for layer_cls, fn in ((MaxPooling1D, F1.max_pool1d), (AveragePooling1D, F1.avg_pool1d)):
        layer = layer_cls(pool, strides=strides, padding=padding, data_format=fmt)
        y = layer(x)
        np.testing.assert_array_equal(y, fn(x, pool, strides, padding, fmt))
        assert y.shape == layer.compute_output_shape(x.shape)
    for layer_cls, fn in ((GlobalAveragePooling1D, F1.global_avg_pool1d), (GlobalMaxPooling1D, F1.global_max_pool1d)):
        np.testing.assert_array_equal(layer_cls(data_format=fmt)(x), fn(x, fmt))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu", "softmax", "linear"])
def test_fused_activation_equals_activation_after_conv(activation, rng):
    x = rng.standard_normal((2, 6, 2))
    fused = Conv1D(3, 3, activation=activation, padding="causal", dtype="float64", seed=0,
                   bias_initializer="random_normal")
    plain = Conv1D(3, 3, padding="causal", dtype="float64", seed=1, input_shape=(6, 2))
    y = fused(x)
    plain.set_weights(fused.get_weights())
    assert_close(y, get_activation(activation)[0](plain(x))[0], rtol=1e-12)


# -- gradients (float64) ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(strides=2, padding="same", activation="relu"),
    dict(padding="causal", dilation_rate=2, activation="tanh"),
    dict(padding=(1, 2), strides=2, groups=2, activation="sigmoid"),
    dict(data_format="channels_first", padding="causal", strides=2, activation="leaky_relu"),
    dict(data_format="channels_first", groups=2, dilation_rate=2, use_bias=False),
])
def test_conv1d_gradients(kwargs, rng):
    fmt = kwargs.get("data_format", "channels_last")
    x = rng.standard_normal((2, *sample_shape(fmt, 7, 4)))
    conv = Conv1D(4, 3, dtype="float64", seed=5, bias_initializer="random_normal", **kwargs)
    dx, grads = check_layer_grads(conv, x, rng)
    assert dx.shape == x.shape
    assert set(grads) == ({"kernel", "bias"} if kwargs.get("use_bias", True) else {"kernel"})


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layer_cls, kwargs", [
    (MaxPooling1D, dict()), (MaxPooling1D, dict(pool_size=3, strides=2, padding="same")),
    (AveragePooling1D, dict(pool_size=3, strides=1, padding=(2, 1))), (AveragePooling1D, dict(padding="same")),
    (GlobalAveragePooling1D, dict()), (GlobalMaxPooling1D, dict(keepdims=True)),
])
def test_pooling_gradients(layer_cls, kwargs, fmt, rng):
    x = _distinct(rng, (2, *sample_shape(fmt, 7, 3)))
    dx, grads = check_layer_grads(layer_cls(data_format=fmt, **kwargs), x, rng)
    assert dx.shape == x.shape and grads == {}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_conv1d_layer_matches_torch_forward_and_every_gradient(padding, fmt, rng):
    torch = import_torch()
    conv = Conv1D(6, 3, strides=2 if padding != "causal" else 1, dilation_rate=2 if padding == "causal" else 1,
                  padding=padding, groups=2, data_format=fmt, dtype="float64", seed=0, bias_initializer="random_normal")
    x = rng.standard_normal((3, *sample_shape(fmt, 10, 4)))
    y = conv(x)
    reference = torch.nn.Conv1d(4, 6, 3, stride=conv.strides[0], dilation=conv.dilation_rate[0], groups=2).double()
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(conv.params["kernel"].transpose(2, 1, 0).copy()))
        reference.bias.copy_(torch.from_numpy(conv.params["bias"]))
    xt = torch.tensor(x if fmt == "channels_first" else x.transpose(0, 2, 1), requires_grad=True)
    pads = F1.resolve_padding_1d(padding, 10, 3, conv.strides[0], conv.dilation_rate[0])  # as Keras: pad, then conv
    y_torch = reference(torch.nn.functional.pad(xt, pads))
    to_ncl = (lambda a: a) if fmt == "channels_first" else (lambda a: a.transpose(0, 2, 1))
    assert_close(to_ncl(y), y_torch.detach().numpy(), rtol=1e-10)
    dy = rng.standard_normal(y.shape)
    dx = conv.backward(dy)
    y_torch.backward(torch.from_numpy(np.ascontiguousarray(to_ncl(dy))))
    assert_close(to_ncl(dx), xt.grad.numpy(), rtol=1e-10)
    assert_close(conv.grads["kernel"], reference.weight.grad.numpy().transpose(2, 1, 0), rtol=1e-10)
    assert_close(conv.grads["bias"], reference.bias.grad.numpy(), rtol=1e-10)


# -- Keras parity (forward, config, shapes) ------------------------------------------------------

NOT_KERAS = ("name", "trainable", "dtype", "input_shape")


def keras_layer(keras, layer):
    """The Keras layer of the same class and config (initializers left out: the weights are copied)."""
    config = {k: v for k, v in layer.get_config().items() if k not in NOT_KERAS and not k.endswith("initializer")}
    return getattr(keras.layers, type(layer).__name__)(**config)


def keras_twin(keras, layer, x):
    """:func:`keras_layer` built on ``x`` and given ``layer``'s weights."""
    twin = keras_layer(keras, layer)
    twin(x[:1])
    if layer.get_weights():
        twin.set_weights(layer.get_weights())
    return twin


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kwargs", [
    dict(filters=4, kernel_size=3),
    dict(filters=4, kernel_size=3, padding="same", strides=2),
    dict(filters=4, kernel_size=2, padding="same"),  # even kernel: the extra zero on the right
    dict(filters=4, kernel_size=3, padding="causal"),
    dict(filters=4, kernel_size=3, padding="causal", dilation_rate=3),
    dict(filters=4, kernel_size=4, padding="causal", strides=3),
    dict(filters=6, kernel_size=3, groups=2, padding="causal", activation="relu"),
    dict(filters=4, kernel_size=2, dilation_rate=2, activation="softmax", use_bias=False),
])
def test_conv1d_matches_keras(kwargs, fmt, rng):
    keras = import_keras()
    x = rng.standard_normal((3, *sample_shape(fmt, 11, 4))).astype(np.float32)
    conv = Conv1D(**kwargs, data_format=fmt, seed=0, bias_initializer="random_normal")
    y = conv(x)
    twin = keras_twin(keras, conv, x)
    assert [tuple(w.shape) for w in twin.weights] == [w.shape for w in conv.get_weights()]
    assert [w.path.split("/")[-1] for w in twin.weights] == list(conv.weight_order[:len(conv.get_weights())])
    assert_close(y, keras.ops.convert_to_numpy(twin(x)), rtol=1e-5)
    assert tuple(twin.compute_output_shape((None, *x.shape[1:]))) == conv.compute_output_shape((None, *x.shape[1:]))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layer", [
    lambda fmt: MaxPooling1D(data_format=fmt), lambda fmt: MaxPooling1D(3, strides=2, padding="same", data_format=fmt),
    lambda fmt: MaxPooling1D(2, strides=1, padding="same", data_format=fmt),
    lambda fmt: AveragePooling1D(3, strides=2, data_format=fmt), lambda fmt: AveragePooling1D(data_format=fmt),
    lambda fmt: GlobalAveragePooling1D(data_format=fmt), lambda fmt: GlobalMaxPooling1D(data_format=fmt, keepdims=True),
    lambda fmt: GlobalAveragePooling1D(data_format=fmt, keepdims=True),
])
def test_pooling_matches_keras(layer, fmt, rng):
    keras = import_keras()
    layer = layer(fmt)
    x = rng.standard_normal((3, *sample_shape(fmt, 11, 4))).astype(np.float32)
    twin = keras_twin(keras, layer, x)
    assert_close(layer(x), keras.ops.convert_to_numpy(twin(x)), rtol=1e-6)
    assert tuple(twin.compute_output_shape((None, *x.shape[1:]))) == layer.compute_output_shape((None, *x.shape[1:]))


def test_average_pooling_same_follows_tensorflow_where_keras_on_torch_copies_edges():
    keras = import_keras()
    x = np.array([10.0, 20.0], np.float32).reshape(1, 2, 1)
    assert AveragePooling1D(3, strides=2, padding="same")(x).ravel().tolist() == [15.0]
    theirs = keras.ops.convert_to_numpy(keras.layers.AveragePooling1D(3, strides=2, padding="same")(x))
    np.testing.assert_allclose(theirs.ravel(), [50 / 3], rtol=1e-6)  # mean(10, 20, 20): see the pooling module


@pytest.mark.parametrize("layer", [
    Conv1D(4, 3), Conv1D(6, [5], strides=(2,), padding="causal", data_format="channels_first", dilation_rate=[1],
                         groups=3, activation="relu", use_bias=False, kernel_initializer="he_normal",
                         bias_initializer="ones", name="c1", dtype="float64"),
    Conv1D(2, 3, padding=(2, 0)), Conv1D(2, 3, padding=1),
    MaxPooling1D(), AveragePooling1D(3, strides=1, padding="same", data_format="channels_first"),
    MaxPooling1D(3, padding=(1, 2)), GlobalAveragePooling1D(keepdims=True),
    GlobalMaxPooling1D(data_format="channels_first"),
])
def test_config_round_trip(layer):
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    for key in ("kernel_size", "strides", "pool_size", "dilation_rate", "padding", "data_format", "groups", "keepdims"):
        assert getattr(again, key, None) == getattr(layer, key, None)


@pytest.mark.parametrize("layer", [Conv1D(4, 3, padding="causal"), MaxPooling1D(3, padding="same"),
                                   AveragePooling1D(), GlobalMaxPooling1D(keepdims=True)])
def test_config_keys_are_kerass(layer):
    keras = import_keras()
    ours = {k for k in layer.get_config() if k not in NOT_KERAS}
    theirs = keras_layer(keras, layer).get_config()
    assert ours <= set(theirs)
    assert all(layer.get_config()[k] == theirs[k] for k in ("padding", "data_format", "keepdims") if k in ours)


# -- bad arguments and inputs ---------------------------------------------------------------------

@pytest.mark.parametrize(("make", "argument"), [
    (lambda: Conv1D(0, 3), "filters"),
    (lambda: Conv1D(2.0, 3), "filters"),
    (lambda: Conv1D(2, 0), "kernel_size"),
    (lambda: Conv1D(2, (3, 3)), "kernel_size"),
    (lambda: Conv1D(2, 3, strides=0), "strides"),
    (lambda: Conv1D(2, 3, dilation_rate=-1), "dilation_rate"),
    (lambda: Conv1D(2, 3, padding="full"), "padding"),
    (lambda: Conv1D(2, 3, padding=((1, 1), (1, 1))), "padding"),
    (lambda: Conv1D(2, 3, padding=-1), "padding"),
    (lambda: Conv1D(2, 3, data_format="NLC"), "data_format"),
    (lambda: Conv1D(2, 3, activation="gelu"), "activation"),
    (lambda: Conv1D(2, 3, kernel_initializer="glorot"), "kernel_initializer"),
    (lambda: Conv1D(2, 3, use_bias="yes"), "use_bias"),
    (lambda: Conv1D(5, 3, groups=2), "groups"),
    (lambda: Conv1D(4, 3, groups=0), "groups"),
    (lambda: MaxPooling1D(0), "pool_size"),
    (lambda: MaxPooling1D((2, 2)), "pool_size"),
    (lambda: MaxPooling1D(2, strides=-1), "strides"),
    (lambda: MaxPooling1D(2, padding="causal"), "padding"),
    (lambda: AveragePooling1D(2, padding=(0, 2)), "padding"),
    (lambda: AveragePooling1D(2, data_format="channels_middle"), "data_format"),
    (lambda: GlobalAveragePooling1D(keepdims=1), "keepdims"),
    (lambda: GlobalMaxPooling1D(data_format="NCL"), "data_format"),
])
def test_bad_arguments_are_refused_naming_the_argument(make, argument):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: "):
        make()


@pytest.mark.parametrize("layer", [Conv1D(2, 3), MaxPooling1D(), GlobalAveragePooling1D()])
def test_inputs_that_are_not_3d_are_refused_naming_the_layer(layer):
    with pytest.raises(ValueError, match=r"needs 3D inputs.*Received: inputs with shape \(2, 8, 8, 3\)"):
        layer(np.zeros((2, 8, 8, 3), np.float32))
    assert not layer.built
    assert layer(np.zeros((2, 8, 3), np.float32)).shape[0] == 2


def test_input_channels_other_than_built_for_are_refused():
    conv = Conv1D(2, 3, input_shape=(8, 3))
    with pytest.raises(ValueError, match=r"built for 3 input channels.*Received: inputs with shape \(1, 8, 4\)"):
        conv(np.zeros((1, 8, 4), np.float32))
    with pytest.raises(ValueError, match="at least one channel"):
        Conv1D(2, 3)(np.zeros((1, 8, 0), np.float32))
    with pytest.raises(ValueError, match="length of at least 1"):
        GlobalMaxPooling1D()(np.zeros((1, 0, 2), np.float32))  # a max of nothing
    with pytest.raises(ValueError, match="larger than the padded input"):
        MaxPooling1D()(np.zeros((1, 1, 2), np.float32))


# -- ONNX export ----------------------------------------------------------------------------------

onnx_cases = [
    [Conv1D(5, 3)],
    [Conv1D(5, 3, padding="same", strides=2)],
    [Conv1D(5, 2, padding="same")],
    [Conv1D(5, 3, padding="causal", dilation_rate=2, activation="relu")],
    [Conv1D(5, 4, padding="causal", strides=3, activation="tanh")],
    [Conv1D(6, 3, padding=(2, 1), groups=2, use_bias=False)],
    [Conv1D(8, 3, groups=4, activation="softmax")],
    [MaxPooling1D()], [MaxPooling1D(3, strides=2, padding="same")], [MaxPooling1D(3, strides=1, padding=(2, 0))],
    [AveragePooling1D(3, strides=2, padding="same")], [AveragePooling1D(2, strides=1, padding=1)],
    [GlobalAveragePooling1D()], [GlobalAveragePooling1D(keepdims=True)], [GlobalMaxPooling1D()],
    [GlobalMaxPooling1D(keepdims=True)],
    [Conv1D(6, 3, padding="causal", activation="relu"), MaxPooling1D(), Conv1D(4, 3, padding="same"),
     GlobalAveragePooling1D(), Dense(3)],
    [Conv1D(3, 3, strides=2), Flatten(), Dense(2)],
]


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("make", range(len(onnx_cases)))
def test_onnx_export_matches_onnxruntime(make, fmt, opset, tmp_path, rng):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    layers = [type(layer).from_config({**layer.get_config(), "data_format": fmt, "name": None})
              if hasattr(layer, "data_format") else type(layer).from_config({**layer.get_config(), "name": None})
              for layer in onnx_cases[make]]
    model = Sequential(layers)
    x = (rng.standard_normal((3, *sample_shape(fmt))) - 1).astype(np.float32)  # mostly negative: -inf pads show
    model(x[:1])
    for layer in model.layers:
        for w in layer.params.values():
            w[...] = rng.standard_normal(w.shape) / np.sqrt(np.prod(w.shape[:-1]))
    expected = model.predict(x)
    path = tmp_path / "model.onnx"
    export_onnx(model, path, opset=opset)
    got = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def test_onnx_causal_padding_is_explicit_left_pads(tmp_path):
    onnx = pytest.importorskip("onnx")
    model = Sequential([Conv1D(2, 3, padding="causal", dilation_rate=2, input_shape=(9, 1))])
    proto = export_onnx(model, tmp_path / "causal.onnx")
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    attrs = {a.name: list(a.ints) for a in conv.attribute if a.ints}
    assert attrs["pads"] == [4, 0] and attrs["kernel_shape"] == [3] and attrs["dilations"] == [2]
    assert [n.op_type for n in proto.graph.node] == ["Transpose", "Conv", "Transpose"]
    assert onnx.load(tmp_path / "causal.onnx").graph.initializer[0].dims == [2, 1, 3]  # (F, C, k)


def test_onnx_average_pooling_divides_by_the_real_steps_only(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    export_onnx(Sequential([AveragePooling1D(3, strides=2, padding="same", input_shape=(2, 1))]), tmp_path / "a.onnx")
    session = ort.InferenceSession(os.fspath(tmp_path / "a.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": np.array([10, 20], np.float32).reshape(1, 2, 1)})[0].ravel().tolist() == [15.0]
