"""``numcnn import``: an ONNX file becomes a run directory that predict, summary, show, evaluate and export
work on, with the preprocessing and class names given by flags."""

import json
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose
from PIL import Image

from helpers import import_torch
from numcnn.app.cli import main
from numcnn.data.preprocessing import Preprocessing

pytest.importorskip("onnxruntime")
MEAN, STD = (0.45, 0.5, 0.55), (0.2, 0.25, 0.3)


def _run(*argv):
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def digits_onnx(tmp_path_factory):
    """A run trained on the digits, its test metrics, and its export."""
    root = tmp_path_factory.mktemp("import")
    assert _run("train", "--out", root / "trained", "--epochs", "2", "--progress", "quiet") == 0
    assert _run("export", root / "trained", "--out", root / "digits.onnx") == 0
    with open(root / "trained" / "metrics.json") as f:
        return root, json.load(f)


def torch_net(torch, channels=3, classes=4):
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, classes)).eval()


@pytest.fixture(scope="module")
def torch_onnx(tmp_path_factory):
    torch = import_torch()
    net = torch_net(torch)
    path = tmp_path_factory.mktemp("torch") / "net.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 16, 16), str(path), dynamo=False, opset_version=13,
                      input_names=["image"], dynamic_axes={"image": {0: "batch"}})
    return net, path


def test_an_exported_run_imported_again_evaluates_to_the_same_accuracy(digits_onnx, capsys):
    root, metrics = digits_onnx
    assert _run("import", root / "digits.onnx", "--out", root / "imported") == 0
    assert sorted(os.listdir(root / "imported")) == ["config.json", "model.safetensors"]
    capsys.readouterr()
    assert _run("evaluate", root / "imported", "--dataset", "digits") == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("accuracy ")[1].split()[0])
    loss = float(out.split("loss ")[1].split(",")[0])
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert loss == pytest.approx(metrics["test_loss"], abs=1e-3)


def test_imported_runs_have_no_test_set_or_curves_of_their_own(digits_onnx, tmp_path, capsys):
    root, _ = digits_onnx
    out = tmp_path / "run"
    assert _run("import", root / "digits.onnx", "--out", out) == 0
    capsys.readouterr()
    assert _run("evaluate", out) == 2
    assert "is an imported network: it has no test set of its own. Pass --dataset NAME" in capsys.readouterr().err
    assert _run("show", out, "--what", "curves", "--out", tmp_path / "c.png") == 2
    assert "it was not trained here, so it has no curves" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()


def _preprocess_by_hand(pixels, bgr=True):
    x = pixels.astype(np.float32) / 255
    x = x[..., ::-1] if bgr else x
    return ((x - np.array(MEAN[::-1] if bgr else MEAN, np.float32)) / np.array(STD[::-1] if bgr else STD,
                                                                                np.float32))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_predict_applies_the_saved_preprocessing_and_names_the_classes(torch_onnx, data_format, tmp_path, capsys):
    torch = import_torch()
    net, path = torch_onnx
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nbird\n\nfish\n")  # blank lines are skipped
    out = tmp_path / "run"
    # the flags give the mean and std in the file's channel order (BGR here, reversed from RGB)
    assert _run("import", path, "--out", out, "--data-format", data_format, "--mean", *MEAN[::-1], "--std",
                *STD[::-1], "--channel-order", "bgr", "--labels", labels) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"]["class_names"] == ["cat", "dog", "bird", "fish"]
    assert config["outputs"] == "logits" and config["source"]["opset"] == 13
    assert config["preprocessing"]["channel_order"] == "bgr"

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    x = _preprocess_by_hand(pixels)
    logits = net(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))).detach().numpy()[0]
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    capsys.readouterr()
    assert _run("predict", out, tmp_path / "a.png") == 0
    line = capsys.readouterr().out.strip()
    names = ["cat", "dog", "bird", "fish"]
    best = np.argsort(-probabilities)[:3]
    expected = ", ".join(f"{names[k]} {probabilities[k]:.3f}" for k in best)
    assert line == f"{tmp_path / 'a.png'}: {names[best[0]]}  (top 3: {expected})"


def test_summary_show_and_export_work_on_an_imported_run(torch_onnx, tmp_path, capsys):
    _, path = torch_onnx
    out = tmp_path / "run"
    assert _run("import", path, "--out", out) == 0
    capsys.readouterr()
    assert _run("summary", out) == 0
    text = capsys.readouterr().out
    assert "imported from net.onnx (ONNX opset 13, made by pytorch" in text and "its outputs are logits" in text
    Image.fromarray(np.full((20, 12, 3), 128, np.uint8)).save(tmp_path / "b.png")
    for what in ("filters", "model"):
        assert _run("show", out, "--what", what, "--out", tmp_path / f"{what}.png") == 0
    assert _run("show", out, "--what", "feature-maps", "--image", tmp_path / "b.png", "--out", tmp_path / "f.png") == 0
    assert all((tmp_path / f"{w}.png").stat().st_size > 1000 for w in ("filters", "model", "f"))
    assert _run("export", out, "--out", tmp_path / "again.onnx") == 0
    import onnxruntime

    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)
    original = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    again = onnxruntime.InferenceSession(str(tmp_path / "again.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.transpose(0, 2, 3, 1)})[0]
    assert_allclose(again, original, rtol=1e-4, atol=1e-5)


def test_a_free_image_size_needs_size_and_a_fixed_one_must_match(tmp_path, capsys):
    torch = import_torch()
    net = torch_net(torch)
    path = tmp_path / "free.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 16, 16), str(path), dynamo=False, opset_version=13,
                      input_names=["image"], dynamic_axes={"image": {0: "batch", 2: "h", 3: "w"}})
    assert _run("import", path, "--out", tmp_path / "a") == 2
    assert "leaves the image size free: pass --size HEIGHT WIDTH" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    assert _run("import", path, "--out", tmp_path / "b", "--size", 24, 20) == 0
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["dataset"]["input_shape"] == [24, 20, 3]
    fixed = tmp_path / "fixed.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 16, 16), str(fixed), dynamo=False, opset_version=13)
    assert _run("import", fixed, "--out", tmp_path / "c", "--size", 24, 20) == 2
    assert "--size: the network takes 16x16 images. Received: --size 24 20" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--std", "0"], "argument --std: must be a finite non-zero number. Received: '0'"),
    (["--channel-order", "gbr"], "argument --channel-order: invalid choice: 'gbr'"),
])
def test_bad_flag_values_are_refused_by_argparse(torch_onnx, flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        _run("import", torch_onnx[1], "--out", tmp_path / "run", *flags)
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--mean", "1", "2"], "The `mean` argument must be one number or 3 (one per channel). Received: mean=(1.0, 2.0)"),
    (["--labels", "LABELS"], "--labels must name each of the network's 4 outputs, one per line. Received: 2 names"),
])
def test_flags_that_do_not_fit_the_network_are_named_and_write_nothing(torch_onnx, flags, message, tmp_path, capsys):
    (tmp_path / "LABELS").write_text("a\nb\n")
    flags = [str(tmp_path / "LABELS") if f == "LABELS" else f for f in flags]
    assert _run("import", torch_onnx[1], "--out", tmp_path / "run", *flags) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_file_that_is_not_onnx_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "x.onnx").write_bytes(b"\x08\x07garbage" * 20)
    assert _run("import", tmp_path / "x.onnx", "--out", tmp_path / "run") == 2
    assert "is not a readable ONNX model" in capsys.readouterr().err
    assert _run("import", tmp_path / "missing.onnx", "--out", tmp_path / "run") == 2
    assert "missing.onnx: no such ONNX file. Received:" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_preprocessing_turns_pixels_into_the_models_input():
    p = Preprocessing((2, 3), 3, scale=1 / 255, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0), channel_order="bgr",
                      data_format="channels_first")
    image = np.zeros((2, 3, 3), np.float32)
    image[..., 0] = 1.0  # red
    sample = p.image_to_sample(image)
    assert sample.shape == (3, 2, 3)
    # BGR: channel 0 is blue (0 -> (0 - 0.5) / 0.5 = -1), channel 2 is red (1 -> 1)
    assert_allclose(sample[0], -1.0, atol=1e-6)
    assert_allclose(sample[1], -1.0, atol=1e-6)
    assert_allclose(sample[2], 1.0, atol=1e-6)
    gray = Preprocessing((4, 4), 1, scale=1.0, mean=128.0, std=64.0)
    assert_allclose(gray.image_to_sample(np.full((8, 8), 0.5, np.float32)), np.full((4, 4, 1), (127.5 - 128) / 64),
                    atol=1e-6)
