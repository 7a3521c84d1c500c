"""Layers on edge sizes (empty batches, 0 features or channels, astronomic sizes) and with
NumPy scalar or ill-typed arguments: a correct result or a ValueError naming the argument.

There is no bespoke size limit: a weight or an output no machine can hold fails in NumPy, and the
layer's one guard (``allocation_guard`` in ``add_weight`` and ``__call__``) turns that into an
:class:`ArraySizeError` naming the layer and ending with what it received.
"""

import json
import re
import resource

import numpy as np
import pytest

from numcnn import initializers
from numcnn.layers import (AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                           GlobalAveragePooling2D, GlobalMaxPooling2D, LeakyReLU, MaxPooling2D, Rescaling, Reshape)
from numcnn.utils.validation import ArraySizeError



def peak_memory_bytes():
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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
    pytest.param({"class_name": "Constant", "config": [1]}, "dict"),
    pytest.param({"class_name": "Constant", "config": {"valeu": 1}}, "valeu"),
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


@pytest.mark.parametrize("make, shape", [
    (lambda: Dense(2**62), (2, 2**62)), (lambda: Dense(2**61, use_bias=False), (2, 2**61)),
    (lambda: Conv2D(2**62, 1), (1, 1, 2, 2**62)), (lambda: Conv2D(3, 2**31), (2**31, 2**31, 2, 3)),
    pytest.param(lambda: Dense(2**63), (2, 2**63)),
], ids=["dense", "dense-no-bias", "conv-filters", "conv-kernel-size", "dense-2**63"])
def test_astronomic_weights_are_an_array_size_error_naming_the_layer_and_the_shape(make, shape):
    """Sizes past what NumPy can index, so the refusal does not depend on the machine's memory."""
    layer = make()
    x = np.ones((1, 2), np.float32) if isinstance(layer, Dense) else np.ones((1, 3, 3, 2), np.float32)
    before = peak_memory_bytes()
    with pytest.raises(ArraySizeError, match=rf"^Layer '{layer.name}' \({type(layer).__name__}\) .*"
                                             rf"Received: weight 'kernel' of shape {re.escape(str(shape))}$") as info:
        layer(x)
    assert isinstance(info.value, MemoryError)
    assert peak_memory_bytes() - before < 256 << 20  # nothing huge was made on the way
    assert not layer.built and layer.params == {}  # no half-built layer left behind


def test_an_astronomic_output_is_an_array_size_error_even_without_weights():
    dense = Dense(2**59, use_bias=False)  # 0 features: an empty kernel, but one sample's output is 2**66 bytes
    before = peak_memory_bytes()
    with pytest.raises(ArraySizeError, match=r"^Layer 'dense' \(Dense\) .*Received: inputs with shape \(1, 8, 0\)$"):
        dense(np.ones((1, 8, 0), np.float32))
    assert peak_memory_bytes() - before < 256 << 20
    assert dense.params["kernel"].shape == (0, 2**59)  # the kernel itself is empty, and was made


@pytest.mark.parametrize("make", [lambda: MaxPooling2D(2**40, padding="same"), lambda: Conv2D(1, 2, padding=2**40)],
                         ids=["max-pooling-size", "conv-padding"])
def test_an_astronomic_geometry_in_a_layer_is_an_array_size_error_naming_the_layer(make):
    layer = make()
    with pytest.raises(ArraySizeError, match=rf"^Layer '{layer.name}' \({type(layer).__name__}\) .*"
                                             r"Received: inputs with shape \(1, 3, 3, 2\)$"):
        layer(np.ones((1, 3, 3, 2), np.float32))


@pytest.mark.parametrize("make", [MaxPooling2D, AveragePooling2D, GlobalMaxPooling2D, GlobalAveragePooling2D])
@pytest.mark.parametrize("shape", [(2, 4, 4, 0), (2, 0, 4, 1), (2, 4, 0, 1), (0, 4, 4, 0)],
                         ids=["no-channels", "no-height", "no-width", "empty-batch-no-channels"])
def test_pooling_layers_refuse_no_channels_or_pixels(make, shape):
    """Refused naming ``x``, as the functional ops; a window layer's shape inference meets an empty
    height or width first and says its window does not fit."""
    layer = make()
    if 0 in shape[1:3] and make in (MaxPooling2D, AveragePooling2D):
        pattern = r"larger than the padded input \(size 0 \+ padding 0\+0 = 0\).*Received: input size 0, kernel_size 2$"
    else:
        pattern = rf"`x` argument must have at least one channel.*Received: x with shape {re.escape(str(shape))}"
    with pytest.raises(ValueError, match=pattern):
        layer(np.zeros(shape, np.float32))


@pytest.mark.parametrize("make, out", [(lambda: MaxPooling2D(2), (0, 2, 2, 3)),
                                       (lambda: AveragePooling2D(2), (0, 2, 2, 3)),
                                       (GlobalMaxPooling2D, (0, 3)), (GlobalAveragePooling2D, (0, 3))],
                         ids=["max", "avg", "global-max", "global-avg"])
def test_pooling_layers_on_an_empty_batch(make, out):
    layer = make()
    y = layer(np.zeros((0, 4, 4, 3), np.float32))
    assert y.shape == out and y.dtype == np.float32
    dx = layer.backward(np.zeros(out, np.float32))
    assert dx.shape == (0, 4, 4, 3) and dx.dtype == np.float32


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
