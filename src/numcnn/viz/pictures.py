"""Pictures of what a network learned and sees, written as PNG files (matplotlib, atomically).

Each function returns the numbers it drew, so tests (and curious users) can check
that the picture shows the right thing: the filter weights, the layer outputs, the
confusion counts.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..filters import apply_kernel
from ..layers import Conv2D
from ..layers.tape import Tape
from ..utils.validation import _short
from ._png import new_figure, save_png


def _grid(n, columns=None):
    columns = columns or min(n, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / columns), columns


def _first_conv(model):
    for _, layer in model.flat_layers():
        if isinstance(layer, Conv2D):
            return layer
    raise ValueError(f"Model '{model.name}' has no Conv2D layer to draw. Received: {_short(model)}")


def plot_filters(model, path, title=None) -> np.ndarray:
    """The first Conv2D layer's filters as a grid of small images (gray: 1 input channel; RGB: 3).

    Returns:
        the drawn kernel, ``(kh, kw, in_channels, filters)``; each tile is one filter, scaled to
        its own min..max (blue negative, red positive for single-channel filters).
    """
    layer = _first_conv(model)
    kernel = layer.params["kernel"]
    kh, kw, cin, count = kernel.shape
    rows, cols = _grid(count)
    figure = new_figure(1.1 * cols + 0.6, 1.1 * rows + 0.7)
    axes = figure.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= count:
            continue
        w = kernel[:, :, :, i]
        if cin == 3:
            low, high = float(w.min()), float(w.max())
            ax.imshow((w - low) / (high - low) if high > low else np.zeros_like(w), interpolation="nearest")
        else:
            w = w[:, :, 0]
            limit = float(np.abs(w).max()) or 1.0
            ax.imshow(w, cmap="bwr", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(str(i), fontsize=7)
    figure.suptitle(title or f"{layer.name}: {count} filters of {kh}x{kw}x{cin}")
    save_png(figure, path)
    return kernel


def conv_feature_maps(model, image) -> dict:
    """The output of every Conv2D call (after its fused activation) for one image, in the order
    the model's ``call`` made them (read from the model's tape, so subclassed models with
    branches and nested models are right too; a layer called twice appears as ``name@2``).

    Shape:
        image: one sample as the model takes it, (H, W, C) or (C, H, W); returns {layer name: (H', W', filters)}
        (channels last whatever the layer's data format).
    """
    x = np.asarray(image, dtype=np.float32)[None]
    _, tape = model.call_recorded(x)
    maps = {}

    def walk(tape, prefix):
        for node in tape.nodes:
            if isinstance(node.cache, Tape):  # a nested model: its own tape is the cache
                walk(node.cache, f"{prefix}{node.layer.name}/")
            elif isinstance(node.layer, Conv2D):
                name, k = f"{prefix}{node.layer.name}", 1
                while (name if k == 1 else f"{name}@{k}") in maps:
                    k += 1
                output = node.output[0]
                if node.layer.data_format == "channels_first":
                    output = np.moveaxis(output, 0, -1)
                maps[name if k == 1 else f"{name}@{k}"] = output

    walk(tape, "")
    if not maps:
        raise ValueError(f"Model '{model.name}' has no Conv2D layer. Received: {_short(model)}")
    return maps


def plot_feature_maps(model, image, path, max_maps=16) -> dict:
    """The input image and, one row per Conv2D layer, its first ``max_maps`` feature maps.

    Returns:
        what :func:`conv_feature_maps` returns (the drawn maps are ``[..., :max_maps]``).
    """
    maps = conv_feature_maps(model, image)
    cols = min(max_maps, max(m.shape[-1] for m in maps.values())) + 1
    figure = new_figure(1.1 * cols, 1.2 * len(maps) + 0.6)
    axes = figure.subplots(len(maps), cols, squeeze=False)
    image = np.asarray(image, dtype=np.float32)
    if image.shape[-1] not in (1, 3) and image.shape[0] in (1, 3):  # a channels_first sample
        image = np.moveaxis(image, 0, -1)
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 1:  # a normalised input (mean and std taken out): drawn min..max
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    for row, (name, m) in zip(axes, maps.items()):
        for ax in row:
            ax.set_axis_off()
        row[0].imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", interpolation="nearest")
        row[0].set_title("input", fontsize=7)
        for k in range(min(max_maps, m.shape[-1])):
            row[k + 1].imshow(m[..., k], cmap="viridis", interpolation="nearest")
            row[k + 1].set_title(f"{name}:{k}", fontsize=6)
    figure.suptitle("feature maps of every Conv2D layer")
    save_png(figure, path)
    return maps


def plot_confusion(matrix, class_names, path, title="confusion matrix") -> np.ndarray:
    """A confusion matrix (rows: true class, columns: predicted) with the counts written in."""
    matrix = np.asarray(matrix)
    k = len(class_names)
    if matrix.shape != (k, k):
        raise ValueError(f"The `matrix` argument must be ({k}, {k}) for {k} classes. Received: shape {matrix.shape}")
    figure = new_figure(0.55 * k + 2.5, 0.5 * k + 1.8)
    ax = figure.subplots()
    ax.imshow(matrix, cmap="Blues")
    top = matrix.max() if matrix.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > top / 2 else "black")
    ax.set_xticks(range(k), [str(c)[:10] for c in class_names], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(k), [str(c)[:10] for c in class_names], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    figure.tight_layout()
    save_png(figure, path)
    return matrix


def worst_mistakes(y_true, probs, count=16) -> np.ndarray:
    """Indices of the misclassified samples the model was most sure about, surest first.

    Shape:
        y_true: (N,); probs: (N, K); returns (min(count, mistakes),) int.
    """
    y_true = np.asarray(y_true).reshape(-1)
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    return wrong[np.argsort(-probs[wrong, predicted[wrong]], kind="stable")][:count]


def plot_mistakes(x, y_true, probs, class_names, path, count=16) -> np.ndarray:
    """A grid of the worst misclassified images, each titled "true -> predicted (probability)".

    Returns:
        the indices drawn (see :func:`worst_mistakes`).
    """
    index = worst_mistakes(y_true, probs, count)
    rows, cols = _grid(max(1, len(index)))
    figure = new_figure(1.5 * cols + 0.4, 1.6 * rows + 0.6)
    axes = figure.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, i in zip(axes.flat, index):
        p = probs[i].argmax()
        image = x[i]
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", interpolation="nearest")
        ax.set_title(f"{class_names[y_true[i]]} -> {class_names[p]} ({probs[i, p]:.2f})", fontsize=7)
    figure.suptitle(f"the {len(index)} surest mistakes" if len(index) else "no mistakes")
    save_png(figure, path)
    return index


def model_table(model) -> list:
    """Rows ``(name, type, output shape, parameters)`` of a built model, as in ``summary()``."""
    model._ensure_built()
    return [(layer.name, type(layer).__name__, str(layer.output_shape), layer.count_params())
            for layer in model.layers]


def plot_model(model, path) -> list:
    """The model as a column of boxes: layer, type, output shape, parameter count; returns the rows."""
    rows = model_table(model)
    figure = new_figure(7.5, 0.42 * len(rows) + 1.0)
    ax = figure.subplots()
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(-len(rows), 1)
    ax.text(0.5, 0.6, f"{model.name}: {model.count_params():,} parameters", ha="center", fontsize=10, weight="bold")
    for i, (name, kind, shape, params) in enumerate(rows):
        y = -i - 0.3
        ax.add_patch(_box(0.05, y - 0.32, 0.9, 0.64))
        ax.text(0.08, y, f"{name} ({kind})", va="center", fontsize=7)
        ax.text(0.58, y, shape, va="center", fontsize=7, family="monospace")
        ax.text(0.92, y, f"{params:,}", va="center", ha="right", fontsize=8)
    save_png(figure, path)
    return rows


def _box(x, y, width, height):
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.01", facecolor="#eef3fb", edgecolor="#4a6fa5")


def plot_im2col(x, kh, kw, path, strides=1, rows_marked=(0, 1, 2)) -> np.ndarray:
    """im2col made visible: the input with some windows outlined, and the patch matrix whose
    rows they become (note 002).

    Shape:
        x: (H, W) one channel; returns the patch matrix (out_h * out_w, kh * kw), from
        :func:`numcnn.functional.im2col` on the (1, 1, H, W) input.
    """
    from matplotlib.patches import Rectangle

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"The `x` argument must be one 2-D channel (H, W). Received: shape {x.shape}")
    col = F.im2col(x[None, None], kh, kw, strides, 0)
    out_w = F.conv_output_size(x.shape[1], kw, strides, 0, 0, check=False)
    colors = ["#d62728", "#2ca02c", "#1f77b4", "#ff7f0e", "#9467bd"]
    figure = new_figure(10, 4.2)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    left.imshow(x, cmap="Greys", interpolation="nearest")
    for (i, j), v in np.ndenumerate(x):
        left.text(j, i, f"{v:g}", ha="center", va="center", fontsize=7, color="tab:blue")
    right.imshow(col, cmap="Greys", aspect="auto", interpolation="nearest")
    for n, r in enumerate(rows_marked):
        if r >= len(col):
            continue
        color = colors[n % len(colors)]
        top, start = (r // out_w) * strides, (r % out_w) * strides
        left.add_patch(Rectangle((start - 0.5 + 0.06 * n, top - 0.5 + 0.06 * n), kw - 0.12 * n, kh - 0.12 * n,
                                 fill=False, edgecolor=color, linewidth=2))
        right.add_patch(Rectangle((-0.5, r - 0.5), col.shape[1], 1, fill=False, edgecolor=color, linewidth=2))
    left.set_title(f"input {x.shape[0]}x{x.shape[1]}, {kh}x{kw} windows")
    right.set_title(f"im2col: {col.shape[0]} rows (windows) x {col.shape[1]} columns (pixels)")
    save_png(figure, path)
    return col


def plot_sliding_window(image, kernel, path, strides=1, padding="valid", steps=4) -> np.ndarray:
    """Seed 000's picture: the kernel sliding over a small image, one panel per step, with the
    output cell it fills; the last panel is the whole output.

    Shape:
        image: (H, W); kernel: (kh, kw); returns the output (H', W').
    """
    from matplotlib.patches import Rectangle

    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"`image` and `kernel` must be 2-D. Received: shapes {image.shape} and {kernel.shape}")
    out = apply_kernel(image, kernel, strides, padding)
    (top, bottom), (left_pad, right_pad) = F.resolve_padding(padding, image.shape, kernel.shape, (strides, strides), (1, 1))
    padded = np.pad(image, ((top, bottom), (left_pad, right_pad)))
    kh, kw = kernel.shape
    cells = [divmod(k, out.shape[1]) for k in range(min(steps, out.size))]
    figure = new_figure(3.2 * (len(cells) + 1), 3.4)
    axes = figure.subplots(1, len(cells) + 1, squeeze=False)[0]
    for ax, (i, j) in zip(axes, cells):
        ax.imshow(padded, cmap="Greys", interpolation="nearest", vmin=min(0.0, float(padded.min())))
        if padded.size <= 400:  # small images: write the pixel values in
            for (r, c), v in np.ndenumerate(padded):
                ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=6, color="tab:blue")
        if top or bottom or left_pad or right_pad:  # the real image inside its zero padding
            ax.add_patch(Rectangle((left_pad - 0.5, top - 0.5), image.shape[1], image.shape[0], fill=False,
                                   edgecolor="tab:blue", linestyle="--", linewidth=1))
        ax.add_patch(Rectangle((j * strides - 0.5, i * strides - 0.5), kw, kh, fill=False, edgecolor="red", linewidth=2))
        ax.set_title(f"out[{i}, {j}] = {out[i, j]:.3g}", fontsize=9)
        ax.set_axis_off()
    axes[-1].imshow(out, cmap="viridis", interpolation="nearest")
    for (i, j), v in np.ndenumerate(out):
        axes[-1].text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=6, color="white")
    axes[-1].set_title(f"output {out.shape[0]}x{out.shape[1]}")
    axes[-1].set_axis_off()
    save_png(figure, path)
    return out
