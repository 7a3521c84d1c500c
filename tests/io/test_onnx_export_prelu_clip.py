"""ONNX export of PReLU (PRelu), Clip (Clip) and Rescaling with array scale/offset (Mul, Add): the nodes
written, and onnxruntime's outputs against model.predict in both data formats."""

import os
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from numcnn import Sequential
from numcnn.io import onnx_export
from numcnn.io.onnx_export import export_onnx
from numcnn.layers import Clip, Conv2D, PReLU, Rescaling

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
numpy_helper = pytest.importorskip("onnx.numpy_helper")

FLOAT32_MAX = float(np.finfo(np.float32).max)


def export_and_run(model, x, tmp_path, opset=onnx_export.DEFAULT_OPSET):
    """The exported graph (checked) and onnxruntime's output for ``x``."""
    path = os.fspath(tmp_path / "model.onnx")
    proto = export_onnx(model, path, opset=opset)
    onnx.checker.check_model(path, full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return proto, session.run(None, {"input": x})[0]


def ops(proto):
    return [node.op_type for node in proto.graph.node]


def initializer(proto, suffix):
    (tensor,) = [t for t in proto.graph.initializer if t.name.endswith(suffix)]
    return numpy_helper.to_array(tensor)


def random_alpha(model, rng, x):
    """Build ``model`` on ``x`` and draw every PReLU's alpha (the default zeros would hide the slope)."""
    model.predict(x[:1])
    for layer in model.layers:
        if isinstance(layer, PReLU):
            layer.params["alpha"][...] = rng.uniform(-0.5, 1.5, layer.params["alpha"].shape)


# -- PReLU ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize(("sample", "shared_axes"), [
    ((4, 5, 3), [1, 2]),  # per channel, NHWC
    ((3, 4, 5), [2, 3]),  # per channel, NCHW
    ((4, 5, 3), None),  # one alpha per position
    ((4, 5, 3), [1]), ((3, 4, 5), [1]), ((6,), None), ((6,), [1]), ((2, 3, 4, 5), [1, 3]),
])
def test_prelu_exports_as_prelu_with_alpha_as_its_slope(sample, shared_axes, opset, tmp_path, rng):
    model = Sequential([PReLU(shared_axes=shared_axes, input_shape=sample)], seed=0)
    x = rng.uniform(-3, 3, (4, *sample)).astype(np.float32)
    random_alpha(model, rng, x)
    proto, got = export_and_run(model, x, tmp_path, opset)
    assert ops(proto) == ["PRelu"]
    # the graph's tensor has numcnn's layout, so the slope is alpha itself, broadcast right-aligned
    assert_array_equal(initializer(proto, "alpha"), model.layers[0].params["alpha"])
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=0)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("per_channel", [True, False])
def test_prelu_after_a_conv_in_both_data_formats(data_format, per_channel, tmp_path, rng):
    last = data_format == "channels_last"
    shape = (6, 5, 2) if last else (2, 6, 5)
    shared = ([1, 2] if last else [2, 3]) if per_channel else None
    model = Sequential([Conv2D(3, 3, padding="same", data_format=data_format, input_shape=shape, seed=0),
                        PReLU(shared_axes=shared),
                        Conv2D(2, 1, data_format=data_format, seed=1)], seed=0)
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    random_alpha(model, rng, x)
    proto, got = export_and_run(model, x, tmp_path)
    alpha = initializer(proto, "alpha")
    assert alpha.shape == (((1, 1, 3) if last else (3, 1, 1)) if per_channel else (6, 5, 3) if last else (3, 6, 5))
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-6)


def test_prelu_of_a_float64_model_exports_float32_alpha(tmp_path, rng):
    model = Sequential([PReLU(shared_axes=[1], input_shape=(3, 4), dtype="float64")], seed=0)
    x = rng.uniform(-3, 3, (2, 3, 4))
    random_alpha(model, rng, x)
    proto, got = export_and_run(model, x.astype(np.float32), tmp_path)
    assert initializer(proto, "alpha").dtype == np.float32
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=0)


def test_a_prelu_used_twice_shares_one_slope(tmp_path, rng):
    from numcnn import Input, Model

    x = Input((3, 4))
    shared = PReLU(shared_axes=[1])
    model = Model(x, shared(Rescaling(-2.0)(shared(x))))
    data = rng.uniform(-3, 3, (2, 3, 4)).astype(np.float32)
    random_alpha(model, rng, data)
    proto, got = export_and_run(model, data, tmp_path)
    assert ops(proto) == ["PRelu", "Mul", "PRelu"] and len(proto.graph.initializer) == 2  # alpha and the scale
    assert_allclose(got, model.predict(data), rtol=1e-5, atol=0)


# -- Clip -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize(("bounds", "inputs"), [
    ((-1.0, 2.0), ["input", "min", "max"]),
    ((None, 2.0), ["input", "", "max"]),  # an omitted min is an empty input name
    ((-1.0, None), ["input", "min"]),
    ((0.5, 0.5), ["input", "min", "max"]),
    ((-0.3, 0.0), ["input", "min", "max"]),
])
def test_clip_exports_as_clip_with_its_bounds_as_inputs(bounds, inputs, opset, tmp_path, rng):
    model = Sequential([Clip(*bounds, input_shape=(3, 7))])
    x = rng.uniform(-3, 3, (4, 3, 7)).astype(np.float32)
    x[0, 0, :2] = [b for b in bounds if b is not None] + [0.0] * (2 - sum(b is not None for b in bounds))
    proto, got = export_and_run(model, x, tmp_path, opset)
    (node,) = proto.graph.node
    assert node.op_type == "Clip" and [re.sub(r".*/", "", name) for name in node.input] == inputs
    for key, bound in zip(("min", "max"), bounds):
        if bound is not None:
            assert initializer(proto, f"/{key}") == np.float32(bound)
    assert_array_equal(got, model.predict(x))  # min and max of float32 values: exact


def test_clip_without_bounds_exports_as_identity(tmp_path, rng):
    model = Sequential([Clip(input_shape=(4,))])
    x = np.array([[np.nan, np.inf, -np.inf, 1.5]], np.float32)
    proto, got = export_and_run(model, x, tmp_path)
    assert ops(proto) == ["Identity"]
    assert_array_equal(got, x)
    assert_array_equal(model.predict(x), x)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("bounds", [(-1.0, 2.0), (None, 2.0), (-1.0, None)])
def test_clip_nan_and_infinities_in_onnxruntime(bounds, tmp_path):
    # NaN stays NaN in both. Infinities are clipped alike where there is a bound; on an open side ONNX's
    # omitted bound is float32's lowest()/max(), so onnxruntime returns -+3.4e38 where numcnn (and
    # torch.clamp) keep -+inf: the one documented difference (io/onnx_layers_misc.py).
    model = Sequential([Clip(*bounds, input_shape=(5,))])
    x = np.array([[np.nan, np.inf, -np.inf, -1.0, 2.0]], np.float32)
    _, got = export_and_run(model, x, tmp_path)
    want = model.predict(x)
    low, high = bounds
    assert np.isnan(got[0, 0]) and np.isnan(want[0, 0])
    assert want[0, 1] == (np.inf if high is None else high) and want[0, 2] == (-np.inf if low is None else low)
    assert got[0, 1] == (FLOAT32_MAX if high is None else high)
    assert got[0, 2] == (-FLOAT32_MAX if low is None else low)
    assert_array_equal(got[0, 3:], want[0, 3:])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_clip_after_a_conv_in_both_data_formats(data_format, tmp_path, rng):
    shape = (5, 5, 2) if data_format == "channels_last" else (2, 5, 5)
    model = Sequential([Conv2D(3, 3, data_format=data_format, input_shape=shape, seed=0), Clip(-0.2, 0.3)], seed=0)
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    _, got = export_and_run(model, x, tmp_path)
    want = model.predict(x)
    assert np.mean((want == -0.2) | (want == np.float32(0.3))) > 0.2  # the bounds are reached
    assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- Rescaling with arrays -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("scale", "offset", "sample", "nodes"), [
    (1 / 255, 0.0, (4, 3), ["Mul"]),
    (2.0, -1.0, (4, 3), ["Mul", "Add"]),
    ([0.5, 2.0, -1.0], [0.1, 0.0, -0.3], (4, 5, 3), ["Mul", "Add"]),  # per channel, NHWC
    ([[[0.5]], [[2.0]], [[-1.0]]], 1.5, (3, 4, 5), ["Mul", "Add"]),  # per channel, NCHW: (C, 1, 1)
    (np.linspace(-1, 1, 12).reshape(4, 3), np.linspace(0, 1, 12).reshape(4, 3), (4, 3), ["Mul", "Add"]),
    ([0.5, 2.0, -1.0], [0.0, 0.0, 0.0], (4, 3), ["Mul"]),  # an all-zero offset adds nothing
])
def test_rescaling_with_arrays_exports_as_mul_and_add(scale, offset, sample, nodes, tmp_path, rng):
    model = Sequential([Rescaling(scale, offset, input_shape=sample)])
    x = rng.uniform(0, 255, (3, *sample)).astype(np.float32)
    proto, got = export_and_run(model, x, tmp_path)
    assert ops(proto) == nodes
    want_scale = np.asarray(scale, np.float32)
    got_scale = initializer(proto, "scale")
    assert got_scale.size == want_scale.size
    if want_scale.ndim:  # an array gets leading 1s up to one sample's rank
        assert got_scale.shape == (1,) * (len(sample) - want_scale.ndim) + want_scale.shape
    assert_array_equal(np.broadcast_to(got_scale, (3, *sample)), np.broadcast_to(want_scale, (3, *sample)))
    if "Add" in nodes:
        assert_array_equal(np.broadcast_to(initializer(proto, "offset"), (3, *sample)),
                           np.broadcast_to(np.asarray(offset, np.float32), (3, *sample)))
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_rescaling_per_channel_before_a_conv_in_both_data_formats(data_format, tmp_path, rng):
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    last = data_format == "channels_last"
    shape = (5, 6, 3) if last else (3, 5, 6)
    scale, offset = (1 / std, -mean / std) if last else ((1 / std).reshape(3, 1, 1), (-mean / std).reshape(3, 1, 1))
    model = Sequential([Rescaling(scale, offset, input_shape=shape),
                        Conv2D(2, 3, data_format=data_format, seed=0)], seed=0)
    x = rng.uniform(0, 1, (2, *shape)).astype(np.float32)
    _, got = export_and_run(model, x, tmp_path)
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-5)


# -- the exporter's documentation ------------------------------------------------------------------------------

def test_the_module_docstring_names_every_layer_with_a_translation():
    doc = re.sub(r"\s+", " ", onnx_export.__doc__)
    names = {cls.__name__ for cls in onnx_export._HANDLERS}
    # Max/AveragePooling2D and GlobalAverage/MaxPooling1D: the docstring's shorthand for two names each
    expanded = doc
    for first, second, tail in re.findall(r"\b(\w+)/(\w+?)(Pooling[12]D)\b", doc):
        expanded += f" {first}{tail} {'Global' if first.startswith('Global') else ''}{second}{tail}"
    missing = sorted(name for name in names if not re.search(rf"\b{name}\b", expanded))
    assert missing == []
    assert {"PReLU", "Clip", "Rescaling"} <= names
