"""``numcnn show``, in-process, on a one-epoch run on the embedded digits: every picture, and the
numbers behind it (caught by wrapping the numcnn.viz function the command calls)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import numcnn.viz
from numcnn import functional as F
from numcnn.app.cli import main
from numcnn.app.commands import SHOW_WHAT
from numcnn.data import load_digits
from numcnn.data.images import load_image
from numcnn.data.preprocessing import DATASET_PREPROCESSING
from numcnn.io import load_model
from numcnn.training.metrics import confusion_matrix
from numcnn.viz import conv_feature_maps, worst_mistakes


@pytest.fixture(scope="module")
def trained(one_epoch_run):
    return load_model(one_epoch_run / "model.safetensors")


@pytest.fixture
def spy(monkeypatch):
    """``spy("plot_filters")`` wraps that numcnn.viz function; the returned list gets (args, result) per call."""
    def install(name):
        calls = []
        original = getattr(numcnn.viz, name)

        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            calls.append((args, result))
            return result

        monkeypatch.setattr(numcnn.viz, name, wrapper)
        return calls
    return install


def _show(run, what, out, *flags):
    return main(["show", str(run), "--what", what, "--out", str(out), *flags])


def assert_png(path, size):
    with Image.open(path) as png:
        assert png.format == "PNG" and png.size == size
        png.load()
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]  # no temp files


# (width, height) in pixels: figsize * dpi 100 for the simple CNN on 8x8 digits
SIZES = {
    "filters": (910, 760),        # 30 filters: 5 rows of 6 tiles and a colour bar
    "feature-maps": (1140, 870),  # one conv layer: the input, then all 30 maps in 4 rows of 8
    "curves": (900, 360),
    "confusion": (1040, 790),     # 10 classes and two colour bars
    "mistakes": (830, 950),       # 16 mistakes (one epoch makes plenty): 4 x 4
    "model": (800, 380),          # 5 layers
}


def test_every_what_is_listed_here():
    assert sorted(SHOW_WHAT) == sorted(SIZES)


@pytest.mark.parametrize("what", SHOW_WHAT)
def test_show_writes_a_png_of_every_kind(one_epoch_run, tmp_path, capsys, what):
    out = tmp_path / f"{what}.png"
    assert _show(one_epoch_run, what, out) == 0
    assert_png(out, SIZES[what])
    assert capsys.readouterr().out == f"{what} of {one_epoch_run} saved to {out}\n"


def test_show_filters_draws_the_runs_first_conv_kernel(one_epoch_run, trained, tmp_path, spy):
    calls = spy("plot_filters")
    assert _show(one_epoch_run, "filters", tmp_path / "f.png") == 0
    (_, drawn), = calls
    assert np.array_equal(drawn.values, trained.params["conv2d/kernel"])
    assert drawn.paths == (str(tmp_path / "f.png"),)


def test_show_feature_maps_of_a_test_image_by_index(one_epoch_run, trained, tmp_path, spy):
    calls = spy("plot_feature_maps")
    assert _show(one_epoch_run, "feature-maps", tmp_path / "m.png", "--index", "5") == 0
    (args, drawn), = calls
    maps = drawn.values
    image = load_digits().x_test[5]
    np.testing.assert_array_equal(args[1], image)
    expected = conv_feature_maps(trained, image)
    assert list(maps) == ["conv2d"]
    np.testing.assert_allclose(maps["conv2d"], expected["conv2d"], rtol=1e-6, atol=1e-7)
    assert drawn.pages == ((("conv2d", 0, 30),),)  # all 30 channels on the one page
    assert_png(tmp_path / "m.png", SIZES["feature-maps"])


@pytest.fixture
def figures(drawn):
    """The figures saved during the test, in order (``drawn`` of conftest.py)."""
    return drawn


def test_show_feature_maps_on_pages_draws_every_channel_and_says_so(one_epoch_run, trained, tmp_path, capsys, figures):
    out = tmp_path / "m.png"
    assert _show(one_epoch_run, "feature-maps", out, "--per-page", "16", "--index", "2") == 0
    assert sorted(os.listdir(tmp_path)) == ["m-2.png", "m.png"]
    assert capsys.readouterr().out == (f"feature-maps of {one_epoch_run}: 30 maps of 1 Conv2D layer on 2 pages of up to "
                                       f"16, saved to {out}, {tmp_path / 'm-2.png'}\n")
    expected = conv_feature_maps(trained, load_digits().x_test[2])["conv2d"]
    first, second = ([ax for ax in figure.axes if ax.images][1:] for figure in figures)  # [0]: the input
    tiles = first + second
    assert [ax.get_title() for ax in tiles] == [str(k) for k in range(30)]
    for k, ax in enumerate(tiles):
        np.testing.assert_allclose(ax.images[0].get_array(), expected[..., k], rtol=1e-6, atol=1e-7)
    with Image.open(tmp_path / "m-2.png") as png:
        assert png.size == (1140, 590)  # the input and 2 rows of 8 (14 maps)


def test_show_filters_on_pages(one_epoch_run, trained, tmp_path, capsys, figures):
    out = tmp_path / "f.png"
    assert _show(one_epoch_run, "filters", out, "--per-page", "12") == 0
    paths = [out, tmp_path / "f-2.png", tmp_path / "f-3.png"]
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths)
    assert capsys.readouterr().out == (f"filters of {one_epoch_run}: 30 filters on 3 pages of up to 12, saved to "
                                       + ", ".join(map(str, paths)) + "\n")
    kernel = trained.params["conv2d/kernel"]
    tiles = [ax for figure in figures for ax in figure.axes if ax.images]
    assert [ax.get_title() for ax in tiles] == [str(k) for k in range(30)]
    for k, ax in enumerate(tiles):
        np.testing.assert_array_equal(ax.images[0].get_array(), kernel[:, :, 0, k])


def test_show_feature_maps_of_an_unknown_layer_is_exit_2(one_epoch_run, tmp_path, capsys):
    out = tmp_path / "m.png"
    assert _show(one_epoch_run, "feature-maps", out, "--layer", "dense") == 2
    err = capsys.readouterr().err
    assert ("numcnn show: error: --layer: The `layers` argument must name Conv2D outputs of model "
            "'simple_convnet': conv2d. Received: layers=['dense']") in err
    assert not out.exists()


def test_show_feature_maps_of_an_image_file(one_epoch_run, trained, tmp_path, spy):
    digit = load_digits().x_test[3, ..., 0]
    path = tmp_path / "digit.png"
    Image.fromarray((255 - digit * 255).astype(np.uint8)).resize((32, 32), Image.Resampling.NEAREST).save(path)
    calls = spy("plot_feature_maps")
    assert _show(one_epoch_run, "feature-maps", tmp_path / "out" / "m.png", "--image", str(path), "--layer",
                 "conv2d") == 0
    (args, drawn), = calls
    maps = drawn.values
    image = DATASET_PREPROCESSING["digits"].image_to_sample(load_image(path))  # dark on light: inverted
    np.testing.assert_array_equal(args[1], image)
    np.testing.assert_allclose(maps["conv2d"], conv_feature_maps(trained, image)["conv2d"], rtol=1e-6, atol=1e-7)
    assert_png(tmp_path / "out" / "m.png", SIZES["feature-maps"])


def test_show_confusion_and_mistakes_use_the_test_set(one_epoch_run, trained, tmp_path, spy):
    data = load_digits()
    probs = F.softmax(trained.predict(data.x_test, batch_size=256))
    confusion, mistakes = spy("plot_confusion"), spy("plot_mistakes")
    assert _show(one_epoch_run, "confusion", tmp_path / "c.png") == 0
    assert _show(one_epoch_run, "mistakes", tmp_path / "m.png") == 0
    (_, drawn), = confusion
    matrix = drawn.counts
    np.testing.assert_array_equal(matrix, confusion_matrix(data.y_test, probs.argmax(1), data.classes))
    assert matrix.sum() == len(data.y_test) == 359
    accuracy = json.loads((one_epoch_run / "metrics.json").read_text())["test_accuracy"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(accuracy)
    np.testing.assert_allclose(drawn.fractions, matrix / matrix.sum(axis=1, keepdims=True))
    (_, index), = mistakes
    np.testing.assert_array_equal(index, worst_mistakes(data.y_test, probs))
    assert len(index) == 16 and np.all(probs[index].argmax(1) != data.y_test[index])


def test_show_mistakes_labels_read_true_arrow_predicted_confidence(one_epoch_run, trained, tmp_path, figures):
    data = load_digits()
    probs = F.softmax(trained.predict(data.x_test, batch_size=256))
    assert _show(one_epoch_run, "mistakes", tmp_path / "m.png") == 0
    titles = [ax.get_title() for ax in figures[0].axes if ax.images]
    index = worst_mistakes(data.y_test, probs)
    assert len(titles) == 16
    for title, i in zip(titles, index):
        p = probs[i].argmax()
        assert title == f"{data.y_test[i]} → {p} ({probs[i, p]:.2f})"  # the digits' class names are the digits


def test_show_curves_draws_the_runs_history(one_epoch_run, tmp_path, spy):
    calls = spy("plot_history")
    assert _show(one_epoch_run, "curves", tmp_path / "c.png") == 0
    (args, _), = calls
    history = args[0]
    assert "epoch" not in history and len(history["loss"]) == 1
    metrics = json.loads((one_epoch_run / "metrics.json").read_text())
    assert history["loss"][0] == pytest.approx(metrics["final_loss"])
    assert history["val_accuracy"][0] == pytest.approx(metrics["final_val_accuracy"])
    assert args[2] == "simple on digits"


def test_show_model_rows(one_epoch_run, trained, tmp_path, spy):
    calls = spy("plot_model")
    assert _show(one_epoch_run, "model", tmp_path / "m.png") == 0
    (_, rows), = calls
    assert [r[0] for r in rows] == ["conv2d", "max_pooling2d", "flatten", "dense", "dense_1"]
    assert sum(r[3] for r in rows) == trained.count_params() == 49_890


def test_an_index_past_the_test_set_is_exit_2(one_epoch_run, tmp_path, capsys):
    out = tmp_path / "m.png"
    assert _show(one_epoch_run, "feature-maps", out, "--index", "359") == 2
    err = capsys.readouterr().err
    assert "numcnn show: error: --index must be below the 359 test images. Received: --index 359" in err
    assert not out.exists()


def test_a_directory_that_is_not_a_run_is_exit_2(tmp_path, capsys):
    out = tmp_path / "f.png"
    assert _show(tmp_path, "filters", out) == 2
    err = capsys.readouterr().err
    assert f"numcnn show: error: {tmp_path / 'config.json'}: not found" in err and "Received" in err
    assert not out.exists()


def test_an_image_that_is_not_an_image_is_exit_2(one_epoch_run, tmp_path, capsys):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"nope")
    assert _show(one_epoch_run, "feature-maps", tmp_path / "m.png", "--image", str(fake)) == 2
    assert f"{fake}: not a readable image" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--out", "x.png"], "the following arguments are required: --what"),
    (["--what", "weights", "--out", "x.png"], "invalid choice: 'weights'"),
    (["--what", "filters"], "the following arguments are required: --out"),
    (["--what", "feature-maps", "--index", "-1", "--out", "x.png"], "--index: must be a non-negative int"),
    (["--what", "filters", "--per-page", "0", "--out", "x.png"], "--per-page: must be a positive int"),
])
def test_argparse_errors_are_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(["show", str(tmp_path), *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
