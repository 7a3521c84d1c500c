"""softmax_cross_entropy, categorical_cross_entropy, mean_squared_error: values, loops, gradients, parity."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from helpers import assert_close, import_keras, import_torch, numerical_grad
from numcnn.functional import (
    categorical_cross_entropy,
    categorical_cross_entropy_backward,
    categorical_cross_entropy_forward,
    mean_squared_error,
    mean_squared_error_backward,
    mean_squared_error_forward,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)

from .strategies import seeds

BATCH_CLASSES = st.tuples(st.integers(1, 5), st.integers(1, 6))
# at least two classes: a single class has probability 1, which categorical_cross_entropy clips
SEVERAL_CLASSES = st.tuples(st.integers(1, 5), st.integers(2, 6))


def classification(seed, n, k, dtype=np.float64):
    """Logits, integer labels and one-hot targets."""
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * 3).astype(dtype)
    labels = rng.integers(0, k, n)
    return logits, labels, np.eye(k, dtype=dtype)[labels]


def soft_targets(seed, n, k, dtype=np.float64):
    return softmax(np.random.default_rng(seed + 1).standard_normal((n, k))).astype(dtype)


# 1. Known values --------------------------------------------------------------------------------

LOGITS = np.log(np.array([[1.0, 2.0, 5.0], [3.0, 1.0, 1.0]]))  # softmax rows: [1, 2, 5] / 8, [3, 1, 1] / 5


def test_softmax_cross_entropy_of_two_equal_logits_is_log_2():
    assert softmax_cross_entropy([0], np.array([[0.0, 0.0]])) == pytest.approx(math.log(2), rel=1e-15)


@pytest.mark.parametrize("y_true", [
    np.array([2, 0]), np.array([[2], [0]]), np.array([2.0, 0.0]), np.array([[0, 0, 1.0], [1.0, 0, 0]]), [2, 0],
], ids=["labels", "column-labels", "float-labels", "one-hot", "list"])
def test_softmax_cross_entropy_known_values(y_true):
    loss, cache = softmax_cross_entropy_forward(y_true, LOGITS)
    assert loss == pytest.approx((math.log(8 / 5) + math.log(5 / 3)) / 2, rel=1e-14)
    assert_allclose(softmax_cross_entropy_backward(cache), [[1 / 16, 1 / 8, -3 / 16], [-1 / 5, 1 / 10, 1 / 10]],
                    rtol=1e-14, atol=1e-16)
    assert_allclose(softmax_cross_entropy_backward(cache, dloss=2.0), 2 * softmax_cross_entropy_backward(cache))


def test_softmax_cross_entropy_soft_targets():
    assert softmax_cross_entropy(np.array([[0.5, 0.5]]), np.array([[0.0, 0.0]])) == pytest.approx(math.log(2))
    # cross-entropy of a distribution with itself is its entropy
    p = np.array([[0.125, 0.25, 0.625]])
    assert softmax_cross_entropy(p, np.log(p)) == pytest.approx(-np.sum(p * np.log(p)), rel=1e-14)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    assert softmax_cross_entropy([1, 1], logits) == pytest.approx(1000.0, rel=1e-12)
    assert softmax_cross_entropy([0, 0], logits) == pytest.approx(0.0, abs=1e-12)


def test_categorical_cross_entropy_known_values():
    probs = np.array([[0.25, 0.75], [0.5, 0.5]])
    loss, cache = categorical_cross_entropy_forward([1, 0], probs)
    assert loss == pytest.approx((-math.log(0.75) + math.log(2)) / 2, rel=1e-14)
    assert categorical_cross_entropy(np.eye(2)[[1, 0]], probs) == loss
    assert_allclose(categorical_cross_entropy_backward(cache), [[0, -1 / 1.5], [-1, 0]], rtol=1e-14)


def test_categorical_cross_entropy_clips_like_keras():
    loss, cache = categorical_cross_entropy_forward([1], np.array([[1.0, 0.0]]))
    assert loss == pytest.approx(-math.log(1e-7), rel=1e-9)  # 16.118..., not inf
    assert_array_equal(categorical_cross_entropy_backward(cache), [[0, 0]])  # flat where clipped


def test_mean_squared_error_known_values():
    loss, cache = mean_squared_error_forward([1.0, 2.0], np.array([3.0, 6.0]))
    assert loss == 10.0
    assert_array_equal(mean_squared_error_backward(cache), [2, 4])
    assert_array_equal(mean_squared_error_backward(cache, dloss=0.5), [1, 2])
    # the mean is over every element, not per row
    assert mean_squared_error(np.zeros((2, 2)), np.array([[1.0, 1.0], [1.0, 5.0]])) == 7.0


# 2. Reference loops -----------------------------------------------------------------------------

@given(BATCH_CLASSES, seeds(), st.booleans())
def test_softmax_cross_entropy_matches_loop(nk, seed, soft):
    n, k = nk
    logits, labels, onehot = classification(seed, n, k)
    target = soft_targets(seed, n, k) if soft else onehot
    expected = 0.0
    for row, t in zip(logits, target):
        log_total = math.log(sum(math.exp(v) for v in row))
        expected -= sum(ti * (v - log_total) for ti, v in zip(t, row)) / n
    assert softmax_cross_entropy(target, logits) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    if not soft:
        assert softmax_cross_entropy(labels, logits) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(BATCH_CLASSES, seeds())
def test_categorical_cross_entropy_matches_loop(nk, seed):
    n, k = nk
    logits, labels, _ = classification(seed, n, k)
    probs = softmax(logits)
    expected = -sum(math.log(min(max(probs[i, labels[i]], 1e-7), 1 - 1e-7)) for i in range(n)) / n
    assert categorical_cross_entropy(labels, probs) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(st.sampled_from([(5,), (2, 3), (2, 2, 3)]), seeds())
def test_mean_squared_error_matches_loop(shape, seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.standard_normal(shape), rng.standard_normal(shape)
    expected = sum((p - t) ** 2 for p, t in zip(y_pred.reshape(-1), y_true.reshape(-1))) / y_pred.size
    assert mean_squared_error(y_true, y_pred) == pytest.approx(expected, rel=1e-12)


# 3. Numerical gradients (float64) ---------------------------------------------------------------

@pytest.mark.parametrize("soft", [False, True])
def test_softmax_cross_entropy_gradient_matches_numerical(soft, rng):
    logits, labels, _ = classification(3, 4, 5)
    y_true = soft_targets(3, 4, 5) if soft else labels
    _, cache = softmax_cross_entropy_forward(y_true, logits)
    assert_close(softmax_cross_entropy_backward(cache),
                 numerical_grad(lambda v: softmax_cross_entropy(y_true, v), logits), rtol=1e-7)


@pytest.mark.parametrize("soft", [False, True])
def test_categorical_cross_entropy_gradient_matches_numerical(soft, rng):
    probs = rng.uniform(0.05, 0.95, (4, 3))  # inside the clip range: the loss is smooth there
    y_true = soft_targets(4, 4, 3) if soft else rng.integers(0, 3, 4)
    _, cache = categorical_cross_entropy_forward(y_true, probs)
    assert_close(categorical_cross_entropy_backward(cache),
                 numerical_grad(lambda v: categorical_cross_entropy(y_true, v), probs), rtol=1e-7)


def test_mean_squared_error_gradient_matches_numerical(rng):
    y_true, y_pred = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    _, cache = mean_squared_error_forward(y_true, y_pred)
    assert_close(mean_squared_error_backward(cache),
                 numerical_grad(lambda v: mean_squared_error(y_true, v), y_pred), rtol=1e-7)


# 4. PyTorch and Keras parity (float32) ----------------------------------------------------------

@given(BATCH_CLASSES, seeds(), st.booleans())
def test_softmax_cross_entropy_matches_torch(nk, seed, soft):
    torch = import_torch()
    n, k = nk
    logits, labels, _ = classification(seed, n, k, np.float32)
    y_true = soft_targets(seed, n, k, np.float32) if soft else labels
    zt = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(zt, torch.from_numpy(y_true))
    expected.backward()
    loss, cache = softmax_cross_entropy_forward(y_true, logits)
    assert np.asarray(loss).dtype == np.float32
    assert loss == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    # softmax(z) - y cancels where p is near 1: one float32 ulp of p, relative to the 1 / N bound
    assert_close(softmax_cross_entropy_backward(cache), zt.grad.numpy(), rtol=1e-5, scale=1 / n)


@given(SEVERAL_CLASSES, seeds())
def test_categorical_cross_entropy_matches_torch(nk, seed):
    torch = import_torch()
    n, k = nk
    logits, labels, _ = classification(seed, n, k, np.float32)
    probs = softmax(logits / 3)  # well inside the clip range [1e-7, 1 - 1e-7], where both are smooth
    pt = torch.tensor(probs, requires_grad=True)
    expected = torch.nn.functional.nll_loss(torch.log(pt), torch.from_numpy(labels))
    expected.backward()
    loss, cache = categorical_cross_entropy_forward(labels, probs)
    assert loss == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    assert_close(categorical_cross_entropy_backward(cache), pt.grad.numpy(), rtol=1e-5)


@given(st.sampled_from([(5,), (2, 3), (2, 2, 3)]), seeds())
def test_mean_squared_error_matches_torch(shape, seed):
    torch = import_torch()
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    pt = torch.tensor(y_pred, requires_grad=True)
    expected = torch.nn.functional.mse_loss(pt, torch.from_numpy(y_true))
    expected.backward()
    loss, cache = mean_squared_error_forward(y_true, y_pred)
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    assert_close(mean_squared_error_backward(cache), pt.grad.numpy(), rtol=1e-5)


@given(SEVERAL_CLASSES, seeds())
def test_losses_match_keras(nk, seed):
    keras = import_keras()
    n, k = nk
    logits, labels, onehot = classification(seed, n, k, np.float32)
    probs = softmax(logits)
    keras_sparse = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    assert softmax_cross_entropy(labels, logits) == pytest.approx(float(keras_sparse.mean()), rel=1e-5, abs=1e-6)
    keras_probs = keras.losses.categorical_crossentropy(onehot, probs)
    assert categorical_cross_entropy(onehot, probs) == pytest.approx(float(keras_probs.mean()), rel=1e-5, abs=1e-6)
    keras_mse = keras.losses.mean_squared_error(onehot, probs)  # mean over the last axis, per sample
    assert mean_squared_error(onehot, probs) == pytest.approx(float(keras_mse.mean()), rel=1e-5)
