"""numcnn.viz.teaching: the sliding-window and im2col pictures draw, and return, the right numbers
(seeds 000 and 002, and slow reference loops)."""

import os

import numpy as np
import pytest
from viz_figures import assert_png, colorbar_labels, image_axes

from numcnn import functional as F
from numcnn.filters import apply_kernel, get_kernel
from numcnn.viz import cell_texts, plot_im2col, plot_sliding_window

pytestmark = pytest.mark.usefixtures("leaves_matplotlib_alone")  # every test here

SEED000 = np.arange(49, dtype=np.float32).reshape(7, 7)


# -- im2col (seed 002) -------------------------------------------------------------------------------------

def test_plot_im2col_returns_seed002s_patch_matrix(tmp_path, drawn):
    col = plot_im2col(SEED000, 5, 5, tmp_path / "im2col.png")
    assert col.shape == (9, 25)  # seed 002: a 7x7 channel and 5x5 windows
    assert np.array_equal(col, F.im2col(SEED000[None, None].astype(np.float64), 5, 5, 1, 0))
    for r in range(9):  # row r is window (r // 3, r % 3), read row by row
        i, j = divmod(r, 3)
        np.testing.assert_array_equal(col[r], SEED000[i:i + 5, j:j + 5].ravel())
    assert_png(tmp_path / "im2col.png", (1000, 420))
    np.testing.assert_array_equal(drawn[0].axes[1].images[0].get_array(), col)


def test_plot_im2col_with_stride_2(tmp_path, rng):
    x = rng.random((6, 8))
    col = plot_im2col(x, 3, 2, tmp_path / "s.png", strides=2, rows_marked=(0, 11, 99))
    assert col.shape == (2 * 4, 6)
    assert np.array_equal(col, F.im2col(x[None, None], 3, 2, 2, 0))
    np.testing.assert_array_equal(col[5], x[2:5, 2:4].ravel())  # window (1, 1) starts at (2, 2)


@pytest.mark.parametrize("shape", [(7,), (1, 7, 7), (7, 7, 1)])
def test_plot_im2col_needs_one_2d_channel(tmp_path, shape):
    with pytest.raises(ValueError, match=r"one 2-D channel \(H, W\)\. Received: shape"):
        plot_im2col(np.zeros(shape), 3, 3, tmp_path / "x.png")
    assert os.listdir(tmp_path) == []


# -- the sliding window (seed 000) ------------------------------------------------------------------------

def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_plot_sliding_window_is_seed000s_blur(tmp_path, drawn):
    blur = get_kernel("blur")
    result = plot_sliding_window(SEED000, blur, tmp_path / "steps.png")
    out = result.output
    assert np.array_equal(out, apply_kernel(SEED000, blur, 1, "valid"))
    np.testing.assert_allclose(out[0], [8, 9, 10, 11, 12], rtol=1e-6)
    assert result.region == (range(0, 5), range(0, 5)) and result.origin == (0, 0)  # all of it fits
    np.testing.assert_array_equal(result.crop, SEED000)
    assert result.cells == ((0, 0), (0, 1), (0, 2), (0, 3))  # every row changes alike: the first
    for (i, j), window in zip(result.cells, result.windows):
        np.testing.assert_array_equal(window, SEED000[i:i + 3, j:j + 3])
        assert np.sum(window * blur) == pytest.approx(out[i, j], rel=1e-6)
    assert_png(tmp_path / "steps.png", (1520, 820))  # 4 steps: (3.6 * 4 + 0.8) x 8.2 inches
    kernel_ax, output_ax, *steps = image_axes(drawn[0])
    assert kernel_ax.get_title() == "kernel 3x3" and _texts(kernel_ax) == ["0.111"] * 9
    assert output_ax.get_title() == "output 5x5 (red: the steps)"
    np.testing.assert_array_equal(output_ax.images[0].get_array(), out)
    assert _texts(output_ax) == [str(v) for v in range(8, 41) if v % 7 not in (6, 0)]
    assert [ax.get_title() for ax in steps] == [
        "step 1: out[0, 0] = 8\n= sum of window × kernel", "step 2: out[0, 1] = 9\n= sum of window × kernel",
        "step 3: out[0, 2] = 10\n= sum of window × kernel", "step 4: out[0, 3] = 11\n= sum of window × kernel"]
    for ax in steps:
        assert _texts(ax) == [str(v) for v in range(49)]  # the pixel values, row by row
        np.testing.assert_array_equal(ax.images[0].get_array(), SEED000)
    assert colorbar_labels(drawn[0]) == ["output value", "pixel value"]
    assert drawn[0]._suptitle.get_text() == "a 3x3 kernel sliding over the image, stride 1, padding valid"


def _bar_image(rng):
    """A 20x30 noisy dark image with a bright vertical bar at columns 17..19: the edge a kernel finds."""
    image = rng.uniform(0.0, 0.1, (20, 30)).astype(np.float32)
    image[:, 17:20] += 0.8
    return image


def _reference_region(out, oh, ow):
    """The oh x ow output region whose values vary most, the first on a tie: a slow loop."""
    best, where = -1.0, None
    for r in range(out.shape[0] - oh + 1):
        for c in range(out.shape[1] - ow + 1):
            spread = np.var(out[r:r + oh, c:c + ow].astype(np.float64))
            if spread > best * (1 + 1e-4) + 1e-12:
                best, where = spread, (r, c)
    return where


@pytest.mark.parametrize("name", ["sobel-x", "blur"])
def test_plot_sliding_window_zooms_into_a_larger_image_where_the_kernel_finds_something(tmp_path, drawn, rng, name):
    image, kernel = _bar_image(rng), get_kernel(name)
    result = plot_sliding_window(image, kernel, tmp_path / "s.png", padding="same")
    out = apply_kernel(image, kernel, 1, "same")
    np.testing.assert_array_equal(result.output, out)
    rows, cols = result.region
    assert (len(rows), len(cols)) == (6, 6)  # 8x8 pixels at most: 6x6 outputs of a 3x3 kernel
    assert (rows.start, cols.start) == _reference_region(out, 6, 6)
    assert 12 <= cols.start <= 20  # at the bar's edges
    top, left = result.origin
    assert (top, left) == (rows.start - 1, cols.start - 1)  # "same": one pixel of padding before
    padded = np.pad(image, 1)
    np.testing.assert_array_equal(result.crop, padded[top + 1:top + 9, left + 1:left + 9])
    for (i, j), window in zip(result.cells, result.windows):
        assert i in rows and j in cols
        np.testing.assert_array_equal(window, padded[i:i + 3, j:j + 3])
        assert np.sum(window * kernel) == pytest.approx(out[i, j], rel=1e-5, abs=1e-6)
    overview, kernel_ax, output_ax, *steps = image_axes(drawn[0])
    np.testing.assert_array_equal(overview.images[0].get_array(), image)  # the whole image, boxed
    (box,) = overview.patches
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (left - 0.5, top - 0.5, 8, 8)
    np.testing.assert_array_equal(output_ax.images[0].get_array(), out[rows.start:rows.stop, cols.start:cols.stop])
    assert len(steps) == len(result.cells) == 4
    for ax, (i, j) in zip(steps, result.cells):
        assert _texts(ax) == list(cell_texts(result.crop).ravel())  # the image's own numbers
        assert ax.get_title().startswith(f"step {steps.index(ax) + 1}: out[{i}, {j}] = ")
    assert drawn[0]._suptitle.get_text() == ("a 3x3 kernel sliding over a 8x8 region of the 20x30 image, stride 1, "
                                             "padding same")


def test_plot_sliding_window_steps_go_where_the_output_changes_most(tmp_path, rng):
    image = _bar_image(rng)
    result = plot_sliding_window(image, get_kernel("sobel-x"), tmp_path / "s.png", padding="same")
    out, (rows, cols) = result.output, result.region
    first = result.cells[0]
    assert result.cells == tuple((first[0], first[1] + k) for k in range(4))  # along one row
    spreads = {(i, j): np.var(out[i, j:j + 4].astype(np.float64)) for i in rows for j in range(cols.start,
                                                                                                cols.stop - 3)}
    assert spreads[first] >= max(spreads.values()) * (1 - 1e-4)


def test_plot_sliding_window_from_a_chosen_cell_with_padding_and_stride(tmp_path, drawn, rng):
    image = rng.random((9, 11), dtype=np.float32)
    kernel = rng.standard_normal((3, 3))
    result = plot_sliding_window(image, kernel, tmp_path / "p.png", strides=2, padding="same", steps=3, start=(4, 4))
    out = result.output
    assert out.shape == (5, 6) and np.array_equal(out, apply_kernel(image, kernel, 2, "same"))
    assert result.region == (range(2, 5), range(3, 6))  # 3x3 outputs of stride 2 make 7x7 pixels; kept inside
    assert result.cells == ((4, 4), (4, 5))  # from (4, 4) to the region's end
    (top, bottom), (left, right) = F.resolve_padding("same", (9, 11), (3, 3), (2, 2))
    padded = np.pad(image, ((top, bottom), (left, right)))
    for (i, j), window in zip(result.cells, result.windows):
        np.testing.assert_array_equal(window, padded[2 * i:2 * i + 3, 2 * j:2 * j + 3])
        assert np.sum(window * kernel) == pytest.approx(out[i, j], rel=1e-5, abs=1e-6)
    assert result.origin == (4 - top, 6 - left)
    assert "zero padding" in drawn[0].subfigs[1]._suptitle.get_text()  # the crop reaches the padding
    assert_png(tmp_path / "p.png", (1160, 820))  # 3 columns: the image, the kernel, the output


def test_plot_sliding_window_with_fewer_outputs_than_steps(tmp_path):
    result = plot_sliding_window(SEED000, np.ones((7, 7)), tmp_path / "one.png")
    np.testing.assert_allclose(result.output, [[SEED000.sum()]])
    assert result.cells == ((0, 0),)
    assert_png(tmp_path / "one.png", (800, 820))  # one step; the kernel and the output above


def test_cell_texts_fit_a_cell():
    assert list(cell_texts([0, 7, 48])) == ["0", "7", "48"]
    assert list(cell_texts([0.0588, -0.0001, 1.0])) == ["0.06", "0.00", "1.00"]
    assert list(cell_texts([12.345, -3.0])) == ["12.3", "-3.0"]
    assert list(cell_texts([123.4, 5.5])) == ["123", "6"]


def test_plot_sliding_window_needs_2d_image_and_kernel_and_a_start_inside(tmp_path):
    with pytest.raises(ValueError, match="must be 2-D. Received: shapes"):
        plot_sliding_window(np.zeros((7, 7, 1)), np.ones((3, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="must be 2-D. Received: shapes"):
        plot_sliding_window(np.zeros((7, 7)), np.ones(3), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"`start` argument must be an output cell \(row, column\) of the 5x5 "
                                         r"output\. Received: start=\(5, 0\)"):
        plot_sliding_window(SEED000, np.ones((3, 3)), tmp_path / "x.png", start=(5, 0))
    for start in [(1,), (1.0, 2), "ab"]:
        with pytest.raises(ValueError, match=r"`start` argument must be an output cell"):
            plot_sliding_window(SEED000, np.ones((3, 3)), tmp_path / "x.png", start=start)
    with pytest.raises(ValueError, match=r"`steps` argument must be a positive int\. Received: steps=0"):
        plot_sliding_window(SEED000, np.ones((3, 3)), tmp_path / "x.png", steps=0)
    assert os.listdir(tmp_path) == []
