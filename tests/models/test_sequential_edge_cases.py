"""Sequential at its edges: a declared input shape, an empty stack, malformed build shapes."""

import numpy as np
import pytest

from numcnn import Sequential, layers as L
from numcnn.io import load_model, save_model


def test_a_declared_input_shape_builds_the_whole_stack_for_it(tmp_path):
    model = Sequential([L.Conv2D(2, 3, padding="same", input_shape=(5, 5, 1)), L.Flatten(), L.Dense(3)], seed=0)
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 5, 5, 1\).*"
                                         r"Received: inputs with shape \(2, 72\)"):
        model.predict(np.ones((2, 6, 6, 1), np.float32))
    assert model.layers[2].params["kernel"].shape == (50, 3)  # built for the declared 5x5, not the 6x6 call
    x = np.ones((2, 5, 5, 1), np.float32)
    save_model(model, tmp_path / "m.safetensors")
    np.testing.assert_array_equal(load_model(tmp_path / "m.safetensors").predict(x), model.predict(x))


def test_a_declared_input_shape_keeps_a_fully_convolutional_stack_open_to_other_sizes(tmp_path):
    model = Sequential([L.Conv2D(2, 3, padding="same", input_shape=(5, 5, 1)), L.GlobalAveragePooling2D()], seed=0)
    x = np.random.default_rng(0).standard_normal((2, 7, 9, 1)).astype(np.float32)
    y = model.predict(x)
    assert y.shape == (2, 2)
    save_model(model, tmp_path / "m.safetensors")
    np.testing.assert_array_equal(load_model(tmp_path / "m.safetensors").predict(x), y)


def test_a_declared_input_shape_keeps_the_dtype_of_the_first_input():
    model = Sequential([L.Dense(2, input_shape=(3,))], seed=0)
    assert model(np.ones((1, 3))).dtype == np.float64


def test_an_empty_sequential_is_the_identity_and_round_trips(tmp_path):
    model = Sequential([])
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(model(x), x)
    save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.layers == [] and loaded.weights == []
    np.testing.assert_array_equal(loaded.predict(x), x)


@pytest.mark.parametrize("shape", ["abc", (None, None), (None, -2), (), (None, 2.5), 7, (None, True)])
def test_build_refuses_a_malformed_shape(shape):
    with pytest.raises(ValueError, match=r"`input_shape`.*Received: input_shape="):
        Sequential([L.Dense(3)]).build(shape)


def test_a_batch_of_numbers_is_a_shape_that_only_some_layers_take():
    model = Sequential([L.ReLU()])
    model.build((None,))
    np.testing.assert_array_equal(model.predict(np.array([-1.0, 2.0], np.float32)), [0.0, 2.0])
    with pytest.raises(ValueError, match=r"Dense\) needs inputs of shape \(N, features\)\. Received: \(None,\)"):
        Sequential([L.Dense(3)]).build((None,))


def test_build_takes_numpy_ints():
    model = Sequential([L.Dense(3)])
    model.build([None, np.int64(4)])
    assert model.layers[0].params["kernel"].shape == (4, 3)
