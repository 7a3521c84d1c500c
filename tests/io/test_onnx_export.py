"""ONNX export: every exported model runs in onnxruntime and gives numcnn's outputs, in both data formats.

Weights are random everywhere (biases, batch-norm statistics, gamma and beta too), so a
transposed kernel, a wrong pad side, a missing bias or a wrong epsilon changes the outputs.
"""

import errno
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numcnn import Model, Sequential
from numcnn.app.cli import build_parser, main
from numcnn.utils import files
from numcnn.io.onnx_export import export_onnx
from numcnn.layers import (
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    Layer,
    LeakyReLU,
    MaxPooling2D,
    ReLU,
    Rescaling,
    Reshape,
    Softmax,
)
from numcnn.models import zoo
from numcnn.app.runs import load_run

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

FORMATS = ("channels_last", "channels_first")


def sample_shape(data_format, h=9, w=11, c=6):
    return (h, w, c) if data_format == "channels_last" else (c, h, w)


def channel_axis(data_format):
    return -1 if data_format == "channels_last" else 1


def randomize(model, rng):
    """Random weights and statistics in every layer, scaled to keep activations near 1."""
    for _, layer in model.flat_layers():
        for key, w in {**layer.params, **layer.state}.items():
            if key == "moving_variance":
                w[...] = rng.uniform(0.3, 2.0, w.shape)
            elif key == "gamma":
                w[...] = rng.uniform(0.5, 1.5, w.shape)
            elif key == "kernel":
                w[...] = rng.standard_normal(w.shape) / np.sqrt(np.prod(w.shape[:-1]))
            else:  # bias, beta, moving_mean
                w[...] = rng.normal(0, 0.5, w.shape)
    return model


def run_onnx(path, x):
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})


def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def check_export(model, tmp_path, x, rng=None, name="model.onnx", **kwargs):
    """Export ``model`` (weights randomized when ``rng`` is given) and compare onnxruntime with ``model.predict``."""
    if rng is not None:
        model(x[:1])
        randomize(model, rng)
    expected = model.predict(x)
    path = tmp_path / name
    proto = export_onnx(model, path, **kwargs)
    onnx.checker.check_model(os.fspath(path), full_check=True)
    assert dims(proto.graph.input[0]) == ["batch", *x.shape[1:]]
    assert dims(proto.graph.output[0]) == ["batch", *expected.shape[1:]]
    got = run_onnx(path, x)[0]
    assert got.shape == expected.shape and got.dtype == np.float32
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale)
    return proto


def op_types(proto):
    return [node.op_type for node in proto.graph.node]


# -- Conv2D: every padding, stride, dilation and group option ---------------------------------------------------------
CONV_CASES = [
    dict(filters=4, kernel_size=3),
    dict(filters=4, kernel_size=3, padding="same"),
    dict(filters=3, kernel_size=(2, 4), strides=2, padding="same"),  # "same" pads (0, 1) and (1, 2): asymmetric
    dict(filters=4, kernel_size=3, strides=(2, 3), padding="same"),
    dict(filters=4, kernel_size=3, padding=2),
    dict(filters=4, kernel_size=3, padding=(1, 2)),
    dict(filters=4, kernel_size=3, padding=((1, 0), (2, 1))),
    dict(filters=4, kernel_size=3, dilation_rate=2, padding="same"),
    dict(filters=4, kernel_size=(3, 2), dilation_rate=(2, 1), strides=2),
    dict(filters=6, kernel_size=3, groups=3, padding="same"),
    dict(filters=6, kernel_size=3, groups=6, padding="same"),  # depthwise
    dict(filters=12, kernel_size=(1, 3), groups=6, strides=(1, 2)),  # depthwise, 2 filters per channel
    dict(filters=4, kernel_size=1, use_bias=False, activation="relu"),
    dict(filters=4, kernel_size=3, activation="leaky_relu"),
    dict(filters=4, kernel_size=3, activation="tanh", padding="same"),
    dict(filters=4, kernel_size=2, activation="softmax"),  # softmax on the last axis of the layer's layout
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("options", CONV_CASES, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_conv2d_options_match_onnxruntime(options, data_format, tmp_path, rng):
    model = Sequential([Conv2D(**options, data_format=data_format, input_shape=sample_shape(data_format))])
    x = rng.standard_normal((3, *sample_shape(data_format)), dtype=np.float32)
    proto = check_export(model, tmp_path, x, rng)
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    assert {a.name: a.i for a in conv.attribute if a.name == "group"} == {"group": options.get("groups", 1)}
    # channels_first stays NCHW (no Transpose); channels_last wraps the Conv in one Transpose each way
    assert op_types(proto).count("Transpose") == (2 if data_format == "channels_last" else 0)


def test_asymmetric_same_padding_puts_the_extra_pixel_after(tmp_path, rng):
    model = Sequential([Conv2D(1, (2, 4), strides=2, padding="same", input_shape=(9, 11, 1))])
    check_export(model, tmp_path, rng.standard_normal((2, 9, 11, 1), dtype=np.float32), rng)
    conv = next(n for n in onnx.load(tmp_path / "model.onnx").graph.node if n.op_type == "Conv")
    assert list(next(a for a in conv.attribute if a.name == "pads").ints) == [0, 1, 1, 2]  # top, left, bottom, right


@settings(max_examples=30)
@given(kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       dh=st.integers(1, 2), dw=st.integers(1, 2), groups=st.sampled_from([1, 2, 4]),
       padding=st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2),
                         st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                                   st.tuples(st.integers(0, 2), st.integers(0, 2)))),
       data_format=st.sampled_from(FORMATS), seed=st.integers(0, 2**16))
def test_random_conv_layers_match_onnxruntime(tmp_path_factory, kh, kw, sh, sw, dh, dw, groups, padding, data_format,
                                               seed):
    rng = np.random.default_rng(seed)
    shape = sample_shape(data_format, 8, 9, 4)
    model = Sequential([Conv2D(4, (kh, kw), strides=(sh, sw), padding=padding, dilation_rate=(dh, dw), groups=groups,
                               data_format=data_format, input_shape=shape)])
    check_export(model, tmp_path_factory.mktemp("conv"), rng.standard_normal((2, *shape), dtype=np.float32), rng)


# -- pooling --------------------------------------------------------------------------------------------------------
POOL_CASES = [
    dict(pool_size=2),
    dict(pool_size=3, strides=2, padding="same"),  # windows at the bottom/right edge hold fewer real pixels
    dict(pool_size=(2, 3), strides=1, padding="same"),
    dict(pool_size=3, strides=(1, 2), padding=((1, 0), (0, 2))),
    dict(pool_size=(3, 2), strides=(2, 1), padding=1),
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("pool", [MaxPooling2D, AveragePooling2D])
@pytest.mark.parametrize("options", POOL_CASES, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_pooling_matches_onnxruntime(pool, options, data_format, tmp_path, rng):
    model = Sequential([pool(**options, data_format=data_format, input_shape=sample_shape(data_format))])
    x = rng.standard_normal((3, *sample_shape(data_format)), dtype=np.float32) - 3  # all negative: -inf padding shows
    check_export(model, tmp_path, x)


def test_average_pooling_divides_by_the_real_pixels_only(tmp_path):
    model = Sequential([AveragePooling2D(3, strides=2, padding="same", input_shape=(1, 2, 1))])
    x = np.array([10, 20], np.float32).reshape(1, 1, 2, 1)
    check_export(model, tmp_path, x)
    assert run_onnx(tmp_path / "model.onnx", x)[0].ravel().tolist() == [15.0]  # not 30 / 9 or 30 / 4


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("pool", [GlobalAveragePooling2D, GlobalMaxPooling2D])
def test_global_pooling_matches_onnxruntime(pool, keepdims, data_format, tmp_path, rng):
    model = Sequential([Conv2D(5, 3, data_format=data_format, input_shape=sample_shape(data_format)),
                        pool(data_format=data_format, keepdims=keepdims)])
    check_export(model, tmp_path, rng.standard_normal((3, *sample_shape(data_format)), dtype=np.float32), rng)


# -- Dense, activations, batch norm, shapes ------------------------------------------------------------------------
ACTIVATIONS = [None, "linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "ReLU"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_activation_option_matches_onnxruntime(activation, tmp_path, rng):
    model = Sequential([Dense(7, activation=activation, input_shape=(5,)), Dense(4, use_bias=False)])
    proto = check_export(model, tmp_path, rng.standard_normal((6, 5), dtype=np.float32) * 3, rng)
    assert op_types(proto).count("Gemm") == 2


@pytest.mark.parametrize("layer", [Activation("sigmoid"), Activation("softmax"), Activation("leaky_relu"),
                                   Activation("tanh"), Activation(None), ReLU(), LeakyReLU(), LeakyReLU(0.05),
                                   Softmax(axis=1), Softmax(axis=-2), Softmax(), Dropout(0.5), Rescaling(0.5, -1.5),
                                   Rescaling(3.0)], ids=lambda layer: repr(layer.get_config()))
def test_activation_layers_match_onnxruntime(layer, tmp_path, rng):
    model = Sequential([Conv2D(3, 2, input_shape=(5, 6, 2)), layer])
    check_export(model, tmp_path, rng.standard_normal((4, 5, 6, 2), dtype=np.float32) * 3, rng)


def test_leaky_relu_layer_keeps_its_slope(tmp_path):
    model = Sequential([LeakyReLU(0.125, input_shape=(4,))])
    x = np.array([[-8, -1, 0, 2]], np.float32)
    check_export(model, tmp_path, x)
    assert run_onnx(tmp_path / "model.onnx", x)[0].tolist() == [[-1, -0.125, 0, 2]]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_norm_uses_the_moving_statistics_and_epsilon(center, scale, data_format, tmp_path, rng):
    model = Sequential([Conv2D(4, 3, data_format=data_format, input_shape=sample_shape(data_format)),
                        BatchNormalization(axis=channel_axis(data_format), epsilon=0.25, center=center, scale=scale),
                        Flatten(data_format=data_format), Dense(6), BatchNormalization(epsilon=1e-5), Dense(3)])
    check_export(model, tmp_path, rng.standard_normal((5, *sample_shape(data_format)), dtype=np.float32), rng)


@pytest.mark.parametrize("axis", [1, 2, -2, 3])
def test_batch_norm_on_any_axis(axis, tmp_path, rng):
    model = Sequential([BatchNormalization(axis=axis, input_shape=(3, 4, 5))])
    check_export(model, tmp_path, rng.standard_normal((2, 3, 4, 5), dtype=np.float32), rng)


@pytest.mark.parametrize("data_format", FORMATS)
def test_flatten_keeps_the_dense_weights_order(data_format, tmp_path, rng):
    """Flatten of channels_first maps moves channels last first; the Dense after it reads (H, W, C)."""
    model = Sequential([Conv2D(3, 2, data_format=data_format, input_shape=sample_shape(data_format, 4, 5, 2)),
                        Flatten(data_format=data_format), Dense(4)])
    check_export(model, tmp_path, rng.standard_normal((3, *sample_shape(data_format, 4, 5, 2)), dtype=np.float32), rng)


def test_reshape_and_dense_on_3d_inputs(tmp_path, rng):
    model = Sequential([Reshape((-1, 4), input_shape=(3, 8)), Dense(5, activation="tanh"),
                        Dense(2, use_bias=False), BatchNormalization(axis=1), Softmax(axis=1), Flatten()])
    proto = check_export(model, tmp_path, rng.standard_normal((4, 3, 8), dtype=np.float32), rng)
    assert "MatMul" in op_types(proto) and "Gemm" not in op_types(proto)


@pytest.mark.parametrize("data_format", FORMATS)
def test_a_model_with_every_sequential_layer(data_format, tmp_path, rng):
    ch = channel_axis(data_format)
    model = Sequential([
        Rescaling(0.5, -0.25, input_shape=sample_shape(data_format, 9, 11, 3)),
        Conv2D(6, 3, padding="same", data_format=data_format, use_bias=False),
        BatchNormalization(axis=ch), LeakyReLU(0.1),
        MaxPooling2D(3, strides=2, padding="same", data_format=data_format),
        Conv2D(8, 3, padding="same", groups=2, activation="relu", data_format=data_format),
        AveragePooling2D(2, padding="same", data_format=data_format), Dropout(0.3),
        Flatten(data_format=data_format), Dense(10, activation="sigmoid"), BatchNormalization(), Dense(5), Softmax(),
    ])
    x = rng.standard_normal((4, *sample_shape(data_format, 9, 11, 3)), dtype=np.float32)
    check_export(model, tmp_path, x, rng)
    for opset in (13, 18, 21):
        check_export(model, tmp_path, x, name=f"opset{opset}.onnx", opset=opset)
        assert onnx.load(tmp_path / f"opset{opset}.onnx").opset_import[0].version == opset


@pytest.mark.parametrize("make,shape", [(zoo.simple_convnet, (8, 8, 1)), (zoo.simple_convnet, (28, 28, 1)),
                                        (zoo.lenet5, (28, 28, 1)), (zoo.deep_convnet, (16, 16, 1))])
def test_zoo_models_match_onnxruntime(make, shape, tmp_path, rng):
    model = make(shape, classes=10, seed=1)
    check_export(model, tmp_path, rng.random((5, *shape), dtype=np.float32), rng)


def test_a_float64_model_is_exported_as_float32(tmp_path, rng):
    model = Sequential([Conv2D(4, 3, input_shape=(6, 6, 2), dtype="float64"), Flatten(dtype="float64"),
                        Dense(3, dtype="float64")])
    x = rng.standard_normal((2, 6, 6, 2))
    model(x)
    randomize(model, rng)
    export_onnx(model, tmp_path / "m.onnx")
    got = run_onnx(tmp_path / "m.onnx", x.astype(np.float32))[0]
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-5)


def test_the_batch_size_is_free(tmp_path, rng):
    model = zoo.simple_convnet((8, 8, 1))
    export_onnx(model, tmp_path / "m.onnx")
    for n in (1, 7):
        x = rng.random((n, 8, 8, 1), dtype=np.float32)
        np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x)[0], model.predict(x), rtol=1e-5, atol=1e-5)


# -- subclassed models: traced through their call ------------------------------------------------------------------
class Residual(Model):
    """Conv - (conv - bn) + skip - a 1x1 branch concatenated on the channels - global pool - dense."""

    def __init__(self, data_format, concat_axis=None):
        super().__init__(seed=0)
        ch = channel_axis(data_format)
        self.stem = Conv2D(8, 3, padding="same", activation="relu", data_format=data_format)
        self.conv = Conv2D(8, 3, padding="same", data_format=data_format)
        self.bn = BatchNormalization(axis=ch)
        self.add = Add()
        self.branch = Conv2D(4 if concat_axis is None else 8, 1, data_format=data_format)  # spatial axes: equal channels
        self.concat = Concatenate(axis=ch if concat_axis is None else concat_axis)
        self.relu = ReLU()
        self.pool = GlobalAveragePooling2D(data_format=data_format)
        self.head = Dense(5)

    def call(self, x, training=False):
        h = self.stem(x)
        r = self.relu(self.add([h, self.bn(self.conv(h), training=training)]))
        return self.head(self.pool(self.concat([r, self.branch(h)])))


@pytest.mark.parametrize("data_format", FORMATS)
def test_a_residual_model_with_add_and_concatenate(data_format, tmp_path, rng):
    proto = check_export(Residual(data_format), tmp_path,
                         rng.standard_normal((3, *sample_shape(data_format, 7, 8, 3)), dtype=np.float32), rng)
    assert {"Add", "Concat", "BatchNormalization", "ReduceMean", "Gemm"} <= set(op_types(proto))


@pytest.mark.parametrize("axis", [1, 2, -3, -2])
def test_concatenate_on_spatial_and_negative_axes(axis, tmp_path, rng):
    x = rng.standard_normal((2, 6, 7, 3), dtype=np.float32)
    check_export(Residual("channels_last", concat_axis=axis), tmp_path, x, rng)


class Branches(Model):
    """A nested Sequential, a layer used twice, a three-way Add and two outputs."""

    def __init__(self):
        super().__init__(seed=0)
        self.block = Sequential([Conv2D(4, 3, padding="same", activation="tanh"), BatchNormalization()], name="block")
        self.shared = Conv2D(4, 3, padding="same", name="shared")
        self.add = Add()
        self.flatten = Flatten()
        self.logits = Dense(3)
        self.probs = Softmax()

    def call(self, x):
        a = self.block(x)
        b = self.shared(a)
        c = self.shared(b)  # the same weights twice
        logits = self.logits(self.flatten(self.add([a, b, c])))
        return [logits, self.probs(logits)]


def test_nested_models_shared_layers_and_several_outputs(tmp_path, rng):
    model = Branches()
    x = rng.standard_normal((3, 5, 6, 2), dtype=np.float32)
    model(x)
    randomize(model, rng)
    expected = model(x)
    proto = export_onnx(model, tmp_path / "m.onnx")
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1"]
    assert sum(1 for i in proto.graph.initializer if i.name.startswith("shared/kernel")) == 1
    assert "Sum" in op_types(proto) and [i.name for i in proto.graph.initializer if "block/" in i.name]
    for got, want in zip(run_onnx(tmp_path / "m.onnx", x), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


class SeedStyle(Model):
    """Seed 001 writes ``__call__`` instead of ``call``."""

    def __init__(self):
        super().__init__(seed=0)
        self.convs = [Conv2D(n, 3, activation="relu") for n in (3, 4)]

    def __call__(self, x):
        for conv in self.convs:
            x = conv(x)
        return x


class Wrapper(Model):
    def __init__(self):
        super().__init__(seed=0)
        self.inner = SeedStyle()
        self.pool = GlobalMaxPooling2D()

    def call(self, x):
        return self.pool(self.inner(x))


@pytest.mark.parametrize("make", [SeedStyle, Wrapper])
def test_models_that_wrote_dunder_call_are_traced_too(make, tmp_path, rng):
    check_export(make(), tmp_path, rng.standard_normal((2, 8, 8, 2), dtype=np.float32), rng)


# -- errors ----------------------------------------------------------------------------------------------------------
class NumpyInCall(Model):
    def __init__(self, step):
        super().__init__(seed=0)
        self.a, self.b, self.step = Conv2D(2, 1), Conv2D(2, 1), step

    def call(self, x):
        return self.step(self.a(x), self.b(x))


@pytest.mark.parametrize("step", [
    lambda a, b: a + b,
    lambda a, b: np.concatenate([a, b], axis=-1),
    lambda a, b: np.maximum(a, b),
    lambda a, b: a * 2,
    lambda a, b: a.reshape(-1, 8),
    lambda a, b: a[:, 1:],
], ids=["add", "concatenate", "maximum", "scale", "reshape", "slice"])
def test_numpy_in_call_is_refused_naming_the_model_and_the_layers_to_use(step, tmp_path):
    model = NumpyInCall(step)
    x = np.ones((1, 4, 4, 1), np.float32)
    before = model(x)  # numcnn itself runs it
    with pytest.raises(ValueError) as info:
        export_onnx(model, tmp_path / "m.onnx")
    message = str(info.value)
    assert "model 'numpy_in_call'" in message and "no layer made" in message
    assert all(advice in message for advice in ("Add", "Rescaling", "Activation")) and "Received: " in message
    np.testing.assert_array_equal(model(x), before)
    assert os.listdir(tmp_path) == []


class NumpyBetweenLayers(Model):
    def __init__(self):
        super().__init__(seed=0)
        self.a, self.b = Conv2D(2, 1), Conv2D(2, 1)

    def call(self, x):
        return self.b(self.a(x) * 2)


def test_a_layer_fed_by_numpy_is_named(tmp_path):
    model = NumpyBetweenLayers()
    model(np.ones((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match=r"layer 'conv2d_1' \(Conv2D\) received an array that no layer made.*"
                                         r"Received: inputs\[0\] with shape \(1, 4, 4, 2\)"):
        export_onnx(model, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_control_flow_on_values_is_refused(tmp_path):
    model = NumpyInCall(lambda a, b: a if a.std() > 0 else b)  # zeros take b, a random batch takes a
    model(np.ones((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match=r"calls its layers in another way for other input values.*Received: "):
        export_onnx(model, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_an_unsupported_layer_is_named(tmp_path):
    class Doubler(Layer):
        def _forward(self, x, training):
            return x * 2, None

    model = Sequential([Dense(3, input_shape=(2,)), Doubler(name="twice")])
    model(np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match=r"layer 'twice' \(Doubler\) has no ONNX translation.*Received: Doubler"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_an_unbuilt_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no weights yet.*Received: an unbuilt model"):
        export_onnx(Sequential([Dense(3)]), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="no weights yet"):
        export_onnx(Residual("channels_last"), tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_a_sequential_with_input_shape_exports_without_a_call(tmp_path, rng):
    model = Sequential([Dense(3, input_shape=(4,))])  # built on demand, as summary() does
    export_onnx(model, tmp_path / "m.onnx")
    x = rng.standard_normal((2, 4), dtype=np.float32)
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x)[0], model.predict(x), rtol=1e-5, atol=1e-6)


def test_bad_arguments_are_refused_with_what_was_received(tmp_path):
    model = zoo.simple_convnet((8, 8, 1))
    for kwargs, message in [({"opset": 12}, "opset=12"), ({"opset": "17"}, "opset='17'"), ({"opset": True}, "opset=True"),
                            ({"input_shape": (8, -8, 1)}, r"input_shape=\(8, -8, 1\)"),
                            ({"input_shape": (10, 10, 1)}, r"built for 480 input features.*Received: inputs with shape \(1, 750\)"),
                            ({"input_shape": (8, 8, 3)}, r"built for 1 input channels")]:
        with pytest.raises(ValueError, match=message):
            export_onnx(model, tmp_path / "m.onnx", **kwargs)
    with pytest.raises(TypeError, match="Received: <Dense"):
        export_onnx(Dense(3), tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_input_shape_exports_a_fully_convolutional_model_for_another_size(tmp_path, rng):
    model = Sequential([Conv2D(3, 3, padding="same", input_shape=(6, 6, 1)), GlobalAveragePooling2D()])
    x = rng.standard_normal((2, 10, 12, 1), dtype=np.float32)
    export_onnx(model, tmp_path / "m.onnx", input_shape=(10, 12, 1))
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", x)[0], model.predict(x), rtol=1e-5, atol=1e-6)


def test_a_missing_onnx_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "numcnn\[onnx\]"'):
        export_onnx(zoo.simple_convnet((8, 8, 1)), tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_a_failing_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"previous")
    real_open = open

    class HalfWriter:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            self.handle.write(data[:100])
            self.handle.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(files, "open", lambda p, mode="r", *a, **k: HalfWriter(real_open(p, mode, *a, **k)),
                        raising=False)
    with pytest.raises(OSError, match="No space"):
        export_onnx(zoo.simple_convnet((8, 8, 1)), path)
    monkeypatch.undo()
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["m.onnx"]


# -- numcnn export -------------------------------------------------------------------------------------------------
def test_cli_export_matches_the_run_model(one_epoch_run, tmp_path, capsys):
    from numcnn.data import load_digits

    out = tmp_path / "m.onnx"
    assert main(["export", str(one_epoch_run), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"to {out}" in printed and "opset 17" in printed and "input ('batch', 8, 8, 1)" in printed
    model, _ = load_run(one_epoch_run)
    x = load_digits().x_test[:50]
    got = run_onnx(out, x.astype(np.float32))[0]
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-5)
    assert (got.argmax(1) == model.predict(x).argmax(1)).all()


def test_cli_export_errors_exit_2_naming_the_input(one_epoch_run, tmp_path, capsys, monkeypatch):
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "config.json" in capsys.readouterr().err
    assert main(["export", str(one_epoch_run), "--out", str(tmp_path)]) == 2
    assert "--out must name a new .onnx file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["export", str(one_epoch_run), "--out", str(tmp_path / "m.onnx"), "--opset", "9"])
    assert info.value.code == 2 and "--opset: must be an int >= 13. Received: '9'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["export", str(one_epoch_run), "--format", "tflite", "--out", str(tmp_path / "m.onnx")])
    assert info.value.code == 2 and "--format" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", str(one_epoch_run), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert 'pip install "numcnn[onnx]"' in err and "Received:" in err
    assert os.listdir(tmp_path) == []


def test_cli_export_has_help_for_every_flag():
    export = next(a for a in build_parser()._actions if a.dest == "command").choices["export"]
    for action in export._actions:
        assert action.help and len(action.help) > 10, action.dest
