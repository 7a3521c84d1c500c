"""The detail of one unit of a traced layer: the numbers that made the number in its map.

A convolution unit ``(channel, i, j)`` shows its receptive window in each input channel it reads
(padding, strides, dilation and groups applied, read from the padded input numcnn multiplied), the
kernel slice, the element-wise products, their sum, the bias, the pre-activation and the activation,
ending in ``output``: the number in the layer's map. A pooling unit shows its window and which input won
(max) or the mean (average); a Dense unit its largest contributions ``w_i * x_i``; a softmax its logits;
any other layer the values it read at the same position.

The sums here are float64 sums of the products (exact for float32 numbers); numcnn's forward pass
summed the same products in the layer's dtype, in its own order. So ``value`` (the activation of
``pre_activation``) equals ``output`` to within ``tolerance = (n + 1) * u * (sum |products| + |bias|) +
4 * u * |output|`` (``n`` products, ``u`` the unit roundoff of the dtype, 2**-24 for float32): the
classical bound on the rounding error of a sum in any order, through 1-Lipschitz activations.

Every function returns a JSON-able dict (lists and floats).
"""

from __future__ import annotations

import numpy as np

from ..functional import get_activation
from .windows import POOLING, _check_range, _pool_geometry, conv_geometry, map_value

GLOBAL_POOLING = ("GlobalMaxPooling2D", "GlobalAveragePooling2D")
#: layers that apply one function to each number on its own (in inference: Dropout passes it through)
ELEMENTWISE = ("ReLU", "LeakyReLU", "Activation", "Clip", "Dropout", "SpatialDropout2D")


def _roundoff(dtype) -> float:
    return float(np.finfo(dtype).eps) / 2


def _activate(name, pre) -> float | None:
    """numcnn's own activation ``name`` of the float64 number ``pre`` (None for softmax: it needs the vector)."""
    if name == "softmax":
        return None
    forward, _ = get_activation(name)
    return float(forward(np.array([[pre]], np.float64), check=False)[0][0, 0])


def _position(record, channel, i, j):
    """``(channel, i, j)`` checked against ``record``'s maps."""
    if record.kind != "maps":
        raise ValueError(f"Layer '{record.name}' gives a {record.kind}; a unit of its maps needs a 4-D output. "
                         f"Received: output shape {record.output.shape}")
    shape = record.output.shape
    h, w = (shape[0], shape[1]) if record.channels_last else (shape[1], shape[2])
    channel = _check_range(channel, "channel", record.channel_count, f"the channels of layer '{record.name}'")
    return channel, _check_range(i, "y", h, f"the {h} rows of layer '{record.name}'"), \
        _check_range(j, "x", w, f"the {w} columns of layer '{record.name}'")


def conv_unit(trace, layer, channel, y, x, channel_start=0, channel_count=None) -> dict:
    """Output ``channel`` at row ``y``, column ``x`` of a ``Conv2D`` or ``DepthwiseConv2D`` layer, number by
    number (see the module docstring).

    Args:
        trace: a :class:`~numcnn.explain.trace.Trace`.
        layer: the layer's name in the trace.
        channel, y, x: the unit (output channel, row, column).
        channel_start, channel_count: which of the input channels it reads to give in full (``window``,
            ``kernel``, ``products``); the sums always cover all of them.

    Returns:
        ``input_channels`` (the input channels read), ``rows`` / ``cols`` (the input rows and columns of the
        taps; outside the input they are padding, ``padding`` marks them), ``window``, ``kernel`` and
        ``products`` as [channel][ky][kx] lists, ``channel_sums`` (one per input channel read), ``sum``,
        ``bias``, ``pre_activation``, ``activation``, ``value``, ``output`` and ``tolerance``.
    """
    record = trace[layer]
    geometry = conv_geometry(record)
    channel, i, j = _position(record, channel, y, x)
    cg, fg = geometry.group_channels, geometry.filters_per_group
    group = channel // fg
    rows, cols, rows_p, cols_p = geometry.taps(i, j)
    window = geometry.padded[np.ix_(rows_p, cols_p)][..., group * cg:(group + 1) * cg]  # (kh, kw, cg)
    kernel = geometry.kernel[..., channel]  # (kh, kw, cg)
    products = window.astype(np.float64) * kernel.astype(np.float64)
    bias = float(geometry.bias[channel])
    total = float(products.sum())
    pre = total + bias
    output = map_value(record, channel, i, j)
    u = _roundoff(geometry.padded.dtype)
    first = _check_range(channel_start, "channel_start", cg, f"the {cg} input channels unit reads")
    last = cg if channel_count is None else min(cg, first + max(int(channel_count), 1))
    shown = slice(first, last)
    h, w = geometry.input_hw
    return {
        "layer": layer, "class_name": record.class_name, "kind": "conv", "channel": channel, "y": i, "x": j,
        "input": record.inputs[0], "input_channels": list(range(group * cg, (group + 1) * cg)),
        "channel_start": first, "kernel_size": list(kernel.shape[:2]), "strides": list(geometry.strides),
        "dilation_rate": list(geometry.dilation_rate), "pads": [list(p) for p in geometry.pads],
        "groups": geometry.groups, "rows": rows.tolist(), "cols": cols.tolist(),
        "padding": ((rows[:, None] < 0) | (rows[:, None] >= h) | (cols[None] < 0) | (cols[None] >= w)).tolist(),
        "window": np.moveaxis(window[..., shown], -1, 0).astype(np.float64).tolist(),
        "kernel": np.moveaxis(kernel[..., shown], -1, 0).astype(np.float64).tolist(),
        "products": np.moveaxis(products[..., shown], -1, 0).tolist(),
        "channel_sums": products.sum(axis=(0, 1)).tolist(), "sum": total, "bias": bias,
        "has_bias": geometry.has_bias, "pre_activation": pre, "activation": geometry.activation or "linear",
        "value": _activate(geometry.activation, pre), "output": output,
        "tolerance": (products.size + 1) * u * (float(np.abs(products).sum()) + abs(bias)) + 4 * u * abs(output),
    }


def pool_unit(trace, layer, channel, y, x) -> dict:
    """Output ``channel`` at ``(y, x)`` of a ``MaxPooling2D`` / ``AveragePooling2D`` layer: its window of the
    input (None where it lies in the padding), and the winner (max: the first maximum in row-major order,
    the one the backward pass sends the gradient to) or the mean of the window's real pixels (average)."""
    record = trace[layer]
    channel, i, j = _position(record, channel, y, x)
    size, strides, pads, (h, w), _ = _pool_geometry(record)
    source = record.node.inputs[0][0]
    source = source if record.channels_last else np.moveaxis(source, 0, -1)
    rows = i * strides[0] - pads[0][0] + np.arange(size[0])
    cols = j * strides[1] - pads[1][0] + np.arange(size[1])
    inside = (rows[:, None] >= 0) & (rows[:, None] < h) & (cols[None] >= 0) & (cols[None] < w)
    values = np.where(inside, source[np.clip(rows, 0, h - 1)[:, None], np.clip(cols, 0, w - 1)[None], channel], np.nan)
    output = map_value(record, channel, i, j)
    result = {"layer": layer, "class_name": record.class_name, "channel": channel, "y": i, "x": j,
              "input": record.inputs[0], "rows": rows.tolist(), "cols": cols.tolist(),
              "window": [[None if np.isnan(v) else float(v) for v in row] for row in values.astype(np.float64)],
              "output": output}
    return result | _pool_result(record, values.astype(np.float64), inside)


def _pool_result(record, values, inside) -> dict:
    """The max and its place, or the mean, of ``values`` where ``inside``."""
    if record.class_name.startswith(("Max", "GlobalMax")):
        flat = np.where(inside, values, -np.inf).reshape(-1)
        k = int(np.argmax(flat))  # the first maximum, as the backward pass
        return {"kind": "max", "value": float(flat[k]), "winner": [k // values.shape[1], k % values.shape[1]]}
    real = values[inside]
    u = _roundoff(record.output.dtype)
    return {"kind": "average", "value": float(real.mean()), "count": int(real.size),
            "sum": float(real.sum()), "tolerance": (real.size + 2) * u * float(np.abs(real).mean())}


def global_pool_unit(trace, layer, channel) -> dict:
    """Unit ``channel`` of a global pooling layer: the whole input map, and its max (with where it is) or mean."""
    record = trace[layer]
    source = record.node.inputs[0][0]
    source = source if record.channels_last else np.moveaxis(source, 0, -1)
    channel = _check_range(channel, "channel", source.shape[-1], f"the channels of layer '{layer}'")
    values = source[..., channel].astype(np.float64)
    output = float(record.output.reshape(-1)[channel])
    return {"layer": layer, "class_name": record.class_name, "channel": channel, "input": record.inputs[0],
            "window": values.tolist(), "output": output} | _pool_result(record, values, np.ones(values.shape, bool))


def _flatten_position(trace, flatten, index) -> dict | None:
    """Where output ``index`` of a traced ``Flatten`` of maps came from: the maps' layer, channel, row, column."""
    if not flatten.inputs or flatten.inputs[0] not in trace:
        return None
    maps = trace[flatten.inputs[0]]
    if maps.kind != "maps":
        return None
    shape = maps.output.shape
    if flatten.layer.data_format == "channels_first" or maps.channels_last:  # flattened as (H, W, C)
        hwc = shape if maps.channels_last else (shape[1], shape[2], shape[0])
        y, x, c = np.unravel_index(index, hwc)
    else:  # a channels-first map flattened as it lies, (C, H, W)
        c, y, x = np.unravel_index(index, shape)
    return {"layer": maps.name, "channel": int(c), "y": int(y), "x": int(x)}


def _flatten_source(trace, record, index) -> dict | None:
    """Where input feature ``index`` of a Dense that reads a ``Flatten`` of maps came from."""
    source = trace[record.inputs[0]] if record.inputs and record.inputs[0] in trace else None
    return _flatten_position(trace, source, index) if source is not None and source.class_name == "Flatten" else None


def flatten_unit(trace, layer, unit) -> dict:
    """Unit ``unit`` of a ``Flatten``: the map position it was read from, and the number, unchanged."""
    record = trace[layer]
    unit = _check_range(unit, "unit", record.output.size, f"the units of layer '{layer}'")
    source = _flatten_position(trace, record, unit)
    value = None if source is None else map_value(trace[source["layer"]], source["channel"], source["y"], source["x"])
    return {"layer": layer, "class_name": "Flatten", "kind": "flatten", "unit": unit, "input": record.inputs[0],
            "source": source, "value": value, "output": float(record.output[unit])}


def dense_unit(trace, layer, unit, top=10) -> dict:
    """Unit ``unit`` of a ``Dense`` layer: its ``top`` largest contributions ``w_i * x_i`` (by absolute
    value, with where ``x_i`` came from when the input is a flattened map), the sum of all of them, the
    bias, the pre-activation and the activation. With ``activation="softmax"`` the activation needs
    every unit: ``logits`` holds them all and ``value`` is their softmax at ``unit``."""
    record = trace[layer]
    x = record.node.inputs[0][0]
    if x.ndim != 1:
        raise ValueError(f"Layer '{layer}' (Dense) reads inputs of shape {x.shape}; a unit detail needs a vector "
                         "(N, features) input. Received: a higher-rank input")
    kernel = record.layer.params["kernel"]
    unit = _check_range(unit, "unit", kernel.shape[1], f"the units of layer '{layer}'")
    bias_vector = record.layer.params.get("bias")
    contributions = x.astype(np.float64) * kernel[:, unit].astype(np.float64)
    order = np.argsort(-np.abs(contributions), kind="stable")[:max(int(top), 1)]
    bias = 0.0 if bias_vector is None else float(bias_vector[unit])
    total = float(contributions.sum())
    pre = total + bias
    activation = getattr(record.layer, "activation", None) or "linear"
    output = float(record.output[unit])
    u = _roundoff(record.output.dtype)
    result = {
        "layer": layer, "class_name": "Dense", "kind": "dense", "unit": unit, "input": record.inputs[0],
        "features": int(x.size),
        "top": [{"index": int(k), "x": float(x[k]), "w": float(kernel[k, unit]), "product": float(contributions[k]),
                 "source": _flatten_source(trace, record, int(k))} for k in order],
        "positive_sum": float(contributions[contributions > 0].sum()),
        "negative_sum": float(contributions[contributions < 0].sum()), "sum": total, "bias": bias,
        "pre_activation": pre, "activation": activation, "value": _activate(activation, pre), "output": output,
        "tolerance": (x.size + 1) * u * (float(np.abs(contributions).sum()) + abs(bias)) + 4 * u * abs(output),
    }
    if activation == "softmax":
        logits = x.astype(np.float64) @ kernel.astype(np.float64)
        logits += 0.0 if bias_vector is None else bias_vector.astype(np.float64)
        result |= _softmax_of(logits, unit)
        worst = (x.size + 1) * u * float((np.abs(x) @ np.abs(kernel.astype(np.float64))).max())
        result["tolerance"] = 2 * worst + 4 * u
    return result


def _softmax_of(logits, unit) -> dict:
    shifted = np.exp(logits - logits.max())
    return {"logits": logits.tolist(), "exp": shifted.tolist(), "exp_sum": float(shifted.sum()),
            "value": float(shifted[unit] / shifted.sum())}


def softmax_unit(trace, layer, unit) -> dict:
    """Unit ``unit`` of a ``Softmax`` layer over a vector: the logits it read, ``exp(z - max z)``, their sum
    and the probability ``exp[unit] / sum``."""
    record = trace[layer]
    z = record.node.inputs[0][0]
    if z.ndim != 1:
        raise ValueError(f"Layer '{layer}' (Softmax) reads inputs of shape {z.shape}; its unit detail needs a "
                         "vector. Received: a higher-rank input")
    unit = _check_range(unit, "unit", z.size, f"the units of layer '{layer}'")
    output = float(record.output[unit])
    return {"layer": layer, "class_name": "Softmax", "kind": "softmax", "unit": unit, "input": record.inputs[0],
            "output": output, "tolerance": 4 * z.size * _roundoff(record.output.dtype)} | _softmax_of(
                z.astype(np.float64), unit)


def elementwise_unit(trace, layer, index) -> dict:
    """Any other layer whose inputs have its output's shape (activations, ``Add``, batch normalization...):
    the value each input holds at ``index`` and the output there; for batch normalization its channel's
    ``gamma``, ``beta``, moving mean and variance and ``value = gamma (x - mean) / sqrt(var + epsilon) + beta``."""
    record = trace[layer]
    index = tuple(int(k) for k in index)
    shape = record.output.shape
    if len(index) != len(shape) or not all(0 <= k < n for k, n in zip(index, shape)):
        raise ValueError(f"The unit of layer '{layer}' must be an index into its output of shape {shape}. "
                         f"Received: {list(index)}")
    arrays = [a[0] for a in record.node.inputs]
    if any(a.shape != shape for a in arrays):
        raise ValueError(f"Layer '{layer}' ({record.class_name}) changes the shape of what it reads "
                         f"({[a.shape for a in arrays]} -> {shape}): it has no unit detail. Received: {list(index)}")
    result = {"layer": layer, "class_name": record.class_name, "kind": "elementwise", "index": list(index),
              "inputs": [{"layer": name, "value": float(a[index])} for name, a in zip(record.inputs, arrays)],
              "output": float(record.output[index])}
    layer_object = record.layer
    values = [entry["value"] for entry in result["inputs"]]
    if record.class_name == "Add":
        result["value"] = float(np.sum(values))
    elif record.class_name in ELEMENTWISE and getattr(layer_object, "activation", None) != "softmax":
        x = np.full((1,) * (len(shape) + 1), values[0], record.node.inputs[0].dtype)
        result["value"] = float(layer_object._forward(x, False)[0].reshape(-1)[0])  # the layer's own function
    if "moving_mean" in layer_object.state:
        c = index[layer_object.axis % (len(shape) + 1) - 1]
        c_params = {k: float(v[c]) for k, v in {**layer_object.params, **layer_object.state}.items()}
        gamma, beta = c_params.get("gamma", 1.0), c_params.get("beta", 0.0)
        x = result["inputs"][0]["value"]
        result["normalization"] = {"channel": int(c), "gamma": gamma, "beta": beta, "mean": c_params["moving_mean"],
                                   "variance": c_params["moving_variance"], "epsilon": float(layer_object.epsilon)}
        result["value"] = float(gamma * (x - c_params["moving_mean"]) / np.sqrt(
            c_params["moving_variance"] + layer_object.epsilon) + beta)
    return result


def unit_detail(trace, layer, channel, y=0, x=0, top=10, channel_start=0, channel_count=None) -> dict:
    """The detail of one unit of any traced layer: ``channel`` (a unit index for a vector), ``y`` and ``x``
    (maps only). Dispatches to :func:`conv_unit`, :func:`pool_unit`, :func:`global_pool_unit`,
    :func:`dense_unit`, :func:`softmax_unit`, :func:`flatten_unit` or :func:`elementwise_unit` by the layer's class."""
    record = trace[layer]
    kind = record.class_name
    if kind in ("Conv2D", "DepthwiseConv2D"):
        return conv_unit(trace, layer, channel, y, x, channel_start, channel_count)
    if kind in POOLING:
        return pool_unit(trace, layer, channel, y, x)
    if kind in GLOBAL_POOLING:
        return global_pool_unit(trace, layer, channel)
    if kind == "Dense":
        return dense_unit(trace, layer, channel, top)
    if kind == "Softmax" and record.kind == "vector":
        return softmax_unit(trace, layer, channel)
    if kind == "Flatten":
        return flatten_unit(trace, layer, channel)
    if record.layer is None:
        raise ValueError("The model input is not computed by a layer: it has no unit detail. Received: layer='input'")
    if record.kind == "maps":
        channel, i, j = _position(record, channel, y, x)
        index = (i, j, channel) if record.channels_last else (channel, i, j)
    elif record.kind == "vector":
        index = (channel,)
    else:
        raise ValueError(f"Layer '{layer}' gives an output of shape {record.output.shape}: unit details take maps "
                         "and vectors. Received: " + str(record.output.shape))
    return elementwise_unit(trace, layer, index)
