"""numcnn.explain.Explainer on real runs: a digits run trained for one epoch by `numcnn train`, an MNIST run
read through NUMCNN_DATA_DIR, and an ONNX network imported by `numcnn import`; and the --html bundle data."""

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from explain_models import build
from PIL import Image

from numcnn import functional as F
from numcnn.app.cli import main
from numcnn.data import load_dataset
from numcnn.data.images import load_image
from numcnn.explain import (
    Explainer,
    decode_array,
    to_png_heatmap,
    to_png_picture,
    unit_detail,
    write_html_bundle_data,
)
from numcnn.explain import session
from numcnn.explain.encode import _lut
from numcnn.io import load_model
from numcnn.io.run_dir import read_history_csv
from numcnn.models.zoo import simple_convnet

MNIST_DIR = str(Path(__file__).resolve().parents[2].parent / "shared" / "datasets")  # ../shared beside the repo


@pytest.fixture(scope="module")
def explainer(one_epoch_run):
    return Explainer(one_epoch_run)


def _drawing(explainer, index):
    """Test image ``index`` drawn as a person would: dark ink on white paper, 10 times larger (uint8)."""
    x = explainer.test_picture(index)[..., 0]
    return (255 - np.kron(x, np.ones((10, 10))) * 255 + 0.5).astype(np.uint8)


def _png(pixels) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_info_history_and_class_names_come_from_the_run(explainer, one_epoch_run):
    info = json.loads(json.dumps(explainer.info()))
    assert info["class_names"] == [str(k) for k in range(10)] and info["dataset"] == "digits"
    assert info["input_shape"] == [8, 8, 1] and info["outputs"] == "logits" and not info["imported"]
    assert info["preprocessing"]["fit"] == "ink" and info["parameters"] == 49890
    history = explainer.history()
    assert history == read_history_csv(one_epoch_run / "history.csv") and history["epoch"] == [1.0]


def test_test_images_filter_by_class_and_list_the_mistakes_surest_first(explainer, one_epoch_run):
    x, y = load_dataset("digits").x_test, load_dataset("digits").y_test
    probs = F.softmax(load_model(one_epoch_run / "model.safetensors").predict(x))
    threes = explainer.test_images(label=3, count=500)
    assert threes["total"] == int((y == 3).sum()) and [i["index"] for i in threes["items"]] == list(np.flatnonzero(y == 3))
    first = threes["items"][0]
    assert first["confidence"] == pytest.approx(float(probs[first["index"]].max()), rel=1e-6)
    wrong = explainer.test_images(mistakes=True, count=1000)
    expected = np.flatnonzero(probs.argmax(1) != y)
    assert sorted(i["index"] for i in wrong["items"]) == list(expected) and wrong["total"] == len(expected)
    confidences = [i["confidence"] for i in wrong["items"]]
    assert confidences == sorted(confidences, reverse=True)
    assert all(i["label"] != i["predicted"] for i in wrong["items"])
    page = explainer.test_images(mistakes=True, label=8, start=1, count=2)
    assert [i["index"] for i in page["items"]] == [i["index"] for i in wrong["items"] if i["label"] == 8][1:3]


def test_a_test_image_gives_predicts_probabilities_and_its_maps(explainer, one_epoch_run):
    model = load_model(one_epoch_run / "model.safetensors")
    x = load_dataset("digits").x_test
    prediction = explainer.select_test_image(7)
    np.testing.assert_allclose(prediction["probabilities"], F.softmax(model.predict(x[7:8]))[0], rtol=1e-6)
    assert prediction["label"] == int(load_dataset("digits").y_test[7]) and prediction["source"] == "test:7"
    np.testing.assert_array_equal(explainer.picture(), x[7])
    conv = model.layers[0]
    direct = np.maximum(F.conv2d(x[7:8], conv.params["kernel"], conv.params["bias"], padding="same"), 0)[0]
    np.testing.assert_allclose(np.moveaxis(explainer.channels("conv2d", 10, 5), 0, -1), direct[..., 10:15],
                               rtol=1e-5, atol=1e-6)
    u = explainer.unit("conv2d", 12, 3, 4)
    assert u["output"] == float(explainer.trace()["conv2d"].output[3, 4, 12])
    assert abs(u["value"] - u["output"]) <= u["tolerance"]
    s = explainer.saliency()
    assert s.class_index == prediction["predicted"] and s is explainer.saliency(prediction["predicted"])
    assert s.input_gradient.shape == (8, 8, 1)


def test_an_uploaded_file_gets_the_probabilities_numcnn_predict_gives(explainer, one_epoch_run, tmp_path, capsys):
    pixels = _drawing(explainer, 11)
    path = tmp_path / "drawn.png"
    path.write_bytes(_png(pixels))
    prediction = explainer.predict_image(path.read_bytes())
    assert prediction["source"] == "upload" and prediction["label"] is None
    assert main(["predict", str(one_epoch_run), str(path)]) == 0
    printed = capsys.readouterr().out.split("top 3: ")[1].rstrip(")\n").split(", ")
    for entry in printed:  # "7 0.912": class name, probability to 3 decimals
        name, p = entry.split()
        assert prediction["probabilities"][int(name)] == pytest.approx(float(p), abs=5e-4)
    # the same arrays: predict's pipeline is Preprocessing.load of the file, then model.predict
    model = load_model(one_epoch_run / "model.safetensors")
    sample = explainer.preprocessing.load(str(path))[0]
    np.testing.assert_allclose(prediction["probabilities"], F.softmax(model.predict(sample[None]))[0], rtol=1e-6)
    picture = explainer.picture()
    assert picture.shape == (8, 8, 1) and 0 <= picture.min() and picture.max() <= 1
    # a drawing handed over as pixels in [0, 1] is the same image as its PNG
    drawn = explainer.predict_image(pixels / np.float32(255), kind="drawing")
    assert drawn["probabilities"] == prediction["probabilities"] and drawn["source"] == "drawing"
    inverted = explainer.predict_image(path.read_bytes(), invert="no")  # ink taken as dark on light: another input
    assert inverted["probabilities"] != prediction["probabilities"]


def test_uploads_are_checked(explainer, monkeypatch):
    blank = explainer.predict_image(np.ones((40, 40), np.float32))
    assert any("blank" in w for w in blank["warnings"])
    with pytest.raises(ValueError, match="not a readable image"):
        explainer.predict_image(b"not an image")
    with pytest.raises(TypeError, match="bytes or an array"):
        explainer.predict_image("/etc/passwd")  # a path is never read
    monkeypatch.setattr(session, "MAX_PIXELS", 100)
    with pytest.raises(ValueError, match="more than the 100 allowed"):
        explainer.predict_image(_png(np.zeros((20, 20), np.uint8)))
    with pytest.raises(ValueError, match="more than the 100 allowed"):
        explainer.predict_image(np.zeros((20, 20), np.float32))


def test_html_bundle_data_holds_exact_maps_weights_and_saliency(explainer):
    data = write_html_bundle_data(explainer, 20)
    size = len(json.dumps(data))
    print(f"\nhtml bundle data of a digits run, 20 images: {size / 1e6:.2f} MB")
    assert size < 1_500_000 and data["exact"]
    images = data["images"]
    assert len(images) == 20 and len({i["index"] for i in images}) == 20
    assert {i["label"] for i in images} == set(range(10))
    mistakes = explainer.test_images(mistakes=True, count=5)["items"]
    assert [i["index"] for i in images[-5:]] == [m["index"] for m in mistakes]  # a quarter: the surest mistakes
    entry = images[3]
    explainer.select_test_image(entry["index"])
    t = explainer.trace()
    for record in t.records:
        np.testing.assert_array_equal(decode_array(entry["maps"][record.name]), record.output)
    np.testing.assert_array_equal(decode_array(entry["saliency"]["gradients"]["input"]),
                                  explainer.saliency().input_gradient)
    # a conv unit as the page computes it from the file: input map, padding, kernel slice, bias
    layer = {row["name"]: row for row in data["layers"]}["conv2d"]
    kernel = decode_array(data["weights"]["conv2d"]["kernel"])
    bias = decode_array(data["weights"]["conv2d"]["bias"])
    (top, bottom), (left, right) = layer["pads"]
    padded = np.pad(decode_array(entry["maps"]["input"]), ((top, bottom), (left, right), (0, 0)))
    out = decode_array(entry["maps"]["conv2d"])
    for f, i, j in [(0, 0, 0), (7, 3, 5), (29, 7, 7)]:
        pre = float((padded[i:i + 5, j:j + 5, :].astype(np.float64) * kernel[..., f]).sum() + bias[f])
        assert abs(max(pre, 0.0) - out[i, j, f]) <= unit_detail(t, "conv2d", f, i, j)["tolerance"]
    assert data["history"]["epoch"] == [1.0] and data["info"]["class_names"][0] == "0"


def test_reload_picks_up_a_new_epoch(one_epoch_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)
    e = Explainer(run)
    before = e.select_test_image(0)["probabilities"]
    assert not e.reload()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--progress", "quiet"]) == 0
    assert e.reload()
    assert e.prediction()["probabilities"] != before and e.history()["epoch"] == [1.0, 2.0]
    np.testing.assert_allclose(e.prediction()["probabilities"],
                               F.softmax(load_model(run / "model.safetensors").predict(e.picture()[None]))[0], rtol=1e-6)


@pytest.mark.skipif(not os.path.exists(os.path.join(MNIST_DIR, "mnist", "t10k-images-idx3-ubyte.gz")),
                    reason="no MNIST files")
def test_an_mnist_run_reads_its_test_set_through_numcnn_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMCNN_DATA_DIR", MNIST_DIR)
    run = tmp_path / "mnist"
    run.mkdir()
    model = simple_convnet(seed=5)
    model.build((None, 28, 28, 1))
    model.save(run / "model.safetensors")
    config = {"format": "numcnn.run", "format_version": 1, "dataset": {"name": "mnist", "input_shape": [28, 28, 1],
              "class_names": [str(k) for k in range(10)], "data_dir": None}, "training": {}, "model": {}}
    (run / "config.json").write_text(json.dumps(config))
    e = Explainer(run)
    _, y = load_dataset("mnist", MNIST_DIR, download_missing=False, progress=False, splits=("test",)).x_test, \
        load_dataset("mnist", MNIST_DIR, download_missing=False, progress=False, splits=("test",)).y_test
    assert e.test_images(label=7, count=3)["total"] == int((y == 7).sum()) == 1028
    assert e.select_test_image(0)["label"] == int(y[0])
    data = write_html_bundle_data(e, 4)  # 26,000 numbers an image: maps quantised, what units read exact
    assert not data["exact"] and len(data["images"]) == 4
    entry = data["images"][0]
    e.select_test_image(entry["index"])
    t = e.trace()
    exact = entry["exact_parts"]
    np.testing.assert_array_equal(decode_array(exact["conv2d"]["input"]), t["input"].output)
    np.testing.assert_array_equal(decode_array(exact["conv2d"]["output"]), t["conv2d"].output)
    np.testing.assert_array_equal(decode_array(exact["dense"]["input"]), t["flatten"].output)
    winners = decode_array(exact["max_pooling2d"]["winners"])
    for c, i, j in [(0, 0, 0), (17, 5, 9), (29, 11, 11)]:
        assert list(divmod(int(winners[i, j, c]), 2)) == unit_detail(t, "max_pooling2d", c, i, j)["winner"]
    quantised = decode_array(entry["maps"]["conv2d"])
    span = entry["maps"]["conv2d"]["max"] - entry["maps"]["conv2d"]["min"]
    assert np.abs(quantised - t["conv2d"].output).max() <= span / 255
    print(f"\nhtml bundle data of an MNIST SimpleConvNet, 4 images: {len(json.dumps(data)) / 1e6:.2f} MB")


def _onnx_file(path, rng):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weights = {"w": rng.standard_normal((3, 1, 3, 3)).astype(np.float32) * 0.5,
               "b": rng.standard_normal(3).astype(np.float32) * 0.1,
               "fw": rng.standard_normal((27, 4)).astype(np.float32) * 0.3,
               "fb": rng.standard_normal(4).astype(np.float32) * 0.1}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["g"], name="fc"),
             helper.make_node("Softmax", ["g"], ["y"], axis=1, name="softmax")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    onnx.save(model, str(path))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_an_imported_onnx_network(tmp_path, rng, capsys, data_format):
    _onnx_file(tmp_path / "tiny.onnx", rng)
    run = tmp_path / "run"
    assert main(["import", str(tmp_path / "tiny.onnx"), "--out", str(run), "--data-format", data_format]) == 0
    e = Explainer(run)
    assert e.outputs == "probabilities" and e.info()["imported"]
    with pytest.raises(ValueError, match="no test set"):
        e.test_images()
    picture = (rng.random((12, 12)) * 255).astype(np.uint8)
    (tmp_path / "p.png").write_bytes(_png(picture))
    prediction = e.predict_image((tmp_path / "p.png").read_bytes())
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "p.png")]) == 0
    name, p = capsys.readouterr().out.split("top 3: ")[1].split(", ")[0].split()
    assert prediction["probabilities"][int(name)] == pytest.approx(float(p), abs=5e-4)
    t = e.trace()
    conv = [r for r in t.records if r.class_name == "Conv2D"][0]
    assert conv.data_format == data_format
    for c, i, j in [(0, 0, 0), (2, 5, 3)]:
        u = e.unit(conv.name, c, i, j)
        assert abs(u["value"] - u["output"]) <= u["tolerance"]
    s = e.saliency(1)
    model = e.model
    out = model(t.sample[None])
    dx = model.backward(F.categorical_cross_entropy_backward(F.categorical_cross_entropy_forward(np.array([1]), out)[1]))
    np.testing.assert_allclose(s.input_gradient, dx[0], rtol=1e-6, atol=1e-9)


def test_a_model_given_directly_with_its_test_set(rng):
    model, x = build("functional", rng)
    images = rng.random((6, 9, 9, 4)).astype(np.float32)
    e = Explainer(model, test_set=(images, [0, 1, 2, 0, 1, 2]), class_names=["a", "b", "c"])
    assert e.outputs == "probabilities" and e.history() is None
    prediction = e.select_test_image(4)
    np.testing.assert_allclose(prediction["probabilities"], model.predict(images[4:5])[0], rtol=1e-6)
    assert prediction["class_names"] == ["a", "b", "c"] and prediction["label"] == 1
    with pytest.raises(ValueError, match="no image preprocessing"):
        e.predict_image(np.zeros((9, 9), np.float32))
    e.set_sample(x)
    assert e.picture() is None and e.prediction()["source"] == "sample"
    with pytest.raises(ValueError, match="Received: index=6"):
        e.select_test_image(6)
    with pytest.raises(TypeError, match="run directory or a numcnn Model"):
        Explainer(42)


def test_png_heatmaps_colour_each_value_by_the_colormap():
    a = np.array([[0.0, 1.0], [2.0, 4.0]])
    rgb = np.asarray(Image.open(io.BytesIO(to_png_heatmap(a, 0, 4))).convert("RGB"))
    lut = _lut("viridis")
    np.testing.assert_array_equal(rgb[0, 0], lut[0])
    np.testing.assert_array_equal(rgb[1, 1], lut[255])
    np.testing.assert_array_equal(rgb[1, 0], lut[128])  # (2 - 0) / 4 * 255 + 0.5 -> 128
    big = Image.open(io.BytesIO(to_png_heatmap(a, cmap="RdBu_r", scale=3)))
    assert big.size == (6, 6)
    grey = np.array([[0.0, 0.5], [1.0, 0.25]])
    back = load_image(io.BytesIO(to_png_picture(grey)).getvalue())
    np.testing.assert_allclose(back, grey, atol=0.5 / 255 + 1e-7)
    with pytest.raises(ValueError, match="Received: shape"):
        to_png_heatmap(np.zeros(3))
    with pytest.raises(ValueError, match="Received: cmap='jet'"):
        to_png_heatmap(a, cmap="jet")
