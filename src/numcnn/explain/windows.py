"""The windows a convolution or pooling layer reads: where the kernel slides (for an animation) and the
im2col form of a convolution (the patch matrix and the one matrix multiply that makes the whole layer).

Every number is read from the traced forward pass: a convolution's padded input and kernel from its
tape cache (:class:`~numcnn.functional.conv.Conv2DCache`, the arrays numcnn multiplied), its output from
the trace. The patch matrix is laid out as in the study notes and :func:`numcnn.functional.im2col`: one
row per output position ``(i, j)`` in row-major order, one column per ``(channel, ky, kx)`` tap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..functional.conv import Conv2DCache
from ..functional.geometry import output_hw, resolve_padding
from ..functional.windows import windows_nhwc
from ..utils.validation import _is_int, _short

#: the layers whose windows are shown: convolutions read from their cache, pooling from their input
POOLING = ("MaxPooling2D", "AveragePooling2D")


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution call as the unit details and im2col read it.

    Attributes:
        padded: the padded input, channels last, in the compute dtype: (Hp, Wp, C).
        kernel: (kh, kw, C // groups, F) in the compute dtype (a depthwise layer's as grouped: (kh, kw, 1, C*M)).
        bias: (F,) in the compute dtype, zeros without a bias.
        has_bias: whether the layer adds one.
    """

    padded: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray
    has_bias: bool
    pads: tuple
    strides: tuple
    dilation_rate: tuple
    groups: int
    input_hw: tuple
    output_hw: tuple
    activation: str | None

    @property
    def group_channels(self) -> int:
        return self.kernel.shape[2]

    @property
    def filters_per_group(self) -> int:
        return self.kernel.shape[3] // self.groups

    def taps(self, i, j) -> tuple:
        """The input rows and columns (unpadded coordinates; outside the input in the padding) the window
        of output position ``(i, j)`` reads, and the same in the padded input."""
        kh, kw = self.kernel.shape[:2]
        rows_p = i * self.strides[0] + np.arange(kh) * self.dilation_rate[0]
        cols_p = j * self.strides[1] + np.arange(kw) * self.dilation_rate[1]
        return rows_p - self.pads[0][0], cols_p - self.pads[1][0], rows_p, cols_p


def conv_geometry(record) -> ConvGeometry:
    """The :class:`ConvGeometry` of a traced ``Conv2D`` or ``DepthwiseConv2D`` call."""
    cache = record.node.cache[0] if record.node is not None and isinstance(record.node.cache, tuple) else None
    if not isinstance(cache, Conv2DCache):
        raise ValueError(f"Layer '{record.name}' ({record.class_name}) is not a convolution whose windows can be shown "
                         "(Conv2D, DepthwiseConv2D). Received: a " + record.class_name)
    bias = record.layer.params.get("bias")
    filters = cache.kernel.shape[3]
    dtype = cache.padded.dtype
    bias = np.zeros(filters, dtype) if bias is None else bias.astype(dtype, copy=False)
    return ConvGeometry(cache.padded[0], cache.kernel, bias, cache.has_bias, cache.pads, cache.strides,
                        cache.dilation_rate, cache.groups, cache.input_hw, cache.out_shape[1:3],
                        getattr(record.layer, "activation", None))


def _pool_geometry(record):
    """``(pool_size, strides, pads, input_hw, output_hw)`` of a traced pooling call."""
    layer = record.layer
    source = record.node.inputs[0]
    hw = source.shape[1:3] if record.channels_last else source.shape[2:4]
    pads = resolve_padding(layer.padding, hw, layer.pool_size, layer.strides, check=False)
    return layer.pool_size, layer.strides, pads, tuple(hw), output_hw(hw, layer.pool_size, layer.strides, pads)


def _check_range(value, name, stop, what):
    if not _is_int(value) or not 0 <= value < stop:
        raise ValueError(f"The `{name}` argument must be an int in [0, {stop}) for {what}. "
                         f"Received: {name}={_short(value)}")
    return int(value)


def _page(start, count, total, what):
    start = _check_range(start, "start", max(total, 1), what)
    if count is not None and (not _is_int(count) or count < 1):
        raise ValueError(f"The `count` argument must be None or a positive int. Received: count={_short(count)}")
    return start, total if count is None else min(total, start + int(count))


def map_value(record, channel, i, j) -> float:
    """The number in ``record``'s output map at channel ``channel``, row ``i``, column ``j``."""
    out = record.output
    return float(out[i, j, channel] if record.channels_last else out[channel, i, j])


def sliding_window(trace, layer, channel=None, start=0, count=None) -> dict:
    """Where the window of a convolution or pooling layer goes, step by step (row-major), for an
    animation: each step's output position and the top-left input position its window starts at
    (negative or beyond the input where it lies in the padding).

    Args:
        trace: a :class:`~numcnn.explain.trace.Trace`.
        layer: the layer's name in the trace.
        channel: with a channel, ``values`` gives the output map's number at each step.
        start, count: the steps to list (all by default).

    Returns:
        JSON-able: ``kernel_size``, ``strides``, ``dilation_rate``, ``pads`` ((top, bottom), (left, right)),
        ``input_hw``, ``output_hw``, ``total`` steps, ``steps``: [[i, j, top, left], ...] and ``values``.
    """
    record = trace[layer]
    if record.class_name in POOLING:
        size, strides, pads, in_hw, out_hw = _pool_geometry(record)
        dilation = (1, 1)
    else:
        geometry = conv_geometry(record)
        size, strides, pads = geometry.kernel.shape[:2], geometry.strides, geometry.pads
        dilation, in_hw, out_hw = geometry.dilation_rate, geometry.input_hw, geometry.output_hw
    total = out_hw[0] * out_hw[1]
    start, stop = _page(start, count, total, f"the {total} steps of layer '{layer}'")
    steps = [[k // out_hw[1], k % out_hw[1]] for k in range(start, stop)]
    steps = [[i, j, i * strides[0] - pads[0][0], j * strides[1] - pads[1][0]] for i, j in steps]
    result = {"layer": layer, "kernel_size": list(size), "strides": list(strides), "dilation_rate": list(dilation),
              "pads": [list(p) for p in pads], "input_hw": list(in_hw), "output_hw": list(out_hw), "total": total,
              "start": start, "steps": steps}
    if channel is not None:
        channel = _check_range(channel, "channel", record.channel_count, f"the channels of layer '{layer}'")
        result["channel"] = channel
        result["values"] = [map_value(record, channel, i, j) for i, j, _, _ in steps]
    return result


def im2col_page(trace, layer, start=0, count=None, group=0) -> dict:
    """A convolution as one matrix multiply: rows ``start:start + count`` of its patch matrix for the traced
    input, its kernel matrix, and the product, which (plus the bias, through the activation) is the layer's
    output, row by row.

    Args:
        trace: a :class:`~numcnn.explain.trace.Trace`.
        layer: a ``Conv2D`` or ``DepthwiseConv2D`` layer's name in the trace.
        start, count: the rows (output positions) to build; all by default.
        group: which group of a grouped convolution (each has its own matrices; 0 otherwise).

    Returns:
        NumPy arrays (for pictures or JSON): ``patches`` (rows, K), ``kernel_matrix`` (K, Fg), ``bias`` (Fg,),
        ``product`` = patches @ kernel_matrix + bias (rows, Fg), ``output`` (rows, Fg) the layer's output at
        those positions, ``positions`` (rows, 2) their (i, j), ``columns`` (K, 3) each column's (channel, ky,
        kx); and ``rows`` (total rows), ``start``, ``group``, ``groups``, ``filters`` (the output channels of
        the group), ``activation``. ``K = C/groups * kh * kw``; ``Fg = F / groups``.
    """
    record = trace[layer]
    geometry = conv_geometry(record)
    oh, ow = geometry.output_hw
    start, stop = _page(start, count, oh * ow, f"the {oh * ow} rows of layer '{layer}''s patch matrix")
    group = _check_range(group, "group", geometry.groups, f"the {geometry.groups} groups of layer '{layer}'")
    kh, kw, cg, _ = geometry.kernel.shape
    fg = geometry.filters_per_group
    filters = np.arange(group * fg, (group + 1) * fg)
    rows = np.arange(start, stop)
    ii, jj = rows // ow, rows % ow
    windows = windows_nhwc(geometry.padded[None], (kh, kw), geometry.strides, geometry.dilation_rate, (oh, ow))[0]
    patches = windows[ii, jj][..., group * cg:(group + 1) * cg]  # (rows, kh, kw, cg): a copy of these rows only
    patches = patches.transpose(0, 3, 1, 2).reshape(len(rows), cg * kh * kw)
    kernel_matrix = geometry.kernel[..., filters].transpose(2, 0, 1, 3).reshape(cg * kh * kw, fg)
    bias = geometry.bias[filters]
    product = patches.astype(np.float64) @ kernel_matrix.astype(np.float64) + bias
    out = record.output if record.channels_last else np.moveaxis(record.output, 0, -1)
    columns = np.stack(np.unravel_index(np.arange(cg * kh * kw), (cg, kh, kw)), axis=1) + [group * cg, 0, 0]
    return {"layer": layer, "patches": patches, "kernel_matrix": kernel_matrix, "bias": bias, "product": product,
            "output": out[ii, jj][:, filters], "positions": np.stack([ii, jj], axis=1), "columns": columns,
            "rows": oh * ow, "start": start, "group": group, "groups": geometry.groups,
            "filters": filters, "activation": geometry.activation, "has_bias": geometry.has_bias}
