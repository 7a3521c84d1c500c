"""The zoo's ImageNet networks: published parameter counts, shapes, data formats, the door, a training step.

Parity with PyTorch (the same weights give the same outputs, and through ONNX) is in
tests/io/test_onnx_import_zoo.py, next to the PyTorch twins.
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from numcnn.models import zoo
from numcnn.models.zoo.common import ceil_mode_padding
from numcnn.models.zoo.mobilenet import make_divisible
from numcnn.losses import SparseCategoricalCrossentropy
from numcnn.optimizers import Adam

NAMES = sorted(zoo.ARCHITECTURES)

#: torchvision's published counts (``sum(p.numel() for p in model.parameters())``: no batch norm running
#: statistics); GoogLeNet's is torchvision's ``googlenet`` without its auxiliary classifiers, as its
#: pretrained weights are documented; MobileNet v1's is Keras applications' trainable count at alpha 1.0
PUBLISHED = {"resnet50": 25_557_032, "resnet18": 11_689_512, "vgg16": 138_357_544, "vgg11": 132_863_336,
             "mobilenet_v2": 3_504_872, "squeezenet1_1": 1_235_496, "inception_net": 6_624_904,
             "mobilenet_v1": 4_231_976}

#: Keras applications' MobileNet: 21,888 non-trainable (the batch norm moving statistics) beside the above
KERAS_MOBILENET_TOTAL = 4_253_864

#: small variants: (input side, width), fast to build and run
SMALL = {"vgg11": (32, 0.125), "vgg16": (32, 0.125), "resnet18": (32, 0.125), "resnet50": (32, 0.125),
         "mobilenet_v1": (32, 0.25), "mobilenet_v2": (32, 0.25), "squeezenet1_1": (33, 0.125),
         "inception_net": (33, 0.125)}


def build(name, data_format="channels_last", classes=5, seed=0, size=None, width=None):
    side, w = SMALL[name]
    side, w = size or side, width or w
    shape = (side, side, 3) if data_format == "channels_last" else (3, side, side)
    return getattr(zoo, name)(classes=classes, input_shape=shape, data_format=data_format, width=w, seed=seed)


# -- parameter counts --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts_at_full_size_are_the_published_ones(name):
    assert zoo.count_params(name) == PUBLISHED[name]


def test_mobilenet_v1_counts_its_moving_statistics_as_keras_does():
    assert zoo.count_params("mobilenet_v1", trainable_only=False) == KERAS_MOBILENET_TOTAL


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_count_params_reads_the_shapes_the_built_model_has(name, data_format):
    model = build(name, data_format)
    side, width = SMALL[name]
    shape = (side, side, 3) if data_format == "channels_last" else (3, side, side)
    trainable = sum(w.size for w in model.trainable_variables)
    assert zoo.count_params(name, 5, shape, data_format, width) == trainable
    assert zoo.count_params(name, 5, shape, data_format, width, trainable_only=False) == model.count_params()
    assert 0 < trainable < PUBLISHED[name] / 10


def test_width_scales_the_channels_as_documented():
    model = zoo.resnet50(classes=3, input_shape=(32, 32, 3), width=0.3)
    assert model.get_layer("conv1").named_weights()["kernel"].shape == (7, 7, 3, 19)  # 64 * 0.3 = 19.2
    assert model.get_layer("layer4_2_conv3").named_weights()["kernel"].shape == (1, 1, 154, 616)  # 512 * .3 -> 154
    assert model.get_layer("fc").named_weights()["kernel"].shape == (616, 3)
    model = zoo.mobilenet_v2(classes=3, input_shape=(32, 32, 3), width=0.35)
    assert model.get_layer("features_0_0").named_weights()["kernel"].shape == (3, 3, 3, 16)  # 11.2 -> 16
    assert model.get_layer("features_18_0").named_weights()["kernel"].shape == (1, 1, 112, 1280)  # 320 * .35 = 112
    assert [make_divisible(v) for v in (4.0, 11.2, 24 * 0.35, 96 * 0.35, 1280.0)] == [8, 16, 8, 32, 1280]


# -- shapes and names --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_small_models_give_one_row_of_logits_per_image(name, data_format, rng):
    model = build(name, data_format, classes=7)
    side = SMALL[name][0]
    x = rng.standard_normal((3, side, side, 3) if data_format == "channels_last" else (3, 3, side, side))
    y = model.predict(x.astype(np.float32))
    assert y.shape == (3, 7) and y.dtype == np.float32
    assert np.isfinite(y).all() and np.ptp(y, axis=0).max() > 0  # the images give different logits


@pytest.mark.parametrize("name, layer, shape", [
    ("vgg16", "features_30", (None, 1, 1, 64)),       # the last of 5 poolings: 32 -> 1
    ("vgg16", "classifier_0", (None, 512)),           # flatten 64 -> 4096 * 0.125
    ("resnet18", "maxpool", (None, 8, 8, 8)),
    ("resnet18", "layer4_1_add", (None, 1, 1, 64)),
    ("resnet50", "layer1_0_downsample_1", (None, 8, 8, 32)),
    ("resnet50", "layer2_0_conv2", (None, 4, 4, 16)),  # v1.5: the 3x3 strides
    ("resnet50", "layer2_0_conv1", (None, 8, 8, 16)),
    ("mobilenet_v1", "conv_pw_13_relu", (None, 1, 1, 256)),
    ("mobilenet_v2", "features_17_conv_3", (None, 1, 1, 80)),
    ("squeezenet1_1", "features_2", (None, 8, 8, 8)),   # 33 -> conv 16 -> ceil pool 8 (floor: 7)
    ("squeezenet1_1", "features_5", (None, 4, 4, 16)),
    ("squeezenet1_1", "features_8", (None, 2, 2, 32)),
    ("inception_net", "maxpool1", (None, 8, 8, 8)),     # 33 -> conv 17 -> pool 8
    ("inception_net", "inception3a_concat", (None, 4, 4, 32)),
    ("inception_net", "maxpool4", (None, 1, 1, 104)),
])
def test_layers_named_after_torchvision_modules_have_the_expected_shapes(name, layer, shape):
    assert build(name).get_layer(layer).output.shape == shape


def test_ceil_mode_poolings_at_224_give_torchvision_sizes():
    model = zoo.inception_net(classes=3, width=0.0625)
    sizes = [model.get_layer(name).output.shape[1] for name in ("maxpool1", "maxpool2", "maxpool3", "maxpool4")]
    assert sizes == [56, 28, 14, 7]  # floor mode would give 55, 27, 13 and 7
    model = zoo.squeezenet1_1(classes=3, width=0.0625)
    assert [model.get_layer(f"features_{i}").output.shape[1] for i in (0, 2, 5, 8)] == [111, 55, 27, 13]


@pytest.mark.parametrize("size", range(1, 30))
@pytest.mark.parametrize("pool_size, strides, padding", [(3, 2, 0), (2, 2, 0), (3, 1, 1), (2, 2, 1), (3, 2, 1),
                                                          (3, 3, 0)])
def test_ceil_mode_padding_gives_pytorchs_ceil_mode_size(size, pool_size, strides, padding):
    pool = torch.nn.MaxPool2d(pool_size, strides, padding, ceil_mode=True)
    try:
        expected = pool(torch.zeros(1, 1, size, size)).shape[-1]
    except RuntimeError:  # PyTorch: output size too small
        with pytest.raises(ValueError, match="has no output"):
            ceil_mode_padding(size, pool_size, strides, padding)
        return
    before, after = ceil_mode_padding(size, pool_size, strides, padding)
    assert before == padding and padding <= after < padding + pool_size
    assert (size + before + after - pool_size) // strides + 1 == expected


def test_ceil_mode_padding_known_values():
    assert ceil_mode_padding(112, 3, 2) == (0, 1)    # GoogLeNet's maxpool1: 56, not 55
    assert ceil_mode_padding(111, 3, 2) == (0, 0)    # SqueezeNet's first pool: floor and ceil agree
    assert ceil_mode_padding(5, 2, 2, 1) == (1, 1)   # the window that would start in the padding is dropped


@pytest.mark.parametrize("name", NAMES)
def test_the_smallest_input_builds_and_one_less_is_refused(name):
    smallest = zoo.ARCHITECTURES[name].smallest
    model = getattr(zoo, name)(classes=2, input_shape=(smallest, smallest + 3, 3), width=0.0625)
    assert model.predict(np.ones((1, smallest, smallest + 3, 3), np.float32)).shape == (1, 2)
    if smallest > 1:
        with pytest.raises(ValueError, match=rf"`input_shape`.*at least {smallest}.*Received: input_shape="):
            getattr(zoo, name)(classes=2, input_shape=(smallest - 1, 64, 3), width=0.0625)


def test_the_default_input_is_224_rgb_in_either_format():
    assert zoo.mobilenet_v1(width=0.25).input_shape == (None, 224, 224, 3)
    assert zoo.mobilenet_v1(width=0.25, data_format="channels_first").input_shape == (None, 3, 224, 224)


# -- data formats and seeds --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_both_data_formats_give_the_same_outputs_with_the_same_seed(name, rng):
    last, first = build(name, "channels_last", seed=3), build(name, "channels_first", seed=3)
    side = SMALL[name][0]
    x = rng.standard_normal((2, side, side, 3)).astype(np.float32)
    y = last.predict(x)
    assert_allclose(first.predict(x.transpose(0, 3, 1, 2)), y, rtol=1e-5, atol=1e-6 * np.abs(y).max())
    for a, b in zip(last.layers, first.layers):
        assert a.name == b.name and all(np.array_equal(a.named_weights()[k], b.named_weights()[k])
                                        for k in a.named_weights())
    other = build(name, "channels_last", seed=4).predict(x)
    assert np.abs(other - y).max() > 1e-3 * np.abs(y).max()  # the seed matters


def test_the_same_seed_gives_the_same_weights():
    a, b = build("mobilenet_v2", seed=11), build("mobilenet_v2", seed=11)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


# -- the door ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"classes": 0}, r"`classes` argument must be a positive int\. Received: classes=0"),
    ({"classes": 2.5}, r"`classes`.*Received: classes=2\.5"),
    ({"classes": True}, r"`classes`.*Received: classes=True"),
    ({"input_shape": (32, 32)}, r"`input_shape`.*three positive ints.*Received: input_shape=\(32, 32\)"),
    ({"input_shape": (32, 32, 0)}, r"`input_shape`.*Received: input_shape=\(32, 32, 0\)"),
    ({"input_shape": "224"}, r"`input_shape`.*Received: input_shape='224'"),
    ({"input_shape": (16, 64, 3)}, r"`input_shape` argument of vgg11 must have a height and width of at least 32"),
    ({"input_shape": (3, 64, 64)}, r"`input_shape` argument of vgg11.*at least 32.*\(height, width, channels\)"),
    ({"data_format": "NHWC"}, r"`data_format`.*Received: data_format='NHWC'"),
    ({"width": 0}, r"`width` argument must be a finite number > 0\. Received: width=0"),
    ({"width": -0.5}, r"`width`.*Received: width=-0\.5"),
    ({"width": float("nan")}, r"`width`.*Received: width=nan"),
    ({"width": "1"}, r"`width`.*Received: width='1'"),
    ({"seed": -1}, r"`seed`.*Received: seed=-1"),
    ({"seed": "0"}, r"`seed`.*Received: seed='0'"),
])
def test_bad_arguments_are_refused_by_name(kwargs, match):
    arguments = {"classes": 3, "input_shape": (64, 64, 3), "width": 0.125, **kwargs}
    with pytest.raises(ValueError, match=match):
        zoo.vgg11(**arguments)


def test_channels_first_reads_the_channels_first():
    message = r"at least 17.*\(channels, height, width\).*Received: input_shape=\(64, 64, 3"
    with pytest.raises(ValueError, match=message):
        zoo.squeezenet1_1(input_shape=(64, 64, 3), data_format="channels_first", width=0.125)


def test_count_params_refuses_an_unknown_name():
    with pytest.raises(ValueError, match=r"`name` argument must be one of \[.*'resnet50'.*Received: name='vgg19'"):
        zoo.count_params("vgg19")


def test_the_study_notes_models_keep_their_import_paths_and_names():
    from numcnn.models.zoo import deep_convnet, get, lenet5, simple_convnet

    assert sorted(zoo.MODELS) == ["deep", "lenet5", "simple"]
    assert get("lenet5", (28, 28, 1)).count_params() == lenet5().count_params() == 61_706
    assert simple_convnet().name == "simple_convnet" and deep_convnet((16, 16, 1)).name == "deep_convnet"


# -- training ----------------------------------------------------------------------------------------------------

def test_a_few_training_steps_lower_the_loss(rng):
    model = zoo.resnet18(classes=3, input_shape=(16, 16, 3), width=0.125, seed=0)
    model.compile(Adam(0.01), SparseCategoricalCrossentropy(from_logits=True))
    x = rng.standard_normal((12, 16, 16, 3)).astype(np.float32)
    y = np.arange(12) % 3
    history = model.fit(x, y, batch_size=12, epochs=8, seed=0, verbose=0)
    losses = history.history["loss"]  # one step per epoch: the first is the loss before any update
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]
