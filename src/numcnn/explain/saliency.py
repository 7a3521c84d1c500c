"""The backward pass made visible: for a chosen class, the gradient of the loss with respect to the input
(saliency) and to every layer's output, from numcnn's own backward pass over the traced forward pass.

The loss is the cross-entropy of the traced sample against the chosen class: numcnn's
:func:`~numcnn.functional.softmax_cross_entropy_forward` on a model that ends in logits, or
:func:`~numcnn.functional.categorical_cross_entropy_forward` (probabilities clipped to
``[1e-7, 1 - 1e-7]``, as Keras; the gradient is 0 where a probability is clipped) on one that ends in
probabilities. Its gradient goes back through the trace's tape, each layer's own ``_backward`` with its
cache, as :func:`numcnn.layers.tape.run_backward` sends it, under the ``input_gradient`` context so that
even the first layer gives the gradient of its input; the walk here also keeps the gradient each layer
received (``run_backward`` keeps only the inputs'), and goes into nested models. No weight's gradient is
kept: the model's ``grads`` are left as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..layers.tape import Tape, backward_pass, input_gradient
from ..utils.validation import _is_int, _short
from .trace import INPUT, page_channels, summarize_channels

OUTPUTS = ("logits", "probabilities")


@dataclass
class Saliency:
    """The gradients of one backward pass (see the module docstring).

    Attributes:
        class_index: the class the loss is taken against.
        loss: the cross-entropy of the sample against it.
        gradients: ``{record name: d loss / d output}`` for every traced layer the gradient reached, batch
            axis removed, in the layer's layout; ``"input"`` is the saliency, d loss / d input.
        data_formats: ``{record name: data format}`` of the arrays.
    """

    class_index: int
    loss: float
    gradients: dict
    data_formats: dict

    @property
    def input_gradient(self) -> np.ndarray:
        """d loss / d input, shaped like the sample."""
        return self.gradients[INPUT]

    def saliency_map(self) -> np.ndarray:
        """The input gradient's largest absolute value over the channels at each pixel (Simonyan et al., 2014).

        Shape:
            returns (H, W).
        """
        return np.abs(self._hwc(INPUT)).max(axis=-1)

    def _hwc(self, name) -> np.ndarray:
        if name not in self.gradients:
            raise ValueError(f"The `layer` argument must name a layer the gradient reached: {list(self.gradients)[:12]}. "
                             f"Received: layer={_short(name)}")
        grad = self.gradients[name]
        if grad.ndim != 3:
            raise ValueError(f"The gradient of layer '{name}' has shape {grad.shape}, not maps. Received: {name!r}")
        return grad if self.data_formats[name] == "channels_last" else np.moveaxis(grad, 0, -1)

    def channel_summary(self, name) -> dict:
        """Each channel's min, max and mean absolute gradient of a layer's maps (as :meth:`Trace.channel_summary`)."""
        return {"layer": name, **summarize_channels(self._hwc(name))}

    def channels(self, name, start=0, count=None) -> np.ndarray:
        """Gradient maps ``start:start + count`` of a layer. Shape: returns (count, H, W)."""
        return page_channels(self._hwc(name), start, count, f"the gradient of layer '{name}'")

    def info(self) -> dict:
        """JSON-able: the class, the loss and each layer's gradient range and mean absolute value."""
        layers = [{"name": name, "shape": list(g.shape), "min": float(g.min()), "max": float(g.max()),
                   "mean_abs": float(np.abs(g).mean())} for name, g in self.gradients.items()]
        return {"class_index": self.class_index, "loss": self.loss, "layers": layers}


def saliency(trace, class_index, outputs="logits") -> Saliency:
    """d loss / d input and every layer's d loss / d output for the traced sample, the loss being the
    cross-entropy against ``class_index``.

    Args:
        trace: a :class:`~numcnn.explain.trace.Trace` (its tape is gone back through).
        class_index: the chosen class, an index into the model's outputs.
        outputs: what the model gives: ``"logits"`` or ``"probabilities"`` (a softmax at its end).

    Shape:
        every gradient is shaped like the traced array it belongs to (batch axis removed).
    """
    if outputs not in OUTPUTS:
        raise ValueError(f"The `outputs` argument must be one of {list(OUTPUTS)}. Received: outputs={_short(outputs)}")
    scores = trace.output
    if scores.ndim != 1:
        raise ValueError(f"A saliency needs a model that gives one score per class; this one gives shape "
                         f"{scores.shape}. Received: an output of shape {scores.shape}")
    if not _is_int(class_index) or not 0 <= class_index < scores.size:
        raise ValueError(f"The `class_index` argument must be an int in [0, {scores.size}). "
                         f"Received: class_index={_short(class_index)}")
    label = np.array([int(class_index)])
    if outputs == "logits":
        loss, cache = F.softmax_cross_entropy_forward(label, scores[None])
        dy = F.softmax_cross_entropy_backward(cache)
    else:
        loss, cache = F.categorical_cross_entropy_forward(label, scores[None])
        dy = F.categorical_cross_entropy_backward(cache)
    found = {}
    with backward_pass(), input_gradient(True):
        (dx,) = _send_back(trace.tape, [dy.astype(scores.dtype, copy=False)], trace.node_names, found)
    if dx is None:
        raise ValueError(f"The gradient did not reach the input of model '{trace.model.name}': its `call` changes the "
                         "input with NumPy before the first layer. Received: a chain cut before the first layer")
    gradients = {INPUT: dx[0], **{name: found[name][0] for name in (r.name for r in trace.records) if name in found}}
    formats = {r.name: r.data_format for r in trace.records}
    return Saliency(int(class_index), float(loss), gradients, formats)


def _send_back(tape: Tape, dys: list, names: dict, found: dict) -> list:
    """Send ``dys`` (the gradients of ``tape.output``) back through ``tape``; record in ``found`` the gradient
    of each named node's output. Returns the gradient of each tape input (None where none reached it)."""
    outputs = list(tape.output) if isinstance(tape.output, (list, tuple)) else [tape.output]
    grads = {}
    for out, g in zip(outputs, dys):
        grads[id(out)] = g
    for node in reversed(tape.nodes):
        node_outputs = list(node.output) if isinstance(node.output, (list, tuple)) else [node.output]
        gs = [grads.pop(id(out), None) for out in node_outputs]
        if all(g is None for g in gs):  # this call's output did not reach the loss
            continue
        gs = [np.zeros_like(out) if g is None else g for out, g in zip(node_outputs, gs)]
        if id(node) in names:
            found[names[id(node)]] = gs[0]
        if isinstance(node.cache, Tape):  # a nested model: walk its tape, keeping its layers' gradients
            dxs = _send_back(node.cache, gs, names, found)
        else:
            dx, _ = node.layer._backward(gs if len(gs) > 1 else gs[0], node.cache)
            dxs = dx if node.multi_input else [dx]
        for array, d in zip(node.inputs, dxs):
            if d is not None:
                grads[id(array)] = d if id(array) not in grads else grads[id(array)] + d
    return [grads.get(id(a)) for a in tape.inputs]
