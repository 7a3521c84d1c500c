"""numcnn explain's web server through Starlette's TestClient (and one real uvicorn server for the live events):
every endpoint's numbers are the Explainer's and numcnn's forward pass; paths, hosts and uploads are refused."""

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
from helpers import popen_taking_ctrl_c  # noqa: E402
from PIL import Image  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from numcnn import functional as F  # noqa: E402
from numcnn.app.cli import main  # noqa: E402
from numcnn.data import load_dataset  # noqa: E402
from numcnn.explain import Explainer, decode_array, session, to_png_heatmap  # noqa: E402
from numcnn.explain.server import MAX_UPLOAD_BYTES, create_app, html_page, serve_in_thread  # noqa: E402
from numcnn.io import load_model  # noqa: E402
from numcnn.training.live_log import LIVE_LOG  # noqa: E402

POST = {"X-Numcnn": "1"}


@pytest.fixture(scope="module")
def app(trained_run):
    return create_app(trained_run, allowed_hosts=["testserver"])


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def reference(trained_run):
    """An Explainer of its own on the same run, and the run's model: what the server must agree with."""
    return Explainer(trained_run), load_model(trained_run / "model.safetensors")


def _png(pixels) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def _select(client, index):
    r = client.post("/api/select", json={"index": index}, headers=POST)
    assert r.status_code == 200, r.text
    return r.json()


def test_info_and_layers_describe_the_run(client, reference, trained_run):
    explainer, _ = reference
    info = client.get("/api/info").json()
    assert info["mode"] == "server" and info["info"]["class_names"] == [str(k) for k in range(10)]
    assert info["info"]["parameters"] == explainer.info()["parameters"] and info["test_count"] == 359
    assert info["history"]["epoch"] == [1.0, 2.0] and info["live"]["status"] == "finished"
    assert len(info["colormaps"]["viridis"]) == 256 and info["limits"]["upload_bytes"] == MAX_UPLOAD_BYTES
    _select(client, 3)
    explainer.select_test_image(3)
    layers = client.get("/api/layers").json()
    assert layers["layers"] == json.loads(json.dumps(explainer.layers()))
    assert [entry["name"] for entry in layers["layers"]] == ["input", "conv2d", "max_pooling2d", "flatten", "dense",
                                                             "dense_1"]


def test_maps_are_numcnns_forward_pass(client, reference):
    explainer, model = reference
    x = load_dataset("digits").x_test
    _select(client, 5)
    page = client.get("/api/maps", params={"layer": "conv2d", "start": 8, "count": 6}).json()
    assert page["start"] == 8 and page["count"] == 6 and page["total"] == 30 and page["maps"]["dtype"] == "float32"
    conv = model.layers[0]
    direct = np.maximum(F.conv2d(x[5:6], conv.params["kernel"], conv.params["bias"], padding="same"), 0)[0]
    np.testing.assert_allclose(decode_array(page["maps"]), np.moveaxis(direct[..., 8:14], -1, 0), rtol=1e-5, atol=1e-6)
    assert page["vmax"] == pytest.approx(float(direct.max()), rel=1e-5) and page["vmin"] == pytest.approx(0.0, abs=1e-7)
    logits = client.get("/api/maps", params={"layer": "dense_1"}).json()
    assert logits["kind"] == "vector" and logits["total"] == 10
    np.testing.assert_allclose(decode_array(logits["values"]), model.predict(x[5:6])[0], rtol=1e-5, atol=1e-6)
    summary = client.get("/api/summary", params={"layer": "conv2d", "start": 28, "count": 5}).json()
    assert summary["channels"] == 30 and summary["start"] == 28 and len(summary["max"]) == 2
    np.testing.assert_allclose(summary["max"], direct[..., 28:].max(axis=(0, 1)), rtol=1e-5)
    # one map as a PNG: the encoder's bytes for the same numbers and the layer's range
    explainer.select_test_image(5)
    r = client.get("/api/map.png", params={"layer": "conv2d", "channel": 9, "scale": 4})
    assert r.headers["content-type"] == "image/png"
    expected = to_png_heatmap(explainer.channels("conv2d", 9, 1)[0], 0.0, float(explainer.trace()["conv2d"].output.max()),
                              scale=4)
    assert r.content == expected and Image.open(io.BytesIO(r.content)).size == (32, 32)


def test_big_pages_are_quantised_within_half_a_step(tmp_path):
    from numcnn import Sequential
    from numcnn.layers import Conv2D

    model = Sequential([Conv2D(8, 3, padding="same", input_shape=(100, 100, 1))], seed=0)
    explainer = Explainer(model, test_set=(np.random.default_rng(0).random((2, 100, 100, 1)), np.array([0, 0])))
    client = TestClient(create_app(explainer, allowed_hosts=["testserver"]))
    page = client.get("/api/maps", params={"layer": "conv2d", "count": 8}).json()
    assert page["maps"]["dtype"] == "uint8"  # 80,000 numbers: over the exact budget
    exact = explainer.channels("conv2d", 0, 8)
    step = (page["vmax"] - page["vmin"]) / 255
    assert np.abs(decode_array(page["maps"]) - exact).max() <= step / 2 + 1e-6
    wide = Explainer(Sequential([Conv2D(2, 1, input_shape=(4, 4, 5))], seed=0),
                     test_set=(np.random.default_rng(1).random((1, 4, 4, 5)), np.array([0])))
    thumb = TestClient(create_app(wide, allowed_hosts=["testserver"])).get("/api/test_images/0.png")
    pixels = np.asarray(Image.open(io.BytesIO(thumb.content)), np.float32) / 255  # 5 channels: the first shown
    np.testing.assert_allclose(pixels, wide.test_picture(0)[..., 0], atol=0.5 / 255 + 1e-6)


def test_unit_detail_ends_in_the_number_of_the_map(client, reference):
    explainer, model = reference
    x = load_dataset("digits").x_test
    _select(client, 11)
    explainer.select_test_image(11)
    unit = client.get("/api/unit", params={"layer": "conv2d", "channel": 7, "y": 2, "x": 6}).json()
    assert unit == json.loads(json.dumps(explainer.unit("conv2d", 7, 2, 6)))
    conv = model.layers[0]
    direct = np.maximum(F.conv2d(x[11:12], conv.params["kernel"], conv.params["bias"], padding="same"), 0)[0]
    assert unit["output"] == pytest.approx(float(direct[2, 6, 7]), rel=1e-6, abs=1e-7)
    assert abs(unit["value"] - unit["output"]) <= unit["tolerance"]
    window = np.array(unit["window"][0])  # rows 0..4, columns 4..8 of the image with 2 pixels of zero padding
    padded = np.pad(x[11, :, :, 0], 2)
    np.testing.assert_array_equal(window, padded[2:7, 6:11].astype(np.float64))
    np.testing.assert_allclose(np.array(unit["products"][0]), window * np.array(unit["kernel"][0]))
    pool = client.get("/api/unit", params={"layer": "max_pooling2d", "channel": 7, "y": 1, "x": 3}).json()
    assert pool["kind"] == "max" and pool["output"] == pytest.approx(float(direct[2:4, 6:8, 7].max()), rel=1e-6)
    dense = client.get("/api/unit", params={"layer": "dense_1", "channel": 4, "top": 3}).json()
    assert len(dense["top"]) == 3 and dense["output"] == pytest.approx(float(model.predict(x[11:12])[0, 4]), rel=1e-5)
    slide = client.get("/api/sliding_window", params={"layer": "conv2d", "channel": 7}).json()
    assert slide["total"] == 64 and slide["steps"][22] == [2, 6, 0, 4]
    assert slide["values"][22] == unit["output"]
    page = client.get("/api/im2col", params={"layer": "conv2d", "start": 20, "count": 4}).json()
    assert page["shape"] == {"patches": [4, 25], "kernel_matrix": [25, 30]} and page["rows"] == 64
    np.testing.assert_allclose(np.maximum(np.array(page["product"]), 0), np.array(page["output"]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.array(page["patches"][2]), window.reshape(-1))  # row 22 = position (2, 6)
    np.testing.assert_allclose(np.array(page["output"])[2], direct[2, 6], rtol=1e-6, atol=1e-7)


def test_saliency_and_gradients_are_the_explainers(client, reference):
    explainer, _ = reference
    _select(client, 2)
    explainer.select_test_image(2)
    s = client.get("/api/saliency", params={"class_index": 4}).json()
    expected = explainer.saliency(4)
    assert s["class_index"] == 4 and s["loss"] == pytest.approx(expected.loss, rel=1e-9)
    np.testing.assert_array_equal(decode_array(s["input_gradient"]), expected.input_gradient)
    np.testing.assert_array_equal(decode_array(s["saliency_map"]), expected.saliency_map())
    assert [entry["name"] for entry in s["layers"]] == list(expected.gradients)
    g = client.get("/api/gradients", params={"layer": "conv2d", "class_index": 4, "start": 3, "count": 2}).json()
    np.testing.assert_array_equal(decode_array(g["maps"]), expected.channels("conv2d", 3, 2))
    bound = float(np.abs(expected.gradients["conv2d"]).max())
    assert g["vmin"] == pytest.approx(-bound) and g["vmax"] == pytest.approx(bound)
    # the loss really is the cross-entropy of class 4 of the served prediction
    p = client.get("/api/prediction").json()["probabilities"]
    assert s["loss"] == pytest.approx(-np.log(p[4]), rel=1e-5)


def test_test_images_filter_mistakes_and_thumbnails(client, reference):
    explainer, model = reference
    data = load_dataset("digits")
    page = client.get("/api/test_images", params={"label": 3, "start": 2, "count": 5}).json()
    assert page == json.loads(json.dumps(explainer.test_images(3, False, 2, 5)))
    assert [item["index"] for item in page["items"]] == list(np.flatnonzero(data.y_test == 3)[2:7])
    wrong = client.get("/api/test_images", params={"mistakes": 1, "count": 500}).json()
    predicted = model.predict(data.x_test).argmax(axis=1)
    assert sorted(item["index"] for item in wrong["items"]) == list(np.flatnonzero(predicted != data.y_test))
    png = client.get("/api/test_images/17.png")
    pixels = np.asarray(Image.open(io.BytesIO(png.content)), np.float32) / 255
    np.testing.assert_allclose(pixels, data.x_test[17, :, :, 0], atol=0.5 / 255 + 1e-6)
    chosen = _select(client, 17)
    np.testing.assert_allclose(chosen["probabilities"], F.softmax(model.predict(data.x_test[17:18]))[0], rtol=1e-5)
    assert chosen["source"] == "test:17" and chosen["label"] == int(data.y_test[17])
    assert client.get("/api/test_images/359.png").status_code == 400
    assert client.post("/api/select", json={"index": "3"}, headers=POST).status_code == 400


def test_an_upload_and_a_drawing_get_numcnn_predicts_probabilities(client, reference, trained_run, tmp_path, capsys):
    explainer, model = reference
    x = explainer.test_picture(21)[..., 0]
    ink = (255 - np.kron(x, np.ones((12, 12))) * 255 + 0.5).astype(np.uint8)  # dark ink on white paper
    path = tmp_path / "digit.png"
    path.write_bytes(_png(ink))
    r = client.post("/api/upload", content=path.read_bytes(), headers=POST)
    assert r.status_code == 200, r.text
    uploaded = r.json()
    assert uploaded["source"] == "upload"
    capsys.readouterr()
    assert main(["predict", str(trained_run), str(path)]) == 0
    printed = capsys.readouterr().out.split("top 3: ")[1].rstrip(")\n").split(", ")
    for entry in printed:
        name, p = entry.split()
        assert uploaded["probabilities"][int(name)] == pytest.approx(float(p), abs=5e-4)
    sample = explainer.preprocessing.load(str(path))[0]
    np.testing.assert_allclose(uploaded["probabilities"], F.softmax(model.predict(sample[None]))[0], rtol=1e-5)
    h, w = ink.shape
    drawn = client.post("/api/draw", json={"width": w, "height": h,
                                           "pixels": {"uint8": base64.b64encode(ink.tobytes()).decode()}}, headers=POST)
    assert drawn.status_code == 200, drawn.text
    assert drawn.json()["probabilities"] == uploaded["probabilities"] and drawn.json()["source"] == "drawing"
    listed = client.post("/api/draw", json={"width": w, "height": h, "pixels": (ink.reshape(-1) / 255).tolist()},
                         headers=POST).json()
    np.testing.assert_allclose(listed["probabilities"], uploaded["probabilities"], rtol=1e-6)
    assert client.get("/api/picture.png").headers["content-type"] == "image/png"


def test_uploads_are_limited_and_checked(client, monkeypatch):
    big = client.post("/api/upload", content=b"\0" * (MAX_UPLOAD_BYTES + 1), headers=POST)
    assert big.status_code == 413 and "bytes allowed" in big.json()["error"]
    assert client.post("/api/upload", content=b"not an image", headers=POST).status_code == 400
    assert "readable image" in client.post("/api/upload", content=b"GIF89a....", headers=POST).json()["error"]
    monkeypatch.setattr(session, "MAX_PIXELS", 100)
    many = client.post("/api/upload", content=_png(np.zeros((20, 20), np.uint8)), headers=POST)
    assert many.status_code == 413 and "20x20 pixels, more than the 100 allowed" in many.json()["error"]
    drawing = client.post("/api/draw", json={"width": 20, "height": 20, "pixels": [0.0] * 400}, headers=POST)
    assert drawing.status_code == 413
    monkeypatch.undo()
    bad = client.post("/api/draw", json={"width": 2, "height": 2, "pixels": [0, 0.5, 2, 0]}, headers=POST)
    assert bad.status_code == 400 and "[0, 1]" in bad.json()["error"]
    short = client.post("/api/draw", json={"width": 3, "height": 2, "pixels": [0, 0, 0]}, headers=POST)
    assert short.status_code == 400 and "6 values" in short.json()["error"]
    assert client.post("/api/upload", content=_png(np.zeros((20, 20), np.uint8))).status_code == 403  # no header


def test_no_path_outside_the_assets_is_served(client, trained_run):
    assert client.get("/").headers["content-security-policy"].startswith("default-src 'self'")
    assert "numcnn explain" in client.get("/").text and client.get("/static/app.js").status_code == 200
    for url in ["/static/../server.py", "/static/..%2fserver.py", "/static/%2e%2e/%2e%2e/io/run_dir.py",
                "/static/..%2f..%2f..%2f..%2fetc%2fpasswd", "/static/static/app.js", "/static/%2fetc%2fpasswd",
                "/api/test_images/..%2f..%2fconfig.json.png", "/config.json", "/static/__init__.py"]:
        r = client.get(url)
        assert r.status_code == 404, url
        assert "import" not in r.text and "root:" not in r.text and "numcnn.explain" not in r.text, url
    r = client.get("/api/maps", params={"layer": "../../config.json"})
    assert r.status_code == 404 and "must name a layer" in r.json()["error"]
    assert client.get("/api/maps", params={"layer": "conv2d", "count": 0}).status_code == 400
    evil = TestClient(client.app, base_url="http://evil.example")
    assert evil.get("/api/info").status_code == 400  # a rebound DNS name is not a loopback name


def test_a_killed_run_says_so_and_a_run_without_weights_waits(tmp_path, trained_run):
    run = tmp_path / "killed"
    shutil.copytree(trained_run, run)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    records = [{"event": "start", "time": time.time() - 60, "pid": dead.pid, "host": os.uname().nodename,
                "epochs": 5, "steps": 41, "initial_epoch": 0},
               {"event": "epoch", "time": time.time() - 30, "epoch": 0, "logs": {"loss": 1.0}}]
    (run / LIVE_LOG).write_text("".join(json.dumps(r) + "\n" for r in records))
    live = TestClient(create_app(run, allowed_hosts=["testserver"])).get("/api/live").json()
    assert live["status"] == "killed" and len(live["epochs"]) == 1 and live["total_epochs"] == 5
    empty = tmp_path / "empty"
    empty.mkdir()
    waiting = TestClient(create_app(empty, allowed_hosts=["testserver"], wait=True))
    assert waiting.get("/api/info").json()["waiting"] is True
    r = waiting.get("/api/layers")
    assert r.status_code == 503 and "first checkpoint" in r.json()["error"]
    with pytest.raises(ValueError, match="no such run directory"):
        create_app(tmp_path / "missing")
    with pytest.raises(ValueError, match="is this a numcnn run directory"):
        create_app(empty)  # without wait: refused
    starting = tmp_path / "starting"  # a run in its first epoch: config.json and a live log, no weights yet
    starting.mkdir()
    shutil.copy(trained_run / "config.json", starting / "config.json")
    (starting / LIVE_LOG).write_text(json.dumps({**records[0], "pid": os.getpid(), "time": time.time()}) + "\n")
    served = TestClient(create_app(starting, allowed_hosts=["testserver"]))
    assert served.get("/api/live").json()["status"] == "running" and served.get("/api/maps?layer=x").status_code == 503
    shutil.copy(trained_run / "model.safetensors", starting / "model.safetensors")
    assert served.app.state.explain.poll() and served.get("/api/layers").status_code == 200


def test_live_events_deliver_a_new_epoch_and_its_weights(tmp_path, trained_run):
    import httpx2 as httpx

    run = tmp_path / "live"
    shutil.copytree(trained_run, run)
    start = {"event": "start", "time": time.time(), "pid": os.getpid(), "host": os.uname().nodename, "epochs": 3,
             "steps": 41, "initial_epoch": 0}
    (run / LIVE_LOG).write_text(json.dumps(start) + "\n")
    url, stop, thread = serve_in_thread(run, open_browser=False, say=lambda *a: None)
    try:
        before = httpx.get(url + "api/prediction").json()
        snapshot = httpx.get(url + "api/snapshot").json()
        assert len(snapshot["samples"]) == 4 and snapshot["filters"]["shape"] == [5, 5, 1, 30]
        matrix = np.array(snapshot["confusion"]["normalized"])
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
        events = []
        with httpx.stream("GET", url + "api/events", timeout=20) as response:
            lines = response.iter_lines()
            deadline = time.monotonic() + 20
            wrote = False
            kind = None
            for line in lines:
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if kind == "status" and not wrote:
                        assert events[-1][1]["status"] == "running"
                        model = load_model(run / "model.safetensors")
                        for name in model.params:
                            model.params[name] *= 0.5  # the weights of "a new epoch"
                        model.save(str(run / "model.safetensors"))
                        with open(run / LIVE_LOG, "a") as f:
                            f.write(json.dumps({"event": "step", "time": time.time(), "epoch": 2, "step": 40,
                                                "loss": 0.25, "accuracy": 0.9}) + "\n")
                            f.write(json.dumps({"event": "epoch", "time": time.time(), "epoch": 2,
                                                "logs": {"loss": 0.25}}) + "\n")
                        wrote = True
                    if kind == "epoch":
                        break
                assert time.monotonic() < deadline, events
        kinds = [k for k, _ in events]
        assert "steps" in kinds and kinds[-1] == "epoch"
        epoch = events[-1][1]
        assert epoch["epochs"][-1]["epoch"] == 2 and epoch["model_version"] == events[0][1]["model_version"] + 1
        after = httpx.get(url + "api/prediction").json()
        model = load_model(run / "model.safetensors")
        x = load_dataset("digits").x_test[:1]
        np.testing.assert_allclose(after["probabilities"], F.softmax(model.predict(x))[0], rtol=1e-5)
        assert after["probabilities"] != before["probabilities"]
        assert httpx.get(url + "api/snapshot").json()["model_version"] == epoch["model_version"]
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_html_page_is_self_contained(trained_run, tmp_path, capsys):
    path = tmp_path / "page.html"
    assert main(["explain", str(trained_run), "--html", str(path), "--images", "3"]) == 0
    assert "wrote" in capsys.readouterr().out
    page = path.read_text()
    assert 'src="static' not in page and 'href="static' not in page and "http://" not in page
    data = page.split('<script type="application/json" id="numcnn-bundle">')[1].split("</script>")[0]
    bundle = json.loads(data.replace("<\\/", "</"))
    assert len(bundle["images"]) == 3 and len(bundle["colormaps"]["viridis"]) == 256
    assert "</script" not in html_page({"x": "</script><script>alert(1)</script>"}).split("numcnn-bundle")[1][:60]
    assert main(["explain", str(tmp_path / "nothing")]) == 2
    assert main(["explain", str(trained_run), "--html", str(tmp_path / "page.txt")]) == 2


def test_the_command_serves_until_interrupted(trained_run):
    process = popen_taking_ctrl_c([sys.executable, "-m", "numcnn", "explain", str(trained_run), "--no-browser"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "serving" in line and "http://127.0.0.1:" in line, line + process.stderr.read()
        url = line.split(" at ")[1].split()[0]
        import httpx2 as httpx

        assert httpx.get(url + "api/info").json()["info"]["dataset"] == "digits"
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
