"""The classic CNN zoo against PyTorch: each network's hand-written PyTorch twin (tests/io/torch_zoo.py),
with random weights and batch norms far from the identity, is exported to ONNX; then

(a) onnxruntime runs the file as torch runs the network (the export is sound),
(b) ``from_onnx`` brings the file back as a numcnn model that matches onnxruntime, in both data formats,
(c) the numcnn zoo builder, given the twin's state dict paired by layer name, matches torch.

The exporter folds each batch norm into its conv, so (c) compares the builder with torch, not with the
imported model's weights. Old opsets (9 and 11, as the classic zoo files were exported) are checked too.
"""

import numpy as np
import onnxruntime
import pytest
import torch
from numpy.testing import assert_allclose
from torch_zoo import TWINS, copy_into_numcnn, count_parameters, randomize

from numcnn.io.onnx_import import from_onnx
from numcnn.models import zoo

#: (input side, width) of each small variant: every stage keeps at least 1x1 (VGG's and GoogLeNet's last
#: stages are 1x1 at 32, ResNet's and the MobileNets' 2x2 at 64, SqueezeNet's last pooling 3x3 at 64)
CASES = {"vgg11": (32, 0.125), "vgg16": (32, 0.125), "resnet18": (64, 0.25), "resnet50": (64, 0.125),
         "mobilenet_v1": (64, 0.25), "mobilenet_v2": (64, 0.25), "squeezenet1_1": (64, 0.25),
         "inception_net": (32, 0.125)}
CLASSES = 7
FORMATS = ["channels_last", "channels_first"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """torch on one thread: with two test workers on two cores, its oversubscribed thread pool makes the
    MobileNets' many small grouped convs 10 to 80 times slower (seconds per forward)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def close(actual, expected, rtol):
    """``rtol`` on each value, and ``rtol / 10`` of the largest as the absolute floor (outputs near 0)."""
    assert_allclose(actual, expected, rtol=rtol, atol=rtol / 10 * np.abs(expected).max())


def twin(name, rng, size=None):
    side, width = CASES[name]
    return randomize(TWINS[name](CLASSES, width, size or side), rng)


def torch_output(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def export(model, x, path, opset):
    torch.onnx.export(model, torch.from_numpy(x), str(path), dynamo=False, opset_version=opset,
                      input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    return path


def numcnn_input(x, data_format):
    return x.transpose(0, 2, 3, 1) if data_format == "channels_last" else x


def builder(name, data_format, side, width):
    shape = (side, side, 3) if data_format == "channels_last" else (3, side, side)
    return getattr(zoo, name)(CLASSES, shape, data_format, width)


def check_import(path, x, expected):
    """(b): the imported model in both data formats against onnxruntime's ``expected``."""
    for data_format in FORMATS:
        model = from_onnx(path, data_format=data_format)
        close(model.predict(numcnn_input(x, data_format)), expected, rtol=1e-3)


@pytest.mark.parametrize("name", sorted(CASES))
def test_zoo_network_from_pytorch_through_onnx(name, rng, tmp_path):
    side, width = CASES[name]
    model = twin(name, rng)
    x = rng.standard_normal((2, 3, side, side)).astype(np.float32)
    expected = torch_output(model, x)
    assert expected.shape == (2, CLASSES) and np.ptp(expected, axis=0).max() > 1e-3 * np.abs(expected).max()
    path = export(model, x, tmp_path / f"{name}.onnx", opset=17)
    ours = onnxruntime.InferenceSession(str(path)).run(None, {"input": x})[0]
    close(ours, expected, rtol=1e-4)                                        # (a)
    check_import(path, x, ours)                                             # (b)
    for data_format in FORMATS:                                             # (c)
        built = builder(name, data_format, side, width)
        copy_into_numcnn(model, built)
        close(built.predict(numcnn_input(x, data_format)), expected, rtol=1e-4)


@pytest.mark.parametrize("name, opset", [("resnet18", 9), ("squeezenet1_1", 9), ("mobilenet_v2", 11),
                                         ("inception_net", 11)])
def test_files_exported_at_old_opsets_import_the_same(name, opset, rng, tmp_path):
    side, _ = CASES[name]
    model = twin(name, rng)
    x = rng.standard_normal((2, 3, side, side)).astype(np.float32)
    path = export(model, x, tmp_path / f"{name}_opset{opset}.onnx", opset=opset)
    ours = onnxruntime.InferenceSession(str(path)).run(None, {"input": x})[0]
    close(ours, torch_output(model, x), rtol=1e-4)
    check_import(path, x, ours)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_twins_count_what_the_builders_count(name):
    with torch.device("meta"):  # shapes only: VGG-16's weights are not made
        full = TWINS[name]()
    assert count_parameters(full) == zoo.count_params(name)
    side, width = CASES[name]
    with torch.device("meta"):
        small = TWINS[name](CLASSES, width, side)
    assert count_parameters(small) == zoo.count_params(name, CLASSES, (side, side, 3), width=width)


def test_googlenet_without_auxiliary_classifiers_has_torchvisions_count():
    with torch.device("meta"):
        assert count_parameters(TWINS["inception_net"]()) == 6_624_904


@pytest.mark.parametrize("name, sizes", [("squeezenet1_1", (17, 18, 31, 36)), ("inception_net", (15, 16, 33, 47)),
                                         ("vgg11", (32, 47))])
def test_the_builders_match_torch_at_odd_and_smallest_sizes(name, sizes, rng):
    """Ceil-mode poolings (explicit padding after) at sizes where ceil and floor differ, down to the smallest
    input; the twin refuses one pixel less, as the builder does."""
    _, width = CASES[name]
    for side in sizes:
        model = twin(name, rng, size=side)
        x = rng.standard_normal((2, 3, side, side)).astype(np.float32)
        built = builder(name, "channels_last", side, width)
        copy_into_numcnn(model, built)
        close(built.predict(numcnn_input(x, "channels_last")), torch_output(model, x), rtol=1e-4)
    smallest = zoo.ARCHITECTURES[name].smallest
    assert smallest == sizes[0]
    with pytest.raises(RuntimeError, match="too small"):
        torch_output(twin(name, rng, size=smallest), np.zeros((1, 3, smallest - 1, smallest - 1), np.float32))
    with pytest.raises(ValueError, match=f"at least {smallest}"):
        builder(name, "channels_last", smallest - 1, width)


def test_pairing_by_name_uses_every_tensor_and_fills_every_weight(rng):
    model = twin("resnet18", rng)
    built = builder("resnet18", "channels_last", *CASES["resnet18"])
    before = {k: v.copy() for k, v in built.named_weights().items()}
    copy_into_numcnn(model, built)
    state = model.state_dict()
    assert all(not np.array_equal(before[k], v) for k, v in built.named_weights().items())
    assert built.named_weights()["layer2_0_downsample_1/moving_variance"].tolist() == \
        state["layer2.0.downsample.1.running_var"].tolist()
    kernel = built.named_weights()["layer1_0_conv1/kernel"]
    assert_allclose(kernel[1, 2, 3, 4], state["layer1.0.conv1.weight"][4, 3, 1, 2].item())
    assert_allclose(built.named_weights()["fc/kernel"][5, 6], state["fc.weight"][6, 5].item())
