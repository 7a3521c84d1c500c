"""Latencies a person feels in ``numcnn explain``, measured in Chromium through Playwright, in absolute ms.

Run (needs the test extra for playwright, and Debian's /usr/bin/chromium):

    python benchmarks/explain_latency.py [--run RUN_DIR] [--data-dir DIR] [--repeats 5]

Without ``--run`` it trains an MNIST run for one epoch into a temporary directory (the MNIST files from
``--data-dir`` / ``NUMCNN_DATA_DIR`` / the cache). Rows:

* first meaningful paint: from navigation start to every layer's maps drawn for the first test image
  (the page's ``performance.now()`` once its first frame after drawing them is due);
* redraw on a new input: from the click on a test image to every map redrawn (its next frame);
* prediction per pen stroke: from a drawing's pixels read off the canvas to its prediction bars drawn,
  for each stroke of a digit drawn with the mouse;
* a 2,048-channel layer: the first meaningful paint of a model whose conv layer has 2,048 channels of
  7x7 maps (random weights), paged 32 maps at a time.

The targets of issue 16: paint under 1 s, redraw under 200 ms, pen under 100 ms, 2,048 channels under 2 s.
Never run as a timed test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

CHROMIUM = "/usr/bin/chromium"


def _row(name, values, target):
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    print(f"| {name:<34} | {statistics.median(values):>8.0f} | {p90:>8.0f} | {max(values):>8.0f} | {len(values):>3} | "
          f"{target:>6} |")


def _paint(browser, url, repeats):
    times = []
    for _ in range(repeats):
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        times.append(page.evaluate("() => window.numcnnExplain.readyAt"))
        page.close()
    return times


def _redraws(page, count):
    times = []
    indices = page.eval_on_selector_all("#test-grid .thumb", "els => els.map(e => Number(e.dataset.index))")
    for k in range(count):
        before = int(page.evaluate("() => Number(document.body.dataset.redraws || 0)"))
        page.click(f'#test-grid .thumb[data-index="{indices[(k + 1) % len(indices)]}"]')
        page.wait_for_function(f"() => Number(document.body.dataset.redraws || 0) > {before}", timeout=30_000)
        times.append(page.evaluate("() => window.numcnnExplain.redrawMs"))
    return times


def _strokes(page, digits):
    page.click('#input-tabs button[data-tab="draw"]')
    box = page.locator("#draw-canvas").bounding_box()
    page.evaluate("() => { window.numcnnExplain.strokeMs = []; }")
    strokes = [[(0.3, 0.2), (0.7, 0.2), (0.5, 0.85)], [(0.5, 0.15), (0.5, 0.85)], [(0.3, 0.3), (0.7, 0.3), (0.3, 0.8), (0.7, 0.8)]]
    for k in range(digits):
        page.click("#draw-clear")
        stroke = strokes[k % len(strokes)]
        at = lambda p: (box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"])  # noqa: E731
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for t in np.linspace(0, 1, 12)[1:]:
                page.mouse.move(*at((x0 + t * (x1 - x0), y0 + t * (y1 - y0))))
                page.wait_for_timeout(16)  # a pen reports about 60 points a second
        page.mouse.up()
        page.wait_for_function("() => !window.numcnnExplain.drawBusy", timeout=30_000)
    return page.evaluate("() => window.numcnnExplain.strokeMs")


def _wide_model():
    from numcnn import Sequential
    from numcnn.explain import Explainer
    from numcnn.layers import Conv2D, Dense, GlobalAveragePooling2D

    model = Sequential([Conv2D(64, 3, padding="same", activation="relu", input_shape=(7, 7, 64)),
                        Conv2D(2048, 1, activation="relu"), GlobalAveragePooling2D(), Dense(10)], seed=0)
    rng = np.random.default_rng(0)
    return Explainer(model, test_set=(rng.random((16, 7, 7, 64), dtype=np.float32), rng.integers(0, 10, 16)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="a run directory (default: train MNIST for one epoch)")
    parser.add_argument("--data-dir", help="where the MNIST files are (default: NUMCNN_DATA_DIR, then the cache)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"needs Debian's Chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    from numcnn.explain.server import serve_in_thread

    run = args.run
    if run is None:
        run = os.path.join(tempfile.mkdtemp(prefix="explain-bench-"), "mnist")
        command = [sys.executable, "-m", "numcnn", "train", "--dataset", "mnist", "--epochs", "1", "--out", run,
                   "--progress", "quiet"] + (["--data-dir", args.data_dir] if args.data_dir else [])
        print("training:", " ".join(command[2:]), flush=True)
        subprocess.run(command, check=True)
    url, stop, thread = serve_in_thread(run, open_browser=False, say=lambda *a: None, data_dir=args.data_dir)
    wide_url, wide_stop, wide_thread = serve_in_thread(_wide_model(), open_browser=False, say=lambda *a: None)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            _paint(browser, url, 1)  # warm-up: the first request imports matplotlib's colormaps
            paint = _paint(browser, url, args.repeats)
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            _redraws(page, 2)  # warm-up
            redraw = _redraws(page, 4 * args.repeats)
            strokes = _strokes(page, args.repeats)
            page.close()
            _paint(browser, wide_url, 1)
            wide = _paint(browser, wide_url, args.repeats)
            browser.close()
    finally:
        stop.set()
        wide_stop.set()
        thread.join(10)
        wide_thread.join(10)
    print(f"\nnumcnn explain on {run} ({os.cpu_count()} cores), ms:\n")
    print(f"| {'latency':<34} | {'median':>8} | {'p90':>8} | {'max':>8} | {'n':>3} | {'target':>6} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 5}|{'-' * 8}|")
    _row("first meaningful paint", paint, "1000")
    _row("redraw on a new input", redraw, "200")
    _row("prediction per pen stroke", strokes, "100")
    _row("first paint, a 2,048-channel layer", wide, "2000")


if __name__ == "__main__":
    main()
