"""Empty batches, absurd geometry and values near a dtype's range: a right answer or a clear refusal.

The minimal inputs the fuzzing suite found are in ``tests/reliability/test_fuzz_entry_points.py``;
these check the values around them (what an empty batch's gradients are, that a stride past the
input changes nothing, that an average near the dtype's max is the average). There is no bespoke
limit on sizes: an array no machine can hold fails in NumPy, and the one guard at the door
(``allocation_guard``) turns that into an :class:`ArraySizeError` naming the op and its arguments.
"""

import re
import resource

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from helpers import import_torch
from numcnn import functional as F
from numcnn import layers as L
from numcnn.utils.validation import ArraySizeError

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax")


def peak_memory_bytes():
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def right_or_refused(call, expected):
    """``call()`` equals ``expected``, or raises :class:`ArraySizeError` ending in what it received: both
    are right for a size at the edge of what NumPy can index."""
    try:
        result = call()
    except ArraySizeError as error:
        assert "Received: " in str(error)
        return
    assert_array_equal(result, expected)


# -- convolution --------------------------------------------------------------------------------


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv_on_an_empty_batch_gives_empty_output_and_zero_weight_gradients(data_format):
    x = np.zeros((0, 5, 5, 2) if data_format == "channels_last" else (0, 2, 5, 5), np.float32)
    kernel, bias = np.ones((3, 3, 2, 4), np.float32), np.ones(4, np.float32)
    y, cache = F.conv2d_forward(x, kernel, bias, padding="same", data_format=data_format)
    assert y.shape == ((0, 5, 5, 4) if data_format == "channels_last" else (0, 4, 5, 5)) and y.dtype == np.float32
    dx, dkernel, dbias = F.conv2d_backward(np.zeros(y.shape, np.float32), cache)
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert_array_equal(dkernel, np.zeros_like(kernel))
    assert_array_equal(dbias, np.zeros(4))
    with pytest.raises(ValueError, match="`dy`"):
        F.conv2d_backward(np.zeros((1, *y.shape[1:])), cache)


def test_conv2d_layer_on_an_empty_batch():
    layer = L.Conv2D(3, 2, seed=0)
    assert layer(np.zeros((0, 4, 4, 1), np.float32)).shape == (0, 3, 3, 3)
    dx = layer.backward(np.zeros((0, 3, 3, 3), np.float32))
    assert dx.shape == (0, 4, 4, 1)
    assert_array_equal(layer.grads["kernel"], 0)


@pytest.mark.parametrize("x_shape, kernel_shape, name", [
    ((2, 4, 4, 0), (3, 3, 0, 2), "`x`"), ((2, 4, 4, 3), (3, 3, 3, 0), "`kernel`"), ((2, 4, 4, 3), (3, 0, 3, 2), "`kernel`")])
def test_conv_with_nothing_to_convolve_is_refused_by_name(x_shape, kernel_shape, name):
    with pytest.raises(ValueError, match=f"{name}.*Received"):
        F.conv2d(np.zeros(x_shape), np.zeros(kernel_shape))


@pytest.mark.parametrize("stride", [3, 4, 10**6, 2**40])
def test_a_stride_past_the_input_changes_nothing(stride, rng):
    x, kernel, bias = rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(2)
    y, cache = F.conv2d_forward(x, kernel, bias, strides=(stride, 1))
    y_ref, cache_ref = F.conv2d_forward(x, kernel, bias, strides=(3, 1))  # one output row either way
    assert y.shape == (2, 1, 3, 2)
    assert_array_equal(y, y_ref)
    dy = rng.standard_normal(y.shape)
    for got, want in zip(F.conv2d_backward(dy, cache), F.conv2d_backward(dy, cache_ref)):
        assert_array_equal(got, want)


@pytest.mark.parametrize("stride", [2**62, 2**70])
def test_an_astronomic_stride_gives_the_right_result_or_an_array_size_error(stride, rng):
    x, kernel = rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((2, 3, 3, 2))
    right_or_refused(lambda: F.conv2d(x, kernel, strides=(stride, 1)), F.conv2d(x, kernel, strides=(3, 1)))
    right_or_refused(lambda: F.max_pool2d(x, 2, strides=stride), F.max_pool2d(x, 2, strides=4))


@pytest.mark.parametrize("dilation", [2, 7, 10**6, 2**40])
def test_a_dilation_of_a_one_tap_kernel_changes_nothing(dilation, rng):
    x, kernel = rng.standard_normal((1, 4, 4, 2)), rng.standard_normal((1, 3, 2, 2))
    assert_array_equal(F.conv2d(x, kernel, dilation_rate=(dilation, 1)), F.conv2d(x, kernel))


@pytest.mark.parametrize("dilation", [2**62, 2**70])
def test_an_astronomic_dilation_of_a_one_tap_kernel_is_right_or_an_array_size_error(dilation, rng):
    x, kernel = rng.standard_normal((1, 4, 4, 2)), rng.standard_normal((1, 3, 2, 2))
    right_or_refused(lambda: F.conv2d(x, kernel, dilation_rate=(dilation, 1)), F.conv2d(x, kernel))


X1 = np.ones((1, 4, 4, 1))
K1 = np.ones((2, 2, 1, 1))

# (call, what the message starts with, the end of what it received): every size here is past what
# NumPy can index, so the refusal does not depend on the machine's memory or overcommit policy
ABSURD = [
    pytest.param(lambda: F.conv2d(X1, K1, padding=2**40), "conv2d", r"padding=1099511627776, dilation_rate=\(1, 1\)",
                 id="conv-padding"),
    pytest.param(lambda: F.conv2d(X1, np.ones((3, 3, 1, 1)), padding="same", dilation_rate=2**40), "conv2d",
                 r"padding='same', dilation_rate=\(1099511627776, 1099511627776\)", id="conv-dilation-same"),
    pytest.param(lambda: F.conv2d(X1[:0], K1, padding=2**40), "conv2d",
                 r"x with shape \(0, 4, 4, 1\).*padding=1099511627776, dilation_rate=\(1, 1\)",
                 id="conv-empty-batch-padding"),
    pytest.param(lambda: F.conv2d(X1[:0], K1, padding=2**62), "conv2d",
                 r"x with shape \(0, 4, 4, 1\).*padding=4611686018427387904, dilation_rate=\(1, 1\)",
                 id="conv-empty-batch-padding-2**62"),
    pytest.param(lambda: F.conv2d(X1, K1, padding=2**62), "conv2d",
                 r"padding=4611686018427387904, dilation_rate=\(1, 1\)", id="conv-padding-2**62"),
    pytest.param(lambda: F.max_pool2d(X1, 2**40, padding="same"), "max_pool2d",
                 r"pool_size=\(1099511627776, 1099511627776\).*padding='same'", id="max-pool-size-same"),
    pytest.param(lambda: F.avg_pool2d(X1, 2**40, padding="same"), "avg_pool2d",
                 r"pool_size=\(1099511627776, 1099511627776\).*padding='same'", id="avg-pool-size-same"),
    pytest.param(lambda: F.max_pool2d(X1, 2**40 + 1, padding=2**40), "max_pool2d", r"padding=1099511627776",
                 id="max-pool-padding"),
    pytest.param(lambda: F.max_pool2d(X1, 2**63, padding="same"), "max_pool2d", r"padding='same'",
                 id="max-pool-size-2**63"),
    pytest.param(lambda: F.im2col(X1, 2, 2, pad=2**40), "im2col", r"stride 1, pad 1099511627776", id="im2col-pad"),
    pytest.param(lambda: F.im2col(X1, 2, 2, pad=2**63), "im2col", r"pad 9223372036854775808", id="im2col-pad-2**63"),
    pytest.param(lambda: F.col2im(np.ones((1, 4)), (1, 1, 4, 4), 2, 2, stride=2**40), "col2im",
                 r"input_shape=\(1, 1, 4, 4\), stride 1099511627776, pad 0", id="col2im-stride"),
]


@pytest.mark.parametrize(("call", "what", "received"), ABSURD)
def test_absurd_geometry_is_an_array_size_error_without_allocating(call, what, received):
    before = peak_memory_bytes()
    with pytest.raises(ArraySizeError, match=rf"^{what} .*Received: .*{received}$") as info:
        call()
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)
    assert peak_memory_bytes() - before < 256 << 20  # nothing huge was made on the way


# -- pooling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_average_pooling_near_the_dtype_max_is_the_average(dtype):
    top = float(np.finfo(dtype).max)
    x = (np.array([1.0, 0.9, 0.8, 0.7, 0.95, 0.85, 0.75, 0.65, 0.5]) * top).astype(dtype).reshape(1, 3, 3, 1)
    y, cache = F.avg_pool2d_forward(x, 2, strides=1, padding="valid")
    assert y.dtype == dtype and np.isfinite(y).all()
    wide = x.astype(np.float64) / 4  # exact: a power of two
    expected = wide[:, :-1, :-1] + wide[:, 1:, :-1] + wide[:, :-1, 1:] + wide[:, 1:, 1:]
    assert_allclose(y.astype(np.float64), expected, rtol=2e-3 if dtype == np.float16 else 1e-6)
    assert F.avg_pool2d_backward(np.ones_like(y), cache).shape == x.shape


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_global_average_near_the_dtype_max_is_the_average(dtype):
    top = float(np.finfo(dtype).max)
    x = (np.array([1.0, 0.5, 0.9, 0.7]) * top).astype(dtype).reshape(1, 2, 2, 1)
    y = F.global_avg_pool2d(x)
    assert y.dtype == dtype
    expected = (x.astype(np.float64) / 4).sum()  # exact division: a power of two
    assert_allclose(y.astype(np.float64), [[expected]], rtol=2e-3 if dtype == np.float16 else 1e-6)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_an_empty_batch_gives_an_empty_result(mode, data_format):
    forward, backward = (F.max_pool2d_forward, F.max_pool2d_backward) if mode == "max" else (
        F.avg_pool2d_forward, F.avg_pool2d_backward)
    shape, out = ((0, 5, 5, 2), (0, 3, 3, 2)) if data_format == "channels_last" else ((0, 2, 5, 5), (0, 2, 3, 3))
    y, cache = forward(np.zeros(shape, np.float32), 2, padding="same", data_format=data_format)
    assert y.shape == out and y.dtype == np.float32
    dx = backward(np.zeros(out, np.float32), cache)
    assert dx.shape == shape and dx.dtype == np.float32


@pytest.mark.parametrize("shape, data_format", [
    ((2, 5, 5, 0), "channels_last"), ((2, 0, 5, 5), "channels_first"), ((0, 5, 5, 0), "channels_last"),
    ((2, 0, 3, 1), "channels_last"), ((2, 3, 0, 1), "channels_last"), ((2, 1, 3, 0), "channels_first"),
], ids=["no-channels", "no-channels-first", "empty-batch-no-channels", "no-height", "no-width", "no-width-first"])
@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d, F.global_max_pool2d, F.global_avg_pool2d])
def test_pooling_no_channels_or_pixels_is_refused_naming_x(pool, shape, data_format):
    """Refused as conv and PyTorch refuse it (a max or mean of nothing), with padding too, and for an
    empty batch too."""
    kwargs = {"pool_size": 2, "padding": 1} if pool in (F.max_pool2d, F.avg_pool2d) else {}
    with pytest.raises(ValueError, match=r"^The `x` argument must have at least one channel.*"
                                         rf"Received: x with shape {re.escape(str(shape))} "
                                         rf"\(data_format='{data_format}'\)$"):
        pool(np.zeros(shape, np.float32), data_format=data_format, **kwargs)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_no_channels_is_refused_as_in_torch(mode):
    torch = import_torch()
    torch_pool = getattr(torch.nn.functional, f"{mode}_pool2d")
    with pytest.raises(RuntimeError):
        torch_pool(torch.zeros((2, 0, 5, 5)), 2)
    with pytest.raises(ValueError, match=r"`x`.*Received: x with shape \(2, 0, 5, 5\)"):
        getattr(F, f"{mode}_pool2d")(np.zeros((2, 0, 5, 5)), 2, data_format="channels_first")


@pytest.mark.parametrize("forward", [F.global_avg_pool2d_forward, F.global_max_pool2d_forward])
def test_global_pooling_edges(forward):
    x = np.arange(24.0).reshape(2, 2, 2, 3)
    assert forward(x, keepdims=1)[0].shape == (2, 1, 1, 3)
    assert forward(x, keepdims=np.False_)[0].shape == (2, 3)
    for keepdims in ("no", None, 2, 0.5):
        with pytest.raises(ValueError, match="`keepdims`.*Received"):
            forward(x, keepdims=keepdims)
    for shape in ((2, 0, 2, 3), (2, 2, 2, 0), (0, 0, 2, 3)):  # no pixels or no channels, even for nobody
        with pytest.raises(ValueError, match=rf"`x`.*Received: x with shape {re.escape(str(shape))}"):
            forward(np.zeros(shape))
    y, cache = forward(np.zeros((0, 2, 2, 3), np.float32))  # an empty batch: an empty result
    assert y.shape == (0, 3) and y.dtype == np.float32
    dx = F.global_pool2d_backward(np.zeros((0, 3), np.float32), cache)
    assert dx.shape == (0, 2, 2, 3) and dx.dtype == np.float32
    _, cache = forward(x)
    for dy in (np.float64(1.0), np.ones((2, 1, 1, 3)), np.ones(6)):
        with pytest.raises(ValueError, match=r"`dy`.*\(2, 3\).*Received"):
            F.global_pool2d_backward(dy, cache)


# -- activations --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_checks_dy(name):
    y, cache = getattr(F, f"{name}_forward")(np.array([[-1.0, 0.5, 2.0], [0.0, -3.0, 1.0]]))
    backward = getattr(F, f"{name}_backward")
    assert_array_equal(backward(np.ones((2, 3)).tolist(), cache), backward(np.ones((2, 3)), cache))
    for dy in (np.ones(3), np.ones((1, 2, 3)), np.ones((3, 2))):
        with pytest.raises(ValueError, match=r"`dy`.*\(2, 3\).*Received"):
            backward(dy, cache)
    for dy in (None, np.full((2, 3), "a")):
        with pytest.raises(TypeError, match="`dy`.*Received"):
            backward(dy, cache)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_leaky_relu_keeps_float16_and_overflows_to_minus_infinity_as_torch():
    torch = import_torch()
    x = np.array([-0.5, 0.0, -1.0, 2.0, -65.0, -100.0], np.float16)
    y, cache = F.leaky_relu_forward(x, negative_slope=1000)
    assert y.dtype == np.float16
    assert_array_equal(y, torch.nn.functional.leaky_relu(torch.tensor(x), 1000.0).numpy())
    assert_array_equal(y, np.array([-500, 0, -1000, 2, -64992, -np.inf], np.float16))  # -1e5 is past float16's max
    dx = F.leaky_relu_backward(np.array([1e-3, 1e-3, 1e-3, 1.0, 1e-3, 1e-3], np.float16), cache)
    assert dx.dtype == np.float16
    assert_allclose(dx.astype(np.float64), [1, 1, 1, 1, 1, 1], rtol=1e-3)


def test_softmax_over_an_empty_axis():
    y, cache = F.softmax_forward(np.zeros((3, 0), np.float32))
    assert y.shape == (3, 0) and y.dtype == np.float32
    assert F.softmax_backward(np.zeros((3, 0)), cache).shape == (3, 0)
    assert_allclose(F.softmax(np.zeros((0, 4)), axis=1), np.zeros((0, 4)))


# -- losses -------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_softmax_cross_entropy_of_logits_further_apart_than_the_dtype_is_torchs(dtype):
    """IEEE arithmetic, as in torch: -log p is 0, ``top``, or past the dtype's max (inf); the
    gradient stays softmax - target, finite."""
    torch = import_torch()
    top = float(np.finfo(dtype).max) * 0.9
    logits = np.array([[top, -top, 0.0]], dtype)
    for label, loss_value in ((0, 0.0), (1, np.inf), (2, float(dtype(top)))):
        lt = torch.tensor(logits, requires_grad=True)
        expected = torch.nn.functional.cross_entropy(lt, torch.tensor([label]))
        expected.backward()
        loss, cache = F.softmax_cross_entropy_forward([label], logits)
        assert loss.dtype == dtype
        assert loss == expected.item() == loss_value
        grad = F.softmax_cross_entropy_backward(cache)
        assert_array_equal(grad, lt.grad.numpy())
        assert_array_equal(grad, [np.eye(3)[0] - np.eye(3)[label]])


@pytest.mark.parametrize("loss, y_true, y_pred", [
    (F.softmax_cross_entropy, np.zeros((2, 0)), np.zeros((2, 0))),
    (F.categorical_cross_entropy, np.zeros((2, 0)), np.zeros((2, 0))),
], ids=["softmax_cross_entropy", "categorical_cross_entropy"])
def test_cross_entropy_with_zero_classes_is_refused(loss, y_true, y_pred):
    name = "logits" if loss is F.softmax_cross_entropy else "y_pred"
    with pytest.raises(ValueError, match=rf"^The `{name}` argument .*with at least one row and one class\. "
                                         rf"Received: {name} with shape \(2, 0\)$"):
        loss(y_true, y_pred)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "categorical_cross_entropy", "mean_squared_error"])
def test_loss_backward_checks_dloss(name):
    y_true, y_pred = np.array([0, 1]), np.array([[0.3, 0.7], [0.6, 0.4]])
    if name == "mean_squared_error":
        y_true = np.eye(2)
    _, cache = getattr(F, f"{name}_forward")(y_true, y_pred)
    backward = getattr(F, f"{name}_backward")
    assert_allclose(backward(cache, np.int64(2)), 2 * backward(cache, 1.0))
    for dloss in ("a", None, np.ones(3), [1.0], True, float("nan"), float("inf"), 10**400):
        with pytest.raises(ValueError, match="`dloss`.*Received"):
            backward(cache, dloss)
