"""Pictures of what a network learned and sees, written as PNG files (matplotlib, atomically).

Each function returns the numbers it drew, so tests (and curious users) can check that the
picture shows the right thing: the filter weights, the layer outputs, the confusion counts.
Text is at least 9 pt (readable at the 100 dpi the files are written at), colour that stands
for a value has a colour bar, and a layer with more channels than a page holds is drawn on
several files, never cut short.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..filters import apply_kernel
from ..layers import Conv2D
from ..layers.tape import Tape
from ..utils.validation import _short
from ._png import new_figure, save_png

#: points: the smallest text of every picture, and that of titles
LABEL, TITLE = 9, 11


@dataclass(frozen=True)
class Pages:
    """What a picture drawn on several pages drew.

    Attributes:
        values: the numbers drawn: the kernel for :func:`plot_filters`, ``{layer: maps}`` for
            :func:`plot_feature_maps`.
        pages: for each page, its blocks ``(layer name, first channel, stop)``: every channel is on
            exactly one page.
        paths: the files written, one per page (see :func:`page_paths`).
    """

    values: object
    pages: tuple
    paths: tuple


def page_paths(path, count) -> list:
    """The files of ``count`` pages: ``path`` itself, then ``stem-2.png``, ``stem-3.png``, ..."""
    path = os.fspath(path)
    stem, suffix = os.path.splitext(path)
    return [path] + [f"{stem}-{k}{suffix}" for k in range(2, count + 1)]


def _paginate(sizes, per_page) -> list:
    """Blocks ``(name, start, stop)`` per page for layers of ``sizes = [(name, channels)]``: a layer
    that fits on a page but not in the room left starts a new one; a larger layer fills the room
    left and goes on over the next pages."""
    if isinstance(per_page, bool) or not isinstance(per_page, (int, np.integer)) or per_page < 1:
        raise ValueError(f"The `per_page` argument must be a positive int. Received: per_page={_short(per_page)}")
    pages, used = [[]], 0
    for name, count in sizes:
        start = 0
        while start < count:
            room = per_page - used
            if room == 0 or (used and room < count - start <= per_page):
                pages.append([])
                used, room = 0, per_page
            stop = start + min(room, count - start)
            pages[-1].append((name, start, stop))
            used, start = used + stop - start, stop
    return [tuple(page) for page in pages]


def _grid(n, columns=None):
    columns = columns or min(n, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / columns), columns


def _figure(width, height):
    figure = new_figure(width, height)
    figure.set_layout_engine("constrained")
    return figure


def _number(value) -> str:
    """A value as written in a cell: 3 significant digits, no exponent below 1000."""
    value = float(value) + 0.0  # no "-0"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


#: inches: tiles of maps and filters, the step from one to the next (room for a title), the left margin
_TILE, _STEP_X, _STEP_Y, _MARGIN = 1.1, 1.25, 1.4, 0.3


def _place(figure, x, y, width, height):
    """Axes at (x, y) inches from the figure's top-left corner, ``width`` x ``height`` inches
    (placed by hand: constrained layout takes seconds for a page of 64 tiles)."""
    fw, fh = figure.get_size_inches()
    return figure.add_axes((x / fw, 1 - (y + height) / fh, width / fw, height / fh))


def _tile_grid(figure, y, count, columns) -> list:
    """``count`` tile axes, ``columns`` a row, below ``y`` inches (each with room for a title), axis off."""
    tiles = []
    for k in range(count):
        r, c = divmod(k, columns)
        ax = _place(figure, _MARGIN + c * _STEP_X, y + r * _STEP_Y + (_STEP_Y - _TILE), _TILE, _TILE)
        ax.set_axis_off()
        tiles.append(ax)
    return tiles


def _colorbar(figure, shown, x, y, rows, label) -> None:
    """A colour bar for ``shown`` right of a tile grid of ``rows`` rows whose top is at ``y`` inches."""
    cax = _place(figure, x + 0.05, y + (_STEP_Y - _TILE), 0.15, rows * _STEP_Y - (_STEP_Y - _TILE))
    figure.colorbar(shown, cax=cax, label=label)
    cax.tick_params(labelsize=LABEL)


def _first_conv(model):
    for _, layer in model.flat_layers():
        if isinstance(layer, Conv2D):
            return layer
    raise ValueError(f"Model '{model.name}' has no Conv2D layer to draw. Received: {_short(model)}")


def plot_filters(model, path, title=None, per_page=64) -> Pages:
    """The first Conv2D layer's filters as a grid of small images, at most ``per_page`` a file.

    One input channel: every filter on one blue (negative) - white (0) - red (positive) scale,
    explained by a colour bar. Three input channels: each filter as an RGB image scaled to its
    own min..max. Other counts: input channel 0 of each filter, on the shared scale.

    Returns:
        :class:`Pages` whose ``values`` is the kernel, ``(kh, kw, in_channels, filters)``.
    """
    layer = _first_conv(model)
    kernel = layer.params["kernel"]
    kh, kw, cin, count = kernel.shape
    pages = _paginate([(layer.name, count)], per_page)
    paths = page_paths(path, len(pages))
    limit = float(np.abs(kernel).max()) or 1.0
    note = {1: "", 3: "\n(each filter scaled to its own min..max as RGB)"}.get(cin, f" (input channel 0 of {cin})")
    for number, (((_, start, stop),), file) in enumerate(zip(pages, paths), 1):
        rows, columns = _grid(stop - start)
        head = title or f"{layer.name}: {count} filters of {kh}x{kw}x{cin}{note}"
        if len(pages) > 1:
            head += f"\nfilters {start}-{stop - 1}, page {number} of {len(pages)}"
        y = 0.25 + 0.2 * (head.count("\n") + 1)
        figure = new_figure(max(_MARGIN + columns * _STEP_X + 1.3, 4.0), y + rows * _STEP_Y + 0.15)
        figure.suptitle(head, fontsize=TITLE, y=1 - 0.12 / figure.get_figheight(), va="top")
        for ax, i in zip(_tile_grid(figure, y, stop - start, columns), range(start, stop)):
            w = kernel[:, :, :, i]
            if cin == 3:
                low, high = float(w.min()), float(w.max())
                ax.imshow((w - low) / (high - low) if high > low else np.zeros_like(w), interpolation="nearest")
            else:
                shown = ax.imshow(w[:, :, 0], cmap="bwr", vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_title(str(i), fontsize=LABEL, pad=2)
        if cin != 3:
            _colorbar(figure, shown, _MARGIN + columns * _STEP_X, y, rows, "weight")
        save_png(figure, file)
    return Pages(kernel, tuple(pages), tuple(paths))


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


def _draw_input(figure, image, y) -> None:
    """One input sample at ``y`` inches: gray with its values' colour bar, or RGB (a normalised one drawn
    min..max), and a line on how to read the maps."""
    image = np.asarray(image, dtype=np.float32)
    if image.shape[-1] not in (1, 3) and image.shape[0] in (1, 3):  # a channels_first sample
        image = np.moveaxis(image, 0, -1)
    ax = _place(figure, _MARGIN, y + 0.3, 1.5, 1.5)
    ax.set_axis_off()
    ax.set_title(f"input {'x'.join(map(str, image.shape))}", fontsize=LABEL)
    if image.shape[-1] == 1:
        shown = ax.imshow(image[..., 0], cmap="gray", interpolation="nearest")
        cax = _place(figure, _MARGIN + 1.6, y + 0.3, 0.15, 1.5)
        figure.colorbar(shown, cax=cax, label="input value")
        cax.tick_params(labelsize=LABEL)
    else:
        low, high = float(image.min()), float(image.max())
        if low < 0 or high > 1:
            image = (image - low) / (high - low) if high > low else np.zeros_like(image)
        ax.imshow(image[..., :3], interpolation="nearest")
    figure.text((_MARGIN + 2.7) / figure.get_figwidth(), 1 - (y + 1.05) / figure.get_figheight(),
                "below: each Conv2D layer's output (after its own activation,\nif any): one map per channel, titled "
                "with its number;\na layer's maps share the colour scale of its colour bar", va="center",
                fontsize=LABEL)


def plot_feature_maps(model, image, path, per_page=64, layers=None) -> Pages:
    """Every channel of every Conv2D layer's output for one image, at most ``per_page`` maps a file.

    Each page starts with the input; then one block per layer (or part of a layer), 8 maps a row,
    each titled with its channel number. A layer's maps share one colour scale, its min..max,
    shown in the block's colour bar, so the channels that respond most are the brightest.

    Args:
        layers: names of the Conv2D outputs to draw (keys of :func:`conv_feature_maps`); default all.

    Shape:
        image: one sample as the model takes it, (H, W, C) or (C, H, W).

    Returns:
        :class:`Pages` whose ``values`` is what :func:`conv_feature_maps` returns (only ``layers``).
    """
    maps = conv_feature_maps(model, image)
    if layers is not None:
        unknown = [name for name in layers if name not in maps]
        if unknown or not layers:
            raise ValueError(f"The `layers` argument must name Conv2D outputs of model '{model.name}': "
                             f"{', '.join(maps)}. Received: layers={_short(list(layers))}")
        maps = {name: m for name, m in maps.items() if name in layers}
    pages = _paginate([(name, m.shape[-1]) for name, m in maps.items()], per_page)
    paths = page_paths(path, len(pages))
    columns = min(8, per_page, max(m.shape[-1] for m in maps.values()))
    width = max(_MARGIN + columns * _STEP_X + 1.1, 7.0)
    for number, (page, file) in enumerate(zip(pages, paths), 1):
        rows = [math.ceil((stop - start) / columns) for _, start, stop in page]
        figure = new_figure(width, 0.5 + 2.0 + sum(0.4 + r * _STEP_Y + 0.1 for r in rows) + 0.1)
        head = "feature maps of every Conv2D layer" if layers is None else "feature maps of " + ", ".join(maps)
        if len(pages) > 1:
            head += f": page {number} of {len(pages)}"
        figure.suptitle(head, fontsize=TITLE, y=1 - 0.12 / figure.get_figheight(), va="top")
        _draw_input(figure, image, 0.5)
        y = 2.5
        for (name, start, stop), r in zip(page, rows):
            m = maps[name]
            count, low, high = m.shape[-1], float(m.min()), float(m.max())
            channels = f"all {count} channels" if stop - start == count else f"channels {start}-{stop - 1} of {count}"
            figure.text(_MARGIN / width, 1 - (y + 0.25) / figure.get_figheight(), f"{name}: {m.shape[0]}x"
                        f"{m.shape[1]}x{count}, {channels}, values {_number(low)} to {_number(high)}",
                        fontsize=LABEL + 1, weight="bold", va="center")
            y += 0.4
            for ax, k in zip(_tile_grid(figure, y, stop - start, columns), range(start, stop)):
                shown = ax.imshow(m[..., k], cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
                ax.set_title(str(k), fontsize=LABEL, pad=2)
            _colorbar(figure, shown, _MARGIN + columns * _STEP_X, y, r, "output value")
            y += r * _STEP_Y + 0.1
        save_png(figure, file)
    return Pages(maps, tuple(pages), tuple(paths))


@dataclass(frozen=True)
class Confusion:
    """What :func:`plot_confusion` drew.

    Attributes:
        counts: (K, K) images of true class i (row) predicted as j (column).
        fractions: ``counts / counts.sum(axis=1)``: each row sums to 1 (a class without images: 0).
    """

    counts: np.ndarray
    fractions: np.ndarray


def plot_confusion(matrix, class_names, path, title="confusion matrix") -> Confusion:
    """A confusion matrix (rows: true class, columns: predicted), normalised per row, with the counts.

    The right answers (diagonal) are green on a 0..100% scale; the errors red on their own scale,
    up to the largest error, so that a few mistakes among many right answers still show. Each cell
    holds its count and its share of the true class; cells without images stay white.

    Shape:
        matrix: (K, K) counts for the K ``class_names``.
    """
    from matplotlib.ticker import PercentFormatter

    counts = np.asarray(matrix)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(f"The `matrix` argument must be ({k}, {k}) for {k} classes. Received: shape {counts.shape}")
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    diagonal = np.eye(k, dtype=bool)
    worst = float(fractions[~diagonal].max(initial=0)) or 1.0
    figure = _figure(0.62 * k + 4.2, 0.55 * k + 2.4)
    ax = figure.subplots()
    right = ax.imshow(np.ma.masked_where(~diagonal, fractions), cmap="Greens", vmin=0, vmax=1)
    wrong = ax.imshow(np.ma.masked_where(diagonal | (counts == 0), fractions), cmap="Reds", vmin=0, vmax=worst)
    if k <= 30:
        for (i, j), n in np.ndenumerate(counts):
            if n:
                share = fractions[i, j]
                dark = share > (0.6 if i == j else 0.6 * worst)
                ax.text(j, i, f"{n}\n{'<1' if share < 0.01 else f'{100 * share:.0f}'}%", ha="center",
                        va="center", fontsize=LABEL, color="white" if dark else "black")
    names = [str(c)[:12] for c in class_names]
    slanted = max(map(len, names)) > 2
    ax.set_xticks(range(k), names, rotation=45 if slanted else 0, ha="right" if slanted else "center", fontsize=LABEL)
    ax.set_yticks(range(k), names, fontsize=LABEL)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for shown, words in ((wrong, "wrong"), (right, "right")):  # the last one drawn sits next to the matrix
        bar = figure.colorbar(shown, ax=ax, shrink=0.8, format=PercentFormatter(1, decimals=None),
                              label=f"{words}: share of the true class")
        bar.ax.tick_params(labelsize=LABEL)
    total = int(counts.sum())
    accuracy = f": {np.trace(counts) / total:.1%} of {total} right" if total else ""
    ax.set_title(f"{title}{accuracy}\neach row sums to 100%; errors in red", fontsize=TITLE)
    save_png(figure, path)
    return Confusion(counts, fractions)


def worst_mistakes(y_true, probs, count=16) -> np.ndarray:
    """Indices of the misclassified samples the model was most sure about, surest first.

    Shape:
        y_true: (N,); probs: (N, K); returns (min(count, mistakes),) int.
    """
    y_true = np.asarray(y_true).reshape(-1)
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    return wrong[np.argsort(-probs[wrong, predicted[wrong]], kind="stable")][:count]


def mistake_label(true_name, predicted_name, confidence) -> str:
    """``"true → predicted (confidence)"``, over two lines when it would not fit over a tile."""
    label = f"{true_name} → {predicted_name} ({confidence:.2f})"
    return label if len(label) <= 24 else f"{true_name} →\n{predicted_name} ({confidence:.2f})"


def plot_mistakes(x, y_true, probs, class_names, path, count=16) -> np.ndarray:
    """A grid of the worst misclassified images, each titled "true → predicted (confidence)",
    the confidence being the predicted class's probability.

    Shape:
        x: (N, H, W, C) images in [0, 1]; y_true: (N,); probs: (N, K).

    Returns:
        the indices drawn (see :func:`worst_mistakes`).
    """
    y_true = np.asarray(y_true).reshape(-1)
    index = worst_mistakes(y_true, probs, count)
    rows, cols = _grid(max(1, len(index)))
    figure = _figure(2.0 * cols + 0.3, 2.2 * rows + 0.7)
    axes = figure.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, i in zip(axes.flat, index):
        p = probs[i].argmax()
        image = x[i]
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", interpolation="nearest")
        ax.set_title(mistake_label(class_names[y_true[i]], class_names[p], probs[i, p]), fontsize=LABEL + 1)
    figure.suptitle(f"the {len(index)} surest mistakes: true → predicted (confidence)" if len(index)
                    else "no mistakes", fontsize=TITLE)
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
    figure = new_figure(8, 0.5 * len(rows) + 1.3)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(-len(rows) - 0.2, 1.6)
    ax.text(0.5, 1.1, f"{model.name}: {model.count_params():,} parameters", ha="center", fontsize=TITLE + 1,
            weight="bold")
    for x, words, align in ((0.08, "layer (type)", "left"), (0.56, "output shape", "left"),
                            (0.92, "parameters", "right")):
        ax.text(x, 0.45, words, ha=align, va="center", fontsize=LABEL + 1, color="#4a6fa5")
    for i, (name, kind, shape, params) in enumerate(rows):
        y = -i - 0.3
        ax.add_patch(_box(0.05, y - 0.36, 0.9, 0.72))
        ax.text(0.08, y, f"{name} ({kind})", va="center", fontsize=LABEL + 1)
        ax.text(0.56, y, shape, va="center", fontsize=LABEL + 1, family="monospace")
        ax.text(0.92, y, f"{params:,}", va="center", ha="right", fontsize=LABEL + 1)
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


@dataclass(frozen=True)
class SlidingWindow:
    """What :func:`plot_sliding_window` drew.

    Attributes:
        output: the whole output, :func:`numcnn.filters.apply_kernel` of the image, (H', W').
        region: the output cells shown, ``(rows, columns)`` as two ``range``s.
        origin: (row, column) in the image of the zoomed crop's top-left pixel (negative in the padding).
        crop: the pixel values written in the step panels, padding zeros included.
        cells: the output cell ``(i, j)`` of each step panel.
        windows: the (kh, kw) values under the kernel at each step: ``sum(window * kernel)`` is the
            step's output cell.
    """

    output: np.ndarray
    region: tuple
    origin: tuple
    crop: np.ndarray
    cells: tuple
    windows: tuple


def _busiest_region(out, region_shape) -> tuple:
    """Top-left cell of the output region whose values vary most (among up to 48 x 48 evenly spread
    candidates; the first on a tie): where the kernel finds something, not flat sky."""
    candidates = [np.unique(np.linspace(0, n - r, min(n - r + 1, 48)).round().astype(int))
                  for n, r in zip(out.shape, region_shape)]
    rows = (candidates[0][:, None] + np.arange(region_shape[0]))[:, None, :, None]
    cols = (candidates[1][:, None] + np.arange(region_shape[1]))[None, :, None, :]
    spread = out.astype(np.float64)[rows, cols].var(axis=(2, 3))
    i, j = divmod(int(np.flatnonzero(spread >= spread.max() * (1 - 1e-4) - 1e-12)[0]), spread.shape[1])
    return int(candidates[0][i]), int(candidates[1][j])


def _liveliest_steps(region, steps) -> tuple:
    """(row, column) in ``region`` of the first of ``steps`` neighbouring cells of one row whose outputs
    vary most (the first on a tie): the steps show the output change as the kernel slides."""
    run = min(steps, region.shape[1])
    best, first = -1.0, (0, 0)
    for a in range(region.shape[0]):
        for b in range(region.shape[1] - run + 1):
            spread = float(np.var(region[a, b:b + run], dtype=np.float64))
            if spread > best + 1e-4 * max(best, 1e-6):  # float32 rounding is no reason to move on
                best, first = spread, (a, b)
    return first


def plot_sliding_window(image, kernel, path, strides=1, padding="valid", steps=4, start=None, title=None,
                        max_pixels=8) -> SlidingWindow:
    """Note 000's picture on any image: the kernel sliding over it with the real numbers.

    Top row: the whole image with the zoomed region boxed (when the image is larger than the
    region), the kernel, and the region's output cells. Bottom row: one panel per step, the
    region's pixel values written in, the kernel's window in red and the output cell it makes
    in the title. The region is at most ``max_pixels`` pixels a side (more for a larger kernel).
    The steps start at output cell ``start``; by default the region is where the output varies
    most, and the steps where it changes most along a row.

    Shape:
        image: (H, W); kernel: (kh, kw); the output is (H', W') (see :class:`SlidingWindow`).
    """
    from matplotlib.patches import Rectangle

    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"`image` and `kernel` must be 2-D. Received: shapes {image.shape} and {kernel.shape}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"The `steps` argument must be a positive int. Received: steps={_short(steps)}")
    out = apply_kernel(image, kernel, strides, padding)
    (top, bottom), (left, right) = F.resolve_padding(padding, image.shape, kernel.shape, (strides, strides), (1, 1))
    padded = np.pad(image, ((top, bottom), (left, right)))
    kh, kw = kernel.shape
    oh, ow = (min(n, max(1, (max_pixels - k) // strides + 1)) for n, k in zip(out.shape, kernel.shape))
    ch, cw = (oh - 1) * strides + kh, (ow - 1) * strides + kw
    if start is None:
        r0, c0 = _busiest_region(out, (oh, ow))
        i, j = _liveliest_steps(out[r0:r0 + oh, c0:c0 + ow], steps)
        i, j = r0 + i, c0 + j
    else:
        if not (isinstance(start, (tuple, list)) and len(start) == 2
                and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in start)
                and 0 <= start[0] < out.shape[0] and 0 <= start[1] < out.shape[1]):
            raise ValueError(f"The `start` argument must be an output cell (row, column) of the {out.shape[0]}x"
                             f"{out.shape[1]} output. Received: start={_short(start)}")
        i, j = start
        r0, c0 = min(i, out.shape[0] - oh), min(j, out.shape[1] - ow)
    cells = []
    while len(cells) < steps and i < r0 + oh:
        cells.append((int(i), int(j)))
        i, j = (i, j + 1) if j + 1 < c0 + ow else (i + 1, c0)
    y0, x0 = r0 * strides, c0 * strides  # the crop's top-left in the padded image
    crop = padded[y0:y0 + ch, x0:x0 + cw]
    windows = [padded[a * strides:a * strides + kh, b * strides:b * strides + kw] for a, b in cells]
    whole = (oh, ow) == out.shape
    padding_shown = y0 < top or x0 < left or y0 + ch > top + image.shape[0] or x0 + cw > left + image.shape[1]
    low, high = min(0.0, float(image.min())), max(float(image.max()), 1e-12)
    crop_extent = (x0 - left - 0.5, x0 - left + cw - 0.5, y0 - top + ch - 0.5, y0 - top - 0.5)  # image coordinates

    columns = max(len(cells), 2 if whole else 3)
    figure = _figure(3.6 * columns + 0.8, 8.2)
    upper, lower = figure.subfigures(2, 1, height_ratios=[1, 1.15])
    panels = upper.subplots(1, 2 if whole else 3)
    if not whole:
        overview = panels[0]
        shown = overview.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        overview.add_patch(Rectangle((crop_extent[0], crop_extent[3]), cw, ch, fill=False, edgecolor="red",
                                     linewidth=2))
        overview.set_title(f"image {image.shape[0]}x{image.shape[1]}: the red box is\nthe region drawn below",
                           fontsize=LABEL + 1)
        overview.tick_params(labelsize=LABEL)
        upper.colorbar(shown, ax=overview, shrink=0.85, label="pixel value")
    kernel_ax, output_ax = panels[-2:]
    _write_cells(kernel_ax, np.vectorize(_number, otypes=[object])(kernel), np.zeros(kernel.shape), "Greys", 0, 1,
                 extent=None)  # numbers on white
    kernel_ax.set_title(f"kernel {kh}x{kw}", fontsize=LABEL + 1)
    kernel_ax.hlines(np.arange(1, kh) - 0.5, -0.5, kw - 0.5, color="0.7")
    kernel_ax.vlines(np.arange(1, kw) - 0.5, -0.5, kh - 0.5, color="0.7")
    kernel_ax.set_xticks([])
    kernel_ax.set_yticks([])
    region = out[r0:r0 + oh, c0:c0 + ow]
    shown = _write_cells(output_ax, region, region, "viridis", float(region.min()), float(region.max()),
                         extent=(c0 - 0.5, c0 + ow - 0.5, r0 + oh - 0.5, r0 - 0.5))
    for a, b in cells:
        output_ax.add_patch(Rectangle((b - 0.5, a - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    output_ax.set_title(f"output {out.shape[0]}x{out.shape[1]} (red: the steps)" if whole else
                        f"output rows {r0}-{r0 + oh - 1}, columns {c0}-{c0 + ow - 1}\nof {out.shape[0]}x"
                        f"{out.shape[1]} (red: the steps)", fontsize=LABEL + 1)
    _integer_ticks(output_ax)
    upper.colorbar(shown, ax=output_ax, shrink=0.85, label="output value")

    step_axes = lower.subplots(1, columns, squeeze=False)[0]
    for ax in step_axes[len(cells):]:
        ax.set_axis_off()
    for n, (ax, (a, b)) in enumerate(zip(step_axes, cells), 1):
        shown = _write_cells(ax, crop, crop, "gray", low, high, extent=crop_extent)
        if padding_shown:  # the real image inside its zero padding
            ax.add_patch(Rectangle((-0.5, -0.5), image.shape[1], image.shape[0], fill=False, edgecolor="tab:blue",
                                   linestyle="--", linewidth=1.5))
        ax.add_patch(Rectangle((b * strides - left - 0.5, a * strides - top - 0.5), kw, kh, fill=False,
                               edgecolor="red", linewidth=2.5))
        ax.set_title(f"step {n}: out[{a}, {b}] = {_number(out[a, b])}\n= sum of window × kernel", fontsize=LABEL + 1)
        _integer_ticks(ax)
    lower.colorbar(shown, ax=step_axes.tolist(), shrink=0.85, label="pixel value")
    lower.suptitle("the pixel values under the kernel, by row and column of the image"
                   + (" (dashed blue: the image's edge; outside it, zero padding)" if padding_shown else ""),
                   fontsize=LABEL + 1)
    place = "the image" if whole else f"a {ch}x{cw} region of the {image.shape[0]}x{image.shape[1]} image"
    figure.suptitle(title or f"a {kh}x{kw} kernel sliding over {place}, stride {strides}, padding {padding}",
                    fontsize=TITLE)
    save_png(figure, path)
    return SlidingWindow(out, (range(r0, r0 + oh), range(c0, c0 + ow)), (y0 - top, x0 - left), crop,
                         tuple(cells), tuple(windows))


def cell_texts(values) -> np.ndarray:
    """How :func:`plot_sliding_window` writes an array's numbers in its cells: integers (up to float32
    rounding) as integers, others with 2 decimals (1 from 10 on, none from 100 on), so that they fit a cell."""
    values = np.asarray(values, dtype=np.float64)
    top = float(np.abs(values).max(initial=0))
    integers = np.allclose(values, np.round(values), rtol=1e-6, atol=1e-6)
    decimals = 0 if integers or top >= 100 else 1 if top >= 10 else 2
    texts = np.vectorize(lambda v: f"{v:.{decimals}f}", otypes=[object])(values)
    return np.where(np.round(values, decimals) == 0, f"{0:.{decimals}f}", texts)  # no "-0.00"


def _write_cells(ax, values, shade, cmap, low, high, extent):
    """``shade`` as an image on ``ax`` (in ``extent`` coordinates) with ``values`` (numbers, or texts)
    written in each cell (up to 16 a side), black on light cells and white on dark ones; returns the image."""
    from matplotlib import colormaps

    shown = ax.imshow(shade, cmap=cmap, vmin=low, vmax=high if high > low else low + 1, extent=extent,
                      interpolation="nearest")
    if max(values.shape) <= 16:
        x0, y0 = (0, 0) if extent is None else (extent[0] + 0.5, extent[3] + 0.5)
        colours = colormaps[cmap](shown.norm(np.asarray(shade, dtype=np.float64)))
        texts = values if values.dtype == object else cell_texts(values)
        for (i, j), text in np.ndenumerate(texts):
            light = colours[i, j, :3] @ (0.299, 0.587, 0.114) > 0.5
            ax.text(x0 + j, y0 + i, text, ha="center", va="center", fontsize=LABEL if max(values.shape) <= 8 else 7,
                    color="black" if light else "white")
    return shown


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=LABEL)
