"""The Layer base class: dtypes, building, weights, trainable, names, standalone backward."""

import numpy as np
import pytest

from numcnn.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    LeakyReLU,
    MaxPooling2D,
    ReLU,
    Rescaling,
    Reshape,
    Softmax,
)


def _param_layers():
    return [Conv2D(3, 2, seed=0), Dense(3, seed=0), BatchNormalization()]


# -- dtypes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", range(3))
def test_float_dtype_is_kept_for_params_outputs_and_grads(dtype, index, rng):
    layer = _param_layers()[index]
    x = rng.standard_normal((2, 4, 4, 2)).astype(dtype)
    y = layer(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert layer.dtype == dtype
    assert y.dtype == dtype and dx.dtype == dtype
    assert all(w.dtype == dtype for w in layer.get_weights())
    assert all(g.dtype == dtype for g in layer.grads.values())


@pytest.mark.parametrize("index", range(3))
def test_integer_input_computes_in_float32(index):
    layer = _param_layers()[index]
    y = layer(np.arange(32).reshape(2, 4, 4, 1) % 7)
    assert y.dtype == np.float32
    assert all(w.dtype == np.float32 for w in layer.get_weights())


def test_explicit_dtype_casts_inputs(rng):
    conv = Conv2D(2, 2, dtype="float64", seed=0)
    y = conv(rng.standard_normal((1, 3, 3, 1)).astype(np.float32))
    assert y.dtype == np.float64 and conv.params["kernel"].dtype == np.float64
    dense = Dense(2, dtype="float32", seed=0)
    assert dense(rng.standard_normal((2, 3))).dtype == np.float32


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(), Softmax(), Activation("tanh"), Flatten(), Rescaling(0.5),
                                   Reshape((-1,)), MaxPooling2D(1), AveragePooling2D(1), GlobalAveragePooling2D()],
                         ids=lambda layer: type(layer).__name__)
def test_parameter_free_layers_keep_float32(layer, rng):
    x = rng.standard_normal((2, 2, 2, 3)).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


# -- building ---------------------------------------------------------------------------------------

def test_lazy_build_on_first_call():
    conv = Conv2D(4, 3, seed=0)
    assert not conv.built and conv.params == {} and conv.get_weights() == []
    conv(np.zeros((1, 6, 6, 2), np.float32))
    assert conv.built and conv.params["kernel"].shape == (3, 3, 2, 4)
    assert conv.input_shape == (1, 6, 6, 2)
    assert conv.output_shape == (None, 4, 4, 4)


def test_input_shape_builds_on_first_weight_access():
    conv = Conv2D(4, 3, input_shape=(6, 6, 2), seed=0)
    assert [w.shape for w in conv.get_weights()] == [(3, 3, 2, 4), (4,)]
    assert conv.built and conv.dtype == np.float32
    assert conv.output_shape == (None, 4, 4, 4)


def test_direct_build_then_set_weights_survives_the_first_call():
    # Keras usage: build, load weights, call. The call must not re-initialise the weights.
    dense = Dense(2)
    dense.build((None, 3))
    assert dense.dtype == np.float32
    dense.set_weights([np.ones((3, 2)), np.array([1.0, -1.0])])
    np.testing.assert_allclose(dense(np.array([[1.0, 2.0, 3.0]])), [[7.0, 5.0]])
    assert dense.params["kernel"].dtype == np.float32


def test_input_shape_is_kept_when_first_called_with_another_shape():
    conv = Conv2D(2, 3, input_shape=(5, 5, 3))
    with pytest.raises(ValueError, match=r"built for 3 input channels.*Received: inputs with shape \(1, 5, 5, 4\)"):
        conv(np.zeros((1, 5, 5, 4)))


def test_count_params_and_trainable_variables():
    conv = Conv2D(10, 3, input_shape=(28, 28, 3))
    assert conv.count_params() == 3 * 3 * 3 * 10 + 10
    assert [v.shape for v in conv.trainable_variables] == [(3, 3, 3, 10), (10,)]
    assert conv.trainable_variables[0] is conv.params["kernel"]
    frozen = Conv2D(10, 3, input_shape=(28, 28, 3), trainable=False)
    assert frozen.trainable_variables == [] and frozen.count_params() == 280


def test_get_weights_returns_copies_and_set_weights_writes_in_place(rng):
    dense = Dense(2, input_shape=(3,), seed=0)
    weights = dense.get_weights()
    kernel = dense.params["kernel"]
    weights[0][...] = 0.0
    assert np.abs(kernel).max() > 0  # a copy was returned
    new = [rng.standard_normal((3, 2)), rng.standard_normal(2)]
    dense.set_weights(new)
    assert dense.params["kernel"] is kernel  # same array, new values (optimizers may hold it)
    np.testing.assert_allclose(kernel, new[0].astype(np.float32))


def test_seeded_layers_are_reproducible_and_differ_across_seeds():
    a, b, c = (Conv2D(3, 3, input_shape=(5, 5, 2), seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_global_rng_does_not_affect_initialisation():
    np.random.seed(0)
    a = Dense(4, input_shape=(3,), seed=1).get_weights()[0]
    np.random.seed(99)
    b = Dense(4, input_shape=(3,), seed=1).get_weights()[0]
    np.testing.assert_array_equal(a, b)


def test_default_names_are_keras_snake_case():
    names = [layer.name for layer in (Conv2D(1, 1), MaxPooling2D(), AveragePooling2D(), BatchNormalization(),
                                      GlobalAveragePooling2D(), Dense(1), Dropout(0.1), ReLU(), Flatten())]
    assert names == ["conv2d", "max_pooling2d", "average_pooling2d", "batch_normalization",
                     "global_average_pooling2d", "dense", "dropout", "re_lu", "flatten"]
    assert Dense(1, name="head").name == "head"


# -- standalone backward ---------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [Rescaling(3.0), Activation("linear"), Activation(None), Dropout(0.5)],
                         ids=["rescaling", "linear", "none", "dropout_inference"])
def test_backward_of_layers_whose_cache_is_none(layer, rng):
    # these layers keep no cache; backward used to say "call the layer before backward"
    x = rng.standard_normal((2, 3))
    layer(x)
    dy = rng.standard_normal((2, 3))
    scale = 3.0 if isinstance(layer, Rescaling) else 1.0
    np.testing.assert_allclose(layer.backward(dy), scale * dy, rtol=1e-12)


def test_grads_are_overwritten_by_each_standalone_backward(rng):
    dense = Dense(2, seed=0, dtype="float64")
    x = rng.standard_normal((3, 4))
    dense(x)
    dense.backward(np.ones((3, 2)))
    first = dense.grads["kernel"].copy()
    dense(x)
    dense.backward(np.ones((3, 2)))
    np.testing.assert_allclose(dense.grads["kernel"], first, rtol=1e-12)  # not 2 * first
