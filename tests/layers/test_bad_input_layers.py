"""Bad arguments and bad inputs: clear errors that name the argument and say what was received."""

import numpy as np
import pytest

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
    GlobalMaxPooling2D,
    LeakyReLU,
    MaxPooling2D,
    Rescaling,
    Reshape,
    Softmax,
)


@pytest.mark.parametrize(("make", "argument"), [
    (lambda: Conv2D(filters=0, kernel_size=3), "filters"),
    (lambda: Conv2D(filters=-2, kernel_size=3), "filters"),
    (lambda: Conv2D(filters=2.0, kernel_size=3), "filters"),
    (lambda: Conv2D(2, kernel_size=-1), "kernel_size"),
    (lambda: Conv2D(2, kernel_size=(3, 0)), "kernel_size"),
    (lambda: Conv2D(2, kernel_size=(3, 3, 3)), "kernel_size"),
    (lambda: Conv2D(2, 3, strides=-1), "strides"),
    (lambda: Conv2D(2, 3, strides=0), "strides"),
    (lambda: Conv2D(2, 3, dilation_rate=0), "dilation_rate"),
    (lambda: Conv2D(2, 3, padding="full"), "padding"),
    (lambda: Conv2D(2, 3, padding=-1), "padding"),
    (lambda: Conv2D(2, 3, data_format="NHWC"), "data_format"),
    (lambda: Conv2D(2, 3, activation="gelu"), "activation"),
    (lambda: Conv2D(2, 3, kernel_initializer="glorot"), "kernel_initializer"),
    (lambda: Conv2D(2, 3, bias_initializer="one"), "bias_initializer"),
    (lambda: Conv2D(5, 3, groups=2), "groups"),
    (lambda: Conv2D(4, 3, groups=0), "groups"),
    (lambda: Dense(0), "units"),
    (lambda: Dense(3, activation="swish"), "activation"),
    (lambda: Dropout(1.5), "rate"),
    (lambda: Dropout(1.0), "rate"),
    (lambda: Dropout(-0.1), "rate"),
    (lambda: Dropout("half"), "rate"),
    (lambda: MaxPooling2D(0), "pool_size"),
    (lambda: MaxPooling2D(2, strides=-1), "strides"),
    (lambda: AveragePooling2D(2, padding="full"), "padding"),
    (lambda: AveragePooling2D(2, data_format="channels_middle"), "data_format"),
    (lambda: GlobalMaxPooling2D(data_format="NCHW"), "data_format"),
    (lambda: Flatten(data_format="first"), "data_format"),
    (lambda: BatchNormalization(momentum=1.5), "momentum"),
    (lambda: BatchNormalization(epsilon=0), "epsilon"),
    (lambda: BatchNormalization(axis="channels"), "axis"),
    (lambda: Reshape((0, 3)), "target_shape"),
    (lambda: Reshape((-1, -1)), "target_shape"),
    (lambda: Rescaling(float("nan")), "scale"),
    (lambda: Rescaling(1.0, offset="1"), "offset"),
    (lambda: LeakyReLU(-0.1), "negative_slope"),
    (lambda: Softmax(axis=1.5), "axis"),
    (lambda: Concatenate(axis="last"), "axis"),
    (lambda: Activation("mish"), "activation"),
    (lambda: Dense(2, name=""), "name"),
    (lambda: Dense(2, dtype="int32"), "dtype"),
    (lambda: Dense(2, input_shape=(0,)), "input_shape"),
    (lambda: Dense(2, seed=-1), "seed"),
])
def test_bad_constructor_arguments(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`") as info:
        make()
    assert "Received:" in str(info.value)


def test_bad_argument_message_shows_the_value():
    with pytest.raises(ValueError, match=r"Received: filters=0$"):
        Conv2D(filters=0, kernel_size=3)
    with pytest.raises(ValueError, match=r"Received: rate=1\.5$"):
        Dropout(1.5)
    with pytest.raises(ValueError, match=r"Received: padding='full'$"):
        MaxPooling2D(2, padding="full")


def test_groups_must_divide_the_input_channels():
    with pytest.raises(ValueError, match=r"`groups`.*Received: 3 channels"):
        Conv2D(4, 3, groups=2)(np.zeros((1, 5, 5, 3)))


def test_built_conv2d_refuses_a_different_channel_count():
    conv = Conv2D(2, 3, seed=0)
    conv(np.zeros((1, 5, 5, 3), np.float32))
    message = r"'conv2d' was built for 3 input channels.*Received: inputs with shape \(1, 5, 5, 4\)"
    with pytest.raises(ValueError, match=message):
        conv(np.zeros((1, 5, 5, 4), np.float32))
    conv_first = Conv2D(2, 3, data_format="channels_first", input_shape=(3, 5, 5))
    with pytest.raises(ValueError, match=r"built for 3 input channels on axis 1"):
        conv_first(np.zeros((1, 5, 5, 3), np.float32))


@pytest.mark.parametrize("x_shape", [(5, 5, 3), (1, 1, 5, 5, 3)])
def test_conv2d_needs_4d_inputs(x_shape):
    with pytest.raises(ValueError, match=r"4D.*Received"):
        Conv2D(2, 3)(np.zeros(x_shape))


def test_kernel_larger_than_input():
    with pytest.raises(ValueError, match="larger than the padded input.*Received"):
        Conv2D(2, 5)(np.zeros((1, 3, 3, 1)))


def test_dense_with_wrong_feature_count():
    dense = Dense(2, input_shape=(3,))
    message = r"'dense' was built for 3 input features.*Received: inputs with shape \(4, 5\)"
    with pytest.raises(ValueError, match=message):
        dense(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\(N, features\).*Received"):
        Dense(2)(np.zeros(3))


@pytest.mark.parametrize("layer", [MaxPooling2D(2), AveragePooling2D(2), GlobalMaxPooling2D()])
def test_pooling_needs_4d_inputs(layer):
    with pytest.raises(ValueError, match=r"4D.*Received: inputs with shape \(4, 4, 1\)"):
        layer(np.zeros((4, 4, 1)))


def test_pool_padding_must_be_smaller_than_the_window():
    with pytest.raises(ValueError, match="`padding`.*Received"):
        MaxPooling2D(2, padding=2)(np.zeros((1, 4, 4, 1)))


def test_batchnorm_bad_axis_and_channel_count():
    with pytest.raises(ValueError, match=r"`axis`.*Received: axis=0"):
        BatchNormalization(axis=0)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"`axis`.*Received: axis=4"):
        BatchNormalization(axis=4)(np.zeros((2, 3)))
    bn = BatchNormalization()
    bn(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"built for 3 channels.*Received: inputs with shape \(2, 4\)"):
        bn(np.zeros((2, 4)))


def test_reshape_incompatible_size():
    with pytest.raises(ValueError, match=r"cannot reshape samples of shape \(6,\) to \(5,\).*Received"):
        Reshape((5,))(np.zeros((2, 6)))


def test_merge_layers_bad_inputs():
    with pytest.raises(ValueError, match="at least 2 arrays.*Received"):
        Add()(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="at least 2 arrays.*Received"):
        Concatenate()([np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"one shape.*Received: shapes \[\(2, 3\), \(2, 4\)\]"):
        Add()([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"equal except on axis -1.*Received"):
        Concatenate()([np.zeros((2, 3)), np.zeros((3, 3))])
    with pytest.raises(ValueError, match=r"`axis`.*non-batch.*Received: axis=0"):
        Concatenate(axis=0)([np.zeros((2, 3)), np.zeros((2, 3))])


@pytest.mark.parametrize("x", ["abc", np.zeros((2, 2), complex), np.array([[object()]], dtype=object)])
def test_non_numeric_inputs_are_type_errors(x):
    with pytest.raises(TypeError, match="`inputs`.*Received"):
        Dense(2)(x)


def test_scalar_input():
    with pytest.raises(ValueError, match="batch of inputs.*Received: a scalar"):
        Dense(2)(3.0)


@pytest.mark.parametrize("layer", [Dense(2), Conv2D(2, 1), Dropout(0.5)])
def test_a_list_to_a_single_input_layer_is_refused(layer):
    # used to be an AttributeError deep inside, or a nested list split into rows
    with pytest.raises(ValueError, match=r"takes one array as `inputs`.*Received: inputs="):
        layer([np.zeros((2, 1, 1, 3)), np.zeros((2, 1, 1, 3))])
    with pytest.raises(ValueError, match=r"takes one array"):
        layer([[1.0, 2.0, 3.0]])


@pytest.mark.parametrize("layer", [Dense(2), Conv2D(2, 3), MaxPooling2D(), Rescaling(2.0), Add()])
def test_backward_before_forward(layer):
    with pytest.raises(RuntimeError, match=f"Layer '{layer.name}': call the layer \\(forward\\) before backward"):
        layer.backward(np.zeros((1, 2)))


def test_set_weights_wrong_count_and_shape():
    conv = Conv2D(4, 3, input_shape=(5, 5, 2))
    before = conv.get_weights()
    with pytest.raises(ValueError, match=r"needs a list of 2 arrays with shapes \[\(3, 3, 2, 4\), \(4,\)\]. Received"):
        conv.set_weights([before[0]])
    message = r"weights\[0\] must have shape \(3, 3, 2, 4\). Received: shape \(3, 3, 4, 2\)"
    with pytest.raises(ValueError, match=message):
        conv.set_weights([np.zeros((3, 3, 4, 2)), before[1]])
    with pytest.raises(ValueError, match="needs a list of 2 arrays"):
        conv.set_weights(before[0])
    with pytest.raises(TypeError, match=r"`weights\[1\]`"):
        conv.set_weights([before[0], ["a", "b", "c", "d"]])
    np.testing.assert_array_equal(conv.get_weights()[0], before[0])


def test_conv2d_backward_with_wrong_dy_shape():
    conv = Conv2D(2, 2, seed=0)
    conv(np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"`dy`.*\(1, 3, 3, 2\). Received: dy with shape \(1, 3, 3, 5\)"):
        conv.backward(np.zeros((1, 3, 3, 5)))


def test_dense_backward_with_wrong_dy_shape():
    dense = Dense(3, seed=0)
    dense(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"`dy`.*\(2, 3\). Received: dy with shape \(2, 5\)"):
        dense.backward(np.ones((2, 5)))


def test_batchnorm_momentum_must_not_be_a_bool():
    with pytest.raises(ValueError, match=r"`momentum`.*Received: momentum=True"):
        BatchNormalization(momentum=True)
