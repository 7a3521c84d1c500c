"""numcnn explain in a real browser: Playwright for Python driving Debian's Chromium (/usr/bin/chromium, headless).

The page loads without a console error or a failed request; a clicked conv unit shows numcnn's forward pass; a
digit drawn with the mouse gets the prediction `numcnn predict` gives for the same pixels; the live view picks up
the epochs of a running `numcnn train --explain`; the --html page works from file:// with the network blocked.
The tests save screenshots to docs/images/explain-*.png.
"""

import base64
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"the browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (pip install playwright)")
from helpers import popen_taking_ctrl_c  # noqa: E402
from PIL import Image  # noqa: E402

from numcnn import functional as F  # noqa: E402
from numcnn.app.cli import main  # noqa: E402
from numcnn.data import load_dataset  # noqa: E402
from numcnn.explain.server import serve_in_thread  # noqa: E402
from numcnn.io import load_model  # noqa: E402

#: where the screenshots go: NUMCNN_SCREENSHOTS=docs/images renews the documentation's, else a temporary folder
SHOTS = Path(os.environ.get("NUMCNN_SCREENSHOTS") or Path(tempfile.gettempdir()) / "numcnn-screenshots")
VIEWPORT = {"width": 1500, "height": 950}


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(trained_run):
    url, stop, thread = serve_in_thread(trained_run, open_browser=False, say=lambda *a: None)
    yield url
    stop.set()
    thread.join(10)


class Watched:
    """A page whose console errors, uncaught exceptions, failed requests and HTTP errors are collected."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport=VIEWPORT)
        self.problems = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"exception: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))

    def open(self, url):
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        self.page.wait_for_load_state("networkidle")
        return self.page


def _shot(page, name, full_page=False):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"explain-{name}.png"), full_page=full_page)


def _click_unit(page, layer, channel, y, x, height, width):
    canvas = page.locator(f'#columns .column[data-layer="{layer}"] canvas[data-channel="{channel}"]')
    box = canvas.bounding_box()
    canvas.click(position={"x": (x + 0.5) * box["width"] / width, "y": (y + 0.5) * box["height"] / height})
    page.wait_for_selector(f'#detail:not(.hidden)[data-layer="{layer}"]')
    page.wait_for_selector("#detail .im2col")


def test_the_page_loads_and_shows_every_layer(browser, server):
    w = Watched(browser)
    page = w.open(server)
    assert page.locator("#columns .column").count() == 6  # input, conv2d, max pooling, flatten, dense, dense_1
    assert page.locator("#columns .column[data-layer=conv2d] .map").count() == 30
    assert page.locator("#prediction .bar-row").count() == 10
    assert page.locator("#test-grid .thumb").count() == 48
    assert "simple_convnet" in page.inner_text("#title-model")
    _shot(page, "overview")
    page.click('#view-tabs button[data-tab="backward"]')
    page.wait_for_selector("#grad-columns .column")
    assert page.locator("#class-buttons button").count() == 10
    page.click('#class-buttons button:has-text("3")')
    page.wait_for_selector("#class-buttons button.active:has-text('3')")
    page.wait_for_load_state("networkidle")
    _shot(page, "backward")
    assert w.problems == []
    page.close()


def test_a_clicked_conv_unit_shows_numcnns_forward_pass(browser, server, trained_run):
    w = Watched(browser)
    page = w.open(server)
    redraws = int(page.evaluate("() => Number(document.body.dataset.redraws || 0)"))
    page.click('#test-grid .thumb[data-index="11"]')
    page.wait_for_function(f"() => Number(document.body.dataset.redraws || 0) > {redraws}")  # every map redrawn
    assert "test:11" in page.inner_text("#prediction-panel")
    _click_unit(page, "conv2d", 7, 2, 6, 8, 8)
    x = load_dataset("digits").x_test[11:12]
    conv = load_model(trained_run / "model.safetensors").layers[0]
    direct = np.maximum(F.conv2d(x, conv.params["kernel"], conv.params["bias"], padding="same"), 0)[0, 2, 6, 7]
    shown = float(page.get_attribute("#detail", "data-output"))
    assert shown == float(direct) or abs(shown - float(direct)) <= 1e-6 * max(1.0, abs(float(direct)))
    value = float(page.get_attribute("#detail [data-value]", "data-value"))  # sum + bias through relu, in float64
    assert value == pytest.approx(float(direct), rel=1e-5, abs=1e-6)
    window = [float(t) if t != "pad" else 0.0 for t in page.locator("#detail table.nums").first.locator("td").all_inner_texts()]
    np.testing.assert_allclose(np.array(window).reshape(5, 5), np.pad(x[0, :, :, 0], 2)[2:7, 6:11], atol=5e-4)
    assert "the computation above" in page.inner_text("#detail")
    page.locator("#detail button", has_text="step forward").count()  # the animation's controls are there
    page.click('#detail button[title="step forward"]')
    assert "step 24 / 64" in page.inner_text("#detail .step-text")
    _shot(page, "unit", full_page=True)
    assert w.problems == []
    page.close()


def test_a_drawn_digit_gets_the_prediction_numcnn_predict_gives(browser, server, trained_run, tmp_path, capsys):
    w = Watched(browser)
    page = w.open(server)
    page.click('#input-tabs button[data-tab="draw"]')
    box = page.locator("#draw-canvas").bounding_box()
    stroke = [(0.3, 0.2), (0.7, 0.2), (0.55, 0.5), (0.45, 0.85)]  # a 7
    page.mouse.move(box["x"] + stroke[0][0] * box["width"], box["y"] + stroke[0][1] * box["height"])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
        for t in np.linspace(0, 1, 8)[1:]:
            page.mouse.move(box["x"] + (x0 + t * (x1 - x0)) * box["width"], box["y"] + (y0 + t * (y1 - y0)) * box["height"])
    page.mouse.up()
    page.wait_for_function("() => { const s = window.numcnnExplain; return !s.drawBusy && s.lastDrawing "
                           "&& s.lastDrawing.prediction; }", timeout=15_000)
    page.wait_for_load_state("networkidle")
    drawing = page.evaluate("() => window.numcnnExplain.lastDrawing")
    pixels = np.frombuffer(base64.b64decode(drawing["uint8"]), np.uint8).reshape(drawing["height"], drawing["width"])
    assert pixels.min() == 0 and pixels.max() == 255  # ink on paper
    path = tmp_path / "drawn.png"
    Image.fromarray(pixels).save(path)
    capsys.readouterr()
    assert main(["predict", str(trained_run), str(path)]) == 0
    printed = capsys.readouterr().out.split(": ", 1)[1]
    predicted_name = printed.split()[0]
    bars = {int(row.get_attribute("data-class")): float(row.get_attribute("data-probability"))
            for row in page.locator("#prediction .bar-row").all()}
    assert str(int(page.get_attribute("#prediction", "data-predicted"))) == predicted_name
    for entry in printed.split("top 3: ")[1].rstrip(")\n").split(", "):
        name, p = entry.split()
        assert bars[int(name)] == pytest.approx(float(p), abs=5e-4)
    assert drawing["prediction"]["probabilities"] == [bars[k] for k in range(10)]
    _shot(page, "draw")
    assert w.problems == []
    page.close()


def test_the_live_view_follows_a_running_train(browser, tmp_path):
    out = tmp_path / "live"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}  # SIGABRT prints every thread's stack
    process = popen_taking_ctrl_c(
        [sys.executable, "-m", "numcnn", "train", "--out", str(out), "--epochs", "6", "--batch-size", "8",
         "--progress", "quiet", "--explain", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        url = None
        while url is None:
            line = process.stdout.readline()
            assert line, "numcnn train --explain ended without serving"
            if "serving" in line:
                url = line.split(" at ")[1].split()[0]
        w = Watched(browser)
        page = w.page
        page.goto(url)
        page.wait_for_selector("#live-status .state", timeout=20_000)
        page.click('#view-tabs button[data-tab="live"]')
        page.wait_for_selector("#snapshot[data-epochs]")
        first = int(page.get_attribute("#snapshot", "data-epochs"))
        assert first < 6, "the run ended before the page could watch it"
        page.wait_for_function(f"() => Number(document.querySelector('#snapshot').dataset.epochs) > {first} "
                               "&& document.querySelector('#snapshot .confusion')", timeout=60_000)
        assert page.locator(".state").get_attribute("data-status") in ("running", "finished")
        page.wait_for_function("() => document.querySelector('#live-status .state').dataset.status === 'finished'",
                               timeout=90_000)
        page.wait_for_function("() => Number(document.querySelector('#snapshot').dataset.epochs) === 6")
        # the loss chart holds every step record of live.jsonl and every epoch's loss and val_loss
        records = [json.loads(line) for line in (out / "live.jsonl").read_text().splitlines()]
        expected = sum(r["event"] == "step" for r in records) + sum(
            r["logs"].get(key) is not None for r in records if r["event"] == "epoch" for key in ("loss", "val_loss"))
        assert expected >= 6 + 12  # at least each epoch's last step
        page.wait_for_function(f"() => Number(document.querySelector('#chart-loss').dataset.points) === {expected}")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        _shot(page, "live", full_page=True)
        ended = ""
        deadline = time.monotonic() + 20
        while "keeps serving" not in ended and time.monotonic() < deadline:
            ended += process.stdout.readline()
        assert "keeps serving" in ended  # after training, until Ctrl+C
        problems = [p for p in w.problems if "api/events" not in p]  # the event stream ends with the server
        assert problems == []
        page.close()
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            pytest.fail("numcnn train --explain did not stop within 30 s of Ctrl+C; where its threads were:\n"
                        + process.communicate(timeout=20)[0][-6000:])
        assert code == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_the_html_page_works_from_a_file_without_network(browser, trained_run, tmp_path):
    path = tmp_path / "explain.html"
    assert main(["explain", str(trained_run), "--html", str(path), "--images", "6"]) == 0
    w = Watched(browser)
    page = w.page
    requested = []

    def route(r):
        requested.append(r.request.url)
        return r.continue_() if r.request.url.startswith("file://") else r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    assert all(u.startswith(("file://", "data:")) for u in requested), requested
    assert "need the server" in page.inner_text("#notice")
    assert page.locator("#columns .column").count() == 6 and page.locator("#test-grid .thumb").count() == 6
    first = int(page.locator("#test-grid .thumb").first.get_attribute("data-index"))
    _click_unit(page, "conv2d", 3, 4, 1, 8, 8)
    x = load_dataset("digits").x_test[first:first + 1]
    conv = load_model(trained_run / "model.safetensors").layers[0]
    direct = float(np.maximum(F.conv2d(x, conv.params["kernel"], conv.params["bias"], padding="same"), 0)[0, 4, 1, 3])
    assert float(page.get_attribute("#detail", "data-output")) == pytest.approx(direct, rel=1e-6, abs=1e-7)
    assert float(page.get_attribute("#detail [data-value]", "data-value")) == pytest.approx(direct, rel=1e-5, abs=1e-6)
    page.click('#view-tabs button[data-tab="backward"]')
    page.wait_for_selector("#grad-columns .column")
    _shot(page, "html")
    assert w.problems == []
    page.close()
