"""Layers on edge sizes (empty batches, 0 features or channels, astronomic sizes) and with
NumPy scalar or ill-typed arguments: a correct result or a ValueError naming the argument."""

import json

import numpy as np
import pytest

from numcnn import initializers
from numcnn.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, LeakyReLU,
                           Rescaling, Reshape)


def test_numpy_scalars_are_taken_and_saved_as_python_numbers():
    layers = [Conv2D(np.int64(4), 3, groups=np.int64(2)), Dense(np.int32(3)), Reshape((np.int64(2), -1)),
              Rescaling(np.float32(0.5), np.float16(1.0)), LeakyReLU(np.int64(1)), Dropout(np.float32(0.25)),
              BatchNormalization(axis=np.int64(-1), momentum=np.float32(0.5), epsilon=np.float64(1e-3))]
    for layer in layers:
        config = layer.get_config()
        assert json.loads(json.dumps(config)) == config  # no NumPy scalar left in it
    assert (layers[0].filters, layers[0].groups, layers[1].units) == (4, 2, 3)
    assert type(layers[0].filters) is int and layers[2].target_shape == (2, -1)
    assert (layers[3].scale, layers[3].offset, layers[4].negative_slope, layers[5].rate) == (0.5, 1.0, 1.0, 0.25)


@pytest.mark.parametrize("make, argument", [
    (lambda: GlobalAveragePooling2D(keepdims="no"), "keepdims"), (lambda: Dense(2, trainable="no"), "trainable"),
    (lambda: Dense(2, use_bias=1), "use_bias"), (lambda: BatchNormalization(epsilon=True), "epsilon"),
    (lambda: BatchNormalization(center=None), "center"), (lambda: Dense(np.True_), "units"),
    (lambda: Rescaling(10**400), "scale"), (lambda: Dropout(np.float32("nan")), "rate"),
    (lambda: Dense(2, dtype={"class_name": ""}), "dtype"),
])
def test_ill_typed_arguments_are_refused_by_name(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*Received: {argument}="):
        make()


@pytest.mark.parametrize("config, entry", [
    ({"class_name": "Constant", "config": {"value": "x"}}, "`value`"),
    ({"class_name": "RandomUniform", "config": {"minval": -1e308, "maxval": 1e308}}, "`maxval`"),
    ({"class_name": "VarianceScaling", "config": {"scale": 0}}, "`scale`"),
    ({"class_name": "RandomNormal", "config": {"stddev": -1}}, "`stddev`"),
    ({"class_name": "Constant", "config": [1]}, "dict"),
    ({"class_name": ["Constant"]}, "`kernel_initializer`"),
])
def test_initializer_configs_are_checked_in_the_constructor(config, entry):
    with pytest.raises(ValueError, match="`kernel_initializer`") as info:
        Dense(2, kernel_initializer=config)
    assert entry in str(info.value) and "Received" in str(info.value)


def test_a_valid_initializer_config_still_works():
    init = initializers.get({"class_name": "RandomUniform", "config": {"minval": np.float32(-1), "maxval": 1}})
    values = init((1000,), np.float32, np.random.default_rng(0))
    assert values.min() >= -1 and values.max() < 1 and values.std() > 0.5


@pytest.mark.parametrize("make, weight", [(lambda: Dense(2**40), "kernel"), (lambda: Conv2D(2**40, 1), "kernel"),
                                          (lambda: Dense(2**40, use_bias=False), "kernel"),
                                          (lambda: Dense(2**41, use_bias=True), "kernel")])
def test_astronomic_weights_are_refused_naming_the_layer_and_the_shape(make, weight):
    layer = make()
    x = np.ones((1, 2), np.float32) if isinstance(layer, Dense) else np.ones((1, 3, 3, 2), np.float32)
    with pytest.raises(ValueError, match=rf"Layer '{layer.name}' \(\w+\) cannot allocate its weight '{weight}'.*"
                                         r"Received: weight 'kernel' of shape \("):
        layer(x)


def test_an_astronomic_output_is_refused_even_without_weights():
    dense = Dense(2**38, use_bias=False)  # 0 features: an empty kernel, but one sample's output is 8 TiB
    with pytest.raises(ValueError, match=r"output for one sample.*Received: output for one sample of shape "
                                         r"\(8, 274877906944\)"):
        dense(np.ones((1, 8, 0), np.float32))


def test_dense_with_zero_features_gives_the_bias_and_empty_gradients():
    dense = Dense(2, bias_initializer={"class_name": "Constant", "config": {"value": 0.5}})
    y = dense(np.ones((3, 0), np.float32))
    np.testing.assert_array_equal(y, np.full((3, 2), 0.5, np.float32))
    dx = dense.backward(np.ones((3, 2), np.float32))
    assert dx.shape == (3, 0) and dense.grads["kernel"].shape == (0, 2)
    np.testing.assert_array_equal(dense.grads["bias"], [3.0, 3.0])


@pytest.mark.parametrize("data_format, shape", [("channels_last", (0, 3, 4)), ("channels_first", (0, 2, 3, 4))])
def test_flatten_an_empty_batch(data_format, shape):
    flatten = Flatten(data_format)
    y = flatten(np.zeros(shape, np.float32))
    assert y.shape == (0, int(np.prod(shape[1:])))
    assert flatten.backward(y).shape == shape


def test_batch_norm_on_an_empty_batch_leaves_its_moving_statistics():
    bn = BatchNormalization(momentum=0.5)
    bn(np.arange(12, dtype=np.float32).reshape(4, 3), training=True)
    before = {k: v.copy() for k, v in bn.state.items()}
    y = bn(np.zeros((0, 3), np.float32), training=True)
    assert y.shape == (0, 3)
    for name, value in bn.state.items():
        np.testing.assert_array_equal(value, before[name])
    assert bn.backward(y).shape == (0, 3)
    assert bn.grads["gamma"].shape == (3,) and not bn.grads["gamma"].any()


def test_batch_norm_with_zero_channels_gives_empty_arrays():
    bn = BatchNormalization()
    y = bn(np.zeros((2, 0), np.float32), training=True)
    assert y.shape == (2, 0) and bn.state["moving_mean"].shape == (0,)
    assert bn.backward(np.ones((2, 0), np.float32)).shape == (2, 0)
    assert bn.grads["gamma"].shape == (0,)
