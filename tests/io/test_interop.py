"""Weights to and from PyTorch and Keras: a small CNN converted each way gives the same outputs."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from helpers import import_keras, import_torch
from numcnn import Sequential
from numcnn.io import from_keras, from_torch, to_keras, to_torch
from numcnn.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
    ReLU,
)

FORMATS = ["channels_last", "channels_first"]


def numcnn_cnn(data_format="channels_last", epsilon=1e-5, seed=0):
    """Conv -> BN -> ReLU -> pool -> grouped conv -> Flatten -> Dropout -> Dense -> Dense, on 8x8x2 images."""
    shape = (8, 8, 2) if data_format == "channels_last" else (2, 8, 8)
    axis = -1 if data_format == "channels_last" else 1
    return Sequential([
        Conv2D(4, 3, padding="same", data_format=data_format, input_shape=shape),
        BatchNormalization(axis=axis, epsilon=epsilon),
        ReLU(),
        MaxPooling2D(2, data_format=data_format),
        Conv2D(6, 3, groups=2, data_format=data_format),
        Flatten(data_format=data_format),
        Dropout(0.5),
        Dense(16, activation="relu"),
        Dense(5),
    ], seed=seed)


def torch_cnn(torch, eps=1e-5):
    nn = torch.nn
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4, eps=eps), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, groups=2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(6 * 2 * 2, 16),
                         nn.ReLU(), nn.Linear(16, 5))


def keras_cnn(keras, data_format="channels_last"):
    shape = (8, 8, 2) if data_format == "channels_last" else (2, 8, 8)
    axis = -1 if data_format == "channels_last" else 1
    L = keras.layers
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input(shape), L.Conv2D(4, 3, padding="same", data_format=data_format),
        L.BatchNormalization(axis=axis, epsilon=1e-5), L.ReLU(), L.MaxPooling2D(2, data_format=data_format),
        L.Conv2D(6, 3, groups=2, data_format=data_format), L.Flatten(data_format=data_format), L.Dropout(0.5),
        L.Dense(16, activation="relu"), L.Dense(5)])


def randomize(model, rng):
    """Every array of a numcnn model random, moving variances positive."""
    for name, array in model.named_weights().items():
        values = 0.3 * rng.standard_normal(array.shape)
        array[...] = np.abs(values) + 0.5 if name.endswith("moving_variance") else values


def images(rng, data_format, n=7):
    x = rng.standard_normal((n, 8, 8, 2)).astype(np.float32)
    return x if data_format == "channels_last" else x.transpose(0, 3, 1, 2).copy()


def to_nchw(x, data_format):
    return x.transpose(0, 3, 1, 2).copy() if data_format == "channels_last" else x


@pytest.mark.parametrize("data_format", FORMATS)
def test_from_torch_gives_torchs_outputs(data_format, rng):
    torch = import_torch()
    net = torch_cnn(torch)
    with torch.no_grad():  # random batch-norm statistics, so a mix-up of mean and variance shows
        net[1].running_mean.copy_(torch.randn(4))
        net[1].running_var.copy_(torch.rand(4) + 0.5)
        net[1].weight.copy_(torch.randn(4))
    net.eval()
    model = numcnn_cnn(data_format)
    from_torch(model, net)
    x = images(rng, data_format)
    with torch.no_grad():
        expected = net(torch.from_numpy(to_nchw(x, data_format))).numpy()
    assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("data_format", FORMATS)
def test_to_torch_gives_numcnns_outputs(data_format, rng):
    torch = import_torch()
    model = numcnn_cnn(data_format)
    randomize(model, rng)
    net = to_torch(model, torch_cnn(torch)).eval()
    x = images(rng, data_format)
    with torch.no_grad():
        got = net(torch.from_numpy(to_nchw(x, data_format))).numpy()
    assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-5)


def test_the_flatten_to_dense_rows_are_permuted(rng):
    """torch flattens (C, H, W), we flatten (H, W, C): copying the Linear weight as a plain transpose is wrong."""
    torch = import_torch()
    net = torch_cnn(torch).eval()
    model = numcnn_cnn()
    from_torch(model, net)
    linear = net[7].weight.detach().numpy()  # (16, 24) over (C=6, H=2, W=2)
    kernel = model.layers[7].params["kernel"]  # (24, 16) over (H, W, C)
    assert not np.array_equal(kernel, linear.T)
    assert_allclose(kernel[1 * 2 * 6 + 0 * 6 + 5], linear[:, 5 * 4 + 1 * 2 + 0])  # (h=1, w=0, c=5)


def test_round_trip_through_a_state_dict_of_numpy_arrays_is_exact(rng):
    torch = import_torch()
    model = numcnn_cnn()
    randomize(model, rng)
    before = {k: v.copy() for k, v in model.named_weights().items()}
    state = {k: v.numpy() for k, v in to_torch(model, torch_cnn(torch)).state_dict().items()}
    randomize(model, rng)
    from_torch(model, state)
    for name, value in {**model.params, **model.state}.items():
        np.testing.assert_array_equal(value, before[name])


def test_batch_norm_epsilon_must_match_the_torch_module():
    torch = import_torch()
    model = numcnn_cnn(epsilon=1e-3)
    with pytest.raises(ValueError, match=r"has epsilon=0\.001 but the torch layer '1' has eps=1e-05.*"
                                         r"BatchNormalization\(epsilon=1e-05\)"):
        from_torch(model, torch_cnn(torch))


def test_a_bare_state_dict_skips_the_epsilon_check():
    torch = import_torch()
    model = numcnn_cnn(epsilon=1e-3)
    from_torch(model, torch_cnn(torch).state_dict())  # no module, no eps to compare
    assert model.layers[1].epsilon == 1e-3


def test_mismatched_models_are_refused_and_nothing_is_written(rng):
    torch = import_torch()
    nn = torch.nn
    model = numcnn_cnn()
    before = {k: v.copy() for k, v in model.named_weights().items()}
    fewer = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(256, 5))
    with pytest.raises(ValueError, match=r"numcnn model has 5 layers with weights .* torch model has 3"):
        from_torch(model, fewer)
    wider = torch_cnn(torch)
    wider[9] = nn.Linear(16, 7)  # the last layer only: the first four convert before the error
    with pytest.raises(ValueError, match=r"torch '9' for numcnn layer 'dense_1' \(Dense\): weight must have shape "
                                         r"\(5, 16\)\. Received: shape \(7, 16\)"):
        from_torch(model, wider)
    for name, value in model.named_weights().items():
        np.testing.assert_array_equal(value, before[name])


def test_missing_bias_is_named():
    torch = import_torch()
    net = torch_cnn(torch)
    net[0] = torch.nn.Conv2d(2, 4, 3, padding=1, bias=False)
    with pytest.raises(ValueError, match=r"expected tensors \['bias', 'weight'\]\. Received: \['weight'\]"):
        from_torch(numcnn_cnn(), net)


def test_bad_sources_are_refused():
    with pytest.raises(TypeError, match="`source` argument must be a torch nn.Module or a state_dict"):
        from_torch(numcnn_cnn(), 42)
    with pytest.raises(ValueError, match=r"state_dict\['0.weight'\] must hold numbers"):
        from_torch(numcnn_cnn(), {"0.weight": np.array(["a"])})
    unbuilt = Sequential([Dense(3)])
    with pytest.raises(ValueError, match="has no weights yet"):
        from_torch(unbuilt, {})


@pytest.mark.parametrize("data_format", FORMATS)
def test_from_keras_gives_keras_outputs(data_format, rng):
    keras = import_keras()
    net = keras_cnn(keras, data_format)
    weights = net.get_weights()
    weights[3] = np.abs(weights[3]) + 0.5  # moving variance
    net.set_weights([w + 0.1 * rng.standard_normal(np.shape(w)).astype(np.float32) for w in weights])
    model = numcnn_cnn(data_format)
    from_keras(model, net)
    x = images(rng, data_format)
    expected = keras.ops.convert_to_numpy(net(x, training=False))
    assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("data_format", FORMATS)
def test_to_keras_gives_numcnns_outputs(data_format, rng):
    keras = import_keras()
    model = numcnn_cnn(data_format)
    randomize(model, rng)
    net = to_keras(model, keras_cnn(keras, data_format))
    x = images(rng, data_format)
    assert_allclose(keras.ops.convert_to_numpy(net(x, training=False)), model.predict(x), rtol=1e-5, atol=1e-5)


def test_keras_shape_mismatch_is_named():
    keras = import_keras()
    net = keras_cnn(keras)
    other = Sequential([Conv2D(4, 3, padding="same", input_shape=(8, 8, 2)), BatchNormalization(epsilon=1e-5),
                        ReLU(), MaxPooling2D(2), Conv2D(6, 3, groups=2), Flatten(), Dense(16), Dense(3)])
    with pytest.raises(ValueError, match=r"Keras layer 'dense\w*' for numcnn layer 'dense_1' \(Dense\) must have weights with shapes "
                                         r"\[\(16, 3\), \(3,\)\]\. Received: \[\(16, 5\), \(5,\)\]"):
        from_keras(other, net)
