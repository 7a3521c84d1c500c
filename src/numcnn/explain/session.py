"""``Explainer``: one model and its current input, as ``numcnn explain`` shows them.

It loads a run directory (the model, or the last checkpoint of a run still training; the class names,
the preprocessing and the history from its files; the test images of its data set: the embedded digits,
MNIST and the others from ``--data-dir`` / ``NUMCNN_DATA_DIR`` / the cache, never downloaded) or takes a
model. It keeps the trace of the current input (a test image, an uploaded file, a drawing, or a raw
sample) and answers what a page asks: the prediction bars, the layers and their maps, one unit's
numbers, the im2col matrices, the gradients for a class. Uploaded files and drawings go through
:meth:`~numcnn.data.preprocessing.Preprocessing.load`, the code ``numcnn predict`` runs, so both give
the same probabilities for the same file.

An Explainer holds one current input: a server with several threads serialises its calls.
"""

from __future__ import annotations

import os

import numpy as np

from .. import functional as F
from ..data import DATASET_NAMES, load_dataset
from ..data.folders import load_folder_dataset
from ..data.preprocessing import Preprocessing, preprocessing_of
from ..io.run_dir import CHECKPOINT, is_imported, load_run, read_history_csv
from ..models import Model
from ..utils.validation import _is_int, _short
from . import units, windows
from .saliency import OUTPUTS, Saliency, saliency
from .trace import Trace, trace

#: the most pixels an uploaded image or a drawing may have (a 24-megapixel photo)
MAX_PIXELS = 24_000_000


def _outputs_of(model) -> str:
    """``"probabilities"`` when the model's last layer is a softmax, else ``"logits"``."""
    last = [layer for _, layer in model.flat_layers()][-1:]
    if last and (type(last[0]).__name__ == "Softmax" or getattr(last[0], "activation", None) == "softmax"):
        return "probabilities"
    return "logits"


class Explainer:
    """A model, its current input and its trace (see the module docstring).

    Args:
        source: a run directory, or a numcnn ``Model``.
        class_names: names of the classes (default: the run's, else "0", "1", ...).
        preprocessing: how an image becomes a sample (default: the run's; None: no uploads).
        outputs: ``"logits"`` or ``"probabilities"`` (default: the run's, else read from the last layer).
        test_set: ``(x, y)``: images in [0, 1] ``(N, H, W, C)`` and labels, for a model given without a run.
        data_dir: where the run's data set files are (default: where training found them).

    Example:
        >>> explainer = Explainer("runs/digits")
        >>> explainer.select_test_image(0)["predicted"]
        0
        >>> explainer.unit("conv2d", channel=3, y=2, x=5)["output"]
        0.4172...
    """

    def __init__(self, source, *, class_names=None, preprocessing=None, outputs=None, test_set=None, data_dir=None):
        self.run_dir, self.config = None, None
        if isinstance(source, Model):
            self.model = source
        elif isinstance(source, (str, os.PathLike)):
            self.run_dir = os.fspath(source)
            self.model, self.config = load_run(self.run_dir)
            self._stamp = self._model_stamp()
        else:
            raise TypeError(f"The `source` argument must be a run directory or a numcnn Model. Received: {_short(source)}")
        config = self.config or {}
        self.preprocessing = preprocessing if preprocessing is not None else (
            preprocessing_of(config) if config else None)
        if self.preprocessing is not None and not isinstance(self.preprocessing, Preprocessing):
            raise TypeError(f"The `preprocessing` argument must be a Preprocessing. Received: {_short(preprocessing)}")
        self.outputs = outputs or config.get("outputs") or ("logits" if config else _outputs_of(self.model))
        if self.outputs not in OUTPUTS:
            raise ValueError(f"The `outputs` argument must be one of {list(OUTPUTS)}. Received: outputs={_short(outputs)}")
        self._names = class_names or (config.get("dataset", {}).get("class_names") if config else None)
        self._data_dir = data_dir
        self._test = None if test_set is None else self._checked_test_set(test_set)
        self._test_probabilities = None
        self._trace = self._saliency = None
        self._input = {}

    # -- the run -----------------------------------------------------------------------------
    def _model_stamp(self):
        paths = [os.path.join(self.run_dir, name) for name in ("model.safetensors", CHECKPOINT)]
        return tuple(os.stat(p).st_mtime_ns if os.path.exists(p) else None for p in paths)

    def reload(self) -> bool:
        """Load the run's model again if its files changed (a new epoch of a run still training); the
        current input is traced again. Returns whether it changed."""
        if self.run_dir is None or self._model_stamp() == self._stamp:
            return False
        self._stamp = self._model_stamp()
        self.model, self.config = load_run(self.run_dir)
        self._test_probabilities = None
        if self._input:
            self._set(**self._input)
        return True

    def history(self) -> dict | None:
        """The run's ``history.csv`` as lists by column (``epoch``, ``loss``, ``accuracy``...), read now; None
        for a model without a run or a run without an epoch."""
        path = None if self.run_dir is None else os.path.join(self.run_dir, "history.csv")
        return read_history_csv(path) if path is not None and os.path.exists(path) else None

    @property
    def class_names(self) -> list:
        count = self._class_count()
        names = list(self._names) if self._names else []
        return names if len(names) == count else [str(k) for k in range(count)]

    def _class_count(self) -> int:
        if self._trace is not None:
            return int(self._trace.output.size)
        shape = self.model.output_shape if isinstance(self.model.output_shape, tuple) else ()
        return int(shape[-1]) if len(shape) == 2 and shape[-1] else len(self._names or [])

    def info(self) -> dict:
        """JSON-able: the model's name, input shape, outputs, class names, preprocessing and data set."""
        dataset = (self.config or {}).get("dataset", {})
        return {"model": self.model.name, "input_shape": list(self.model.input_shape[1:]) if self.model.input_shape
                else None, "outputs": self.outputs, "class_names": self.class_names,
                "preprocessing": None if self.preprocessing is None else self.preprocessing.to_json(),
                "dataset": dataset.get("name"), "imported": bool(self.config) and is_imported(self.config),
                "run_dir": self.run_dir, "parameters": int(self.model.count_params())}

    # -- test images -------------------------------------------------------------------------
    @staticmethod
    def _checked_test_set(test_set):
        if not isinstance(test_set, (tuple, list)) or len(test_set) != 2:
            raise ValueError(f"The `test_set` argument must be (x, y). Received: {_short(test_set)}")
        x, y = np.asarray(test_set[0], np.float32), np.asarray(test_set[1]).reshape(-1)
        if x.ndim != 4 or len(x) != len(y):
            raise ValueError(f"The `test_set` argument must be images (N, H, W, C) and N labels. Received: x with "
                             f"shape {x.shape}, {len(y)} labels")
        return x, y.astype(np.int64)

    def test_set(self) -> tuple:
        """``(x, y)``: the test images in [0, 1] ``(N, H, W, C)`` and their labels, loaded on first use."""
        if self._test is None:
            dataset = (self.config or {}).get("dataset", {})
            name = dataset.get("name")
            if name is None:
                raise ValueError("This model has no test set: it was given without a run, or imported (pass "
                                 "test_set=(x, y)). Received: no data set")
            data_dir = self._data_dir if self._data_dir is not None else dataset.get("data_dir")
            if name in DATASET_NAMES:
                data = load_dataset(name, data_dir, download_missing=False, progress=False, splits=("test",))
            else:  # a folder of images, read with the run's image settings
                training = self.config["training"]
                data = load_folder_dataset(training["dataset"], training["image_size"], training["color_mode"],
                                           training["test_split"], progress=False, splits=("test",))
            self._test = (data.x_test, data.y_test)
        return self._test

    def _model_inputs(self, x01):
        """Images in [0, 1] as the model takes them (an imported run's normalisation applied)."""
        return x01 if self.preprocessing is None else self.preprocessing.normalize(x01)

    def _probabilities(self, outputs):
        return outputs if self.outputs == "probabilities" else F.softmax(outputs)

    def test_probabilities(self) -> np.ndarray:
        """The model's probabilities for every test image, computed once per model. Shape: (N, K)."""
        if self._test_probabilities is None:
            x, _ = self.test_set()
            self._test_probabilities = self._probabilities(self.model.predict(self._model_inputs(x), batch_size=256))
        return self._test_probabilities

    def test_images(self, label=None, mistakes=False, start=0, count=50) -> dict:
        """A page of the test images: ``{"total", "start", "items": [{"index", "label", "predicted",
        "confidence"}]}``, only those of class ``label`` if given, only the misclassified ones (surest first)
        with ``mistakes``."""
        x, y = self.test_set()
        chosen = np.arange(len(y))
        if label is not None:
            if not _is_int(label) or not 0 <= label < self._class_count():
                raise ValueError(f"The `label` argument must be None or a class index in [0, {self._class_count()}). "
                                 f"Received: label={_short(label)}")
            chosen = chosen[y == label]
        if not _is_int(start) or start < 0 or not _is_int(count) or count < 1:
            raise ValueError(f"The `start` and `count` arguments must be ints >= 0 and >= 1. Received: start="
                             f"{_short(start)}, count={_short(count)}")
        probs = None
        if mistakes:
            probs = self.test_probabilities()
            predicted = probs[chosen].argmax(axis=1)
            wrong = chosen[predicted != y[chosen]]
            chosen = wrong[np.argsort(-probs[wrong].max(axis=1), kind="stable")]
        page = chosen[start:start + count]
        if len(page):
            if probs is None:
                probs = np.zeros((len(y), self._class_count()))
                probs[page] = self._probabilities(self.model.predict(self._model_inputs(x[page]), batch_size=256))
        items = [{"index": int(k), "label": int(y[k]), "predicted": int(probs[k].argmax()),
                  "confidence": float(probs[k].max())} for k in page]
        return {"total": int(len(chosen)), "start": int(start), "items": items}

    def test_picture(self, index) -> np.ndarray:
        """Test image ``index`` in [0, 1], ``(H, W, C)``."""
        x, _ = self.test_set()
        if not _is_int(index) or not 0 <= index < len(x):
            raise ValueError(f"The `index` argument must be an int in [0, {len(x)}). Received: index={_short(index)}")
        return x[int(index)]

    # -- the current input ---------------------------------------------------------------------
    def _set(self, sample, picture=None, label=None, source="sample", warnings=()):
        self._trace = trace(self.model, sample)
        self._saliency = {}
        self._input = {"sample": sample, "picture": picture, "label": label, "source": source,
                       "warnings": list(warnings)}
        return self.prediction()

    def select_test_image(self, index) -> dict:
        """Make test image ``index`` the current input; returns :meth:`prediction`."""
        picture = self.test_picture(index)
        return self._set(self._model_inputs(picture), picture, int(self.test_set()[1][index]), f"test:{int(index)}")

    def predict_image(self, source, invert=None, kind="upload") -> dict:
        """Make an image the current input, preprocessed exactly as ``numcnn predict`` does.

        Args:
            source: the image file's bytes (an upload), or pixels in [0, 1], ``(H, W)`` or ``(H, W, 3)``
                (a drawing: light paper and dark ink are inverted by the run's ``invert="auto"``).
            invert: ``"auto"``, ``"yes"`` or ``"no"`` to override the run's polarity (``predict --invert``).
            kind: what the page calls the input (``"upload"``, ``"drawing"``).

        Returns:
            :meth:`prediction`, with the preprocessing's ``warnings``.
        """
        if self.preprocessing is None:
            raise ValueError("This model has no image preprocessing (an imported network whose input is not an "
                             "image, or a model given without one). Received: an image")
        if not isinstance(source, (bytes, bytearray, memoryview, np.ndarray)):
            raise TypeError(f"The `source` argument must be an image file's bytes or an array of pixels in [0, 1]. "
                            f"Received: {_short(source)}")
        preprocessing = self.preprocessing
        if invert is not None:
            preprocessing = Preprocessing.from_json({**preprocessing.to_json(), "invert": invert})
        sample, picture, warnings = preprocessing.load(source, max_pixels=MAX_PIXELS)
        return self._set(sample, picture, None, kind, warnings)

    def set_sample(self, sample, label=None) -> dict:
        """Make a raw sample (as the model takes it, no batch axis) the current input; returns :meth:`prediction`."""
        return self._set(np.asarray(sample), None, label, "sample")

    def _current(self) -> Trace:
        if self._trace is None:
            raise ValueError("No input yet: call select_test_image, predict_image or set_sample first. "
                             "Received: an Explainer without an input")
        return self._trace

    def trace(self) -> Trace:
        """The trace of the current input (see :mod:`numcnn.explain.trace`)."""
        return self._current()

    def picture(self) -> np.ndarray | None:
        """The current input as the picture the model is shown, in [0, 1] ``(H, W, C)`` (None for a raw sample)."""
        self._current()
        return self._input["picture"]

    def prediction(self) -> dict:
        """JSON-able: ``class_names``, ``probabilities``, ``predicted``, ``label`` (None if unknown),
        ``source`` (``"test:12"``, ``"upload"``...) and ``warnings``."""
        t = self._current()
        probs = self._probabilities(t.output[None])[0].astype(np.float64)
        return {"class_names": self.class_names, "probabilities": probs.tolist(), "predicted": int(probs.argmax()),
                "label": self._input["label"], "source": self._input["source"], "warnings": self._input["warnings"]}

    # -- what a page asks of the current input ----------------------------------------------------
    def layers(self) -> list:
        """Every traced layer's name, class, kind, shape, value range and weights (JSON-able)."""
        return self._current().layers()

    def channel_summary(self, layer) -> dict:
        """Each channel's min, max and mean absolute value of a layer's maps."""
        return self._current().channel_summary(layer)

    def channels(self, layer, start=0, count=None) -> np.ndarray:
        """A page of a layer's maps, ``(count, H, W)``."""
        return self._current().channels(layer, start, count)

    def unit(self, layer, channel, y=0, x=0, **options) -> dict:
        """The detail of one unit (:func:`numcnn.explain.units.unit_detail`)."""
        return units.unit_detail(self._current(), layer, channel, y, x, **options)

    def sliding_window(self, layer, channel=None, start=0, count=None) -> dict:
        """The window's steps over a conv or pooling layer's input (:func:`~numcnn.explain.windows.sliding_window`)."""
        return windows.sliding_window(self._current(), layer, channel, start, count)

    def im2col(self, layer, start=0, count=None, group=0) -> dict:
        """A conv layer's patch and kernel matrices (:func:`~numcnn.explain.windows.im2col_page`)."""
        return windows.im2col_page(self._current(), layer, start, count, group)

    def saliency(self, class_index=None) -> Saliency:
        """The gradients of the cross-entropy against ``class_index`` (default: the predicted class) for the
        current input (:func:`numcnn.explain.saliency.saliency`), computed once per class."""
        t = self._current()
        if class_index is None:
            class_index = int(t.output.argmax())
        if not _is_int(class_index):
            return saliency(t, class_index, self.outputs)  # which refuses it, saying why
        if class_index not in self._saliency:
            self._saliency[int(class_index)] = saliency(t, class_index, self.outputs)
        return self._saliency[int(class_index)]
