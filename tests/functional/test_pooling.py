"""Max, average and global pooling: seed values, TF's padding rules, loops, gradients, PyTorch and Keras."""

import numpy as np
import pytest
from hypothesis import given
from numpy.testing import assert_allclose, assert_array_equal

from helpers import assert_close, check_directional_grad, import_keras, import_torch, numerical_grad
from numcnn.functional import (
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d,
    global_avg_pool2d_forward,
    global_max_pool2d,
    global_max_pool2d_forward,
    global_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_forward,
    pool2d_reference,
)

from .strategies import PoolCase, pool_cases, to_format, to_nhwc

FORMATS = ("channels_last", "channels_first")
FORWARD = {"max": max_pool2d_forward, "avg": avg_pool2d_forward}
BACKWARD = {"max": max_pool2d_backward, "avg": avg_pool2d_backward}

SEED_002_X = np.array([[7, 11, 13, 15], [3, 4, 2, 3], [1, 2, 15, 9], [1, 8, 3, 10]])
SEED_002_X2 = np.array([[5, 8, 6, 7], [10, 4, 11, 13], [8, 3, 10, 4], [1, 2, 5, 15]])

# seed 000: X = np.random.randint(0, 256, (3, 6, 6)) and its 2x2 / stride 2 max pooling, as printed
SEED_000_X = np.array([
    [[219, 239, 206, 154, 187, 72], [133, 90, 230, 239, 37, 151], [21, 196, 37, 75, 85, 191],
     [169, 211, 153, 241, 97, 172], [141, 109, 202, 96, 98, 184], [125, 208, 205, 217, 118, 242]],
    [[102, 212, 232, 104, 101, 130], [89, 222, 180, 169, 99, 245], [188, 20, 250, 70, 207, 227],
     [247, 174, 38, 31, 220, 159], [2, 184, 120, 145, 54, 118], [122, 112, 174, 234, 142, 71]],
    [[50, 70, 232, 23, 140, 103], [73, 105, 11, 143, 184, 17], [253, 217, 248, 115, 39, 60],
     [139, 47, 246, 250, 219, 117], [168, 126, 109, 19, 143, 53], [163, 208, 222, 194, 135, 56]],
])
SEED_000_OUT = np.array([
    [[239, 239, 187], [211, 241, 191], [208, 217, 242]],
    [[222, 232, 245], [247, 250, 227], [184, 234, 142]],
    [[105, 232, 184], [253, 250, 219], [208, 222, 143]],
])


def pool_backward_loop(x_nhwc, dy_nhwc, pool_size, strides, pads, mode):
    """The obvious backward: each window sends dy to its first real maximum, or dy/count to each real pixel."""
    n, h, w, c = x_nhwc.shape
    (top, _), (left, _) = pads
    dx = np.zeros((n, h, w, c))
    _, oh, ow, _ = dy_nhwc.shape
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                rows = [r for r in range(i * strides[0] - top, i * strides[0] - top + pool_size[0]) if 0 <= r < h]
                cols = [q for q in range(j * strides[1] - left, j * strides[1] - left + pool_size[1]) if 0 <= q < w]
                for k in range(c):
                    if mode == "avg":
                        for r in rows:
                            for q in cols:
                                dx[b, r, q, k] += dy_nhwc[b, i, j, k] / (len(rows) * len(cols))
                    else:
                        best = max(((r, q) for r in rows for q in cols), key=lambda rq: x_nhwc[b, rq[0], rq[1], k])
                        dx[b, best[0], best[1], k] += dy_nhwc[b, i, j, k]
    return dx


# 1. Known values --------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_seed_002_max_pooling_one_channel(data_format):
    x = to_format(SEED_002_X[None, :, :, None], data_format)
    y, cache = max_pool2d_forward(x, 2, 2, data_format=data_format)
    assert_array_equal(to_nhwc(y, data_format)[0, :, :, 0], [[11, 15], [8, 15]])
    dx = max_pool2d_backward(to_format(np.array([[1.0, 2], [3, 4]])[None, :, :, None], data_format), cache)
    assert_array_equal(to_nhwc(dx, data_format)[0, :, :, 0], [[0, 1, 0, 2], [0, 0, 0, 0], [0, 0, 4, 0], [0, 3, 0, 0]])


def test_seed_002_max_pooling_two_channels_nchw():
    x = np.stack([SEED_002_X, SEED_002_X2])[None]  # (1, 2, 4, 4)
    y, cache = max_pool2d_forward(x, 2, 2, data_format="channels_first")
    assert_array_equal(y, [[[[11, 15], [8, 15]], [[10, 13], [8, 15]]]])
    dy = np.array([[[[1, 1], [1, 1]], [[2, 2], [2, 2]]]], dtype=float)
    assert_array_equal(max_pool2d_backward(dy, cache), [[
        [[0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]],
        [[0, 0, 0, 0], [2, 0, 0, 2], [2, 0, 0, 0], [0, 0, 0, 2]],
    ]])


def test_seed_000_three_channel_max_pooling():
    y = max_pool2d(SEED_000_X[None], 2, data_format="channels_first")  # (1, 3, 6, 6) NCHW
    assert_array_equal(y[0], SEED_000_OUT)
    # the same three planes as a channels_last batch of one image
    assert_array_equal(max_pool2d(SEED_000_X.transpose(1, 2, 0)[None], 2)[0], SEED_000_OUT.transpose(1, 2, 0))


def test_seed_000_window_slice():
    # seed 000: X[0, 2:4, 4:6] = [[85, 191], [97, 172]] is the window of output (1, 2) of plane 0
    y = max_pool2d(SEED_000_X[:1, 2:4, 4:6].reshape(1, 1, 2, 2), 2, data_format="channels_first")
    assert y.item() == 191 == SEED_000_OUT[0, 1, 2]


def test_avg_pool_same_follows_tensorflow_not_edge_copies():
    # TF: pool 3, stride 2, 'same' over [10, 20] -> one window [10, 20, pad], mean of the real pixels
    x = np.array([10.0, 20.0]).reshape(1, 1, 2, 1)
    y, cache = avg_pool2d_forward(x, (1, 3), (1, 2), padding="same")
    assert y.shape == (1, 1, 1, 1)
    assert y.item() == 15.0  # not 16.67 = mean(10, 20, 20)
    assert_array_equal(avg_pool2d_backward(np.ones((1, 1, 1, 1)), cache).reshape(-1), [0.5, 0.5])


def test_avg_pool_same_known_values_1d():
    # same_padding(3, 2, 2) == (0, 1): windows [1, 2] and [3, pad]
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 3, 1)
    assert_array_equal(avg_pool2d(x, (1, 2), padding="same").reshape(-1), [1.5, 3.0])
    assert_array_equal(max_pool2d(-x, (1, 2), padding="same").reshape(-1), [-1.0, -3.0])


def test_avg_pool_same_known_values_2d():
    # 2x2 window, stride 1, 'same' over arange(9) 3x3: pads (0, 1) on both axes
    y = avg_pool2d(np.arange(9.0).reshape(1, 3, 3, 1), 2, 1, padding="same")
    assert_array_equal(y[0, :, :, 0], [[2, 3, 3.5], [5, 6, 6.5], [6.5, 7.5, 8]])


def test_avg_pool_explicit_padding_divides_by_real_pixels():
    y = avg_pool2d(np.array([[4.0, 8.0], [12.0, 16.0]]).reshape(1, 2, 2, 1), 2, 1, padding=1)
    assert_array_equal(y[0, :, :, 0], [[4, 6, 8], [8, 10, 12], [12, 14, 16]])


def test_max_pool_padding_never_wins():
    # all-negative input: a zero from padding would win every border window
    x = -np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    y = max_pool2d(x, 2, 1, padding=1)
    assert_array_equal(y[0, :, :, 0], [[-1, -1, -2], [-1, -1, -2], [-3, -3, -4]])


def test_max_pool_gradient_goes_to_first_maximum_on_ties():
    x = np.ones((1, 2, 2, 1))
    y, cache = max_pool2d_forward(x, 2)
    assert_array_equal(max_pool2d_backward(np.full(y.shape, 5.0), cache)[0, :, :, 0], [[5, 0], [0, 0]])


def test_default_strides_equal_pool_size():
    x = np.arange(36.0).reshape(1, 6, 6, 1)
    assert_array_equal(max_pool2d(x, 3), max_pool2d(x, 3, 3))
    assert_array_equal(max_pool2d(x, 3)[0, :, :, 0], [[14, 17], [32, 35]])
    assert_array_equal(avg_pool2d(x, 3)[0, :, :, 0], [[7, 10], [25, 28]])


def test_avg_pool_backward_known_values():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    _, cache = avg_pool2d_forward(x, 2, 1)
    dx = avg_pool2d_backward(np.ones((1, 3, 3, 1)), cache)
    assert_array_equal(dx[0, :, :, 0], np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]) / 4)


@pytest.mark.parametrize("data_format", FORMATS)
def test_global_pooling_known_values(data_format):
    # channel 0 holds 0, 2, 4, 6 and channel 1 holds 1, 3, 5, 7
    x = to_format(np.arange(8.0).reshape(1, 2, 2, 2), data_format)
    assert_array_equal(global_avg_pool2d(x, data_format), [[3, 4]])
    assert_array_equal(global_max_pool2d(x, data_format), [[6, 7]])
    kept = (1, 1, 1, 2) if data_format == "channels_last" else (1, 2, 1, 1)
    assert global_avg_pool2d(x, data_format, keepdims=True).shape == kept
    assert global_max_pool2d(x, data_format, keepdims=True).shape == kept

    _, cache = global_avg_pool2d_forward(x, data_format)
    assert_array_equal(to_nhwc(global_pool2d_backward(np.array([[4.0, 8.0]]), cache), data_format)[0],
                       [[[1, 2], [1, 2]], [[1, 2], [1, 2]]])
    _, cache = global_max_pool2d_forward(x, data_format)
    assert_array_equal(to_nhwc(global_pool2d_backward(np.array([[4.0, 8.0]]), cache), data_format)[0],
                       [[[0, 0], [0, 0]], [[0, 0], [4, 8]]])


def test_global_max_pool_shares_gradient_between_ties():
    x = np.array([[3.0, 1.0], [3.0, 3.0]]).reshape(1, 2, 2, 1)
    _, cache = global_max_pool2d_forward(x, keepdims=True)
    dx = global_pool2d_backward(np.array([[[[6.0]]]]), cache)
    assert_array_equal(dx[0, :, :, 0], [[2, 0], [2, 2]])


# 2. Reference loops -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["max", "avg"])
@given(case=pool_cases())
def test_forward_matches_reference_loop(mode, case):
    x = case.array()
    y = FORWARD[mode](x, **case.kwargs)[0]
    expected = pool2d_reference(to_nhwc(x, case.data_format), case.pool_size, case.effective_strides, case.pads, mode)
    assert_close(y, to_format(expected, case.data_format), rtol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg"])
@given(case=pool_cases())
def test_backward_matches_reference_loop(mode, case):
    x = case.array(separated=mode == "max")
    y, cache = FORWARD[mode](x, **case.kwargs)
    dy = np.random.default_rng(case.seed + 1).standard_normal(y.shape)
    expected = pool_backward_loop(to_nhwc(x, case.data_format), to_nhwc(dy, case.data_format), case.pool_size,
                                  case.effective_strides, case.pads, mode)
    assert_close(BACKWARD[mode](dy, cache), to_format(expected, case.data_format), rtol=1e-12)


# 3. Numerical gradients (float64) ---------------------------------------------------------------

POOL_CONFIGS = [
    dict(pool_size=2),
    dict(pool_size=3, strides=2, padding="same"),
    dict(pool_size=(2, 3), strides=(1, 2), padding=((1, 0), (0, 2))),
    dict(pool_size=3, strides=1, padding=1, data_format="channels_first"),
]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("config", POOL_CONFIGS, ids=str)
def test_gradient_matches_numerical(mode, config, rng):
    shape = (2, 2, 5, 6) if config.get("data_format") == "channels_first" else (2, 5, 6, 2)
    # distinct values 1 apart: no ties, no kink within eps
    x = rng.permutation(np.prod(shape)).reshape(shape) + rng.uniform(-0.25, 0.25, shape)
    y, cache = FORWARD[mode](x, **config)
    weights = rng.standard_normal(y.shape)
    dx = BACKWARD[mode](weights, cache)
    loss = (max_pool2d if mode == "max" else avg_pool2d)
    assert_close(dx, numerical_grad(lambda v: np.sum(loss(v, **config) * weights), x), rtol=1e-6)


@pytest.mark.parametrize("mode", ["max", "avg"])
@given(case=pool_cases())
def test_gradient_matches_directional_derivative(mode, case):
    x = case.array(separated=True)
    y, cache = FORWARD[mode](x, **case.kwargs)
    rng = np.random.default_rng(case.seed)
    weights = rng.standard_normal(y.shape)
    check_directional_grad(lambda v: np.sum(FORWARD[mode](v, **case.kwargs)[0] * weights), x,
                           BACKWARD[mode](weights, cache), rng)


@pytest.mark.parametrize("forward", [global_avg_pool2d_forward, global_max_pool2d_forward])
@pytest.mark.parametrize("data_format", FORMATS)
def test_global_pooling_gradient_matches_numerical(forward, data_format, rng):
    x = rng.permutation(2 * 3 * 4 * 3).reshape(2, 3, 4, 3) + rng.uniform(-0.25, 0.25, (2, 3, 4, 3))
    y, cache = forward(x, data_format)
    weights = rng.standard_normal(y.shape)
    assert_close(global_pool2d_backward(weights, cache),
                 numerical_grad(lambda v: np.sum(forward(v, data_format)[0] * weights), x), rtol=1e-6)


# 4. PyTorch and Keras parity (float32) ----------------------------------------------------------

def torch_pool(torch, mode, case, x):
    """PyTorch pooling on an NCHW leaf; returns (y, leaf).

    Symmetric padding up to half the window uses torch's own padding (with
    count_include_pad=False for the mean); anything else pads with F.pad (-inf for
    max) and averages as sum / number of real pixels.
    """
    F = torch.nn.functional
    xt = torch.tensor(to_format(to_nhwc(x, case.data_format), "channels_first"), requires_grad=True)
    (top, bottom), (left, right) = case.pads
    k, s = case.pool_size, case.effective_strides
    if top == bottom <= k[0] // 2 and left == right <= k[1] // 2:
        if mode == "max":
            return F.max_pool2d(xt, k, s, padding=(top, left)), xt
        return F.avg_pool2d(xt, k, s, padding=(top, left), count_include_pad=False), xt
    pad = (left, right, top, bottom)
    if mode == "max":
        return F.max_pool2d(F.pad(xt, pad, value=-np.inf), k, s), xt
    total = F.avg_pool2d(F.pad(xt, pad), k, s, divisor_override=1)
    count = F.avg_pool2d(F.pad(torch.ones_like(xt[:1, :1]), pad), k, s, divisor_override=1)
    return total / count, xt


@pytest.mark.parametrize("mode", ["max", "avg"])
@given(case=pool_cases())
def test_matches_torch_forward_and_backward(mode, case):
    torch = import_torch()
    x = case.array(np.float32)
    y_torch, xt = torch_pool(torch, mode, case, x)
    y, cache = FORWARD[mode](x, **case.kwargs)
    assert y.dtype == np.float32
    assert_close(to_format(to_nhwc(y, case.data_format), "channels_first"), y_torch.detach().numpy(), rtol=1e-5)
    dy = np.random.default_rng(case.seed + 5).standard_normal(y.shape).astype(np.float32)
    y_torch.backward(torch.from_numpy(to_format(to_nhwc(dy, case.data_format), "channels_first")))
    dx = BACKWARD[mode](dy, cache)
    assert_close(to_format(to_nhwc(dx, case.data_format), "channels_first"), xt.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_global_pooling_matches_torch(mode, ties, data_format, rng):
    torch = import_torch()
    x = rng.integers(0, 3, (2, 3, 4, 5)) if ties else rng.standard_normal((2, 3, 4, 5))
    x = x.astype(np.float32)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    xt = torch.tensor(x, requires_grad=True)
    y_torch = xt.mean(dim=axes) if mode == "avg" else xt.amax(dim=axes)  # amax shares ties evenly
    forward = global_avg_pool2d_forward if mode == "avg" else global_max_pool2d_forward
    y, cache = forward(x, data_format)
    assert_close(y, y_torch.detach().numpy(), rtol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y_torch.backward(torch.from_numpy(dy))
    assert_close(global_pool2d_backward(dy, cache), xt.grad.numpy(), rtol=1e-5)


def keras_max_pool(case, x):
    keras = import_keras()
    torch = import_torch()
    xt = torch.tensor(x, requires_grad=True)
    y = keras.ops.max_pool(xt, case.pool_size, case.effective_strides, padding="same", data_format=case.data_format)
    return y, xt


def check_max_pool_against_keras(case):
    torch = import_torch()
    x = case.array(np.float32)
    y_keras, xt = keras_max_pool(case, x)
    y, cache = max_pool2d_forward(x, **case.kwargs)
    assert_array_equal(y, y_keras.detach().numpy())
    dy = np.random.default_rng(case.seed + 9).standard_normal(y.shape).astype(np.float32)
    y_keras.backward(torch.from_numpy(dy))
    assert_close(max_pool2d_backward(dy, cache), xt.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("pool", [2, 3])
def test_max_pool_same_matches_keras(pool, stride, size, data_format):
    case = PoolCase(n=2, h=size, w=size + 1, channels=3, pool_size=(pool, pool), strides=(stride, stride),
                    padding="same", data_format=data_format, seed=pool * 100 + stride * 10 + size)
    check_max_pool_against_keras(case)


@given(case=pool_cases(padding_kinds=("same",)))
def test_max_pool_same_matches_keras_random(case):
    check_max_pool_against_keras(case)


@given(case=pool_cases(padding_kinds=("valid",)))
def test_avg_pool_valid_matches_keras(case):
    # without padding Keras and TensorFlow agree; 'same' is the documented exception below
    keras = import_keras()
    x = case.array(np.float32)
    expected = keras.ops.average_pool(x, case.pool_size, case.effective_strides, padding="valid",
                                      data_format=case.data_format).numpy()  # a torch tensor
    assert_close(avg_pool2d(x, **case.kwargs), expected, rtol=1e-5)


def test_keras_torch_backend_avg_pool_same_disagrees_with_tensorflow():
    """Keras 3 (torch backend) pads 'same' average pooling with edge copies; we follow TensorFlow.

    If this starts failing because Keras now gives 15, Keras was fixed: compare with it directly.
    """
    keras = import_keras()
    x = np.array([10.0, 20.0], dtype=np.float32).reshape(1, 1, 2, 1)
    theirs = keras.ops.average_pool(x, (1, 3), (1, 2), padding="same").numpy()  # a torch tensor
    assert_allclose(theirs.reshape(-1), [50 / 3], rtol=1e-6)  # mean(10, 20, 20): the 20 copied into the pad
    assert_array_equal(avg_pool2d(x, (1, 3), (1, 2), padding="same").reshape(-1), [15.0])


@pytest.mark.parametrize("shape, pool", [((3, 4, 6, 2), 2), ((2, 6, 6, 3), 3), ((2, 4, 6, 1), (2, 3))])
def test_tiling_windows_take_the_fast_path_with_the_same_first_maxima(monkeypatch, rng, shape, pool):
    """Ties everywhere (small integers, whole windows of zeros as after a ReLU, -inf): the tiling path
    sends each window's gradient to its first maximum exactly as the general one, and as PyTorch."""
    from numcnn.functional import pooling

    x = rng.integers(-2, 3, shape).astype(np.float32)
    x[0, :2, :2] = 0.0
    x[-1, -2:, -2:, 0] = -np.inf
    y, cache = max_pool2d_forward(x, pool)
    assert pooling._tiles(cache)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    fast = max_pool2d_backward(dy, cache)
    monkeypatch.setattr(pooling, "_tiles", lambda cache: False)
    np.testing.assert_array_equal(fast, max_pool2d_backward(dy, cache))
    torch = import_torch()
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    torch.nn.functional.max_pool2d(xt, pool).backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    np.testing.assert_array_equal(fast, xt.grad.numpy().transpose(0, 2, 3, 1))


def test_a_nan_maximum_or_padding_keeps_the_general_path(rng):
    from numcnn.functional import pooling

    x = rng.standard_normal((1, 4, 4, 1)).astype(np.float32)
    assert not pooling._tiles(max_pool2d_forward(x, 2, padding=1)[1])
    assert not pooling._tiles(max_pool2d_forward(x, 2, strides=1)[1])
    assert not pooling._tiles(max_pool2d_forward(x[:, :3], 2)[1])  # a row left over
    x[0, 0, 0, 0] = np.nan
    y, cache = max_pool2d_forward(x, 2)
    dx = max_pool2d_backward(np.ones_like(y), cache)
    assert dx[0, 0, 0, 0] == 1 and dx[0, :2, :2].sum() == 1  # the NaN takes its window's gradient
