"""Multiply and Subtract: values, gradients for each input (zeros included), Keras and PyTorch, configs, ONNX."""

import json
import os

import numpy as np
import pytest
from _layer_grad import check_layer_grads
from helpers import assert_close, check_directional_grad, import_keras, import_torch
from numpy.testing import assert_array_equal

from numcnn import Model
from numcnn.io import export_onnx
from numcnn.layers import Conv2D, Dense
from numcnn.layers.arithmetic import Multiply, Subtract

FORMATS = ("channels_last", "channels_first")


# -- values ------------------------------------------------------------------------------------------

def test_multiply_values(rng):
    a, b, c = rng.standard_normal((3, 2, 3, 3, 2))
    assert_array_equal(Multiply()([a, b]), a * b)
    assert_array_equal(Multiply()([a, b, c]), (a * b) * c)


def test_subtract_values(rng):
    a, b = rng.standard_normal((2, 2, 4))
    assert_array_equal(Subtract()([a, b]), a - b)
    assert_array_equal(Subtract()((b, a)), b - a)  # a tuple works too, and the order matters


def test_integer_inputs_give_float32():
    assert Multiply()([np.array([[1, 2]]), np.array([[3, 4]])]).dtype == np.float32
    y = Subtract()([np.array([[1, 2]]), np.array([[3, 5]])])
    assert y.dtype == np.float32
    assert_array_equal(y, [[-2, -3]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layer_dtype_is_kept(dtype, rng):
    xs = [rng.standard_normal((2, 3)) for _ in range(3)]
    assert Multiply(dtype=dtype)(xs).dtype == dtype
    assert Subtract(dtype=dtype)(xs[:2]).dtype == dtype


def test_output_shape_is_the_inputs_shape_without_data():
    assert Multiply().compute_output_shape([(None, 5, 6, 3)] * 3) == (None, 5, 6, 3)
    assert Subtract().compute_output_shape([(None, 7), (None, 7)]) == (None, 7)
    with pytest.raises(ValueError, match=r"Layer 'multiply' \(Multiply\) needs inputs of one shape. "
                                         r"Received: shapes \[\(None, 7\), \(None, 8\)\]"):
        Multiply().compute_output_shape([(None, 7), (None, 8)])
    with pytest.raises(ValueError, match=r"Layer 'subtract' \(Subtract\) needs a list of exactly 2 arrays. "
                                         r"Received: 3 inputs"):
        Subtract().compute_output_shape([(None, 7)] * 3)


# -- gradients ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_inputs", [2, 3, 4])
def test_multiply_gradients(n_inputs, rng):
    xs = list(rng.standard_normal((n_inputs, 2, 3, 2)))
    xs[0][0, 1, 1] = 0.0  # zeros: the gradient must not be the product divided by the input
    xs[1][0, 1, 1] = 0.0
    xs[-1][1, 2, 0] = 0.0
    dx, grads = check_layer_grads(Multiply(), xs, rng)
    assert len(dx) == n_inputs and grads == {}


def test_subtract_gradients(rng):
    dx, _ = check_layer_grads(Subtract(), list(rng.standard_normal((2, 2, 3, 2))), rng)
    assert len(dx) == 2


def test_multiply_backward_with_a_zero_input(rng):
    layer = Multiply(dtype="float64")
    a, b = rng.standard_normal((2, 2, 3))
    zero = np.zeros((2, 3))
    layer([a, zero, b])
    dy = rng.standard_normal((2, 3))
    da, dz, db = layer.backward(dy)
    assert_array_equal(dz, dy * a * b)  # not 0 / 0
    assert_array_equal(da, np.zeros((2, 3)))
    assert_array_equal(db, np.zeros((2, 3)))


@pytest.mark.parametrize("n_inputs", [2, 3])
def test_multiply_matches_torch_autograd(n_inputs, rng):
    torch = import_torch()
    xs = list(rng.standard_normal((n_inputs, 2, 4, 3)))
    xs[0][0, 0, 0] = 0.0
    leaves = [torch.tensor(x, requires_grad=True) for x in xs]
    yt = leaves[0]
    for t in leaves[1:]:
        yt = yt * t
    layer = Multiply(dtype="float64")
    assert_array_equal(layer(xs), yt.detach().numpy())
    dy = rng.standard_normal(yt.shape)
    yt.backward(torch.from_numpy(dy))
    for grad, leaf in zip(layer.backward(dy), leaves):
        assert_close(grad, leaf.grad.numpy(), rtol=1e-13)


def test_subtract_matches_torch_autograd(rng):
    torch = import_torch()
    a, b = rng.standard_normal((2, 2, 4, 3))
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    yt = at - bt
    layer = Subtract(dtype="float64")
    assert_array_equal(layer([a, b]), yt.detach().numpy())
    dy = rng.standard_normal(yt.shape)
    yt.backward(torch.from_numpy(dy))
    da, db = layer.backward(dy)
    assert_array_equal(da, at.grad.numpy())
    assert_array_equal(db, bt.grad.numpy())


# -- Keras parity and configs --------------------------------------------------------------------------------

@pytest.mark.parametrize(("cls", "n_inputs"), [(Multiply, 2), (Multiply, 3), (Multiply, 5), (Subtract, 2)])
def test_forward_matches_keras(cls, n_inputs, rng):
    keras = import_keras()
    xs = [rng.standard_normal((2, 3, 4, 2)).astype(np.float32) for _ in range(n_inputs)]
    expected = keras.ops.convert_to_numpy(getattr(keras.layers, cls.__name__)()(xs))
    assert_array_equal(cls()(xs), expected)


@pytest.mark.parametrize("cls", [Multiply, Subtract])
def test_config_round_trip(cls, rng):
    layer = cls(name="merge", dtype="float64")
    config = json.loads(json.dumps(layer.get_config()))
    twin = cls.from_config(config)
    assert twin.get_config() == layer.get_config() == {"name": "merge", "trainable": True, "dtype": "float64"}
    xs = [rng.standard_normal((2, 3)) for _ in range(2)]
    assert_array_equal(twin(xs), layer(xs))


# -- bad inputs ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [Multiply, Subtract])
def test_bad_inputs_are_refused_naming_the_layer(cls):
    layer = cls()
    with pytest.raises(ValueError, match=rf"Layer '{layer.name}' needs a list of at least 2 arrays. Received: "):
        layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"Layer '{layer.name}' needs a list of at least 2 arrays"):
        layer([np.ones((2, 3))])
    with pytest.raises(ValueError, match=rf"Layer '{layer.name}' \({cls.__name__}\) needs inputs of one shape. "
                                         r"Received: shapes \[\(2, 3\), \(2, 4\)\]"):
        layer([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(TypeError, match=r"The `inputs\[1\]` argument must be a real numeric array"):
        layer([np.ones((2, 3)), np.array([["a"] * 3] * 2)])


def test_subtract_refuses_three_inputs_before_building():
    layer = Subtract()
    with pytest.raises(ValueError, match=r"Layer 'subtract' \(Subtract\) needs a list of exactly 2 arrays. "
                                         r"Received: 3 inputs with shapes \[\(2, 3\), \(2, 3\), \(2, 3\)\]"):
        layer([np.ones((2, 3))] * 3)
    assert not layer.built


# -- in a model: backward through branches, ONNX export ------------------------------------------------

class Gated(Model):
    """A gated branch (x * sigmoid(conv x) * conv x) minus a 1x1 projection: Multiply of 3, then Subtract."""

    def __init__(self, data_format):
        super().__init__(seed=0)
        self.value = Conv2D(4, 3, padding="same", data_format=data_format)
        self.gate = Conv2D(4, 3, padding="same", activation="sigmoid", data_format=data_format)
        self.skip = Conv2D(4, 1, data_format=data_format)
        self.multiply = Multiply()
        self.subtract = Subtract()

    def call(self, x, training=False):
        value = self.value(x)
        return self.subtract([self.multiply([value, self.gate(x), value]), self.skip(x)])


@pytest.mark.parametrize("data_format", FORMATS)
def test_gradients_through_a_gated_model(data_format, rng):
    model = Gated(data_format)
    x = rng.standard_normal((2, 5, 5, 3) if data_format == "channels_last" else (2, 3, 5, 5))
    y = model(x)  # float64 input: a float64 model
    g = rng.standard_normal(y.shape)
    dx = model.backward(g)
    assert dx.dtype == np.float64
    check_directional_grad(lambda v: np.sum(model(v) * g), x, dx, rng)


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("data_format", FORMATS)
def test_onnx_export_matches_onnxruntime(data_format, opset, tmp_path, rng):
    ort = pytest.importorskip("onnxruntime")
    model = Gated(data_format)
    shape = (6, 7, 3) if data_format == "channels_last" else (3, 6, 7)
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    model(x[:1])
    for _, layer in model.flat_layers():
        for w in layer.params.values():
            w[...] = rng.standard_normal(w.shape) * 0.5
    expected = model.predict(x)
    proto = export_onnx(model, tmp_path / "gated.onnx", opset=opset)
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("Mul") == 2 and ops.count("Sub") == 1
    session = ort.InferenceSession(os.fspath(tmp_path / "gated.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def test_onnx_export_of_a_dense_difference(tmp_path, rng):
    ort = pytest.importorskip("onnxruntime")

    class Difference(Model):
        def __init__(self):
            super().__init__(seed=3)
            self.a, self.b, self.sub = Dense(4), Dense(4), Subtract()

        def call(self, x, training=False):
            return self.sub([self.a(x), self.b(x)])

    model = Difference()
    x = rng.standard_normal((5, 6)).astype(np.float32)
    expected = model(x)
    export_onnx(model, tmp_path / "difference.onnx")
    session = ort.InferenceSession(os.fspath(tmp_path / "difference.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=1e-5, atol=1e-6)
