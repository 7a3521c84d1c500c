"""The data of ``numcnn explain RUN --html page.html``: one JSON-able dict that holds everything the page
shows for a few test images, so the page needs no server and computes no layer itself.

For each image: its prediction, every layer's output and the gradients of the loss against its predicted
class (:mod:`numcnn.explain.saliency`). Once: the layers (names, shapes, window geometry), the weights
of every convolution and Dense layer (exact float32) and the training history. The numbers of any unit
detail are then in the file: a convolution unit's window is read from its input map, multiplied by its
kernel slice and summed, and ends in the exact number of its output map.

Arrays are base64 (:func:`~numcnn.explain.encode.encode_array`). A model whose outputs for one image
total at most ``exact_budget`` numbers (the study notes' networks on 8x8 digits) has every map stored
exactly, as float32. A bigger one has its maps quantised to 8 bits with their range, and exactly only
what the unit details read: the model input, the inputs and outputs of the convolutions and Dense
layers, and each max pooling window's winner (the tap index of its first maximum, as the backward pass
picks it). Gradients are quantised, but for the input's (the saliency), which is exact.

For a digits run (SimpleConvNet on 8x8) and 20 images, ``json.dumps`` of the dict is about 0.7 MB.
"""

from __future__ import annotations

import numpy as np

from .._version import __version__
from ..functional.windows import pad_nhwc, windows_nhwc
from ..utils.validation import _is_int, _short
from .encode import encode_array
from .trace import INPUT
from .windows import _pool_geometry, conv_geometry

BUNDLE_FORMAT = "numcnn.explain.bundle"
BUNDLE_VERSION = 1
#: the layers whose weights, inputs and outputs the unit details read
WEIGHTED = ("Conv2D", "DepthwiseConv2D", "Dense")


def choose_images(explainer, n_images) -> list:
    """``n_images`` test images to show: up to a quarter of them the surest mistakes, the rest taken class by
    class in turn, in test-set order (so every class appears)."""
    _, y = explainer.test_set()
    probs = explainer.test_probabilities()
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y)
    mistakes = [int(k) for k in wrong[np.argsort(-probs[wrong].max(axis=1), kind="stable")][:n_images // 4]]
    by_class = [list(np.flatnonzero(y == c)) for c in np.unique(y)]
    chosen, taken, depth = [], set(mistakes), 0
    while len(chosen) + len(mistakes) < min(n_images, len(y)) and depth < len(y):
        for indices in by_class:
            if depth < len(indices) and int(indices[depth]) not in taken \
                    and len(chosen) + len(mistakes) < n_images:
                chosen.append(int(indices[depth]))
                taken.add(int(indices[depth]))
        depth += 1
    return chosen + mistakes


def _geometry(record) -> dict:
    """The window geometry of a convolution or pooling record (empty for other layers)."""
    if record.class_name in ("Conv2D", "DepthwiseConv2D"):
        g = conv_geometry(record)
        return {"kernel_size": list(g.kernel.shape[:2]), "strides": list(g.strides),
                "dilation_rate": list(g.dilation_rate), "pads": [list(p) for p in g.pads], "groups": g.groups,
                "has_bias": g.has_bias}
    if record.class_name in ("MaxPooling2D", "AveragePooling2D"):
        size, strides, pads, _, _ = _pool_geometry(record)
        return {"pool_size": list(size), "strides": list(strides), "pads": [list(p) for p in pads]}
    return {}


def _pool_winners(record) -> np.ndarray:
    """For each output of a max pooling record, the tap (``a * pw + b``) of its window's first maximum.

    Shape:
        returns (OH, OW, C) uint8, channels last.
    """
    size, strides, pads, _, out_hw = _pool_geometry(record)
    source = record.node.inputs[0]
    source = source if record.channels_last else np.moveaxis(source, 1, -1)
    padded = pad_nhwc(np.asarray(source, np.float64), pads, value=-np.inf)
    win = windows_nhwc(padded, size, strides, (1, 1), out_hw)[0]  # (OH, OW, ph, pw, C)
    return win.reshape(*out_hw, size[0] * size[1], -1).argmax(axis=2).astype(np.uint8)


def _exact_parts(record) -> dict | None:
    """What a unit detail of ``record`` reads, exactly, when the maps are quantised: a convolution's or Dense
    layer's input and output, a max pooling's output and winners (None for windows of over 256 taps)."""
    if record.class_name in WEIGHTED:
        return {"input": encode_array(record.node.inputs[0][0]), "output": encode_array(record.output)}
    if record.class_name == "MaxPooling2D" and np.prod(record.layer.pool_size) <= 256:
        return {"winners": encode_array(_pool_winners(record)), "output": encode_array(record.output)}
    return None


def _image_entry(explainer, index, exact) -> dict:
    prediction = explainer.select_test_image(index)
    t = explainer.trace()
    grads = explainer.saliency(prediction["predicted"])
    maps = {r.name: encode_array(r.output, exact or r.name == INPUT) for r in t.records}
    parts = {} if exact else {r.name: part for r in t.records if (part := _exact_parts(r)) is not None}
    gradients = {name: encode_array(g, name == INPUT) for name, g in grads.gradients.items()}
    return {"index": int(index), "label": prediction["label"], "prediction": prediction,
            "picture": encode_array(explainer.picture()), "maps": maps, "exact_parts": parts,
            "saliency": {"class_index": grads.class_index, "loss": grads.loss, "gradients": gradients}}


def write_html_bundle_data(explainer, n_images=20, exact_budget=20_000) -> dict:
    """Everything the self-contained page shows for ``n_images`` test images (see the module docstring).

    Args:
        explainer: an :class:`~numcnn.explain.session.Explainer` with a test set.
        n_images: how many test images (``--images N``).
        exact_budget: store every map exactly when one image's layer outputs total at most this many
            numbers; otherwise quantise them to 8 bits.

    Returns:
        A JSON-able dict: ``format``, ``format_version``, ``numcnn_version``, ``info``, ``history``,
        ``layers`` (each with its window geometry), ``weights`` ({layer: {"kernel", "bias"}}), ``exact``
        (whether every map is exact) and ``images`` (each with ``index``, ``label``, ``prediction``,
        ``picture``, ``maps``, ``exact_parts`` (what the unit details read, when the maps are quantised) and
        ``saliency``). The explainer's current input is left on the last image.
    """
    if not _is_int(n_images) or n_images < 1:
        raise ValueError(f"The `n_images` argument must be a positive int. Received: n_images={_short(n_images)}")
    indices = choose_images(explainer, int(n_images))
    explainer.select_test_image(indices[0])
    t = explainer.trace()
    exact = sum(record.output.size for record in t.records) <= exact_budget
    layers = [{**record.info(), **_geometry(record)} for record in t.records]
    for layer in layers:
        layer.pop("min"), layer.pop("max")  # per image: each image's maps carry their own range
    weights, first_call = {}, {}
    for record, layer in zip(t.records, layers):
        if record.class_name not in WEIGHTED:
            continue
        layer["weights"] = first_call.setdefault(id(record.layer), record.name)  # a layer called twice: one copy
        if layer["weights"] == record.name:
            kernel = conv_geometry(record).kernel if record.class_name != "Dense" else record.layer.params["kernel"]
            bias = record.layer.params.get("bias")
            weights[record.name] = {"kernel": encode_array(kernel), "bias": None if bias is None else encode_array(bias)}
    images = [_image_entry(explainer, index, exact) for index in indices]
    return {"format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "numcnn_version": __version__,
            "info": explainer.info(), "history": explainer.history(), "layers": layers, "weights": weights,
            "exact": bool(exact), "images": images}
