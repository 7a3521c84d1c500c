"""``numcnn explain``'s web server: JSON and PNG endpoints over an :class:`~numcnn.explain.session.Explainer`,
the page's own assets, and the live view of a run still training, by server-sent events.

Built on Starlette (served by uvicorn): a small, well-kept ASGI toolkit with routing, streaming responses
(server-sent events need nothing more), a test client, and no template engine, ORM or form parsing that
this local app would not use. Both are pure Python wheels of a few hundred kilobytes.

Security: the server binds 127.0.0.1 unless told otherwise, and then refuses a request whose ``Host`` is
not a loopback name (a page of another site that rebinds its DNS name to 127.0.0.1 gets 400). It serves
the three assets of ``static/`` by name from a fixed list, and the run it was given: no endpoint takes a
path, runs code or reads another file. Layers are named in query strings and looked up in the trace. A
POST needs the ``X-Numcnn`` header, which a cross-site form cannot send and a cross-site script may only
send after a preflight this server never grants. Uploads are read up to :data:`MAX_UPLOAD_BYTES` and
refused past it (413), and so are images of more than :data:`~numcnn.explain.session.MAX_PIXELS` pixels,
read from their header before decoding.

The Explainer holds one current input, so every call to it holds :attr:`ExplainServer.lock`; requests run
in Starlette's thread pool. A watcher polls the run's ``live.jsonl`` (:mod:`numcnn.training.live_log`) and
its weight files twice a second; after a new epoch it reloads the weights (the current input is traced
again), recomputes the live snapshot (filters, fixed samples' feature maps, the row-normalised confusion
matrix of a fixed subset of the test set) and tells every page by an ``epoch`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import threading
import time
from importlib import resources

import numpy as np

from ..io.run_dir import RunError, read_config
from ..training.live_log import LIVE_LOG, read_live_log
from . import session as session_module
from .encode import COLORMAPS, _lut, encode_array, jsonable, quantise, to_png_heatmap, to_png_picture
from .session import Explainer
from .trace import trace

#: the largest upload, in bytes
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: a page of maps is sent exactly (float32) up to this many numbers, else quantised to 8 bits
EXACT_PAGE_VALUES = 65_536
#: the most maps one request may ask for
MAX_PAGE = 256
#: the most rows of an im2col page
MAX_IM2COL_ROWS = 256
#: the assets the page is made of, served by name from ``static/``
ASSETS = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
#: the Host names a loopback-bound server answers
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
#: how many step records the live view sends at most (evenly thinned beyond)
MAX_STEP_RECORDS = 4000
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def read_asset(name) -> str:
    """The text of one packaged asset (``index.html``, ``app.js``, ``style.css``)."""
    if name not in ASSETS:
        raise ValueError(f"The asset must be one of {sorted(ASSETS)}. Received: {name!r}")
    return resources.files("numcnn.explain").joinpath("static", name).read_text(encoding="utf-8")


class RequestError(Exception):
    """A request the server refuses: ``status`` (400, 404, 413, 503) and a message naming what was wrong."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def colormaps() -> dict:
    """The page's colour maps, matplotlib's: 256 RGB rows each of viridis (values), RdBu_r (signed) and gray."""
    return {name: _lut(name).tolist() for name in ("viridis", "RdBu_r", "gray")}


def _thin(records, limit):
    """At most ``limit`` of ``records``, evenly spaced, the last kept."""
    if len(records) <= limit:
        return records
    step = len(records) / limit
    picked = [records[int(k * step)] for k in range(limit - 1)]
    return picked + [records[-1]]


def _first_conv(t):
    for record in t.records:
        if record.class_name == "Conv2D":
            return record
    return None


class ExplainServer:
    """The state behind the endpoints: the run, its :class:`Explainer` (made once the run has weights), the
    live log and the live snapshot.

    Args:
        source: a run directory, or an :class:`Explainer` (a model without a run: no live view).
        data_dir: where the run's data set files are (default: where training found them).
        wait: accept a run directory that holds no trained epoch yet (``numcnn train --explain``): the
            endpoints of the model answer 503 until the first checkpoint.
        samples: how many fixed test images the live view follows.
        confusion_images: the size of the fixed test subset of the live confusion matrix.
        poll_seconds: how often the watcher reads the live log.
    """

    def __init__(self, source, *, data_dir=None, wait=False, samples=4, confusion_images=1000, poll_seconds=0.5):
        self.lock = threading.RLock()
        self.data_dir, self.samples, self.confusion_images = data_dir, samples, confusion_images
        self.poll_seconds = poll_seconds
        self.explainer, self.run_dir, self.waiting_reason = None, None, None
        self.test_error = None
        self.model_version = 0
        self.live = read_live_log(os.devnull)
        self._snapshot = None
        self._stop = threading.Event()
        self.exiting = lambda: False  # serve() makes it uvicorn's "shutting down": event streams end then
        self.colormaps = colormaps()  # matplotlib is imported now, not on the page's first request
        if isinstance(source, Explainer):
            self.explainer, self.run_dir = source, source.run_dir
            self._first_input()
        elif isinstance(source, (str, os.PathLike)):
            self.run_dir = os.fspath(source)
            if not os.path.isdir(self.run_dir) and not wait:
                raise RunError(f"{self.run_dir}: no such run directory. Received: {self.run_dir!r}")
            if not wait:
                read_config(self.run_dir)  # a clear error now for a directory that is not a run
            self._try_load()
            running = read_live_log(os.path.join(self.run_dir, LIVE_LOG)).status == "running"
            if self.explainer is None and not (wait or running):  # a run still in its first epoch: wait for it
                raise RunError(f"{self.run_dir}: {self.waiting_reason}")
        else:
            raise TypeError(f"The `source` argument must be a run directory or an Explainer. Received: {source!r}")
        self.poll()

    # -- loading -----------------------------------------------------------------------------
    def _try_load(self) -> bool:
        try:
            explainer = Explainer(self.run_dir, data_dir=self.data_dir)
        except (RunError, FileNotFoundError, OSError, ValueError, KeyError) as e:
            self.waiting_reason = str(e)
            return False
        with self.lock:
            self.explainer = explainer
            self.waiting_reason = None
            self.model_version += 1
            self._first_input()
        return True

    def _first_input(self):
        """The first test image, or zeros when the test set cannot be read."""
        try:
            self.explainer.test_set()
            self.explainer.select_test_image(0)
            self.test_error = None
        except (ValueError, OSError) as e:
            self.test_error = str(e)
            shape = self.explainer.model.input_shape[1:]
            self.explainer.set_sample(np.zeros(shape, np.float32))

    def poll(self) -> bool:
        """Read the live log; load or reload the weights when they changed. Returns whether they did."""
        if self.run_dir is None:
            return False
        live = read_live_log(os.path.join(self.run_dir, LIVE_LOG))
        changed = False
        if self.explainer is None:
            changed = self._try_load()
        else:
            with self.lock:
                try:
                    changed = self.explainer.reload()
                except (RunError, OSError, ValueError) as e:  # a file being replaced: the next poll reads it
                    self.waiting_reason = f"reloading the weights failed: {e}"
                    changed = False
                if changed:
                    self.model_version += 1
        if changed:
            with self.lock:
                self._snapshot = None
        self.live = live
        return changed

    # -- helpers of the endpoints --------------------------------------------------------------
    def need(self) -> Explainer:
        if self.explainer is None:
            raise RequestError(f"The run has no trained epoch yet: waiting for its first checkpoint "
                               f"({self.waiting_reason}).", 503)
        return self.explainer

    def need_test_images(self) -> Explainer:
        explainer = self.need()
        if self.test_error:
            raise RequestError(f"The run's test images cannot be read: {self.test_error}", 404)
        return explainer

    def live_state(self, since_step=0) -> dict:
        live = self.live
        start = live.start or {}
        return {"status": live.status, "start": live.start, "end": live.end, "epochs": live.epochs,
                "steps": _thin(live.steps[since_step:], MAX_STEP_RECORDS), "step_count": len(live.steps),
                "total_epochs": start.get("epochs"), "steps_per_epoch": start.get("steps"),
                "model_version": self.model_version, "waiting": self.explainer is None,
                "waiting_reason": self.waiting_reason, "last_time": live.last_time}

    def snapshot(self) -> dict:
        """What the live panel shows after each epoch: the first conv layer's filters, its maps for
        :attr:`samples` fixed test images, and the row-normalised confusion matrix of a fixed subset."""
        explainer = self.need()
        with self.lock:
            if self._snapshot is None:
                self._snapshot = self._make_snapshot(explainer)
            return self._snapshot

    def _make_snapshot(self, explainer) -> dict:
        model = explainer.model
        result = {"model_version": self.model_version, "filters": None, "samples": [], "confusion": None}
        conv = _first_conv(explainer.trace())
        if conv is not None:
            kernel = np.asarray(conv.layer.params["kernel"], np.float32)  # (kh, kw, cin, F)
            shown = kernel if kernel.shape[2] == 3 else kernel[:, :, :1]
            result["filters"] = {"layer": conv.name, "shape": list(kernel.shape),
                                 "kernels": encode_array(np.moveaxis(shown, -1, 0))}  # (F, kh, kw, 1 or 3)
        if self.test_error is not None:
            return result
        x, y = explainer.test_set()
        picks = []
        for c in np.unique(y)[: self.samples]:
            picks.append(int(np.flatnonzero(y == c)[0]))
        for index in picks:
            picture = x[index]
            t = trace(model, explainer.preprocessing.normalize(picture) if explainer.preprocessing else picture)
            entry = {"index": index, "label": int(y[index]), "picture": encode_array(picture, exact=False),
                     "predicted": int(np.argmax(t.output))}
            if conv is not None:
                entry["maps"] = encode_array(t.channels(conv.name), exact=False)  # (C, H, W)
            result["samples"].append(entry)
        n = min(len(y), self.confusion_images)
        inputs = x[:n] if explainer.preprocessing is None else explainer.preprocessing.normalize(x[:n])
        predicted = model.predict(inputs, batch_size=256).argmax(axis=1)
        k = len(explainer.class_names)
        counts = np.zeros((k, k), np.int64)
        np.add.at(counts, (y[:n], predicted), 1)
        rows = counts.sum(axis=1, keepdims=True)
        result["confusion"] = {"images": int(n), "counts": counts.tolist(),
                               "normalized": (counts / np.maximum(rows, 1)).tolist(),
                               "accuracy": float(np.trace(counts) / max(n, 1)), "class_names": explainer.class_names}
        return result

    def stop(self):
        self._stop.set()


# -- request parsing ---------------------------------------------------------------------------
def _int_arg(request, name, default=None, low=None, high=None):
    text = request.query_params.get(name)
    if text is None or text == "":
        if default is None:
            raise RequestError(f"The `{name}` query argument is required. Received: none")
        return default
    try:
        value = int(text)
    except ValueError:
        raise RequestError(f"The `{name}` query argument must be an int. Received: {name}={text[:40]!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise RequestError(f"The `{name}` query argument must be an int {allowed}. Received: {name}={value}")
    return value


def _optional_int(request, name):
    text = request.query_params.get(name)
    return None if text in (None, "") else _int_arg(request, name)


def _layer_arg(request, explainer):
    name = request.query_params.get("layer")
    if not name:
        raise RequestError("The `layer` query argument is required. Received: none")
    if name not in explainer.trace():
        raise RequestError(f"The `layer` query argument must name a layer of the model. Received: layer={name[:80]!r}",
                           404)
    return name


def _page_payload(pages, start, total, vmin, vmax, extra=None) -> dict:
    """A page of maps ``(count, H, W)`` for the page: exact float32 when small, else 8 bits over ``[vmin, vmax]``."""
    if pages.size <= EXACT_PAGE_VALUES:
        data = encode_array(pages)
    else:
        q, low, high = quantise(pages, vmin, vmax)
        data = encode_array(q) | {"min": low, "max": high}
    return {"start": start, "count": int(pages.shape[0]), "total": int(total), "height": int(pages.shape[1]),
            "width": int(pages.shape[2]), "vmin": vmin, "vmax": vmax, "maps": data, **(extra or {})}


def _shown(picture):
    """A picture as a PNG can show it: grey or RGB as they are, the first channel of any other count."""
    return picture if picture.ndim != 3 or picture.shape[-1] in (1, 3) else picture[..., :1]


def _range(array):
    finite = np.asarray(array)[np.isfinite(array)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


# -- the app -----------------------------------------------------------------------------------
def create_app(source, *, host="127.0.0.1", allowed_hosts=None, data_dir=None, wait=False, poll_seconds=0.5,
               server=None, **options):
    """The Starlette app of ``numcnn explain`` over a run directory or an :class:`Explainer`.

    Args:
        source: a run directory or an Explainer.
        host: the address it will be bound to; a loopback one restricts the ``Host`` header to loopback names.
        allowed_hosts: the ``Host`` names to answer (default: loopback names for a loopback ``host``, any otherwise).
        data_dir, wait, options: see :class:`ExplainServer`.
        server: an :class:`ExplainServer` to serve (instead of making one from ``source``).

    Returns:
        The app; ``app.state.explain`` is its :class:`ExplainServer`.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    state = server or ExplainServer(source, data_dir=data_dir, wait=wait, poll_seconds=poll_seconds, **options)

    def ok(payload, status=200):
        body = json.dumps(jsonable(payload), separators=(",", ":"), allow_nan=False)
        return Response(body, status, media_type="application/json", headers={"Cache-Control": "no-store"})

    def png(data):
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    def guarded(function):
        """Runs ``function(request)`` in the thread pool; turns refusals into JSON errors."""
        async def endpoint(request):
            try:
                if request.method == "POST" and request.headers.get("x-numcnn") != "1":
                    raise RequestError("A POST needs the X-Numcnn: 1 header (the page sends it). Received: none", 403)
                result = function(request)
                if asyncio.iscoroutine(result):
                    return await result
                return result if isinstance(result, Response) else await run_in_threadpool(result)
            except RequestError as e:
                return JSONResponse({"error": str(e)}, e.status)
            except (ValueError, TypeError, IndexError) as e:
                return JSONResponse({"error": str(e)}, 400)
        return endpoint

    def locked(work):
        """Defer ``work()`` to the thread pool, holding the Explainer's lock."""
        def run():
            with state.lock:
                return work()
        return run

    # -- assets --------------------------------------------------------------------------------
    async def index(request):
        return Response(read_asset("index.html"), media_type=ASSETS["index.html"],
                        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})

    async def asset(request):
        name = request.path_params["name"]
        if name not in ASSETS or name == "index.html":
            return JSONResponse({"error": f"No such asset. Received: {name[:80]!r}"}, 404)
        return Response(read_asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-store"})

    # -- the model and the current input -----------------------------------------------------
    def info(request):
        def work():
            explainer = state.explainer
            payload = {"mode": "server", "limits": {"upload_bytes": MAX_UPLOAD_BYTES,
                                                    "pixels": session_module.MAX_PIXELS},
                       "colormaps": state.colormaps,
                       "live": state.live_state(0) | {"steps": []}, "waiting": explainer is None,
                       "waiting_reason": state.waiting_reason, "test_error": state.test_error,
                       "model_version": state.model_version}
            if explainer is not None:
                payload |= {"info": explainer.info(), "history": explainer.history(),
                            "test_count": None if state.test_error else int(len(explainer.test_set()[1]))}
            return ok(payload)
        return locked(work)

    def prediction(request):
        return locked(lambda: ok(state.need().prediction() | {"model_version": state.model_version}))

    def layers(request):
        def work():
            explainer = state.need()
            return ok({"layers": explainer.layers(), "prediction": explainer.prediction(),
                       "model_version": state.model_version})
        return locked(work)

    def summary(request):
        def work():
            explainer = state.need()
            layer = _layer_arg(request, explainer)
            full = explainer.channel_summary(layer)
            start = _int_arg(request, "start", 0, 0)
            count = _int_arg(request, "count", full["channels"], 1)
            return ok({"layer": layer, "channels": full["channels"], "start": start,
                       **{k: full[k][start:start + count] for k in ("min", "max", "mean_abs")}})
        return locked(work)

    def maps(request):
        def work():
            explainer = state.need()
            layer = _layer_arg(request, explainer)
            record = explainer.trace()[layer]
            if record.kind == "vector":
                low, high = _range(record.output)
                return ok({"kind": "vector", "layer": layer, "total": int(record.output.size), "vmin": low,
                           "vmax": high, "values": encode_array(record.output)})
            if record.kind != "maps":
                raise RequestError(f"Layer '{layer}' has an output of shape {record.output.shape}: neither maps "
                                   "nor a vector. Received: layer=" + layer)
            start = _int_arg(request, "start", 0, 0)
            count = _int_arg(request, "count", 64, 1, MAX_PAGE)
            pages = explainer.channels(layer, start, count)
            low, high = _range(record.output)
            return ok({"kind": "maps", "layer": layer} | _page_payload(pages, start, record.channel_count, low, high))
        return locked(work)

    def map_png(request):
        def work():
            explainer = state.need()
            layer = _layer_arg(request, explainer)
            channel = _int_arg(request, "channel", 0, 0)
            scale = _int_arg(request, "scale", 1, 1, 64)
            cmap = request.query_params.get("cmap", "viridis")
            if cmap not in COLORMAPS:
                raise RequestError(f"The `cmap` query argument must be one of {list(COLORMAPS)}. Received: {cmap[:40]!r}")
            page = explainer.channels(layer, channel, 1)[0]
            shared = request.query_params.get("range", "layer") == "layer"
            low, high = _range(explainer.trace()[layer].output) if shared else (None, None)
            return png(to_png_heatmap(page, low, high, cmap, scale))
        return locked(work)

    def picture_png(request):
        def work():
            picture = state.need().picture()
            if picture is None:
                raise RequestError("The current input is a raw sample, not a picture. Received: a sample", 404)
            return png(to_png_picture(_shown(picture)))
        return locked(work)

    def unit(request):
        def work():
            explainer = state.need()
            layer = _layer_arg(request, explainer)
            options = {"top": _int_arg(request, "top", 10, 1, 1000),
                       "channel_start": _int_arg(request, "channel_start", 0, 0),
                       "channel_count": _optional_int(request, "channel_count")}
            record = explainer.trace()[layer]
            if record.class_name not in ("Conv2D", "DepthwiseConv2D"):
                options.pop("channel_start"), options.pop("channel_count")
                if record.class_name != "Dense":
                    options.pop("top")
            detail = explainer.unit(layer, _int_arg(request, "channel", 0, 0), _int_arg(request, "y", 0, 0),
                                    _int_arg(request, "x", 0, 0), **options)
            return ok(detail)
        return locked(work)

    def sliding(request):
        def work():
            explainer = state.need()
            layer = _layer_arg(request, explainer)
            return ok(explainer.sliding_window(layer, _optional_int(request, "channel"),
                                               _int_arg(request, "start", 0, 0), _optional_int(request, "count")))
        return locked(work)

    def im2col(request):
        def work():
            explainer = state.need()
            layer = _layer_arg(request, explainer)
            page = explainer.im2col(layer, _int_arg(request, "start", 0, 0),
                                    _int_arg(request, "count", 32, 1, MAX_IM2COL_ROWS), _int_arg(request, "group", 0, 0))
            columns = _int_arg(request, "columns", 64, 1, 100_000)  # the page shows at most this many filters
            fields = ("patches", "kernel_matrix", "bias", "product", "output")
            shown = {k: np.asarray(page[k]) for k in fields}
            for k in ("kernel_matrix", "bias", "product", "output"):
                shown[k] = shown[k][..., :columns]
            return ok({k: v for k, v in page.items() if k not in fields}
                      | {k: v.astype(np.float64) for k, v in shown.items()}
                      | {"shape": {"patches": list(page["patches"].shape),
                                   "kernel_matrix": list(page["kernel_matrix"].shape)}})
        return locked(work)

    def saliency(request):
        def work():
            explainer = state.need()
            class_index = _optional_int(request, "class_index")
            s = explainer.saliency(class_index)
            layer_kinds = {r.name: r.kind for r in explainer.trace().records}
            payload = s.info()
            for entry in payload["layers"]:
                entry["kind"] = layer_kinds.get(entry["name"], "other")
            picture = explainer.picture()
            return ok(payload | {"input_gradient": encode_array(s.input_gradient),
                                 "saliency_map": encode_array(s.saliency_map()),
                                 "picture": None if picture is None else encode_array(picture),
                                 "class_names": explainer.class_names})
        return locked(work)

    def gradients(request):
        def work():
            explainer = state.need()
            layer = _layer_arg(request, explainer)
            s = explainer.saliency(_optional_int(request, "class_index"))
            if layer not in s.gradients:
                raise RequestError(f"The gradient did not reach layer '{layer}'. Received: layer={layer}", 404)
            g = s.gradients[layer]
            bound = float(np.abs(g).max()) if g.size else 0.0
            if g.ndim == 1:
                return ok({"kind": "vector", "layer": layer, "total": int(g.size), "vmin": -bound, "vmax": bound,
                           "values": encode_array(g), "class_index": s.class_index})
            start = _int_arg(request, "start", 0, 0)
            count = _int_arg(request, "count", 64, 1, MAX_PAGE)
            pages = s.channels(layer, start, count)
            total = g.shape[-1] if s.data_formats[layer] == "channels_last" else g.shape[0]
            return ok({"kind": "maps", "layer": layer, "class_index": s.class_index}
                      | _page_payload(pages, start, total, -bound, bound))
        return locked(work)

    # -- inputs --------------------------------------------------------------------------------
    def test_images(request):
        def work():
            explainer = state.need_test_images()
            label = _optional_int(request, "label")
            mistakes = request.query_params.get("mistakes", "0") in ("1", "true", "yes")
            return ok(explainer.test_images(label, mistakes, _int_arg(request, "start", 0, 0),
                                            _int_arg(request, "count", 48, 1, 500)))
        return locked(work)

    def test_png(request):
        def work():
            explainer = state.need_test_images()
            text = request.path_params["index"]
            if not text.isdigit():
                raise RequestError(f"A test image is named by its index. Received: {text[:40]!r}", 404)
            return png(to_png_picture(_shown(explainer.test_picture(int(text)))))
        return locked(work)

    async def _json_body(request, limit=MAX_UPLOAD_BYTES * 2):
        body = await _read_limited(request, limit)
        try:
            return json.loads(body)
        except ValueError:
            raise RequestError("The request body must be JSON. Received: " + repr(body[:40])) from None

    async def select(request):
        body = await _json_body(request, 10_000)
        index = body.get("index") if isinstance(body, dict) else None
        if not isinstance(index, int) or isinstance(index, bool):
            raise RequestError(f"The body must be {{\"index\": int}}. Received: {str(body)[:80]}")
        return await run_in_threadpool(locked(lambda: ok(_with_version(state.need().select_test_image(index)))))

    def _with_version(prediction):
        return prediction | {"model_version": state.model_version}

    def _invert_arg(request):
        invert = request.query_params.get("invert") or None
        if invert not in (None, "auto", "yes", "no"):
            raise RequestError(f"The `invert` query argument must be auto, yes or no. Received: {invert[:20]!r}")
        return invert

    async def upload(request):
        invert = _invert_arg(request)
        data = await _read_limited(request, MAX_UPLOAD_BYTES)
        if not data:
            raise RequestError("The request body must be an image file (PNG, JPEG...). Received: an empty body")
        _check_pixels(data)
        return await run_in_threadpool(locked(lambda: ok(_with_version(
            state.need().predict_image(bytes(data), invert=invert, kind="upload")))))

    async def draw(request):
        invert = _invert_arg(request)
        body = await _json_body(request)
        pixels = _drawing_pixels(body)
        return await run_in_threadpool(locked(lambda: ok(_with_version(
            state.need().predict_image(pixels, invert=invert, kind="drawing")))))

    # -- live ----------------------------------------------------------------------------------
    def live(request):
        return locked(lambda: ok(state.live_state(_int_arg(request, "since", 0, 0))))

    def snapshot(request):
        return lambda: ok(state.snapshot())

    async def events(request):
        once = request.query_params.get("once") == "1"

        async def stream():
            sent_steps, version, status, epochs, beat = 0, None, None, -1, time.monotonic()
            while True:
                s = state.live_state(sent_steps)
                messages = []
                if s["step_count"] > sent_steps:  # before an epoch event: the page's curve is complete when it reloads
                    messages.append(("steps", {"steps": s["steps"], "step_count": s["step_count"],
                                               "steps_per_epoch": s["steps_per_epoch"]}))
                    sent_steps = s["step_count"]
                if s["status"] != status or len(s["epochs"]) != epochs or s["model_version"] != version:
                    kind = "epoch" if version is not None and s["model_version"] != version else "status"
                    messages.append((kind, {k: v for k, v in s.items() if k != "steps"}))
                    status, epochs, version = s["status"], len(s["epochs"]), s["model_version"]
                for kind, data in messages:
                    yield f"event: {kind}\ndata: {json.dumps(jsonable(data), allow_nan=False)}\n\n"
                if once:
                    return
                if not messages and time.monotonic() - beat > 15:
                    yield ": keep-alive\n\n"
                    beat = time.monotonic()
                elif messages:
                    beat = time.monotonic()
                if await request.is_disconnected() or state._stop.is_set() or state.exiting():
                    return
                await asyncio.sleep(0.25)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -- the watcher ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(_watch()) if state.run_dir is not None else None
        try:
            yield
        finally:
            state.stop()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _watch():
        while not state._stop.is_set():
            await asyncio.sleep(state.poll_seconds)
            try:
                if await run_in_threadpool(state.poll):
                    await run_in_threadpool(state.snapshot)  # ready before the pages ask
            except RequestError:
                pass

    def route(path, function, methods=("GET",)):
        return Route(path, guarded(function), methods=list(methods))

    routes = [
        Route("/", index), Route("/static/{name:path}", asset),
        route("/api/info", info), route("/api/prediction", prediction), route("/api/layers", layers),
        route("/api/summary", summary), route("/api/maps", maps), route("/api/map.png", map_png),
        route("/api/picture.png", picture_png), route("/api/unit", unit), route("/api/sliding_window", sliding),
        route("/api/im2col", im2col), route("/api/saliency", saliency), route("/api/gradients", gradients),
        route("/api/test_images", test_images), route("/api/test_images/{index}.png", test_png),
        route("/api/select", select, ("POST",)), route("/api/upload", upload, ("POST",)),
        route("/api/draw", draw, ("POST",)), route("/api/live", live), route("/api/snapshot", snapshot),
        Route("/api/events", events),
    ]
    hosts = allowed_hosts if allowed_hosts is not None else (LOOPBACK_HOSTS if _is_loopback(host) else ["*"])
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])
    app.state.explain = state
    return app


def _is_loopback(host) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def _read_limited(request, limit) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (by its Content-Length, else while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"The upload is {int(declared):,} bytes, more than the {limit:,} bytes allowed. "
                           f"Received: Content-Length {declared}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(f"The upload is more than the {limit:,} bytes allowed. Received: over {limit:,} bytes",
                               413)
        chunks.append(chunk)
    return b"".join(chunks)


def _check_pixels(data):
    """Refuse (413) an image of more pixels than allowed, read from its header before decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise RequestError("The upload is not a readable image (PNG, JPEG, BMP, GIF, WebP, TIFF). Received: "
                           f"{len(data):,} bytes starting {bytes(data[:8])!r}") from None
    limit = session_module.MAX_PIXELS
    if width * height > limit:
        raise RequestError(f"The image is {width}x{height} pixels, more than the {limit:,} allowed. "
                           f"Received: {width * height:,} pixels", 413)


def _drawing_pixels(body) -> np.ndarray:
    """A drawing's pixels from ``{"width", "height", "pixels"}``: ``pixels`` a list of numbers in [0, 1]
    (row-major, one per pixel), or ``{"uint8": base64}`` of bytes 0..255 (grey; ``/ 255``)."""
    if not isinstance(body, dict) or not all(k in body for k in ("width", "height", "pixels")):
        raise RequestError("The body must be {\"width\": int, \"height\": int, \"pixels\": [...] or "
                           "{\"uint8\": base64}}. Received: " + str(body)[:80])
    width, height = body["width"], body["height"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (width, height)):
        raise RequestError(f"`width` and `height` must be positive ints. Received: {width!r}, {height!r}")
    limit = session_module.MAX_PIXELS
    if width * height > limit:
        raise RequestError(f"The drawing is {width}x{height} pixels, more than the {limit:,} allowed. "
                           f"Received: {width * height:,} pixels", 413)
    pixels = body["pixels"]
    if isinstance(pixels, dict) and isinstance(pixels.get("uint8"), str):
        import base64
        import binascii

        try:
            raw = base64.b64decode(pixels["uint8"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError("`pixels.uint8` must be base64. Received: invalid base64") from None
        array = np.frombuffer(raw, np.uint8).astype(np.float32) / np.float32(255)
    elif isinstance(pixels, list):
        try:
            array = np.asarray(pixels, np.float32)
        except (TypeError, ValueError):
            raise RequestError("`pixels` must be numbers in [0, 1]. Received: a list of other values") from None
        if array.ndim != 1 or not np.isfinite(array).all() or array.min(initial=0) < 0 or array.max(initial=0) > 1:
            raise RequestError("`pixels` must be a flat list of finite numbers in [0, 1]. Received: "
                               f"shape {array.shape}, range [{array.min(initial=0)}, {array.max(initial=0)}]")
    else:
        raise RequestError("`pixels` must be a list of numbers or {\"uint8\": base64}. Received: "
                           + type(pixels).__name__)
    if array.size != width * height:
        raise RequestError(f"`pixels` must hold width x height = {width * height} values. Received: {array.size}")
    return array.reshape(height, width)


def serve(source, *, host="127.0.0.1", port=0, open_browser=True, data_dir=None, wait=False, say=print,
          ready=None, stop=None) -> None:
    """Serve ``numcnn explain`` on ``host:port`` (0: a free port) until Ctrl+C (or ``stop`` is set).

    Prints the URL; opens it in the browser unless ``open_browser`` is False. ``ready``, an optional
    ``threading.Event``, is set once the server accepts connections (its ``url`` attribute holds the URL).
    """
    import socket

    import uvicorn

    app = create_app(source, host=host, data_dir=data_dir, wait=wait)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it: no 40 ms Nagle waits
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise RunError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port. "
                       f"Received: --host {host} --port {port}") from None
    sock.listen(64)
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{bound}/"
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2)  # an open page's event stream must not hold Ctrl+C
    server = uvicorn.Server(config)
    app.state.explain.exiting = lambda: server.should_exit
    if threading.current_thread() is not threading.main_thread():
        server.install_signal_handlers = lambda: None  # older uvicorn
    say(f"numcnn explain: serving {app.state.explain.run_dir or 'the model'} at {url}  (Ctrl+C to stop)")
    if host not in LOOPBACK_HOSTS and not _is_loopback(host):
        say(f"warning: --host {host}: the page is reachable by other machines of this network")

    def started():
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if ready is not None:
            ready.url = url
            ready.set()
        if open_browser and server.started:
            import webbrowser

            webbrowser.open(url)

    def watch_stop():
        stop.wait()
        server.should_exit = True

    threading.Thread(target=started, daemon=True).start()
    if stop is not None:
        threading.Thread(target=watch_stop, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def html_page(bundle: dict) -> str:
    """The self-contained page of ``--html``: the assets inlined, ``bundle``
    (:func:`~numcnn.explain.bundle.write_html_bundle_data`) as JSON in a script element."""
    page = read_asset("index.html")
    bundle = {**bundle, "colormaps": colormaps()}
    data = json.dumps(jsonable(bundle), separators=(",", ":"), allow_nan=False)
    data = data.replace("</", "<\\/").replace("<!--", "<\\!--")
    css, js = read_asset("style.css"), read_asset("app.js")
    if "</script" in js.lower() or "</style" in css.lower():
        raise ValueError("The packaged assets must not close their own element. Received: a closing tag")
    replacements = {
        '<link rel="stylesheet" href="static/style.css">': f"<style>\n{css}\n</style>",
        '<script src="static/app.js" defer></script>':
            f'<script type="application/json" id="numcnn-bundle">{data}</script>\n<script>\n{js}\n</script>',
    }
    for old, new in replacements.items():
        if old not in page:
            raise ValueError(f"index.html lacks {old!r}. Received: the packaged index.html")
        page = page.replace(old, new)
    return page


def write_html(explainer, path, n_images=20) -> int:
    """Write the ``--html`` page of ``explainer`` to ``path`` atomically; returns its size in bytes."""
    from ..utils.files import write_text_atomic
    from .bundle import write_html_bundle_data

    page = html_page(write_html_bundle_data(explainer, n_images))
    write_text_atomic(path, page)
    return len(page.encode("utf-8"))




def serve_in_thread(source, *, host="127.0.0.1", port=0, open_browser=True, data_dir=None, wait=False, say=print,
                    timeout=30.0):
    """:func:`serve` in a daemon thread (``numcnn train --explain``). Returns ``(url, stop, thread)``: set
    ``stop`` (a ``threading.Event``) to end it. Raises the server's own error if it could not start."""
    ready, stop, failure = threading.Event(), threading.Event(), []

    def run():
        try:
            serve(source, host=host, port=port, open_browser=open_browser, data_dir=data_dir, wait=wait, say=say,
                  ready=ready, stop=stop)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            failure.append(e)
            ready.set()

    thread = threading.Thread(target=run, name="numcnn-explain", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        stop.set()
        raise RunError(f"the explain server did not start within {timeout:g} s. Received: {source}")
    if failure:
        raise failure[0]
    return ready.url, stop, thread


__all__ = ["ExplainServer", "MAX_UPLOAD_BYTES", "create_app", "html_page", "serve", "serve_in_thread", "write_html"]
