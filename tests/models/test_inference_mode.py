"""numcnn.inference (predict and evaluate run in it): no tape, no caches, each activation freed once read."""

import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import numcnn
from numcnn import Input, Model, Sequential
from numcnn.layers import Add, Dense, ReLU

WIDTH, BATCH, DEPTH = 256, 2048, 8
ACTIVATION = WIDTH * BATCH * 4  # bytes of one float32 activation


def deep_chain(kind):
    """DEPTH Dense layers of WIDTH units, as a Sequential or a functional graph."""
    layers = [Dense(WIDTH, name=f"d{i}") for i in range(DEPTH)]
    if kind == "sequential":
        return Sequential([Input((WIDTH,)), *layers], seed=0)
    x = h = Input((WIDTH,))
    for layer in layers:
        h = layer(h)
    return Model(x, h, seed=0)


def peak_bytes(run):
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = run()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, out


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_predict_keeps_a_few_activations_where_a_call_keeps_them_all(kind):
    model = deep_chain(kind)
    x = np.random.default_rng(0).standard_normal((BATCH, WIDTH)).astype(np.float32)
    kept, y_call = peak_bytes(lambda: model(x))
    freed, y_predict = peak_bytes(lambda: model.predict(x, batch_size=BATCH))
    assert_array_equal(y_predict, y_call)
    assert kept > (DEPTH - 1) * ACTIVATION  # the tape holds every layer's input for backward
    assert freed < 3.5 * ACTIVATION  # output buffer + the activation being read + the one being made


def test_a_skip_connection_is_kept_until_its_last_reader():
    x = Input((6,))
    h = Dense(6, name="a")(x)
    r = ReLU()(Dense(6, name="b")(ReLU()(Dense(6, name="c")(h))))
    model = Model(x, Add()([h, r]), seed=1)
    data = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    expected = model(data)
    with numcnn.inference():
        assert_array_equal(model(data), expected)
        assert_array_equal(model(data), expected)  # the graph's plan of frees holds on a second run
    assert_array_equal(model.predict(data), expected)


def test_backward_after_predict_names_inference_and_after_a_call_works():
    model = deep_chain("functional")
    x = np.ones((2, WIDTH), np.float32)
    model(x)
    model.predict(x)
    with pytest.raises(RuntimeError, match=r"inference\(\)"):
        model.backward(np.ones((2, WIDTH), np.float32))
    assert all(layer._last_cache is None for layer in model.layers)
    model(x)
    dx = model.backward(np.ones((2, WIDTH), np.float32))
    assert dx.shape == (2, WIDTH) and np.abs(dx).sum() > 0


def test_inference_nests_and_resets_on_error():
    from numcnn.layers.tape import in_inference
    assert not in_inference()
    with numcnn.inference():
        with numcnn.inference():
            assert in_inference()
        assert in_inference()
        with pytest.raises(ValueError):
            with numcnn.inference():
                raise ValueError("boom")
        assert in_inference()
    assert not in_inference()


def test_fit_after_predict_still_learns():
    model = deep_chain("sequential")
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, WIDTH)).astype(np.float32)
    y = np.zeros((64, WIDTH), np.float32)
    before = model.evaluate(x, y, verbose=0)
    model.predict(x)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
