"""The speed machinery: the patch matrix built a few images at a time, and element-wise work on threads.

Each test forces the machinery on (tiny pieces, several threads) and checks the results against
the slow reference loops, or bit for bit against one piece on one thread.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import numcnn
from numcnn.functional import (
    conv2d_backward,
    conv2d_backward_reference,
    conv2d_forward,
    conv2d_reference,
    max_pool2d_backward,
    max_pool2d_forward,
    pool2d_reference,
    resolve_padding,
)
from numcnn.functional import conv as conv_module
from numcnn.functional import threads

# N, H, W, C, F, k, strides, padding, dilation, groups
CASES = [
    (5, 9, 8, 3, 4, 3, 1, "same", 1, 1),
    (7, 10, 10, 2, 6, 5, 1, "valid", 1, 1),  # more filters than channels
    (5, 9, 9, 6, 3, 3, 2, "same", 1, 1),  # stride 2, odd 'same' split
    (4, 11, 9, 4, 4, 3, 1, ((2, 0), (1, 3)), 2, 1),  # dilated, asymmetric explicit padding
    (5, 8, 8, 6, 4, 3, (2, 1), "same", 1, 2),  # grouped
    (6, 8, 7, 4, 4, 3, 1, "same", (1, 2), 4),  # depthwise, dilated along W
]


@pytest.fixture
def tiny_pieces(monkeypatch):
    """Patch-matrix pieces of one or two images, so every batch is cut up with a short last piece."""
    monkeypatch.setattr(conv_module, "PATCH_BYTES", 1)


@pytest.fixture
def thread_count():
    before = threads.get_num_threads()
    yield threads.set_num_threads
    threads.set_num_threads(before)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("pieces", ["one image per piece", "whole batch"])
def test_conv_matches_reference_loops_whatever_the_pieces(case, pieces, monkeypatch):
    n, h, w, c, f, k, strides, padding, dilation, groups = case
    monkeypatch.setattr(conv_module, "PATCH_BYTES", 1 if pieces == "one image per piece" else 1 << 40)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, h, w, c))
    kernel = rng.standard_normal((k, k, c // groups, f))
    bias = rng.standard_normal(f)
    y, cache = conv2d_forward(x, kernel, bias, strides, padding, dilation, groups)
    s = (strides, strides) if isinstance(strides, int) else strides
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    pads = resolve_padding(padding, (h, w), (k, k), s, d)
    assert_allclose(y, conv2d_reference(x, kernel, bias, s, pads, d, groups), rtol=1e-10, atol=1e-10)
    dy = rng.standard_normal(y.shape)
    dx, dkernel, dbias = conv2d_backward(dy, cache)
    dx_ref, dkernel_ref, dbias_ref = conv2d_backward_reference(dy, x, kernel, s, pads, d, groups)
    assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-10)
    assert_allclose(dkernel, dkernel_ref, rtol=1e-10, atol=1e-10)
    assert_allclose(dbias, dbias_ref, rtol=1e-10, atol=1e-10)


def test_image_chunks_cover_the_batch_in_order():
    assert conv_module.image_chunks(10, conv_module.PATCH_BYTES // 3) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert conv_module.image_chunks(10, 1) == [(0, 10)]
    assert conv_module.image_chunks(3, 10 * conv_module.PATCH_BYTES) == [(0, 1), (1, 2), (2, 3)]


def test_the_forward_keeps_the_padded_input_not_a_patch_matrix():
    x = np.ones((4, 16, 16, 8), dtype=np.float32)
    _, cache = conv2d_forward(x, np.ones((3, 3, 8, 8), dtype=np.float32), padding="same")
    assert cache.padded.shape == (4, 18, 18, 8)
    held = [v for v in vars(cache).values() if isinstance(v, np.ndarray)]
    assert sum(a.nbytes for a in held) < 2 * x.nbytes  # an im2col matrix would be 9x the input


@pytest.mark.parametrize("case", [CASES[0], CASES[5]], ids=["gemm", "depthwise"])
def test_conv_is_bit_identical_on_one_or_three_threads(case, thread_count, tiny_pieces):
    n, h, w, c, f, k, strides, padding, dilation, groups = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, h, w, c), dtype=np.float32)  # big enough to be cut up
    kernel = rng.standard_normal((k, k, c // groups, f), dtype=np.float32)
    results = []
    for count in (1, 3):
        thread_count(count)
        y, cache = conv2d_forward(x, kernel, None, strides, padding, dilation, groups)
        results.append((y, *conv2d_backward(np.cos(y), cache)[:2]))
    for one, three in zip(*results):
        assert_array_equal(one, three)


@pytest.mark.parametrize("pool, strides, padding", [(2, 2, "valid"), (3, 2, "same"), (3, 1, "same")])
def test_max_pooling_on_threads_matches_the_reference_and_one_thread(pool, strides, padding, thread_count):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, (40, 13, 12, 8)).astype(np.float32)  # many ties: the first maximum must win
    results = []
    for count in (1, 2):
        thread_count(count)
        y, cache = max_pool2d_forward(x, pool, strides, padding)
        results.append((y, max_pool2d_backward(np.sin(y) + 2, cache)))
    assert_array_equal(results[0][0], results[1][0])
    assert_array_equal(results[0][1], results[1][1])
    pads = resolve_padding(padding, (13, 12), (pool, pool), (strides, strides))
    assert_array_equal(results[1][0], pool2d_reference(x, (pool, pool), (strides, strides), pads, "max"))
    # first-maximum routing: every window's gradient lands once, on a pixel holding the window's max
    assert_allclose(results[1][1].sum(), (np.sin(results[1][0]) + 2).sum(), rtol=1e-5)


def test_batch_chunks_do_not_depend_on_the_thread_count(thread_count):
    thread_count(1)
    one = threads.batch_chunks(100, 1 << 30)
    thread_count(4)
    assert threads.batch_chunks(100, 1 << 30) == one
    assert one[0][0] == 0 and one[-1][1] == 100
    assert all(a[1] == b[0] for a, b in zip(one, one[1:]))
    assert threads.batch_chunks(100, 10) == [(0, 100)]  # small work is not handed out
    assert threads.batch_chunks(3, 1 << 30) == [(0, 1), (1, 2), (2, 3)]


def test_run_chunks_returns_results_in_order(thread_count):
    thread_count(3)
    assert threads.run_chunks(lambda a, b: (a, b), [(0, 2), (2, 5), (5, 6)]) == [(0, 2), (2, 5), (5, 6)]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_names_the_argument(bad, thread_count):
    with pytest.raises(ValueError, match=r"`threads` argument must be a positive int\. Received: threads="):
        numcnn.set_num_threads(bad)


def test_set_num_threads_is_reported_back(thread_count):
    numcnn.set_num_threads(3)
    assert numcnn.get_num_threads() == 3


@pytest.mark.parametrize("value", ["3", "zero", "0"])
def test_numcnn_num_threads_environment_variable(value):
    code = "import numcnn, numpy as np; numcnn.functional.max_pool2d(np.ones((1, 4, 4, 1))); print(numcnn.get_num_threads())"
    env = dict(os.environ, NUMCNN_NUM_THREADS=value)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if value == "3":
        assert result.returncode == 0 and result.stdout.strip() == "3"
    else:
        assert result.returncode != 0
        assert f"NUMCNN_NUM_THREADS must be a positive integer. Received: '{value}'" in result.stderr
