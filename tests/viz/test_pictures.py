"""numcnn.viz: every picture is a valid PNG of the expected size, written atomically, and the
numbers each function returns (and draws) are the right ones."""

import os

import numpy as np
import pytest
from matplotlib.figure import Figure
from viz_figures import assert_png, colorbar_labels, image_axes

from numcnn import Model, Sequential
from numcnn import functional as F
from numcnn.layers import Conv2D, Dense, Flatten
from numcnn.models import zoo
from numcnn.viz import (
    conv_feature_maps,
    mistake_label,
    model_table,
    page_paths,
    plot_confusion,
    plot_feature_maps,
    plot_filters,
    plot_history,
    plot_mistakes,
    plot_model,
    worst_mistakes,
)


pytestmark = pytest.mark.usefixtures("leaves_matplotlib_alone")  # every test here


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


@pytest.fixture
def image(rng):
    return rng.random((8, 8, 1), dtype=np.float32)


def texts_of(figure):
    return [t.get_text() for t in figure.texts]


# -- plot_filters ---------------------------------------------------------------------------------------

def test_plot_filters_returns_and_draws_the_first_conv_kernel_on_one_scale(simple, tmp_path, drawn):
    path = tmp_path / "filters.png"
    result = plot_filters(simple, path)
    kernel = result.values
    assert kernel.shape == (5, 5, 1, 30)
    assert np.array_equal(kernel, simple.params["conv2d/kernel"])
    assert result.paths == (str(path),) and result.pages == ((("conv2d", 0, 30),),)
    assert_png(path, (910, 760))  # 30 filters: 5 rows of 6, (0.3 + 6 * 1.25 + 1.3) x (0.45 + 5 * 1.4 + 0.15) inches
    tiles = image_axes(drawn[0])
    assert len(tiles) == 30
    limit = np.abs(kernel).max()
    for i, ax in enumerate(tiles):
        np.testing.assert_array_equal(ax.images[0].get_array(), kernel[:, :, 0, i])
        assert ax.images[0].get_clim() == pytest.approx((-limit, limit))  # one scale, zero is white in bwr
        assert ax.get_title() == str(i) and ax.title.get_fontsize() >= 9
    assert colorbar_labels(drawn[0]) == ["weight"]
    assert drawn[0]._suptitle.get_text() == "conv2d: 30 filters of 5x5x1"


def test_plot_filters_on_pages_draws_every_filter_once(simple, tmp_path, drawn):
    result = plot_filters(simple, tmp_path / "f.png", per_page=12)
    assert result.paths == tuple(str(tmp_path / n) for n in ("f.png", "f-2.png", "f-3.png"))
    assert result.pages == ((("conv2d", 0, 12),), (("conv2d", 12, 24),), (("conv2d", 24, 30),))
    assert sorted(os.listdir(tmp_path)) == ["f-2.png", "f-3.png", "f.png"]
    assert len(drawn) == 3
    titles = [ax.get_title() for figure in drawn for ax in image_axes(figure)]
    assert titles == [str(i) for i in range(30)]
    for figure, start in zip(drawn, (0, 12, 24)):
        for k, ax in enumerate(image_axes(figure)):
            np.testing.assert_array_equal(ax.images[0].get_array(), result.values[:, :, 0, start + k])
    assert drawn[2]._suptitle.get_text() == "conv2d: 30 filters of 5x5x1\nfilters 24-29, page 3 of 3"


def test_plot_filters_of_an_rgb_model_scales_each_filter_to_0_1(tmp_path, drawn):
    model = zoo.simple_convnet((8, 8, 3), seed=1)
    model.build((None, 8, 8, 3))
    kernel = plot_filters(model, tmp_path / "rgb.png", title="mine").values
    assert np.array_equal(kernel, model.params["conv2d/kernel"]) and kernel.shape == (5, 5, 3, 30)
    w = kernel[..., 7]
    np.testing.assert_allclose(image_axes(drawn[0])[7].images[0].get_array(), (w - w.min()) / (w.max() - w.min()))
    assert drawn[0]._suptitle.get_text() == "mine"
    assert colorbar_labels(drawn[0]) == []  # colour is the filter's own RGB, not a value scale
    assert_png(tmp_path / "rgb.png", (910, 760))


def test_plot_filters_shows_the_first_of_several_conv_layers(deep, tmp_path):
    kernel = plot_filters(deep, tmp_path / "f.png").values
    assert np.array_equal(kernel, deep.params["conv2d/kernel"]) and kernel.shape == (3, 3, 1, 16)
    assert_png(tmp_path / "f.png", (660, 620))  # 16 filters: 4 x 4 tiles


@pytest.mark.parametrize("per_page", [0, -1, 2.5, True, "8"])
def test_per_page_must_be_a_positive_int(simple, tmp_path, per_page):
    with pytest.raises(ValueError, match=r"`per_page` argument must be a positive int\. Received: per_page="):
        plot_filters(simple, tmp_path / "f.png", per_page=per_page)
    with pytest.raises(ValueError, match=r"`per_page` argument must be a positive int\. Received: per_page="):
        plot_feature_maps(simple, np.zeros((8, 8, 1), np.float32), tmp_path / "m.png", per_page=per_page)
    assert os.listdir(tmp_path) == []


def test_page_paths():
    assert page_paths("out/maps.png", 1) == ["out/maps.png"]
    assert page_paths("out/maps.png", 3) == ["out/maps.png", "out/maps-2.png", "out/maps-3.png"]


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


def _feature_map_tiles(figure):
    """The map tiles of a feature-map page: every image axes but the input's (the first)."""
    return image_axes(figure)[1:]


def test_plot_feature_maps_draws_every_channel_of_every_layer_on_pages(deep, image, tmp_path, drawn):
    path = tmp_path / "maps.png"
    result = plot_feature_maps(deep, image, path)  # 16 + 16 + 32 + 32 + 64 + 64 = 224 maps, 64 a page
    expected = conv_feature_maps(deep, image)
    assert list(result.values) == list(expected)
    for name in expected:
        np.testing.assert_array_equal(result.values[name], expected[name])
    assert result.pages == (
        (("conv2d", 0, 16), ("conv2d_1", 0, 16), ("conv2d_2", 0, 32)),
        (("conv2d_3", 0, 32),),  # conv2d_4's 64 do not fit in the 32 left: a new page
        (("conv2d_4", 0, 64),),
        (("conv2d_5", 0, 64),),
    )
    assert result.paths == tuple(str(tmp_path / n) for n in ("maps.png", "maps-2.png", "maps-3.png", "maps-4.png"))
    assert sorted(os.listdir(tmp_path)) == ["maps-2.png", "maps-3.png", "maps-4.png", "maps.png"]
    assert_png(tmp_path / "maps.png", (1140, 1530), alone=False)  # 8 columns; input + 2 + 2 + 4 rows of tiles
    seen = []
    for figure, page in zip(drawn, result.pages):
        np.testing.assert_array_equal(image_axes(figure)[0].images[0].get_array(), image[..., 0])  # the input
        tiles = iter(_feature_map_tiles(figure))
        for name, start, stop in page:
            m = expected[name]
            for k in range(start, stop):
                ax = next(tiles)
                np.testing.assert_array_equal(ax.images[0].get_array(), m[..., k])
                assert ax.images[0].get_clim() == pytest.approx((m.min(), m.max()))  # the layer's one scale
                assert ax.get_title() == str(k)
                seen.append((name, k))
        assert next(tiles, None) is None
        assert colorbar_labels(figure) == ["input value"] + ["output value"] * len(page)
    assert seen == [(name, k) for name, m in expected.items() for k in range(m.shape[-1])]  # each once, in order
    assert drawn[1]._suptitle.get_text() == "feature maps of every Conv2D layer: page 2 of 4"
    low, high = expected["conv2d_3"].min(), expected["conv2d_3"].max()
    assert f"conv2d_3: 4x4x32, all 32 channels, values {low:.3g} to {high:.3g}" in texts_of(drawn[1])


def test_a_30_channel_layer_on_pages_of_16_is_two_files(simple, image, tmp_path, drawn):
    result = plot_feature_maps(simple, image, tmp_path / "m.png", per_page=16)
    maps = conv_feature_maps(simple, image)["conv2d"]
    assert result.pages == ((("conv2d", 0, 16),), (("conv2d", 16, 30),))
    assert sorted(os.listdir(tmp_path)) == ["m-2.png", "m.png"]
    tiles = _feature_map_tiles(drawn[0]) + _feature_map_tiles(drawn[1])
    assert len(tiles) == 30
    for k, ax in enumerate(tiles):
        np.testing.assert_array_equal(ax.images[0].get_array(), maps[..., k])
    assert any(t.startswith("conv2d: 8x8x30, channels 16-29 of 30, values 0 to ") for t in texts_of(drawn[1]))
    assert_png(tmp_path / "m-2.png", (1140, 590), alone=False)  # input + 2 rows of 8


def test_plot_feature_maps_of_a_single_conv_model_is_one_page_of_all_30(simple, image, tmp_path, drawn):
    result = plot_feature_maps(simple, image, tmp_path / "m.png")
    assert list(result.values) == ["conv2d"] and result.values["conv2d"].shape == (8, 8, 30)
    assert result.pages == ((("conv2d", 0, 30),),) and len(_feature_map_tiles(drawn[0])) == 30
    assert_png(tmp_path / "m.png", (1140, 870))  # input + 4 rows of 8 maps
    assert all(ax.title.get_fontsize() >= 9 for ax in drawn[0].axes if ax.get_title())


def test_plot_feature_maps_of_chosen_layers(deep, image, tmp_path, drawn):
    result = plot_feature_maps(deep, image, tmp_path / "m.png", layers=["conv2d_4", "conv2d_1"])
    assert list(result.values) == ["conv2d_1", "conv2d_4"]  # in the model's order
    assert result.pages == ((("conv2d_1", 0, 16),), (("conv2d_4", 0, 64),))
    np.testing.assert_array_equal(_feature_map_tiles(drawn[1])[63].images[0].get_array(),
                                  conv_feature_maps(deep, image)["conv2d_4"][..., 63])
    assert drawn[0]._suptitle.get_text() == "feature maps of conv2d_1, conv2d_4: page 1 of 2"


@pytest.mark.parametrize("layers", [["conv2d", "dense"], []])
def test_plot_feature_maps_refuses_a_layer_that_is_not_a_conv_output(deep, image, tmp_path, layers):
    with pytest.raises(ValueError, match=r"`layers` argument must name Conv2D outputs of model 'deep_convnet': "
                                         r"conv2d, conv2d_1, .*conv2d_5\. Received: layers="):
        plot_feature_maps(deep, image, tmp_path / "m.png", layers=layers)
    assert os.listdir(tmp_path) == []


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

def test_plot_confusion_is_row_normalised_with_the_errors_on_their_own_scale(tmp_path, drawn):
    matrix = np.array([[5, 1, 0], [2, 7, 0], [0, 3, 9]])
    result = plot_confusion(matrix, ["cat", "dog", "a very long class name"], tmp_path / "c.png")
    np.testing.assert_array_equal(result.counts, matrix)
    fractions = np.array([[5 / 6, 1 / 6, 0], [2 / 9, 7 / 9, 0], [0, 3 / 12, 9 / 12]])
    np.testing.assert_allclose(result.fractions, fractions)
    np.testing.assert_allclose(result.fractions.sum(axis=1), 1)
    assert_png(tmp_path / "c.png", (606, 405))  # (0.62 * 3 + 4.2) x (0.55 * 3 + 2.4) inches
    ax = drawn[0].axes[0]
    right, wrong = ax.images
    diagonal = np.eye(3, dtype=bool)
    np.testing.assert_array_equal(right.get_array().mask, ~diagonal)
    np.testing.assert_allclose(right.get_array().data[diagonal], [5 / 6, 7 / 9, 9 / 12])
    assert right.get_clim() == (0, 1) and right.get_cmap().name == "Greens"
    np.testing.assert_array_equal(wrong.get_array().mask, diagonal | (matrix == 0))  # no images: white
    np.testing.assert_allclose(wrong.get_array().data[~diagonal & (matrix > 0)], [1 / 6, 2 / 9, 3 / 12])
    assert wrong.get_clim() == pytest.approx((0, 3 / 12)) and wrong.get_cmap().name == "Reds"  # the worst error
    assert sorted(t.get_text() for t in ax.texts) == sorted(["5\n83%", "1\n17%", "2\n22%", "7\n78%", "3\n25%",
                                                             "9\n75%"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "a very long "]
    assert colorbar_labels(drawn[0]) == ["wrong: share of the true class", "right: share of the true class"]
    assert ax.get_title() == "confusion matrix: 77.8% of 27 right\neach row sums to 100%; errors in red"


def test_plot_confusion_a_class_without_images_is_a_row_of_zeros(tmp_path, drawn):
    matrix = np.array([[3, 1], [0, 0]])
    result = plot_confusion(matrix, ["a", "b"], tmp_path / "c.png")
    np.testing.assert_allclose(result.fractions, [[0.75, 0.25], [0, 0]])
    assert sorted(t.get_text() for t in drawn[0].axes[0].texts) == ["1\n25%", "3\n75%"]


def test_plot_confusion_ten_classes_size(tmp_path):
    matrix = np.arange(100).reshape(10, 10)
    assert plot_confusion(matrix, [str(i) for i in range(10)], tmp_path / "c.png") is not None
    assert_png(tmp_path / "c.png", (1040, 790))


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
    assert_png(tmp_path / "m.png", (430, 510))  # 3 images on a 2x2 grid: (2.0 * 2 + 0.3) x (2.2 * 2 + 0.7) inches
    panels = image_axes(drawn[0])
    assert [ax.get_title() for ax in panels] == ["one → two (0.90)", "one → zero (0.70)", "two → zero (0.70)"]
    assert all(ax.title.get_fontsize() >= 9 for ax in panels)
    for ax, i in zip(panels, index):
        np.testing.assert_array_equal(ax.images[0].get_array(), x[i, ..., 0])
    assert drawn[0]._suptitle.get_text() == "the 3 surest mistakes: true → predicted (confidence)"


def test_a_long_mistake_label_goes_over_two_lines():
    assert mistake_label("cat", "dog", 0.5) == "cat → dog (0.50)"
    assert mistake_label("automobile", "airplane", 0.987) == "automobile →\nairplane (0.99)"


def test_plot_mistakes_with_no_mistakes_still_writes_a_png(tmp_path, drawn, rng):
    x = rng.random((6, 8, 8, 1), dtype=np.float32)
    index = plot_mistakes(x, PROBS.argmax(1), PROBS, ["a", "b", "c"], tmp_path / "none.png")
    assert index.size == 0
    assert_png(tmp_path / "none.png", (230, 290))
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
    assert_png(tmp_path / "model.png", (800, 380))  # 8 x (0.5 * 5 + 1.3) inches
    texts = drawn[0].axes[0].texts
    words = [t.get_text() for t in texts]
    assert "simple_convnet: 49,890 parameters" in words and "dense (Dense)" in words and "48,100" in words
    assert words[1:4] == ["layer (type)", "output shape", "parameters"]
    assert min(t.get_fontsize() for t in texts) >= 9


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


@pytest.mark.parametrize("epochs,expected", [(1, ["1"]), (2, ["1", "2"]), (3, ["1", "2", "3"]), (30, None)])
def test_plot_history_epoch_ticks_are_whole_numbers(tmp_path, drawn, epochs, expected):
    plot_history({"loss": list(np.linspace(2, 1, epochs)), "val_accuracy": [0.5] * epochs}, tmp_path / "c.png")
    for ax in drawn[0].axes:
        low, high = ax.get_xlim()
        labels = [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
        assert labels and all(text.isdigit() for text in labels)  # "1", "2", never "1.5" or "0.960"
        assert [int(t) for t in labels] == [int(v) for v in ax.get_xticks() if low <= v <= high]
        if expected is not None:
            assert labels == expected
        assert 1 <= int(labels[0]) and int(labels[-1]) <= epochs


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
