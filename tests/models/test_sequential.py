"""Sequential: the seed 001 stack, layer names and order, weights, building, gradients, seeds."""

import numpy as np
import pytest
from _model_grad import check_model_grads
from helpers import assert_close

from numcnn import Sequential
from numcnn.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    MaxPooling2D,
    ReLU,
)


def _seed001(**kwargs):
    return Sequential([Conv2D(10, 3, activation="relu", input_shape=(28, 28, 3)),
                       Conv2D(20, 3, activation="relu"), Conv2D(30, 3, activation="relu")], **kwargs)


def _cnn(seed=0, input_shape=None):
    first = Conv2D(2, 3, activation="relu", **({} if input_shape is None else {"input_shape": input_shape}))
    return Sequential([first, MaxPooling2D(2), BatchNormalization(), Flatten(), Dropout(0.5), Dense(3)], seed=seed)


# -- seed 001 ---------------------------------------------------------------------------------------

def test_seed001_sequential_shapes_and_trainable_variables(rng):
    model = _seed001(seed=0)
    y = model(rng.standard_normal((32, 28, 28, 3)).astype(np.float32))
    assert y.shape == (32, 22, 22, 30)
    assert [(w.shape, b.shape) for w, b in (layer.get_weights() for layer in model.layers)] == [
        ((3, 3, 3, 10), (10,)), ((3, 3, 10, 20), (20,)), ((3, 3, 20, 30), (30,))]
    assert [v.shape for v in model.trainable_variables] == [(3, 3, 3, 10), (10,), (3, 3, 10, 20), (20,),
                                                            (3, 3, 20, 30), (30,)]
    assert model.count_params() == 7530
    assert (y >= 0).all()  # relu


def test_seed001_add_one_by_one():
    model = Sequential()
    for n in (10, 20, 30):
        model.add(Conv2D(filters=n, kernel_size=3, activation="relu"))
    assert model(np.zeros((2, 28, 28, 3), np.float32)).shape == (2, 22, 22, 30)
    assert [layer.name for layer in model.layers] == ["conv2d", "conv2d_1", "conv2d_2"]


# -- layers, names, params ------------------------------------------------------------------------

def test_layers_keep_their_order_and_get_unique_keras_names():
    layers = [Conv2D(2, 3), MaxPooling2D(), BatchNormalization(), Conv2D(2, 1), MaxPooling2D(),
              Flatten(), Dense(4), ReLU(), Dense(2, name="logits")]
    model = Sequential(layers)
    assert model.layers == layers
    assert [layer.name for layer in model.layers] == [
        "conv2d", "max_pooling2d", "batch_normalization", "conv2d_1", "max_pooling2d_1",
        "flatten", "dense", "re_lu", "logits"]


def test_duplicate_explicit_names_are_refused():
    model = Sequential([Dense(2, name="a"), Dense(2, name="a")])
    with pytest.raises(ValueError, match="unique.*Received: two layers named 'a'"):
        model.layers


def test_params_grads_and_state_keys(rng):
    model = _cnn()
    model(rng.standard_normal((2, 6, 6, 1)).astype(np.float32), training=True)
    keys = ["conv2d/kernel", "conv2d/bias", "batch_normalization/gamma", "batch_normalization/beta",
            "dense/kernel", "dense/bias"]
    assert list(model.params) == keys
    assert list(model.state) == ["batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    model.backward(np.ones((2, 3), np.float32))
    assert list(model.grads) == keys
    for key in keys:
        assert model.grads[key].shape == model.params[key].shape
        assert model.grads[key].dtype == np.float32
    assert model.params["conv2d/kernel"] is model.layers[0].params["kernel"]


def test_trainable_variables_order_matches_weights(rng):
    model = _cnn(input_shape=(6, 6, 1))
    variables = model.trainable_variables  # builds from input_shape
    conv, _, bn, _, _, dense = model.layers
    expected = [conv.params["kernel"], conv.params["bias"], bn.params["gamma"], bn.params["beta"],
                dense.params["kernel"], dense.params["bias"]]
    assert all(a is b for a, b in zip(variables, expected, strict=True))
    assert [w.shape for w in model.get_weights()] == [(3, 3, 1, 2), (2,), (2,), (2,), (2,), (2,), (8, 3), (3,)]
    assert model.count_params() == 18 + 2 + 8 + 24 + 3


def test_trainable_false_layer_is_excluded(rng):
    model = _cnn(input_shape=(6, 6, 1))
    model.layers[0].trainable = False
    assert "conv2d/kernel" not in model.params
    assert len(model.trainable_variables) == 4
    assert model.count_params() == 55  # still counted
    model(rng.standard_normal((2, 6, 6, 1)))
    model.backward(np.ones((2, 3)))
    assert "conv2d/kernel" not in model.grads
    model.trainable = False
    assert model.params == {} and model.trainable_variables == []


# -- weights ------------------------------------------------------------------------------------------

def test_get_set_weights_round_trip(rng):
    a, b = _cnn(seed=1, input_shape=(6, 6, 1)), _cnn(seed=2, input_shape=(6, 6, 1))
    x = rng.standard_normal((3, 6, 6, 1)).astype(np.float32)
    assert not np.allclose(a(x), b(x))
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a(x), b(x))
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_set_weights_errors():
    model = _cnn(input_shape=(6, 6, 1))
    weights = model.get_weights()
    with pytest.raises(ValueError, match=r"'sequential'.set_weights needs a list of 8 arrays.*Received"):
        model.set_weights(weights[:-1])
    bad = list(weights)
    bad[6] = np.zeros((3, 8))
    with pytest.raises(ValueError, match=r"weights\[6\] must have shape \(8, 3\). Received: shape \(3, 8\)"):
        model.set_weights(bad)


# -- building ---------------------------------------------------------------------------------------

def test_lazy_build():
    model = _cnn()
    assert model.get_weights() == [] and model.count_params() == 0
    model(np.zeros((1, 6, 6, 1), np.float32))
    assert model.count_params() == 55


def test_build_from_first_layer_input_shape_without_data():
    model = _cnn(input_shape=(6, 6, 1))
    assert model.count_params() == 55  # building on first access, no call
    assert [layer.output_shape for layer in model.layers] == [
        (None, 4, 4, 2), (None, 2, 2, 2), (None, 2, 2, 2), (None, 8), (None, 8), (None, 3)]


def test_build_with_an_explicit_shape():
    model = _cnn()
    model.build((None, 10, 10, 1))
    assert model.built
    assert model.layers[-1].params["kernel"].shape == (32, 3)
    assert model.compute_output_shape((None, 10, 10, 1)) == (None, 3)


def test_build_without_a_shape_is_an_error():
    with pytest.raises(ValueError, match="input shape.*Received: input_shape=None"):
        _cnn().build()


def test_not_a_layer_is_refused():
    with pytest.raises(TypeError, match="numcnn layer. Received: 'conv'"):
        Sequential([Conv2D(1, 1), "conv"])
    with pytest.raises(TypeError, match="`layers`.*Received"):
        Sequential(Conv2D(1, 1))
    layer = Dense(1)
    with pytest.raises(ValueError, match="already in this model"):
        Sequential([layer, layer])


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="'sequential'.*before backward"):
        _cnn().backward(np.zeros((1, 3)))


def test_backward_with_wrong_dy_shape(rng):
    model = _cnn()
    model(rng.standard_normal((2, 6, 6, 1)))
    with pytest.raises(ValueError, match=r"`dy`.*\(2, 3\). Received: dy with shape \(2, 4\)"):
        model.backward(np.zeros((2, 4)))


# -- training flag, dtypes ------------------------------------------------------------------------

def test_training_flag_reaches_dropout_and_batchnorm(rng):
    model = _cnn(input_shape=(6, 6, 1))
    x = rng.standard_normal((4, 6, 6, 1)).astype(np.float32)
    np.testing.assert_array_equal(model(x), model(x, training=False))  # inference is deterministic
    moving = model.state["batch_normalization/moving_mean"].copy()
    model(x)
    np.testing.assert_array_equal(model.state["batch_normalization/moving_mean"], moving)
    model(x, training=True)
    assert not np.array_equal(model.state["batch_normalization/moving_mean"], moving)
    assert not np.array_equal(model(x, training=True), model(x, training=True))  # fresh dropout masks


def test_integer_input_gives_a_float32_model():
    model = Sequential([Conv2D(2, 2), Flatten(), Dense(1)], seed=0)
    y = model(np.arange(18).reshape(2, 3, 3, 1))
    assert y.dtype == np.float32 and all(w.dtype == np.float32 for w in model.get_weights())


# -- gradients -------------------------------------------------------------------------------------

@pytest.mark.parametrize("training", [False, True])
def test_sequential_cnn_gradients(training, rng):
    model = Sequential([Conv2D(2, 3, activation="relu", bias_initializer="random_normal"), MaxPooling2D(2),
                        BatchNormalization(), Conv2D(3, 1, padding="same", activation="tanh"), Flatten(), Dense(3)],
                       seed=3)
    x = rng.standard_normal((2, 6, 6, 1))
    model(x)  # build in float64
    model.layers[2].set_weights([rng.uniform(0.5, 2, 2), rng.standard_normal(2), rng.standard_normal(2),
                                 rng.uniform(0.5, 2, 2)])
    dx, grads = check_model_grads(model, x, rng, training=training)
    assert dx.shape == x.shape
    assert grads["conv2d/kernel"].dtype == np.float64


def test_channels_first_cnn_gradients(rng):
    model = Sequential([Conv2D(2, 3, strides=2, padding="same", data_format="channels_first", activation="tanh"),
                        BatchNormalization(axis=1), MaxPooling2D(2, data_format="channels_first"),
                        Flatten(data_format="channels_first"), Dense(2)], seed=4)
    check_model_grads(model, rng.standard_normal((2, 2, 7, 7)), rng, training=True)


def test_sequential_inside_sequential_gradients(rng):
    inner = Sequential([Conv2D(2, 2, activation="tanh"), GlobalAveragePooling2D()])
    model = Sequential([inner, Dense(2)], seed=5)
    dx, grads = check_model_grads(model, rng.standard_normal((2, 4, 4, 1)), rng)
    assert list(grads) == ["sequential/conv2d/kernel", "sequential/conv2d/bias", "dense/kernel", "dense/bias"]


def test_one_training_step_reduces_the_loss(rng):
    model = Sequential([Conv2D(2, 3, activation="relu"), Flatten(), Dense(1)], seed=0)
    x, t = rng.standard_normal((4, 5, 5, 1)), rng.standard_normal((4, 1))
    y = model(x)
    before = float(np.mean((y - t) ** 2))
    model.backward(2 * (y - t) / y.size)
    for key, param in model.params.items():
        param -= 0.05 * model.grads[key]
    assert float(np.mean((model(x) - t) ** 2)) < before


# -- seeds ---------------------------------------------------------------------------------------------

def test_same_seed_same_weights_and_dropout_masks(rng):
    x = rng.standard_normal((4, 6, 6, 1)).astype(np.float32)
    a, b, c = _cnn(seed=7), _cnn(seed=7), _cnn(seed=8)
    ya, yb, yc = (m(x, training=True) for m in (a, b, c))
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(a(x, training=True), b(x, training=True))  # second masks too
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])
    assert not np.array_equal(ya, yc)


def test_global_numpy_seed_changes_nothing(rng):
    x = rng.standard_normal((4, 6, 6, 1)).astype(np.float32)
    np.random.seed(0)
    ya = _cnn(seed=9)(x, training=True)
    np.random.seed(1)
    yb = _cnn(seed=9)(x, training=True)
    np.testing.assert_array_equal(ya, yb)


def test_layer_seed_wins_over_model_seed():
    a = Sequential([Dense(3, seed=1, input_shape=(2,))], seed=10)
    b = Sequential([Dense(3, seed=1, input_shape=(2,))], seed=11)
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])


def test_predictions_match_a_hand_computation(rng):
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)], seed=0)
    k1, b1, k2, b2 = (w.astype(np.float64) for w in model.get_weights())
    x = rng.standard_normal((5, 3)).astype(np.float32)
    assert_close(model(x), np.maximum(x @ k1 + b1, 0) @ k2 + b2, rtol=1e-5)


def test_an_input_tensor_starts_a_stack_as_in_keras():
    from numcnn import Input
    from numcnn.layers import Dense, InputLayer
    model = Sequential([Input((4,), name="pixels"), Dense(3)], seed=0)
    assert isinstance(model.layers[0], InputLayer) and model.layers[0].name == "pixels"
    assert model(np.ones((2, 4), np.float32)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"takes samples of shape \(4,\)"):
        model(np.ones((2, 5), np.float32))
    inner = Dense(2)(Input((3,)))
    with pytest.raises(TypeError, match="Sequential.add needs a numcnn layer"):
        Sequential([inner])
