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
