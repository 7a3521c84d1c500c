"""numcnn.losses (the loss objects of compile) against torch.nn.functional, their errors and configs,
and the training metrics (accuracy, categorical_accuracy, confusion_matrix)."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_close, import_torch
from numcnn import losses
from numcnn.functional import softmax
from numcnn.losses import CategoricalCrossentropy, MeanSquaredError, SparseCategoricalCrossentropy
from numcnn.training import accuracy, categorical_accuracy, confusion_matrix, sparse_categorical_accuracy
from numcnn.training.metrics import get as get_metric

CASES = st.tuples(st.integers(1, 7), st.integers(2, 6), st.integers(0, 2 ** 31 - 1))  # batch, classes, seed


def classification(n, k, seed, dtype=np.float64):
    """Logits, their softmax, integer labels, one-hot rows and soft target rows."""
    rng = np.random.default_rng(seed)
    logits = (2 * rng.standard_normal((n, k))).astype(dtype)
    labels = rng.integers(0, k, n)
    soft = softmax(rng.standard_normal((n, k))).astype(dtype)
    return logits, softmax(logits).astype(dtype), labels, np.eye(k, dtype=dtype)[labels], soft


def ours(loss, y_true, y_pred):
    value, cache = loss.forward(y_true, y_pred)
    return float(value), loss.backward(cache)


def theirs(fn, y_pred):
    """torch's value and gradient (autograd) of ``fn(y_pred)``."""
    torch = import_torch()
    t = torch.tensor(y_pred, requires_grad=True)
    value = fn(torch, t)
    value.backward()
    return value.detach().item(), t.grad.numpy()


def assert_matches(ours_pair, theirs_pair, rtol=1e-10):
    value, grad = ours_pair
    expected_value, expected_grad = theirs_pair
    assert value == pytest.approx(expected_value, rel=rtol, abs=1e-14)
    assert_close(grad, expected_grad, rtol=rtol)


# -- parity with torch --------------------------------------------------------------------------------------------

@settings(max_examples=25)
@given(CASES)
def test_sparse_from_logits_vs_torch_cross_entropy(case):
    logits, _, labels, _, _ = classification(*case)
    expected = theirs(lambda torch, z: torch.nn.functional.cross_entropy(z, torch.tensor(labels)), logits)
    assert_matches(ours(SparseCategoricalCrossentropy(from_logits=True), labels, logits), expected)
    # labels as a column (N, 1), as Keras accepts them
    assert_matches(ours(SparseCategoricalCrossentropy(from_logits=True), labels[:, None], logits), expected)


@settings(max_examples=25)
@given(CASES)
def test_sparse_from_probabilities_vs_torch_nll_loss(case):
    _, probs, labels, _, _ = classification(*case)
    expected = theirs(lambda torch, p: torch.nn.functional.nll_loss(torch.log(p), torch.tensor(labels)), probs)
    assert_matches(ours(SparseCategoricalCrossentropy(), labels, probs), expected)


@settings(max_examples=25)
@given(CASES, st.booleans())
def test_categorical_from_logits_vs_torch_cross_entropy(case, soft):
    logits, _, _, onehot, soft_rows = classification(*case)
    target = soft_rows if soft else onehot
    expected = theirs(lambda torch, z: torch.nn.functional.cross_entropy(z, torch.tensor(target)), logits)
    assert_matches(ours(CategoricalCrossentropy(from_logits=True), target, logits), expected)


@settings(max_examples=25)
@given(CASES, st.booleans())
def test_categorical_from_probabilities_vs_torch(case, soft):
    _, probs, _, onehot, soft_rows = classification(*case)
    target = soft_rows if soft else onehot
    expected = theirs(lambda torch, p: -(torch.tensor(target) * torch.log(p)).sum(dim=1).mean(), probs)
    assert_matches(ours(CategoricalCrossentropy(), target, probs), expected)


@settings(max_examples=25)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.integers(0, 2 ** 31 - 1))
def test_mean_squared_error_vs_torch_mse_loss(shape, seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.standard_normal((2, *shape))
    expected = theirs(lambda torch, p: torch.nn.functional.mse_loss(p, torch.tensor(y_true)), y_pred)
    assert_matches(ours(MeanSquaredError(), y_true, y_pred), expected)


def test_known_values():
    logits = np.log(np.array([[1.0, 2.0, 5.0], [3.0, 1.0, 1.0]]))  # softmax rows [1, 2, 5] / 8 and [3, 1, 1] / 5
    expected = (math.log(8 / 5) + math.log(5 / 3)) / 2
    assert SparseCategoricalCrossentropy(from_logits=True)([2, 0], logits) == pytest.approx(expected, rel=1e-14)
    assert CategoricalCrossentropy()(np.eye(3)[[2, 0]], softmax(logits)) == pytest.approx(expected, rel=1e-14)
    assert MeanSquaredError()([[1.0, 2.0]], [[2.0, 4.0]]) == 2.5
    assert isinstance(MeanSquaredError()([1.0], [2.0]), float)


@pytest.mark.parametrize("loss, y_true", [
    (SparseCategoricalCrossentropy(from_logits=True), np.array([0, 2, 1])),
    (SparseCategoricalCrossentropy(), np.array([0, 2, 1])),
    (CategoricalCrossentropy(from_logits=True), np.eye(3)[[0, 2, 1]]),
    (CategoricalCrossentropy(), np.eye(3)[[0, 2, 1]]),
    (MeanSquaredError(), np.zeros((3, 3))),
])
def test_float32_stays_float32(loss, y_true, rng):
    y_pred = softmax(rng.standard_normal((3, 3))).astype(np.float32)
    value, cache = loss.forward(y_true, y_pred)
    assert value.dtype == np.float32
    assert loss.backward(cache).dtype == np.float32


# -- errors ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss, y_true", [
    (SparseCategoricalCrossentropy(), np.array([0, 1])),
    (CategoricalCrossentropy(), np.eye(3)[[0, 1]]),
])
@pytest.mark.parametrize("logits", [[[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]], [[0.5, 0.2, 0.1], [0.3, 0.3, 0.3]]],
                         ids=["negative", "not-summing-to-1"])
def test_logits_with_from_logits_false(loss, y_true, logits):
    with pytest.raises(ValueError, match="from_logits=True.*Received"):
        loss(y_true, np.array(logits))


def test_sparse_loss_with_one_hot_labels():
    with pytest.raises(ValueError, match=r"integer labels of shape \(N,\).*CategoricalCrossentropy.*Received"):
        SparseCategoricalCrossentropy(from_logits=True)(np.eye(3)[[0, 1]], np.zeros((2, 3)))


@pytest.mark.parametrize("labels", [
    np.array([0, 1]),
    np.array([[0], [1]]),
], ids=["flat", "column"])
def test_categorical_loss_with_integer_labels(labels):
    with pytest.raises(ValueError, match="one-hot.*SparseCategoricalCrossentropy.*Received"):
        CategoricalCrossentropy(from_logits=True)(labels, np.zeros((2, 3)))


# -- get, serialize, deserialize -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, cls", [
    ("sparse_categorical_crossentropy", SparseCategoricalCrossentropy),
    ("categorical_crossentropy", CategoricalCrossentropy),
    ("mean_squared_error", MeanSquaredError),
    ("mse", MeanSquaredError),
])
def test_get_by_name(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert getattr(loss, "from_logits", False) is False  # Keras' default


def test_get_instance_and_unknown():
    loss = SparseCategoricalCrossentropy(from_logits=True)
    assert losses.get(loss) is loss
    for bad in ("crossentropy", None, 3, SparseCategoricalCrossentropy):
        with pytest.raises(ValueError, match=r"The `loss` argument must be a Loss or one of .*Received: loss="):
            losses.get(bad)


@pytest.mark.parametrize("loss", [SparseCategoricalCrossentropy(from_logits=True), SparseCategoricalCrossentropy(),
                                  CategoricalCrossentropy(from_logits=True), MeanSquaredError()])
def test_serialize_deserialize_round_trip(loss):
    config = json.loads(json.dumps(losses.serialize(loss)))
    assert config["class_name"] == type(loss).__name__
    copy = losses.deserialize(config)
    assert type(copy) is type(loss) and copy.get_config() == loss.get_config()
    assert repr(copy) == repr(loss)
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
    target = np.eye(3)[[0, 2]]
    y_pred = logits if getattr(loss, "from_logits", True) else softmax(logits)
    y_true = [0, 2] if isinstance(loss, SparseCategoricalCrossentropy) else target
    assert copy(y_true, y_pred) == loss(y_true, y_pred)


def test_serialize_keeps_from_logits():
    assert losses.serialize(CategoricalCrossentropy(from_logits=True)) == {
        "class_name": "CategoricalCrossentropy", "config": {"from_logits": True}}
    assert repr(SparseCategoricalCrossentropy(from_logits=True)) == "SparseCategoricalCrossentropy(from_logits=True)"


@pytest.mark.parametrize("config", [{"class_name": "Lambda", "config": {}}, {"config": {}}, "mse", None])
def test_deserialize_refuses_unknown_classes(config):
    with pytest.raises(ValueError, match="Received"):
        losses.deserialize(config)


# -- metrics --------------------------------------------------------------------------------------------------------

Y_PRED = np.array([[0.9, 0.05, 0.05],   # 0
                   [0.1, 0.2, 0.7],     # 2
                   [0.2, 0.5, 0.3],     # 1
                   [0.3, 0.3, 0.4],     # 2
                   [-1.0, 3.0, 2.0]])   # 1 (logits work as well)
Y_TRUE = np.array([0, 1, 1, 2, 0])


def test_sparse_categorical_accuracy_counts_correct_samples():
    assert sparse_categorical_accuracy(Y_TRUE, Y_PRED) == 3
    assert sparse_categorical_accuracy(Y_TRUE[:, None], Y_PRED) == 3
    assert sparse_categorical_accuracy(np.argmax(Y_PRED, axis=1), Y_PRED) == 5
    assert isinstance(sparse_categorical_accuracy(Y_TRUE, Y_PRED), int)


def test_categorical_accuracy_counts_correct_samples():
    onehot = np.eye(3)[Y_TRUE]
    assert categorical_accuracy(onehot, Y_PRED) == 3
    soft = np.array([[0.6, 0.4, 0.0], [0.0, 0.3, 0.7], [0.5, 0.2, 0.3], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1]])
    assert categorical_accuracy(soft, Y_PRED) == 4  # argmax of the soft rows: 0, 2, 0, 2, 1


def test_accuracy_chooses_by_the_labels_shape():
    assert accuracy(Y_TRUE, Y_PRED) == 3
    assert accuracy(Y_TRUE[:, None], Y_PRED) == 3
    assert accuracy(np.eye(3)[Y_TRUE], Y_PRED) == 3
    assert accuracy(np.eye(3)[[0, 2, 1, 2, 1]], Y_PRED) == 5


def test_metric_names():
    assert get_metric("accuracy") == ("accuracy", accuracy)
    assert get_metric("acc") == ("acc", accuracy)
    assert get_metric("categorical_accuracy")[1] is categorical_accuracy
    with pytest.raises(ValueError, match=r"The `metrics` argument must be a function or one of .*Received: metrics="):
        get_metric("f1")


def test_confusion_matrix_known_values():
    predicted = np.argmax(Y_PRED, axis=1)  # 0, 2, 1, 2, 1
    matrix = confusion_matrix(Y_TRUE, predicted, 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0],
                                           [0, 1, 1],
                                           [0, 0, 1]])
    assert matrix.dtype == np.int64
    assert matrix.sum() == len(Y_TRUE) and np.trace(matrix) == sparse_categorical_accuracy(Y_TRUE, Y_PRED)
    repeated = confusion_matrix([1, 1, 1, 0], [0, 0, 1, 0], 4)  # repeated pairs are counted, not overwritten
    assert repeated[1, 0] == 2 and repeated[1, 1] == 1 and repeated[0, 0] == 1 and repeated.shape == (4, 4)


@pytest.mark.parametrize("flag", ["no", "yes", 1, 0, None, np.array(True)], ids=repr)
def test_from_logits_takes_only_a_bool(flag):
    for cls in (SparseCategoricalCrossentropy, CategoricalCrossentropy):
        with pytest.raises(ValueError, match=rf"The `from_logits` argument must be True or False\. "
                                             rf"Received: from_logits="):
            cls(from_logits=flag)
    assert CategoricalCrossentropy(from_logits=np.bool_(True)).from_logits is True
