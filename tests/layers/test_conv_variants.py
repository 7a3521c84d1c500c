"""DepthwiseConv2D, SeparableConv2D and Conv2DTranspose layers: Keras's weights, shapes and outputs, the
functional ops underneath, gradients, PyTorch (float64, every gradient), configs, bad arguments, ONNX export."""

import json
import os
import warnings

import numpy as np
import pytest
from _layer_grad import check_layer_grads
from helpers import assert_close, import_keras, import_torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numcnn import Sequential
from numcnn.functional.conv_transpose import conv2d_transpose
from numcnn.functional.depthwise import depthwise_conv2d, separable_conv2d
from numcnn.io.onnx_export import export_onnx
from numcnn.layers import Conv2D
from numcnn.layers.conv_variants import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D

FORMATS = ("channels_last", "channels_first")


def sample(data_format, h=7, w=6, c=3):
    return (h, w, c) if data_format == "channels_last" else (c, h, w)


def randomize(layer, rng, scale=1.0):
    for w in layer.params.values():
        w[...] = rng.standard_normal(w.shape) * scale
    return layer


def make(cls, options, data_format, dtype="float64"):
    return cls(**options, data_format=data_format, dtype=dtype, seed=0)


# Keras's own arguments only ("valid"/"same"; Keras's Conv2DTranspose refuses strides > 1 with dilation > 1)
KERAS_CASES = [
    (DepthwiseConv2D, dict(kernel_size=3)),
    (DepthwiseConv2D, dict(kernel_size=(3, 2), strides=2, padding="same", depth_multiplier=2, activation="relu")),
    (DepthwiseConv2D, dict(kernel_size=2, dilation_rate=2, padding="same", depth_multiplier=3, use_bias=False)),
    (SeparableConv2D, dict(filters=4, kernel_size=3)),
    (SeparableConv2D, dict(filters=5, kernel_size=(2, 3), strides=(2, 1), padding="same", depth_multiplier=2,
                           activation="tanh")),
    (SeparableConv2D, dict(filters=2, kernel_size=3, dilation_rate=(1, 2), padding="same", use_bias=False)),
    (Conv2DTranspose, dict(filters=4, kernel_size=3)),
    (Conv2DTranspose, dict(filters=4, kernel_size=3, strides=2, padding="same")),
    (Conv2DTranspose, dict(filters=2, kernel_size=(2, 3), strides=(3, 2), padding="valid", output_padding=(2, 1))),
    (Conv2DTranspose, dict(filters=3, kernel_size=4, strides=2, padding="same", output_padding=1,
                           activation="sigmoid")),
    (Conv2DTranspose, dict(filters=3, kernel_size=1, strides=3)),  # a stride longer than the kernel: zero gaps
    (Conv2DTranspose, dict(filters=3, kernel_size=3, dilation_rate=2, padding="same", use_bias=False)),
]
CASE_IDS = [f"{cls.__name__}-" + ",".join(f"{k}={v}" for k, v in options.items()) for cls, options in KERAS_CASES]


# -- Keras: weights, output shapes and outputs --------------------------------------------------------------------

def keras_twin(keras, cls, options, data_format, input_shape):
    layer = getattr(keras.layers, cls.__name__)(**options, data_format=data_format, dtype="float64")
    layer.build(input_shape)
    return layer


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "options"), KERAS_CASES, ids=CASE_IDS)
def test_weights_and_output_shapes_are_keras(cls, options, data_format):
    keras = import_keras()
    input_shape = (None, *sample(data_format))
    ours = make(cls, options, data_format)
    ours.build(input_shape)
    theirs = keras_twin(keras, cls, options, data_format, input_shape)
    assert [w.name for w in theirs.weights] == [k for k in cls.weight_order if k in ours.params]
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.weights]
    assert ours.compute_output_shape(input_shape) == tuple(theirs.compute_output_shape(input_shape))
    assert ours.count_params() == theirs.count_params()


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "options"), KERAS_CASES, ids=CASE_IDS)
def test_outputs_are_keras(cls, options, data_format, rng):
    keras, torch = import_keras(), import_torch()
    x = rng.standard_normal((2, *sample(data_format)))
    ours = make(cls, options, data_format)
    ours.build((None, *x.shape[1:]))
    randomize(ours, rng, 0.5)
    y = ours(x)
    theirs = keras_twin(keras, cls, options, data_format, (None, *x.shape[1:]))
    theirs.set_weights(ours.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Keras on torch: "inconsistencies across backends"
        expected = theirs(torch.tensor(x)).detach().numpy()
    assert y.shape == expected.shape == ours.compute_output_shape(x.shape)
    assert_close(y, expected, rtol=1e-10)


def test_glorot_limits_come_from_keras_kernel_shapes():
    # glorot_uniform's fans come from Keras's kernel shapes: (kh, kw, C, M), (1, 1, C*M, F), (kh, kw, F, C)
    for layer, shape, fans in [
        (DepthwiseConv2D(3, depth_multiplier=2, seed=1), (None, 9, 9, 40), (9 * 40, 9 * 2)),
        (SeparableConv2D(50, 3, seed=1), (None, 9, 9, 40), (9 * 40, 9 * 1)),
        (Conv2DTranspose(30, 3, seed=1), (None, 9, 9, 40), (9 * 30, 9 * 40)),
    ]:
        layer.build(shape)
        kernel = layer.get_weights()[0]
        limit = np.sqrt(6 / sum(fans))
        assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit


# -- the functional ops underneath ----------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_depthwise_layer_is_the_functional_op_and_a_grouped_conv2d(data_format, rng):
    x = rng.standard_normal((2, *sample(data_format)))
    layer = make(DepthwiseConv2D, dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2,
                                       bias_initializer="random_normal"), data_format)
    y = layer(x)
    kernel, bias = layer.get_weights()
    assert_close(y, depthwise_conv2d(x, kernel, bias, 2, "same", data_format=data_format), rtol=1e-12)
    conv = Conv2D(6, 3, strides=2, padding="same", groups=3, data_format=data_format, dtype="float64")
    conv.build((None, *x.shape[1:]))
    conv.set_weights([kernel.reshape(3, 3, 1, 6), bias])
    assert_close(y, conv(x), rtol=1e-12)


@pytest.mark.parametrize("data_format", FORMATS)
def test_separable_layer_is_the_functional_op(data_format, rng):
    x = rng.standard_normal((2, *sample(data_format)))
    layer = make(SeparableConv2D, dict(filters=4, kernel_size=2, padding=((1, 0), (0, 1)), depth_multiplier=2,
                                       bias_initializer="random_normal", activation="relu"), data_format)
    y = layer(x)
    depthwise, pointwise, bias = layer.get_weights()
    expected = separable_conv2d(x, depthwise, pointwise, bias, padding=((1, 0), (0, 1)), data_format=data_format)
    assert_close(y, np.maximum(expected, 0), rtol=1e-12)


@pytest.mark.parametrize("data_format", FORMATS)
def test_conv2d_transpose_layer_is_the_functional_op(data_format, rng):
    x = rng.standard_normal((2, *sample(data_format)))
    layer = make(Conv2DTranspose, dict(filters=4, kernel_size=3, strides=2, padding=1, output_padding=1,
                                       bias_initializer="random_normal"), data_format)
    y = layer(x)
    kernel, bias = layer.get_weights()
    assert y.shape == ((2, 14, 12, 4) if data_format == "channels_last" else (2, 4, 14, 12))
    assert_close(y, conv2d_transpose(x, kernel, bias, 2, 1, 1, data_format=data_format), rtol=1e-12)


def test_conv2d_transpose_undoes_the_shape_of_a_strided_conv2d():
    # the usual decoder: Conv2D(strides=2, "same") halves, Conv2DTranspose(strides=2, "same") doubles back
    x = np.zeros((1, 9, 10, 3), np.float32)
    down = Conv2D(8, 3, strides=2, padding="same", seed=0)(x)
    up = Conv2DTranspose(3, 3, strides=2, padding="same", seed=0)(down)
    assert down.shape == (1, 5, 5, 8) and up.shape == (1, 10, 10, 3) and up.dtype == np.float32


@settings(max_examples=20, deadline=None)
@given(cls=st.sampled_from([DepthwiseConv2D, SeparableConv2D, Conv2DTranspose]), h=st.integers(3, 6),
       w=st.integers(3, 6), c=st.integers(1, 3), k=st.integers(1, 3), s=st.integers(1, 3),
       padding=st.sampled_from(["valid", "same"]), fmt=st.sampled_from(FORMATS), seed=st.integers(0, 2**31))
def test_float32_shapes_match_compute_output_shape(cls, h, w, c, k, s, padding, fmt, seed):
    x = np.random.default_rng(seed).standard_normal((2, h, w, c) if fmt == "channels_last" else (2, c, h, w))
    options = dict(kernel_size=k, strides=s, padding=padding, data_format=fmt, seed=seed)
    layer = cls(**options) if cls is DepthwiseConv2D else cls(2, **options)
    y = layer(x.astype(np.float32))
    assert y.dtype == np.float32
    assert y.shape == layer.compute_output_shape(x.shape) == (2, *layer.compute_output_shape((None, *x.shape[1:]))[1:])
    assert layer.output_shape == (None, *y.shape[1:])


# -- gradients ------------------------------------------------------------------------------------------------------

GRAD_CASES = [
    (DepthwiseConv2D, dict(kernel_size=3)),
    (DepthwiseConv2D, dict(kernel_size=(3, 2), strides=2, padding="same", depth_multiplier=2, activation="tanh")),
    (DepthwiseConv2D, dict(kernel_size=2, dilation_rate=(2, 1), padding=((1, 0), (0, 2)), use_bias=False)),
    (SeparableConv2D, dict(filters=3, kernel_size=3, activation="sigmoid")),
    (SeparableConv2D, dict(filters=2, kernel_size=2, strides=(1, 2), padding="same", depth_multiplier=2)),
    (Conv2DTranspose, dict(filters=2, kernel_size=3, strides=2, padding="same", activation="tanh")),
    (Conv2DTranspose, dict(filters=3, kernel_size=(2, 3), strides=(2, 3), output_padding=(1, 2), use_bias=False)),
    (Conv2DTranspose, dict(filters=2, kernel_size=3, strides=2, dilation_rate=2, padding=((1, 2), (0, 1)))),
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "options"), GRAD_CASES,
                         ids=[f"{c.__name__}-" + ",".join(f"{k}={v}" for k, v in o.items()) for c, o in GRAD_CASES])
def test_gradients_match_numerical(cls, options, data_format, rng):
    layer = make(cls, {**options, "bias_initializer": "random_normal"} if options.get("use_bias", True) else options,
                 data_format)
    x = rng.standard_normal((2, *sample(data_format, 5, 4, 2)))
    dx, grads = check_layer_grads(layer, x, rng)
    assert dx.shape == x.shape
    assert set(grads) == set(layer.params) == {k for k in cls.weight_order if k != "bias" or options.get("use_bias",
                                                                                                          True)}


def _nchw(array, data_format):
    return array if data_format == "channels_first" else array.transpose(0, 3, 1, 2)


def _leaf(torch, array):
    return torch.tensor(np.ascontiguousarray(array), requires_grad=True)


@pytest.mark.parametrize("data_format", FORMATS)
def test_depthwise_and_separable_layers_match_torch(data_format, rng):
    torch = import_torch()
    F = torch.nn.functional
    x = rng.standard_normal((2, *sample(data_format)))
    depthwise = make(DepthwiseConv2D, dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2), data_format)
    separable = make(SeparableConv2D, dict(filters=4, kernel_size=3, strides=2, padding="same", depth_multiplier=2),
                     data_format)
    for layer in (depthwise, separable):
        layer.build((None, *x.shape[1:]))
        randomize(layer, rng)
    xt = _leaf(torch, _nchw(x, data_format))
    kernels = {}
    for key, layer in (("depthwise", depthwise), ("separable", separable)):
        k = layer.get_weights()[0]
        kernels[key] = _leaf(torch, k.reshape(3, 3, 1, 6).transpose(3, 2, 0, 1))
    # 7x6 input, 3x3 kernel, stride 2, "same": pads (1, 1) and (0, 1) (the odd pixel goes bottom/right)
    padded = F.pad(xt, (0, 1, 1, 1))
    bias_t = _leaf(torch, depthwise.params["bias"])
    z = F.conv2d(padded, kernels["depthwise"], bias_t, stride=2, groups=3)
    pointwise_t = _leaf(torch, separable.params["pointwise_kernel"].transpose(3, 2, 0, 1))
    sep_bias_t = _leaf(torch, separable.params["bias"])
    y_t = F.conv2d(F.conv2d(padded, kernels["separable"], None, stride=2, groups=3), pointwise_t, sep_bias_t)
    for layer, out, leaves in ((depthwise, z, {"kernel": kernels["depthwise"], "bias": bias_t}),
                               (separable, y_t, {"depthwise_kernel": kernels["separable"],
                                                 "pointwise_kernel": pointwise_t, "bias": sep_bias_t})):
        y = layer(x)
        assert_close(_nchw(y, data_format), out.detach().numpy(), rtol=1e-10)
        dy = rng.standard_normal(y.shape)
        xt.grad = None
        out.backward(torch.from_numpy(np.ascontiguousarray(_nchw(dy, data_format))))
        dx = layer.backward(dy)
        assert_close(_nchw(dx, data_format), xt.grad.numpy(), rtol=1e-10)
        for key, leaf in leaves.items():
            grad = leaf.grad.numpy()
            expected = grad.transpose(2, 3, 1, 0) if grad.ndim == 4 else grad
            assert_close(layer.grads[key], expected.reshape(layer.params[key].shape), rtol=1e-10)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("padding", "output_padding", "torch_padding", "torch_output_padding"), [
    ("valid", None, 0, 0), ("valid", 1, 0, 1), ("same", None, 1, 0), (1, 1, 1, 1), (2, None, 2, 0),
])
def test_conv2d_transpose_layer_matches_torch(padding, output_padding, torch_padding, torch_output_padding,
                                              data_format, rng):
    # kernel 4, stride 2 (DCGAN's): Keras's "same" is torch's padding 1 (output 2*in), "valid" torch's padding 0
    torch = import_torch()
    x = rng.standard_normal((2, *sample(data_format)))
    layer = make(Conv2DTranspose, dict(filters=4, kernel_size=4, strides=2, padding=padding,
                                       output_padding=output_padding), data_format)
    layer.build((None, *x.shape[1:]))
    randomize(layer, rng)
    xt = _leaf(torch, _nchw(x, data_format))
    kt = _leaf(torch, layer.params["kernel"].transpose(3, 2, 0, 1))
    bt = _leaf(torch, layer.params["bias"])
    y_t = torch.nn.functional.conv_transpose2d(xt, kt, bt, stride=2, padding=torch_padding,
                                               output_padding=torch_output_padding)
    y = layer(x)
    assert_close(_nchw(y, data_format), y_t.detach().numpy(), rtol=1e-10)
    dy = rng.standard_normal(y.shape)
    y_t.backward(torch.from_numpy(np.ascontiguousarray(_nchw(dy, data_format))))
    dx = layer.backward(dy)
    assert_close(_nchw(dx, data_format), xt.grad.numpy(), rtol=1e-10)
    assert_close(layer.grads["kernel"], kt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10)
    assert_close(layer.grads["bias"], bt.grad.numpy(), rtol=1e-10)


# -- configs --------------------------------------------------------------------------------------------------------

CONFIG_CASES = [
    (DepthwiseConv2D, dict(kernel_size=(3, 2), strides=2, padding=((1, 0), (2, 1)), depth_multiplier=2,
                           data_format="channels_first", dilation_rate=(1, 2), activation="relu", use_bias=False,
                           depthwise_initializer="he_normal", bias_initializer="ones")),
    (SeparableConv2D, dict(filters=5, kernel_size=3, strides=(1, 2), padding="same", depth_multiplier=3,
                           pointwise_initializer={"class_name": "RandomNormal", "config": {"stddev": 0.2}},
                           name="sep", input_shape=(8, 8, 2))),
    (Conv2DTranspose, dict(filters=4, kernel_size=3, strides=(2, 3), padding="same", output_padding=(1, 0),
                           dilation_rate=1, activation="tanh", kernel_initializer="lecun_uniform", dtype="float64")),
    (Conv2DTranspose, dict(filters=2, kernel_size=2, padding=(1, 2))),
]


@pytest.mark.parametrize(("cls", "options"), CONFIG_CASES, ids=[c.__name__ for c, _ in CONFIG_CASES])
def test_config_round_trip(cls, options, rng):
    layer = cls(**options)
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    twin = cls.from_config(config)
    assert twin.get_config() == config
    channels_first = config["data_format"] == "channels_first"
    x = rng.standard_normal((2, 2, 8, 8) if channels_first else (2, 8, 8, 2)).astype(layer.dtype or np.float32)
    y = layer(x)
    twin.build((None, *x.shape[1:]))
    twin.set_weights(layer.get_weights())
    np.testing.assert_array_equal(twin(x), y)


def test_configs_hold_keras_argument_names():
    assert set(DepthwiseConv2D(3).get_config()) >= {"kernel_size", "strides", "padding", "depth_multiplier",
                                                    "data_format", "dilation_rate", "activation", "use_bias",
                                                    "depthwise_initializer", "bias_initializer"}
    assert set(SeparableConv2D(2, 3).get_config()) >= {"filters", "depth_multiplier", "depthwise_initializer",
                                                       "pointwise_initializer", "bias_initializer"}
    config = Conv2DTranspose(2, 3).get_config()
    assert config["output_padding"] is None and "kernel_initializer" in config


# -- bad arguments ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("make_layer", "pattern"), [
    (lambda: DepthwiseConv2D(3, depth_multiplier=0), r"`depth_multiplier` argument must be a positive int. "
                                                     r"Received: depth_multiplier=0"),
    (lambda: DepthwiseConv2D(3, depth_multiplier=1.5), r"`depth_multiplier`.*Received: depth_multiplier=1.5"),
    (lambda: DepthwiseConv2D(0), r"`kernel_size` argument.*Received: kernel_size=0"),
    (lambda: DepthwiseConv2D(3, padding="causal"), r"`padding` argument.*Received: padding='causal'"),
    (lambda: DepthwiseConv2D(3, depthwise_initializer="nope"), r"depthwise_initializer.*nope"),
    (lambda: SeparableConv2D(0, 3), r"`filters` argument must be a positive int. Received: filters=0"),
    (lambda: SeparableConv2D(2, 3, pointwise_initializer=3), r"pointwise_initializer.*Received"),
    (lambda: SeparableConv2D(2, 3, activation="swishy"), r"`activation` argument.*Received: activation='swishy'"),
    (lambda: SeparableConv2D(2, 3, use_bias="no"), r"`use_bias` argument must be True or False. Received"),
    (lambda: SeparableConv2D(2, 3, data_format="NHWC"), r"`data_format` argument.*Received: data_format='NHWC'"),
    (lambda: Conv2DTranspose(2, 3, output_padding=1), r"`output_padding` argument must be None or smaller than "
                                                      r"`strides`.*Received: output_padding=\(1, 1\)"),
    (lambda: Conv2DTranspose(2, 3, strides=2, output_padding=(1, 2, 3)), r"`output_padding`.*Received"),
    (lambda: Conv2DTranspose(2, 3, strides=(2, 0)), r"`strides` argument.*Received: strides=\(2, 0\)"),
    (lambda: Conv2DTranspose(2, (3, 3, 3)), r"`kernel_size` argument.*Received"),
    (lambda: Conv2DTranspose(True, 3), r"`filters` argument.*Received: filters=True"),
])
def test_bad_arguments_are_refused(make_layer, pattern):
    with pytest.raises(ValueError, match=pattern):
        make_layer()


@pytest.mark.parametrize("cls", [DepthwiseConv2D, SeparableConv2D, Conv2DTranspose])
def test_bad_inputs_are_refused_naming_the_layer(cls):
    layer = cls(3) if cls is DepthwiseConv2D else cls(2, 3)
    name = layer.name
    with pytest.raises(ValueError, match=rf"Layer '{name}' \({cls.__name__}\) needs 4D inputs.*Received: inputs with "
                                         r"shape \(8, 8, 3\)"):
        layer(np.zeros((8, 8, 3), np.float32))
    assert not layer.built
    with pytest.raises(ValueError, match=rf"Layer '{name}' \({cls.__name__}\) needs inputs with at least one channel"):
        layer(np.zeros((2, 8, 8, 0), np.float32))
    layer(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=rf"Layer '{name}' was built for 3 input channels on axis -1. Received"):
        layer(np.zeros((2, 8, 8, 4), np.float32))


def test_a_transposed_output_with_no_pixels_is_refused():
    with pytest.raises(ValueError, match=r"padding that leaves some output.*Received: input size 1"):
        Conv2DTranspose(2, 2, padding="same", output_padding=0, strides=1)(np.zeros((1, 1, 4, 3), np.float32))


# -- ONNX export: Conv with groups, two Convs, ConvTranspose --------------------------------------------------------

ONNX_CASES = [
    (DepthwiseConv2D, dict(kernel_size=3)),
    (DepthwiseConv2D, dict(kernel_size=(2, 3), strides=2, padding="same", depth_multiplier=2, activation="relu")),
    (DepthwiseConv2D, dict(kernel_size=3, dilation_rate=2, padding=((1, 0), (2, 1)), use_bias=False)),
    (SeparableConv2D, dict(filters=4, kernel_size=3, padding="same", activation="softmax")),
    (SeparableConv2D, dict(filters=5, kernel_size=(3, 2), strides=(2, 1), depth_multiplier=3, use_bias=False)),
    (Conv2DTranspose, dict(filters=4, kernel_size=3)),
    (Conv2DTranspose, dict(filters=4, kernel_size=3, strides=2, padding="same")),  # pads cut at the end only
    (Conv2DTranspose, dict(filters=3, kernel_size=(2, 3), strides=(3, 2), output_padding=(2, 1), activation="tanh")),
    (Conv2DTranspose, dict(filters=3, kernel_size=1, strides=3)),  # output_padding from "valid"'s default
    (Conv2DTranspose, dict(filters=2, kernel_size=4, strides=2, padding="same", output_padding=1)),
    (Conv2DTranspose, dict(filters=2, kernel_size=3, strides=2, dilation_rate=2, padding=((1, 2), (0, 1)),
                           output_padding=1, use_bias=False)),
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("cls", "options"), ONNX_CASES,
                         ids=[f"{c.__name__}-" + ",".join(f"{k}={v}" for k, v in o.items()) for c, o in ONNX_CASES])
def test_onnx_export_matches_onnxruntime(cls, options, data_format, tmp_path, rng):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = Sequential([cls(**options, data_format=data_format, input_shape=sample(data_format, 7, 9, 3), seed=0)])
    x = rng.standard_normal((3, *sample(data_format, 7, 9, 3))).astype(np.float32)
    model(x[:1])
    randomize(model.layers[0], rng, 0.5)
    expected = model.predict(x)
    path = tmp_path / "model.onnx"
    proto = export_onnx(model, path)
    onnx.checker.check_model(os.fspath(path), full_check=True)
    got = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))
    ops = [node.op_type for node in proto.graph.node]
    main = {DepthwiseConv2D: ["Conv"], SeparableConv2D: ["Conv", "Conv"], Conv2DTranspose: ["ConvTranspose"]}[cls]
    assert [op for op in ops if op in ("Conv", "ConvTranspose")] == main
    assert ops.count("Transpose") == (2 if data_format == "channels_last" else 0)
    if cls is not Conv2DTranspose:
        group = next(a.i for a in proto.graph.node[ops.index("Conv")].attribute if a.name == "group")
        assert group == 3  # one group per input channel


@settings(max_examples=25, deadline=None)
@given(k=st.tuples(st.integers(1, 4), st.integers(1, 4)), s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       d=st.tuples(st.integers(1, 2), st.integers(1, 2)), data=st.data(),
       padding=st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 1)), fmt=st.sampled_from(FORMATS),
       seed=st.integers(0, 2**16))
def test_random_conv2d_transpose_matches_onnxruntime(tmp_path_factory, k, s, d, data, padding, fmt, seed):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    output_padding = data.draw(st.one_of(st.none(), st.tuples(st.integers(0, s[0] - 1), st.integers(0, s[1] - 1))))
    rng = np.random.default_rng(seed)
    shape = sample(fmt, 4, 5, 2)
    layer = Conv2DTranspose(3, k, strides=s, padding=padding, output_padding=output_padding, dilation_rate=d,
                            data_format=fmt, input_shape=shape, seed=seed, bias_initializer="random_normal")
    model = Sequential([layer])
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    try:
        expected = model.predict(x)
    except ValueError:  # the padding leaves no output: refused, nothing to export
        return
    path = tmp_path_factory.mktemp("transpose") / "model.onnx"
    export_onnx(model, path)
    got = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))
