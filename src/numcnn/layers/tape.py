"""The tape: how gradients flow through whatever a model's ``call`` does with its layers.

While a :class:`~numcnn.models.Model` runs ``call``, every layer call appends a
:class:`Node` (layer, input arrays, output array, cache) to the model's tape.
``Model.backward(dy)`` then walks the tape in reverse: each node's output
gradient goes through ``layer._backward(dy, cache)``, and the input gradients
are summed per input array (by identity). That handles branches (an array fed
to two layers gets the sum), merges (``Add``, ``Concatenate``), and a layer
used twice (two nodes, two caches; its parameter gradients accumulate).

An array that a layer receives but that no layer (and not the model input)
produced — e.g. ``x * 2`` computed with NumPy inside ``call`` — cuts the chain.
If gradient flows into such an array while earlier layers are left without
any, backward raises a ``ValueError`` naming them, instead of silently leaving
them with zero gradients. (A NumPy step applied to the model input before the
first layer cuts nothing that has parameters: the layers' gradients are
right, and the model's input gradient is None.)
"""

from __future__ import annotations

import contextvars
import numbers
from dataclasses import dataclass, field

_CURRENT_TAPE: contextvars.ContextVar = contextvars.ContextVar("numcnn_tape", default=None)
_BACKWARD_PASS: contextvars.ContextVar = contextvars.ContextVar("numcnn_backward_pass", default=None)


class _Setting:
    """A context manager that sets the context variable ``VAR`` to ``value`` inside its block."""

    VAR: contextvars.ContextVar

    def __init__(self, value):
        self.value = value

    def __enter__(self):
        self._token = self.VAR.set(self.value)
        return self.value

    def __exit__(self, *exc):
        self.VAR.reset(self._token)
        return False


@dataclass
class Node:
    layer: object
    inputs: list  # the arrays the layer received
    output: object  # the array it returned
    cache: object
    multi_input: bool


@dataclass
class Tape:
    inputs: list = field(default_factory=list)
    nodes: list = field(default_factory=list)
    output: object = None

    def record(self, node: Node) -> None:
        self.nodes.append(node)


def current_tape():
    """The tape being recorded, or None outside a model's forward pass."""
    return _CURRENT_TAPE.get()


class recording(_Setting):
    """Context manager: record layer calls onto ``tape`` (nested models stack)."""

    VAR = _CURRENT_TAPE


class backward_pass:
    """Context manager marking one backward pass: within it, gradients accumulate.

    A layer's ``grads`` are overwritten by the first gradient it receives in a pass
    and summed with the later ones (a layer used twice). Nested passes reuse the
    outer one.
    """

    def __enter__(self):
        self._token = None
        if _BACKWARD_PASS.get() is None:
            self._token = _BACKWARD_PASS.set(object())
        return _BACKWARD_PASS.get()

    def __exit__(self, *exc):
        if self._token is not None:
            _BACKWARD_PASS.reset(self._token)
        return False


def current_pass():
    return _BACKWARD_PASS.get()


def run_backward(tape: Tape, output, dy, owner: str):
    """Send ``dy`` (the gradient of ``output``) back through ``tape``.

    Returns:
        The gradient of each tape input (None where no gradient reached it).
    """
    outputs = list(output) if isinstance(output, (list, tuple)) else [output]
    dys = list(dy) if isinstance(dy, (list, tuple)) else [dy]
    if len(outputs) != len(dys):
        raise ValueError(f"`{owner}.backward` needs one gradient per output ({len(outputs)}). Received: {len(dys)} gradients")
    grads = {}
    for out, g in zip(outputs, dys):
        if getattr(g, "shape", None) != out.shape:
            raise ValueError(
                f"The `dy` argument of `{owner}.backward` must have the output's shape {out.shape}. "
                f"Received: dy with shape {getattr(g, 'shape', None)}")
        grads[id(out)] = g
    produced = {id(a) for a in tape.inputs} | {id(n.output) for n in tape.nodes}
    # as PyTorch's requires_grad: an array needs a gradient if a trainable weight, or an input whose
    # gradient is wanted, lies behind it; the calls behind none (a frozen base) are not gone back through
    requires = dict.fromkeys((id(a) for a in tape.inputs), _INPUT_GRADIENT.get())
    for node in tape.nodes:
        requires[id(node.output)] = (bool(node.layer.trainable_variables)
                                     or any(requires.get(id(a), False) for a in node.inputs))
    starved, cut = [], []
    for node in reversed(tape.nodes):
        g = grads.pop(id(node.output), None)
        if g is None:  # this call's output did not reach the loss
            if node.layer.trainable_variables:
                starved.append(node.layer.name)
            continue
        if not requires[id(node.output)]:
            continue
        # an array no layer made (NumPy between layers) is asked for, so that the cut is seen below
        wanted = [requires.get(id(a), True) for a in node.inputs]
        with input_gradient(any(wanted)):  # a nested model asks for its inputs' gradients only if wanted here
            dx = node.layer._backward_accumulate(g, node.cache)
        dxs = dx if node.multi_input else [dx]
        for array, d, want in zip(node.inputs, dxs, wanted):
            if d is None:
                continue
            if id(array) not in produced:
                if d.any():
                    cut.append(node.layer.name)
                continue
            if not want:
                continue
            grads[id(array)] = d if id(array) not in grads else grads[id(array)] + d
    if cut and starved:
        raise ValueError(
            f"In `{owner}.call`, layer(s) {sorted(set(cut))} received arrays that no layer produced (a NumPy "
            "operation such as `x * 2`, `x + y`, `np.concatenate` or `.reshape` between layers), so no gradient "
            f"reached layer(s) {sorted(set(starved))}. Use layers for such steps: Add, Concatenate, Rescaling, "
            "Reshape, Flatten. Received: a gradient chain cut before those layers")
    return [grads.get(id(a)) for a in tape.inputs]


_INPUT_GRADIENT: contextvars.ContextVar = contextvars.ContextVar("numcnn_input_gradient", default=True)


def input_gradient_wanted() -> bool:
    """Whether the backward pass being run needs the gradient of the layer's input (see :class:`input_gradient`):
    a layer may skip computing it when not."""
    return _INPUT_GRADIENT.get()


class input_gradient(_Setting):
    """Context manager: whether ``Model.backward`` computes the gradient of its inputs (default True;
    ``fit`` turns it off, so no layer goes back further than the first trainable weight needs)."""

    VAR = _INPUT_GRADIENT

    def __init__(self, enabled: bool):
        super().__init__(bool(enabled))


_INFERENCE: contextvars.ContextVar = contextvars.ContextVar("numcnn_inference", default=False)


def in_inference() -> bool:
    """Whether calls run under :class:`inference`: nothing is kept for a backward pass."""
    return _INFERENCE.get()


class inference(_Setting):
    """Context manager, as ``torch.inference_mode``: models record no tape and layers keep no cache, so
    each layer's input and cache are freed as soon as the next layers have read them (``predict`` and
    ``evaluate`` run in it). A ``backward`` after such a call has nothing to go back through."""

    VAR = _INFERENCE

    def __init__(self):
        super().__init__(True)


_TRAINING: contextvars.ContextVar = contextvars.ContextVar("numcnn_training", default=None)


def current_training():
    """The ``training`` flag of the model call being run (None outside models)."""
    return _TRAINING.get()


class training_mode(_Setting):
    """Context manager: layers called without ``training=`` inherit ``flag``."""

    VAR = _TRAINING

    def __init__(self, flag):
        super().__init__(bool(flag))


_GLOBAL_BATCH: contextvars.ContextVar = contextvars.ContextVar("numcnn_global_batch", default=None)


def current_batch_part():
    """``(total, start)`` set by :class:`global_batch`, or None: the calls run on a whole batch."""
    return _GLOBAL_BATCH.get()


class global_batch(_Setting):
    """Context manager: the batch being run is rows ``start:start + len(x)`` of a global batch of ``total``
    samples (data parallelism gives each process a share). Random augmentation layers then draw their
    parameters for all ``total`` samples and keep their rows, so that every process's share is augmented
    as one process would augment the whole batch."""

    VAR = _GLOBAL_BATCH

    def __init__(self, total, start):
        if not (isinstance(total, numbers.Integral) and isinstance(start, numbers.Integral) and 0 <= start <= total):
            raise ValueError("The `total` and `start` arguments must be ints with 0 <= start <= total. "
                             f"Received: total={total!r}, start={start!r}")
        super().__init__((int(total), int(start)))
