"""The README's Python examples run and do what the text says."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_starts_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    bash = re.findall(r"```bash\n(.*?)```", text, flags=re.S)[0]
    commands = [line for line in bash.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    assert commands[0].endswith("numcnn train") and "pip install ." in commands[0]
    assert '".[test]"' in commands[1] and "pytest" in commands[1]


def test_readme_examples_run_and_train(capsys):
    namespace = {}
    blocks = _python_blocks()
    assert len(blocks) >= 2
    exec(compile(blocks[0], "README-block-0", "exec"), namespace)  # noqa: S102 - our own README
    model, F, x, labels = (namespace[k] for k in ("model", "F", "x", "labels"))
    # the example took one SGD step: the loss on the same batch went down
    assert F.softmax_cross_entropy(labels, model(x)) < namespace["loss"]
    assert "Total params: 433,890" in capsys.readouterr().out

    exec(compile(blocks[1], "README-block-1", "exec"), namespace)  # noqa: S102
    residual = namespace["Residual"]()
    y = residual(np.ones((2, 8, 8, 3), np.float32))
    assert y.shape == (2, 10)
    residual.backward(np.ones_like(y))
    shared = residual.params["conv2d_1/kernel"]
    assert residual.grads["conv2d_1/kernel"].shape == shared.shape
    assert np.abs(residual.grads["conv2d_1/kernel"]).sum() > 0


def test_readme_training_example_fits_digits_and_saves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = next(b for b in _python_blocks() if "model.fit(" in b)
    namespace = {}
    exec(compile(block, "README-training", "exec"), namespace)  # noqa: S102 - our own README
    history, accuracy = namespace["history"], namespace["accuracy"]
    assert 1 <= len(history.history["loss"]) <= 5
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy > 0.9
    assert (tmp_path / "digits.safetensors").stat().st_size > 49890 * 4  # every float32 weight


def test_readme_saving_and_interop_example_runs(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    block = next(b for b in _python_blocks() if "numcnn.save(" in b)
    namespace = {}
    exec(compile(block, "README-saving", "exec"), namespace)  # noqa: S102 - our own README
    model, same, net = namespace["model"], namespace["same"], namespace["net"]
    x = np.random.default_rng(0).standard_normal((3, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(same.predict(x), model.predict(x))
    with torch.no_grad():
        theirs = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(theirs, model.predict(x), rtol=1e-5, atol=1e-5)


def test_readme_pictures_exist_and_are_pngs():
    from PIL import Image

    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text(encoding="utf-8"))
    assert len(links) >= 3
    for link in links:
        with Image.open(README.parent / link) as picture:
            assert picture.format == "PNG" and min(picture.size) >= 100


def test_readme_real_networks_example_runs(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from numcnn.io import export_onnx
    from numcnn.models import zoo

    monkeypatch.chdir(tmp_path)
    small = zoo.resnet50(classes=5, input_shape=(32, 32, 3), width=0.125, seed=1)
    export_onnx(small, "resnet50.onnx")  # the file the example opens
    block = next(b for b in _python_blocks() if "from_onnx(" in b)
    namespace = {}
    exec(compile(block, "README-networks", "exec"), namespace)  # noqa: S102 - our own README
    model, features, net = namespace["model"], namespace["features"], namespace["net"]
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
    assert model.predict(x).shape == (2, 10) and features.predict(x).shape == (2, 4, 4, 128)
    y = np.random.default_rng(1).standard_normal((2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(net.predict(y), small.predict(y), rtol=1e-4, atol=1e-5)
