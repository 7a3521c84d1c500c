"""What every layer of a model computed for one input, read from the tape of one forward pass.

:func:`trace` runs the model on a batch of one sample under :func:`Model.call_recorded`, which records
every layer call (its input arrays, output array and cache, see :mod:`numcnn.layers.tape`) whatever the
model is: a ``Sequential``, a subclassed model or a functional DAG. Nested models are walked into and
their layers named with the nested model's name as a prefix (``"block/conv2d"``); a layer called twice
appears twice (``"conv2d"``, ``"conv2d@2"``). Each call becomes a :class:`LayerRecord`; the model input
is the first record, ``"input"``.

A record whose output is 4-D holds feature "maps" (``(H, W, C)`` or ``(C, H, W)`` per its data format),
a 2-D one a "vector". Big layers are read a page at a time: :meth:`Trace.channel_summary` gives every
channel's min, max and mean absolute value in one pass, :meth:`Trace.channels` a page of maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..layers.input_layer import InputLayer
from ..layers.tape import Node, Tape
from ..models import Model
from ..utils.validation import _is_int, _short, as_array

INPUT = "input"


@dataclass
class LayerRecord:
    """One layer call of the traced forward pass.

    Attributes:
        name: unique name in the trace (``"block/conv2d"``, ``"dense@2"`` for a second call).
        class_name: the layer's class (``"Conv2D"``), ``"Input"`` for the model input.
        output: the call's output for the sample, batch axis removed.
        inputs: names of the records whose outputs this call read (None for an array no layer made).
        data_format: ``"channels_last"`` or ``"channels_first"``: the layout of a "maps" output.
        layer, node: the layer object and its tape node (None for the input).
    """

    name: str
    class_name: str
    output: np.ndarray
    inputs: list
    data_format: str
    layer: object = None
    node: Node | None = None

    @property
    def kind(self) -> str:
        """``"maps"`` (a 4-D output), ``"vector"`` (2-D) or ``"other"``."""
        return {3: "maps", 1: "vector"}.get(self.output.ndim, "other")

    @property
    def channels_last(self) -> bool:
        return self.data_format == "channels_last"

    @property
    def channel_count(self) -> int:
        """Channels of a "maps" output; units of a "vector"; 1 otherwise."""
        if self.kind == "maps":
            return self.output.shape[-1 if self.channels_last else 0]
        return self.output.shape[0] if self.kind == "vector" else 1

    def info(self) -> dict:
        """What a page lists for the layer, JSON-able: name, class, kind, shapes, value range, weights."""
        finite = self.output[np.isfinite(self.output)]
        shape = list(self.output.shape)
        info = {"name": self.name, "class_name": self.class_name, "kind": self.kind, "output_shape": shape,
                "data_format": self.data_format, "channels": int(self.channel_count), "inputs": list(self.inputs),
                "min": float(finite.min()) if finite.size else None,
                "max": float(finite.max()) if finite.size else None, "params": {}}
        if self.kind == "maps":
            info["height"], info["width"] = (shape[0], shape[1]) if self.channels_last else (shape[1], shape[2])
        if self.layer is not None:
            info["params"] = {k: list(v.shape) for k, v in {**self.layer.params, **self.layer.state}.items()}
            info["activation"] = getattr(self.layer, "activation", None)
        return info


@dataclass
class Trace:
    """The records of one forward pass (see the module docstring), in the order the calls ran.

    Attributes:
        model: the traced model.
        sample: the input, one sample (no batch axis).
        output: the model's output for it, batch axis removed (logits or probabilities).
        records: every :class:`LayerRecord`, the input first.
        tape: the recorded tape (its caches serve the unit details and the backward pass).
        node_names: ``{id(node): record name}`` for every node of the tape and the tapes nested in it.
    """

    model: Model
    sample: np.ndarray
    output: np.ndarray
    records: list
    tape: Tape
    node_names: dict = field(default_factory=dict)

    def __post_init__(self):
        self._by_name = {record.name: record for record in self.records}

    def __getitem__(self, name) -> LayerRecord:
        record = self._by_name.get(name)
        if record is None:
            raise ValueError(f"The `layer` argument must name a layer of the trace: {list(self._by_name)[:12]}"
                             f"{' ...' if len(self._by_name) > 12 else ''}. Received: layer={_short(name)}")
        return record

    def __contains__(self, name) -> bool:
        return name in self._by_name

    def layers(self) -> list:
        """Every record's :meth:`LayerRecord.info`, in call order (JSON-able)."""
        return [record.info() for record in self.records]

    def _maps(self, name) -> np.ndarray:
        """Layer ``name``'s maps, channels last."""
        record = self[name]
        if record.kind != "maps":
            raise ValueError(f"Layer '{name}' gives a {record.kind} of shape {record.output.shape}, not feature maps. "
                             "Received: a layer without maps")
        return record.output if record.channels_last else np.moveaxis(record.output, 0, -1)

    def channel_summary(self, name) -> dict:
        """Each channel's ``min``, ``max`` and ``mean_abs`` (mean absolute value) over its map, as lists
        (one pass over the layer: a 2,048-channel layer is listed without drawing a map).

        Shape:
            returns lists of length C.
        """
        return {"layer": name, **summarize_channels(self._maps(name))}

    def channels(self, name, start=0, count=None) -> np.ndarray:
        """Maps ``start`` to ``start + count`` of a "maps" layer (all from ``start`` when ``count`` is None).

        Shape:
            returns (count, H, W), whatever the layer's data format.
        """
        return page_channels(self._maps(name), start, count, f"layer '{name}'")


def summarize_channels(hwc) -> dict:
    """``channels``, and each channel's ``min``, ``max`` and ``mean_abs`` of an ``(H, W, C)`` array, as lists."""
    flat = hwc.reshape(-1, hwc.shape[-1]).astype(np.float64)
    return {"channels": int(flat.shape[1]), "min": flat.min(axis=0).tolist(), "max": flat.max(axis=0).tolist(),
            "mean_abs": np.abs(flat).mean(axis=0).tolist()}


def page_channels(hwc, start, count, what) -> np.ndarray:
    """Channels ``start:start + count`` of an ``(H, W, C)`` array as ``(count, H, W)`` (``count`` None: to the end)."""
    total = hwc.shape[-1]
    if not _is_int(start) or not 0 <= start < total:
        raise ValueError(f"The `start` argument must be an int in [0, {total}) for the {total} channels of "
                         f"{what}. Received: start={_short(start)}")
    if count is not None and (not _is_int(count) or count < 1):
        raise ValueError(f"The `count` argument must be None or a positive int. Received: count={_short(count)}")
    stop = total if count is None else min(total, int(start) + int(count))
    return np.ascontiguousarray(np.moveaxis(hwc[..., int(start):stop], -1, 0))


def model_data_format(model) -> str:
    """The layout of the model's images: the ``data_format`` of its first layer that has one."""
    for _, layer in model.flat_layers():
        if isinstance(getattr(layer, "data_format", None), str):
            return layer.data_format
    return "channels_last"


def _check_sample(model, sample):
    sample = as_array(sample, "sample")
    declared = model.input_shape
    if isinstance(declared, list):
        raise ValueError(f"numcnn.explain traces models of one input; model '{model.name}' takes {len(declared)}. "
                         "Received: a model with several inputs")
    if declared is not None and tuple(sample.shape) != tuple(declared[1:]):
        raise ValueError(f"The `sample` argument must be one sample of shape {tuple(declared[1:])} (no batch axis) "
                         f"for model '{model.name}'. Received: sample with shape {sample.shape}")
    if sample.ndim == 0:
        raise ValueError("The `sample` argument must be one sample, e.g. (H, W, C). Received: a scalar")
    return sample


def trace(model, sample, training=False) -> Trace:
    """Run ``model`` on one sample and record what every layer computed.

    Args:
        model: a numcnn ``Model`` (``Sequential``, subclassed or functional) with one input.
        sample: one sample as the model takes it, without the batch axis.
        training: the ``training`` flag of the call (False: inference behaviour, as ``predict``).

    Shape:
        sample: e.g. (H, W, C); every record's output is the layer's output without the batch axis.

    Example:
        >>> t = trace(model, x_test[0])
        >>> [r["name"] for r in t.layers()]
        ['input', 'conv2d', 'max_pooling2d', 'flatten', 'dense', 'dense_1']
    """
    if not isinstance(model, Model):
        raise TypeError(f"The `model` argument must be a numcnn Model. Received: {_short(model)}")
    model._ensure_built()
    sample = _check_sample(model, sample)
    outputs, tape = model.call_recorded(sample[None], training=training)
    if isinstance(outputs, list):
        raise ValueError(f"numcnn.explain traces models of one output; model '{model.name}' gives {len(outputs)}. "
                         "Received: a model with several outputs")
    default = model_data_format(model)
    records = [LayerRecord(INPUT, "Input", tape.inputs[0][0], [], default)]
    producer = {id(tape.inputs[0]): INPUT}
    node_names = {}
    _walk(tape, "", producer, records, node_names, default)
    return Trace(model, sample, outputs[0], records, tape, node_names)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _walk(tape, prefix, producer, records, node_names, default) -> None:
    """Append a record per node of ``tape``; ``producer`` maps ``id(array)`` to the record that made it."""
    by_name = {record.name: record for record in records}
    for node in tape.nodes:
        sources = [producer.get(id(a)) for a in node.inputs]
        if isinstance(node.cache, Tape):  # a nested model: its tape is the cache
            for inner, source in zip(node.cache.inputs, sources):
                producer[id(inner)] = source
            _walk(node.cache, f"{prefix}{node.layer.name}/", producer, records, node_names, default)
            for outer, inner in zip(_as_list(node.output), _as_list(node.cache.output)):
                producer[id(outer)] = producer.get(id(inner))
            by_name = {record.name: record for record in records}
            continue
        if isinstance(node.layer, InputLayer):  # a functional model's input: the array it was given
            producer[id(node.output)] = sources[0]
            continue
        base, k = f"{prefix}{node.layer.name}", 1
        while (base if k == 1 else f"{base}@{k}") in by_name:
            k += 1
        name = base if k == 1 else f"{base}@{k}"
        fmt = getattr(node.layer, "data_format", None)
        if not isinstance(fmt, str):  # a layer without a layout (ReLU, Add): its input's
            fmt = by_name[sources[0]].data_format if sources and sources[0] in by_name else default
        outputs = _as_list(node.output)  # a layer of several outputs is shown by its first
        record = LayerRecord(name, type(node.layer).__name__, outputs[0][0], sources, fmt, node.layer, node)
        records.append(record)
        by_name[name] = record
        node_names[id(node)] = name
        for output in outputs:
            producer[id(output)] = name
