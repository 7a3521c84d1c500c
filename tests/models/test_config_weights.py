"""get_config / from_config for every layer and for Sequential: JSON round trips that keep behaviour."""

import inspect
import json

import numpy as np
import pytest

from numcnn import Sequential, initializers
from numcnn.layers import (
    LAYERS,
    Activation,
    Add,
    AveragePooling1D,
    AveragePooling2D,
    BatchNormalization,
    Clip,
    Concatenate,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Cropping2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    InputLayer,
    LeakyReLU,
    LocalResponseNormalization,
    MaxPooling1D,
    MaxPooling2D,
    Multiply,
    Permute,
    PReLU,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    ReLU,
    Rescaling,
    Reshape,
    SeparableConv2D,
    Softmax,
    SpatialDropout2D,
    Subtract,
    UpSampling2D,
    ZeroPadding2D,
    deserialize,
    serialize,
)

X4 = (2, 4, 6, 6)  # NCHW or NHWC, both fine for the 4D layers below
X3 = (2, 4, 9)  # NCL or NLC, for the 1D layers


def _cases():
    """A non-default instance of every built-in layer, with an input shape for it."""
    return {
        "Activation": (Activation("tanh", name="act"), X4),
        "Add": (Add(name="residual"), [X4, X4]),
        "AveragePooling1D": (AveragePooling1D(3, strides=2, padding="same", data_format="channels_first"), X3),
        "AveragePooling2D": (AveragePooling2D(3, strides=2, padding="same", data_format="channels_first"), X4),
        "BatchNormalization": (BatchNormalization(axis=1, momentum=0.9, epsilon=1e-2, center=False), X4),
        "Clip": (Clip(min_value=-0.5, max_value=1.5, name="clip"), X4),
        "Concatenate": (Concatenate(axis=1), [X4, (2, 3, 6, 6)]),
        "Conv1D": (Conv1D(4, 3, strides=2, padding="causal", data_format="channels_first", dilation_rate=2, groups=2,
                          activation="tanh", kernel_initializer="he_uniform",
                          bias_initializer=initializers.Constant(0.1)), X3),
        "Conv2D": (Conv2D(4, (3, 2), strides=(2, 1), padding=((1, 0), (0, 1)), dilation_rate=(1, 2), groups=2,
                          activation="relu", kernel_initializer="he_normal",
                          bias_initializer=initializers.Constant(0.1), name="c", trainable=False), X4),
        "Conv2DTranspose": (Conv2DTranspose(3, (3, 2), strides=(2, 1), padding=((1, 0), (0, 1)), output_padding=(1, 0),
                                           data_format="channels_first", dilation_rate=(1, 2), activation="sigmoid",
                                           kernel_initializer="lecun_normal",
                                           bias_initializer=initializers.Constant(-0.2)), X4),
        "Cropping2D": (Cropping2D(((1, 0), (2, 1)), data_format="channels_first"), X4),
        "Dense": (Dense(3, activation="softmax", use_bias=False,
                        kernel_initializer={"class_name": "RandomNormal", "config": {"stddev": 0.2}},
                        dtype="float64"), (2, 5)),
        "DepthwiseConv2D": (DepthwiseConv2D((3, 2), strides=(1, 2), padding="same", depth_multiplier=2,
                                           data_format="channels_first", dilation_rate=(2, 1), activation="relu",
                                           depthwise_initializer="he_uniform",
                                           bias_initializer=initializers.Constant(0.2)), X4),
        "Dropout": (Dropout(0.25, noise_shape=(None, 1, 1, None)), X4),
        "Flatten": (Flatten(data_format="channels_first"), X4),
        "GlobalAveragePooling1D": (GlobalAveragePooling1D(data_format="channels_first", keepdims=True), X3),
        "GlobalAveragePooling2D": (GlobalAveragePooling2D(keepdims=True), X4),
        "GlobalMaxPooling1D": (GlobalMaxPooling1D(keepdims=True), X3),
        "GlobalMaxPooling2D": (GlobalMaxPooling2D(data_format="channels_first"), X4),
        "InputLayer": (InputLayer((4, 6, 6), dtype="float64", name="images"), X4),
        "LeakyReLU": (LeakyReLU(0.1), X4),
        "LocalResponseNormalization": (LocalResponseNormalization(size=3, alpha=0.5, beta=0.5, bias=2.0,
                                                                  data_format="channels_first"), X4),
        "MaxPooling1D": (MaxPooling1D(3, strides=1, padding=(1, 2)), X3),
        "MaxPooling2D": (MaxPooling2D((2, 3), strides=1, padding="same", input_shape=(4, 6, 6)), X4),
        "Multiply": (Multiply(name="gate", dtype="float64"), [X4, X4, X4]),
        "Permute": (Permute((3, 1, 2), name="to_channels_first"), X4),
        "PReLU": (PReLU(alpha_initializer={"class_name": "RandomNormal", "config": {"stddev": 0.5}},
                        shared_axes=[1, 2]), X4),
        # the augmentations run at inference here (the identity; RandomCrop resizes): their draws are in
        # tests/layers/test_augmentation.py
        "RandomBrightness": (RandomBrightness((-0.1, 0.3), value_range=(-1, 2), data_format="channels_first"), X4),
        "RandomContrast": (RandomContrast((0.2, 0.5), value_range=(0, 1), data_format="channels_first"), X4),
        "RandomCrop": (RandomCrop(3, 5, data_format="channels_first", name="crop"), X4),
        "RandomFlip": (RandomFlip("horizontal", data_format="channels_first"), X4),
        "RandomRotation": (RandomRotation((-0.2, 0.1), fill_mode="constant", interpolation="nearest", fill_value=0.5,
                                          data_format="channels_first"), X4),
        "RandomTranslation": (RandomTranslation(0.2, (-0.1, 0.3), fill_mode="nearest", interpolation="nearest",
                                                fill_value=-1.0, data_format="channels_first"), X4),
        "RandomZoom": (RandomZoom((-0.3, 0.2), 0.1, fill_mode="wrap", interpolation="nearest", fill_value=0.25,
                                  data_format="channels_first"), X4),
        "ReLU": (ReLU(max_value=1.5, negative_slope=0.1, threshold=0.5), X4),
        "Rescaling": (Rescaling(np.array([0.5, 2.0, -1.0, 4.0]).reshape(4, 1, 1),
                                offset=[1.0, 0.0, -1.0, 2.0, 0.5, 3.0]), X4),
        "Reshape": (Reshape((-1, 2), name="pairs"), X4),
        "SeparableConv2D": (SeparableConv2D(5, 3, strides=2, padding="same", data_format="channels_first",
                                           depth_multiplier=2, activation="tanh", depthwise_initializer="he_normal",
                                           pointwise_initializer="lecun_uniform",
                                           bias_initializer=initializers.Constant(0.3)), X4),
        "Softmax": (Softmax(axis=1), X4),
        "SpatialDropout2D": (SpatialDropout2D(0.3, data_format="channels_first"), X4),
        "Subtract": (Subtract(name="difference", trainable=False), [X4, X4]),
        "UpSampling2D": (UpSampling2D((2, 3), data_format="channels_first", interpolation="bilinear"), X4),
        "ZeroPadding2D": (ZeroPadding2D(((1, 0), (2, 3)), data_format="channels_first"), X4),
    }


def test_every_built_in_layer_has_a_case():
    assert set(_cases()) == set(LAYERS)


@pytest.mark.parametrize("class_name", sorted(LAYERS))
def test_every_case_differs_from_the_defaults(class_name):
    """A round trip of default arguments would pass even if from_config dropped them all."""
    layer, _ = _cases()[class_name]
    config = layer.get_config()
    required = {name: config[name] for name, parameter in inspect.signature(type(layer).__init__).parameters.items()
                if name != "self" and parameter.default is parameter.empty
                and parameter.kind is parameter.POSITIONAL_OR_KEYWORD}
    assert type(layer)(**required).get_config() != config


@pytest.mark.parametrize("class_name", sorted(LAYERS))
def test_layer_config_json_round_trip_keeps_behaviour(class_name, rng):
    layer, shape = _cases()[class_name]
    config = json.loads(json.dumps(serialize(layer)))  # JSON-friendly
    copy = deserialize(config)
    assert type(copy) is type(layer)
    assert copy.get_config() == layer.get_config()
    assert copy.name == layer.name and copy.trainable == layer.trainable
    x = [rng.standard_normal(s) for s in shape] if isinstance(shape, list) else rng.standard_normal(shape)
    y = layer(x)
    copy(x)
    copy.set_weights(layer.get_weights())
    np.testing.assert_array_equal(copy(x), y)


def test_config_contents_for_conv2d():
    config = Conv2D(8, 3, strides=2, padding="same", input_shape=(9, 9, 1), name="first").get_config()
    assert config == {
        "name": "first", "trainable": True, "input_shape": [9, 9, 1], "filters": 8, "kernel_size": [3, 3],
        "strides": [2, 2], "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
        "activation": None, "use_bias": True, "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}


def test_config_keeps_the_dtype_and_the_initializer_config():
    dense = Dense(2, kernel_initializer=initializers.VarianceScaling(2.0, "fan_out", "uniform"), dtype="float64")
    config = dense.get_config()
    assert config["dtype"] == "float64"
    assert config["kernel_initializer"] == {"class_name": "VarianceScaling",
                                            "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}}
    copy = Dense.from_config(config)
    copy(np.zeros((1, 40)))
    limit = np.sqrt(3 * 2.0 / 2)
    assert copy.params["kernel"].dtype == np.float64
    assert np.abs(copy.params["kernel"]).max() <= limit


def _model(seed=0):
    return Sequential([Conv2D(3, 3, activation="relu", input_shape=(8, 8, 2)), BatchNormalization(),
                       MaxPooling2D(2, padding="same"), Conv2D(4, 1, data_format="channels_last"), Flatten(),
                       Dropout(0.3), Dense(5, activation="softmax")], seed=seed, name="net")


def test_sequential_config_round_trip_gives_the_same_model(rng):
    model = _model()
    x = rng.standard_normal((3, 8, 8, 2)).astype(np.float32)
    model(x, training=True)  # move the batch-norm statistics away from their initial values
    config = json.loads(json.dumps(model.get_config()))
    copy = Sequential.from_config(config)
    assert copy.name == "net"
    assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
    assert copy.get_config() == model.get_config()
    assert copy.count_params() == model.count_params()  # built from the first layer's input_shape
    copy.set_weights(model.get_weights())
    np.testing.assert_array_equal(copy(x), model(x))
    assert list(copy.params) == list(model.params)


def test_sequential_from_config_refuses_unknown_layers_and_bad_configs():
    with pytest.raises(ValueError, match="Received: class_name='Lambda'"):
        Sequential.from_config({"layers": [{"class_name": "Lambda", "config": {}}]})
    with pytest.raises(ValueError, match="'layers' list. Received"):
        Sequential.from_config({"name": "x"})
    with pytest.raises(ValueError, match="config.*Received: 'Dense'"):
        deserialize("Dense")


def test_weights_round_trip_through_get_and_set(rng):
    a, b = _model(seed=1), _model(seed=2)
    weights = a.get_weights()
    assert [w.shape for w in weights] == [(3, 3, 2, 3), (3,), (3,), (3,), (3,), (3,), (1, 1, 3, 4), (4,),
                                          (36, 5), (5,)]
    b.set_weights(weights)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    x = rng.standard_normal((2, 8, 8, 2)).astype(np.float32)
    np.testing.assert_array_equal(a(x), b(x))
    weights[0][...] = 0  # get_weights returns copies
    assert np.abs(a.get_weights()[0]).max() > 0
