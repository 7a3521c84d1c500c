"""numcnn.viz: every picture is a valid PNG of the expected size, written atomically, and the
numbers each function returns (and draws) are the right ones."""

import os
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from numcnn import Model, Sequential
from numcnn import functional as F
from numcnn.filters import apply_kernel, get_kernel
from numcnn.layers import Conv2D, Dense, Flatten
from numcnn.models import zoo
from numcnn.viz import (
    conv_feature_maps,
    model_table,
    plot_confusion,
    plot_feature_maps,
    plot_filters,
    plot_history,
    plot_im2col,
    plot_mistakes,
    plot_model,
    plot_sliding_window,
    worst_mistakes,
)

SEED000 = np.arange(49, dtype=np.float32).reshape(7, 7)


@pytest.fixture(scope="module")
def simple():
    model = zoo.simple_convnet((8, 8, 1), seed=0)
    model.build((None, 8, 8, 1))
    return model


@pytest.fixture(scope="module")
def deep():
    model = zoo.deep_convnet((8, 8, 1), seed=0)
    model.build((None, 8, 8, 1))
    return model


@pytest.fixture(autouse=True)
def leaves_matplotlib_alone():
    """After every test here: matplotlib's global backend is unchanged and pyplot was not imported by numcnn."""
    backend = matplotlib.rcParams._get("backend")
    pyplot = sys.modules.get("matplotlib.pyplot")
    yield
    assert matplotlib.rcParams._get("backend") is backend
    assert sys.modules.get("matplotlib.pyplot") is pyplot


@pytest.fixture
def image(rng):
    return rng.random((8, 8, 1), dtype=np.float32)


@pytest.fixture
def drawn(monkeypatch):
    """The figures saved during the test, in order (savefig still runs)."""
    figures = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return figures


def assert_png(path, size):
    """A PNG of ``size`` = (width, height) pixels (figsize * dpi 100), alone in its directory: no temp files."""
    with Image.open(path) as png:
        assert png.format == "PNG"
        assert png.size == size
        png.load()
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]


def image_axes(figure):
    """Axes that show an image, in grid order."""
    return [ax for ax in figure.axes if ax.images]


# -- plot_filters ---------------------------------------------------------------------------------------

def test_plot_filters_returns_and_draws_the_first_conv_kernel(simple, tmp_path, drawn):
    path = tmp_path / "filters.png"
    kernel = plot_filters(simple, path)
    assert kernel.shape == (5, 5, 1, 30)
    assert np.array_equal(kernel, simple.params["conv2d/kernel"])
    assert_png(path, (720, 620))  # 30 filters: 5 rows of 6, (1.1 * 6 + 0.6) x (1.1 * 5 + 0.7) inches
    tiles = image_axes(drawn[0])
    assert len(tiles) == 30
    for i, ax in enumerate(tiles):
        np.testing.assert_array_equal(ax.images[0].get_array(), kernel[:, :, 0, i])
        limit = np.abs(kernel[:, :, 0, i]).max()
        assert ax.images[0].get_clim() == pytest.approx((-limit, limit))  # zero is white in bwr
        assert ax.get_title() == str(i)
    assert drawn[0]._suptitle.get_text() == "conv2d: 30 filters of 5x5x1"


def test_plot_filters_of_an_rgb_model_scales_each_filter_to_0_1(tmp_path, drawn):
    model = zoo.simple_convnet((8, 8, 3), seed=1)
    model.build((None, 8, 8, 3))
    kernel = plot_filters(model, tmp_path / "rgb.png", title="mine")
    assert np.array_equal(kernel, model.params["conv2d/kernel"]) and kernel.shape == (5, 5, 3, 30)
    w = kernel[..., 7]
    np.testing.assert_allclose(image_axes(drawn[0])[7].images[0].get_array(), (w - w.min()) / (w.max() - w.min()))
    assert drawn[0]._suptitle.get_text() == "mine"
    assert_png(tmp_path / "rgb.png", (720, 620))


def test_plot_filters_shows_the_first_of_several_conv_layers(deep, tmp_path):
    kernel = plot_filters(deep, tmp_path / "f.png")
    assert np.array_equal(kernel, deep.params["conv2d/kernel"]) and kernel.shape == (3, 3, 1, 16)
    assert_png(tmp_path / "f.png", (500, 510))  # 16 filters: 4 x 4 tiles


def test_a_model_without_conv_layers_has_no_filters_or_feature_maps(tmp_path):
    model = Sequential([Flatten(input_shape=(4, 4, 1)), Dense(3)], seed=0)
    model.build((None, 4, 4, 1))
    with pytest.raises(ValueError, match="no Conv2D layer.*Received"):
        plot_filters(model, tmp_path / "f.png")
    with pytest.raises(ValueError, match="no Conv2D layer.*Received"):
        conv_feature_maps(model, np.zeros((4, 4, 1), np.float32))
    assert os.listdir(tmp_path) == []


# -- feature maps ---------------------------------------------------------------------------------------

def _manual_conv_outputs(model, image):
    """Run ``model.layers`` one at a time in inference mode and keep what each Conv2D gives."""
    x = image[None]
    outputs = {}
    for layer in model.layers:
        x = layer(x, training=False)
        if isinstance(layer, Conv2D):
            outputs[layer.name] = x[0]
    return outputs, x


def test_feature_maps_of_every_conv_layer_equal_running_the_layers_by_hand(deep, image):
    maps = conv_feature_maps(deep, image)
    manual, logits = _manual_conv_outputs(deep, image)
    assert list(maps) == ["conv2d", "conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4", "conv2d_5"] == list(manual)
    assert [m.shape for m in maps.values()] == [(8, 8, 16), (8, 8, 16), (4, 4, 32), (4, 4, 32), (2, 2, 64), (2, 2, 64)]
    for name in maps:
        np.testing.assert_array_equal(maps[name], manual[name])
    np.testing.assert_allclose(logits, deep.predict(image[None]), rtol=1e-5, atol=1e-6)  # the same path as predict


def test_simple_feature_maps_are_relu_of_the_reference_convolution(simple, image):
    maps = conv_feature_maps(simple, image)
    assert list(maps) == ["conv2d"]
    kernel, bias = simple.params["conv2d/kernel"], simple.params["conv2d/bias"]
    reference = F.conv2d_reference(image[None], kernel, bias, pads=((2, 2), (2, 2)))[0]  # 5x5 "same" on 8x8
    np.testing.assert_allclose(maps["conv2d"], np.maximum(reference, 0), rtol=1e-5, atol=1e-6)
    assert (maps["conv2d"] == 0).any() and (maps["conv2d"] > 0).any()


def test_plot_feature_maps_returns_and_draws_the_maps(deep, image, tmp_path, drawn):
    path = tmp_path / "maps.png"
    maps = plot_feature_maps(deep, image, path, max_maps=4)
    expected = conv_feature_maps(deep, image)
    assert list(maps) == list(expected)
    for name in maps:
        np.testing.assert_array_equal(maps[name], expected[name])
    assert_png(path, (550, 780))  # 6 rows of (input + 4 maps): (1.1 * 5) x (1.2 * 6 + 0.6) inches
    panels = image_axes(drawn[0])
    assert len(panels) == 6 * 5
    for row, name in enumerate(maps):
        np.testing.assert_array_equal(panels[5 * row].images[0].get_array(), image[..., 0])
        for k in range(4):
            ax = panels[5 * row + k + 1]
            np.testing.assert_array_equal(ax.images[0].get_array(), maps[name][..., k])
            assert ax.get_title() == f"{name}:{k}"


def test_plot_feature_maps_of_a_single_conv_model_default_16(simple, image, tmp_path):
    maps = plot_feature_maps(simple, image, tmp_path / "m.png")
    assert list(maps) == ["conv2d"] and maps["conv2d"].shape == (8, 8, 30)
    assert_png(tmp_path / "m.png", (1870, 180))  # 1 row of input + 16 maps


class _DeclaredOutOfOrder(Model):
    """Layers declared in one order, called in the other."""

    def __init__(self):
        super().__init__(seed=0)
        self.second = Conv2D(2, 3, padding="same")
        self.first = Conv2D(2, 3, padding="same")

    def call(self, x):
        return self.second(self.first(x))


def test_feature_maps_of_a_subclassed_model_follow_its_call(rng):
    model = _DeclaredOutOfOrder()
    x = rng.standard_normal((5, 5, 2)).astype(np.float32)
    model(x[None])
    maps = conv_feature_maps(model, x)
    first = model.first(x[None])
    np.testing.assert_allclose(maps[model.first.name], first[0], rtol=1e-5)
    np.testing.assert_allclose(maps[model.second.name], model.second(first)[0], rtol=1e-5)


# -- confusion and mistakes ------------------------------------------------------------------------------

def test_plot_confusion_returns_the_matrix_and_writes_the_counts(tmp_path, drawn):
    matrix = np.array([[5, 1, 0], [2, 7, 0], [0, 3, 9]])
    out = plot_confusion(matrix, ["cat", "dog", "a very long class name"], tmp_path / "c.png")
    np.testing.assert_array_equal(out, matrix)
    assert_png(tmp_path / "c.png", (415, 330))  # (0.55 * 3 + 2.5) x (0.5 * 3 + 1.8) inches
    ax = drawn[0].axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), matrix)
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in matrix.ravel())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "a very lon"]


def test_plot_confusion_ten_classes_size(tmp_path):
    matrix = np.arange(100).reshape(10, 10)
    assert plot_confusion(matrix, [str(i) for i in range(10)], tmp_path / "c.png") is not None
    assert_png(tmp_path / "c.png", (800, 680))


@pytest.mark.parametrize("shape", [(3, 2), (2, 2), (4, 4), (9,)])
def test_plot_confusion_rejects_a_matrix_of_the_wrong_shape(tmp_path, shape):
    with pytest.raises(ValueError, match=rf"must be \(3, 3\) for 3 classes\. Received: shape \({shape[0]},"):
        plot_confusion(np.zeros(shape, int), ["a", "b", "c"], tmp_path / "c.png")
    assert os.listdir(tmp_path) == []


Y_TRUE = np.array([0, 1, 2, 0, 1, 2])
PROBS = np.array([
    [0.90, 0.05, 0.05],  # right
    [0.70, 0.20, 0.10],  # wrong: 0 at 0.7
    [0.10, 0.10, 0.80],  # right
    [0.20, 0.50, 0.30],  # wrong: 1 at 0.5
    [0.05, 0.05, 0.90],  # wrong: 2 at 0.9
    [0.70, 0.25, 0.05],  # wrong: 0 at 0.7, a tie with sample 1
])


def test_worst_mistakes_are_the_wrong_ones_surest_first():
    np.testing.assert_array_equal(worst_mistakes(Y_TRUE, PROBS), [4, 1, 5, 3])  # ties keep their order
    np.testing.assert_array_equal(worst_mistakes(Y_TRUE, PROBS, count=2), [4, 1])
    np.testing.assert_array_equal(worst_mistakes(Y_TRUE.reshape(-1, 1), PROBS, count=1), [4])  # (N, 1) labels
    assert worst_mistakes(Y_TRUE, PROBS, count=0).size == 0
    right = worst_mistakes(PROBS.argmax(1), PROBS)
    assert right.size == 0 and right.dtype.kind == "i"


def test_plot_mistakes_draws_the_surest_mistakes_with_their_labels(tmp_path, drawn, rng):
    x = rng.random((6, 8, 8, 1), dtype=np.float32)
    names = ["zero", "one", "two"]
    index = plot_mistakes(x, Y_TRUE, PROBS, names, tmp_path / "m.png", count=3)
    np.testing.assert_array_equal(index, [4, 1, 5])
    assert_png(tmp_path / "m.png", (340, 380))  # 3 images on a 2x2 grid: (1.5 * 2 + 0.4) x (1.6 * 2 + 0.6) inches
    panels = image_axes(drawn[0])
    assert [ax.get_title() for ax in panels] == ["one -> two (0.90)", "one -> zero (0.70)", "two -> zero (0.70)"]
    for ax, i in zip(panels, index):
        np.testing.assert_array_equal(ax.images[0].get_array(), x[i, ..., 0])
    assert drawn[0]._suptitle.get_text() == "the 3 surest mistakes"


def test_plot_mistakes_with_no_mistakes_still_writes_a_png(tmp_path, drawn, rng):
    x = rng.random((6, 8, 8, 1), dtype=np.float32)
    index = plot_mistakes(x, PROBS.argmax(1), PROBS, ["a", "b", "c"], tmp_path / "none.png")
    assert index.size == 0
    assert_png(tmp_path / "none.png", (190, 220))
    assert image_axes(drawn[0]) == [] and drawn[0]._suptitle.get_text() == "no mistakes"


# -- the model table -------------------------------------------------------------------------------------

def test_model_table_rows_of_the_simple_convnet(simple, tmp_path, drawn):
    rows = model_table(simple)
    assert rows == [
        ("conv2d", "Conv2D", "(None, 8, 8, 30)", 5 * 5 * 1 * 30 + 30),
        ("max_pooling2d", "MaxPooling2D", "(None, 4, 4, 30)", 0),
        ("flatten", "Flatten", "(None, 480)", 0),
        ("dense", "Dense", "(None, 100)", 480 * 100 + 100),
        ("dense_1", "Dense", "(None, 10)", 100 * 10 + 10),
    ]
    assert sum(r[3] for r in rows) == simple.count_params() == 49_890
    assert plot_model(simple, tmp_path / "model.png") == rows
    assert_png(tmp_path / "model.png", (750, 310))  # 7.5 x (0.42 * 5 + 1.0) inches
    texts = [t.get_text() for t in drawn[0].axes[0].texts]
    assert "simple_convnet: 49,890 parameters" in texts and "dense (Dense)" in texts and "48,100" in texts


def test_model_table_of_the_deep_convnet_matches_each_layer(deep):
    rows = model_table(deep)
    assert [r[0] for r in rows] == [layer.name for layer in deep.layers]
    assert [r[1] for r in rows] == [type(layer).__name__ for layer in deep.layers]
    assert [r[2] for r in rows] == [str(layer.output_shape) for layer in deep.layers]
    assert [r[3] for r in rows] == [layer.count_params() for layer in deep.layers]
    assert sum(r[3] for r in rows) == deep.count_params()
    conv_params = [r[3] for r in rows if r[1] == "Conv2D"]
    assert conv_params == [9 * 1 * 16, 9 * 16 * 16, 9 * 16 * 32, 9 * 32 * 32, 9 * 32 * 64, 9 * 64 * 64]  # no bias
    assert rows[-1] == ("dense_1", "Dense", "(None, 10)", 510)


def test_model_table_builds_a_model_that_knows_its_input_shape():
    model = zoo.simple_convnet((8, 8, 1), seed=3)
    assert model_table(model)[0] == ("conv2d", "Conv2D", "(None, 8, 8, 30)", 780)


# -- im2col and the sliding window (seeds 002 and 000) -------------------------------------------------

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


def test_plot_sliding_window_is_seed000s_blur(tmp_path, drawn):
    blur = get_kernel("blur")
    out = plot_sliding_window(SEED000, blur, tmp_path / "steps.png")
    assert np.array_equal(out, apply_kernel(SEED000, blur, 1, "valid"))
    np.testing.assert_allclose(out[0], [8, 9, 10, 11, 12], rtol=1e-6)
    assert_png(tmp_path / "steps.png", (1600, 340))  # 4 steps + the output: 3.2 * 5 x 3.4 inches
    titles = [ax.get_title() for ax in drawn[0].axes]
    assert titles == ["out[0, 0] = 8", "out[0, 1] = 9", "out[0, 2] = 10", "out[0, 3] = 11", "output 5x5"]
    np.testing.assert_array_equal(drawn[0].axes[-1].images[0].get_array(), out)


def test_plot_sliding_window_with_padding_and_stride(tmp_path, rng):
    image = rng.random((5, 6), dtype=np.float32)
    kernel = rng.standard_normal((3, 3))
    out = plot_sliding_window(image, kernel, tmp_path / "p.png", strides=2, padding="same", steps=2)
    assert out.shape == (3, 3)
    assert np.array_equal(out, apply_kernel(image, kernel, 2, "same"))
    assert_png(tmp_path / "p.png", (960, 340))


def test_plot_sliding_window_with_fewer_outputs_than_steps(tmp_path):
    out = plot_sliding_window(SEED000, np.ones((7, 7)), tmp_path / "one.png")
    np.testing.assert_allclose(out, [[SEED000.sum()]])
    assert_png(tmp_path / "one.png", (640, 340))  # one step and the output


def test_plot_sliding_window_needs_2d_image_and_kernel(tmp_path):
    with pytest.raises(ValueError, match="must be 2-D. Received: shapes"):
        plot_sliding_window(np.zeros((7, 7, 1)), np.ones((3, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="must be 2-D. Received: shapes"):
        plot_sliding_window(np.zeros((7, 7)), np.ones(3), tmp_path / "x.png")


# -- training curves ---------------------------------------------------------------------------------------

def _lines(axes):
    return {line.get_label(): list(line.get_ydata()) for line in axes.lines}


def test_plot_history_draws_train_and_validation_curves(tmp_path, drawn):
    history = {"loss": [1.0, 0.5, 0.25], "val_loss": [1.2, 0.7, 0.6], "accuracy": [0.5, 0.8, 0.9],
               "val_accuracy": [0.4, 0.7, 0.8], "learning_rate": [0.1, 0.1, 0.05]}
    assert plot_history(history, tmp_path / "curves.png", title="run") is None
    assert_png(tmp_path / "curves.png", (900, 360))
    loss_ax, acc_ax = drawn[0].axes
    assert _lines(loss_ax) == {"train loss": history["loss"], "validation loss": history["val_loss"]}
    assert _lines(acc_ax) == {"train accuracy": history["accuracy"], "validation accuracy": history["val_accuracy"]}
    assert list(loss_ax.lines[0].get_xdata()) == [1, 2, 3]
    assert drawn[0]._suptitle.get_text() == "run"


@pytest.mark.parametrize("history,loss_lines,acc_lines", [
    ({"loss": [0.9, 0.3], "accuracy": [0.6, 0.9]}, {"train loss": [0.9, 0.3]}, {"train accuracy": [0.6, 0.9]}),
    ({"loss": [0.9, 0.3], "val_loss": [], "val_accuracy": []}, {"train loss": [0.9, 0.3]}, {}),
    ({"val_loss": [2.0]}, {"validation loss": [2.0]}, {}),
    ({}, {}, {}),
])
def test_plot_history_without_some_keys(tmp_path, drawn, history, loss_lines, acc_lines):
    plot_history(history, tmp_path / "c.png")
    assert_png(tmp_path / "c.png", (900, 360))
    loss_ax, acc_ax = drawn[0].axes
    assert _lines(loss_ax) == loss_lines and _lines(acc_ax) == acc_lines
    assert (loss_ax.get_legend() is not None) == bool(loss_lines)
    assert drawn[0]._suptitle is None


# -- writing atomically (the global matplotlib state: see leaves_matplotlib_alone) --------------------

def test_a_failed_save_keeps_the_old_picture_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "curves.png"
    plot_history({"loss": [1.0, 0.5]}, path)
    before = path.read_bytes()

    def broken(self, fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        plot_history({"loss": [3.0, 2.0, 1.0]}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["curves.png"]
