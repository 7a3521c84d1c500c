"""Mini-batch indices and random shifts: known values, brute force over every shift, seeded randomness."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numcnn.data import RandomShift, batch_indices, random_shift

# -- batch_indices -----------------------------------------------------------------------------

def test_batches_in_order_without_shuffle():
    assert [b.tolist() for b in batch_indices(5, 2, shuffle=False)] == [[0, 1], [2, 3], [4]]
    assert [b.tolist() for b in batch_indices(6, 3, shuffle=False)] == [[0, 1, 2], [3, 4, 5]]
    assert [b.tolist() for b in batch_indices(3, 10, shuffle=False)] == [[0, 1, 2]]
    assert batch_indices(0, 4, shuffle=False) == []


@given(n=st.integers(0, 300), batch_size=st.integers(1, 64), seed=st.integers(0, 2 ** 32 - 1))
def test_every_index_exactly_once_in_full_batches_then_one_smaller(n, batch_size, seed):
    batches = batch_indices(n, batch_size, np.random.default_rng(seed))
    sizes = [len(b) for b in batches]
    full, rest = divmod(n, batch_size)
    assert sizes == [batch_size] * full + ([rest] if rest else [])
    everything = np.concatenate(batches) if batches else np.array([], int)
    np.testing.assert_array_equal(np.sort(everything), np.arange(n))
    assert all(np.issubdtype(b.dtype, np.integer) for b in batches)


def test_shuffle_is_reproducible_with_the_same_seed_and_differs_with_another():
    a = batch_indices(100, 32, np.random.default_rng(7))
    b = batch_indices(100, 32, np.random.default_rng(7))
    c = batch_indices(100, 32, np.random.default_rng(8))
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
    assert [x.tolist() for x in a] != [x.tolist() for x in c]
    assert np.concatenate(a).tolist() != list(range(100))  # actually shuffled


def test_shuffle_draws_from_the_generator(rng):
    # two epochs from one generator differ, and the order is rng.permutation's
    expected = np.random.default_rng(20240611).permutation(10)
    first = batch_indices(10, 4, rng)
    np.testing.assert_array_equal(np.concatenate(first), expected)
    second = batch_indices(10, 4, rng)
    assert np.concatenate(first).tolist() != np.concatenate(second).tolist()


@pytest.mark.parametrize("rng", [None, 0, np.random.RandomState(0)], ids=["none", "int", "RandomState"])
def test_shuffle_without_a_generator_is_a_type_error(rng):
    with pytest.raises(TypeError, match="Received: rng="):
        batch_indices(10, 2, rng)


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, 2.5, True, "4", None])
def test_bad_batch_size_is_a_value_error(batch_size):
    with pytest.raises(ValueError, match="batch_size") as info:
        batch_indices(10, batch_size, np.random.default_rng(0))
    assert f"Received: batch_size={batch_size!r}" in str(info.value)


def test_numpy_integer_batch_size_is_accepted():
    assert [len(b) for b in batch_indices(7, np.int64(3), shuffle=False)] == [3, 3, 1]


# -- random_shift ------------------------------------------------------------------------------

def _shifted(image, dy, dx):
    """The slow obvious shift: out[i, j] = image[i - dy, j - dx], zero outside."""
    h, w = image.shape[:2]
    out = np.zeros_like(image)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[i, j] = image[i - dy, j - dx]
    return out


def _shifts_of(x, out, max_shift):
    """For each image, every (dy, dx) in range that turns the input into the output."""
    span = range(-max_shift, max_shift + 1)
    return [[(dy, dx) for dy in span for dx in span if np.array_equal(_shifted(x[k], dy, dx), out[k])]
            for k in range(len(x))]


def _distinct_positive(rng, shape, dtype=np.float32):
    """Values 1..size in random order: a zero can only be fill, and each shift gives another image."""
    return (rng.permutation(int(np.prod(shape))) + 1).reshape(shape).astype(dtype)


def test_known_values_on_a_small_image():
    # seed 0 draws "up one" for the first image and "right one" for the second (pins the draw order)
    x = np.tile(np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1), (2, 1, 1, 1))
    out = random_shift(x, 1, np.random.default_rng(0))
    np.testing.assert_array_equal(out[..., 0], [[[4, 5, 6], [7, 8, 9], [0, 0, 0]],
                                                [[0, 1, 2], [0, 4, 5], [0, 7, 8]]])


@pytest.mark.parametrize("max_shift", [1, 2, 3])
def test_each_image_is_its_input_shifted_within_range_with_zero_fill(max_shift):
    rng = np.random.default_rng(max_shift)
    n = 12 * (2 * max_shift + 1) ** 2  # enough draws to see every shift (a miss has p < 1e-3)
    x = _distinct_positive(rng, (n, 5, 6, 2))
    out = random_shift(x, max_shift, rng)
    shifts = _shifts_of(x, out, max_shift)
    assert all(len(s) == 1 for s in shifts), "every output must be exactly one shift of its input"
    # every one of the (2m+1)^2 shifts occurs, each image drawing its own
    assert {s[0] for s in shifts} == {(dy, dx) for dy in range(-max_shift, max_shift + 1)
                                      for dx in range(-max_shift, max_shift + 1)}


def test_a_shift_larger_than_the_image_is_still_a_zero_filled_shift():
    rng = np.random.default_rng(3)
    x = _distinct_positive(rng, (60, 2, 3, 1))
    out = random_shift(x, 4, rng)
    assert all(len(s) >= 1 for s in _shifts_of(x, out, 4))  # images shifted out entirely are all-zero
    assert (out == 0).all(axis=(1, 2, 3)).any() and (out != 0).any(axis=(1, 2, 3)).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int32])
def test_dtype_is_kept_and_the_input_is_not_modified(dtype):
    rng = np.random.default_rng(1)
    x = _distinct_positive(rng, (4, 5, 5, 3)).astype(dtype) % 250 + 1
    before = x.copy()
    out = random_shift(x, 2, rng)
    assert out.dtype == np.dtype(dtype) and out.shape == x.shape
    np.testing.assert_array_equal(x, before)
    out[...] = 0
    np.testing.assert_array_equal(x, before)  # not a view of the input


def test_max_shift_zero_returns_the_same_values():
    x = _distinct_positive(np.random.default_rng(2), (3, 4, 4, 1))
    out = random_shift(x, 0, np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)
    assert out.dtype == x.dtype


def test_random_shift_is_reproducible_with_a_seed():
    x = _distinct_positive(np.random.default_rng(0), (50, 6, 6, 1))
    a = random_shift(x, 2, np.random.default_rng(5))
    b = random_shift(x, 2, np.random.default_rng(5))
    c = random_shift(x, 2, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_shift_layer_is_random_shift():
    x = _distinct_positive(np.random.default_rng(0), (20, 5, 5, 1))
    layer = RandomShift(2)
    np.testing.assert_array_equal(layer(x, np.random.default_rng(9)), random_shift(x, 2, np.random.default_rng(9)))
    assert layer.get_config() == {"max_shift": 2} and RandomShift().max_shift == 2
    np.testing.assert_array_equal(RandomShift(0)(x, np.random.default_rng(0)), x)


@pytest.mark.parametrize("max_shift", [-1, 1.5, 2.0, True, "2", None])
def test_random_shift_layer_rejects_bad_max_shift(max_shift):
    with pytest.raises(ValueError, match="max_shift") as info:
        RandomShift(max_shift)
    assert f"Received: max_shift={max_shift!r}" in str(info.value)
