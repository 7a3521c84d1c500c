"""Teaching pictures of how a convolution works, written as PNG files (matplotlib, atomically).

:func:`plot_sliding_window` draws a kernel sliding over an image with the real numbers (note 000),
:func:`plot_im2col` the patch matrix that im2col makes of the windows (note 002). Each returns the
numbers it drew.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from ..filters import apply_kernel
from ..utils.validation import _short
from ._png import new_figure, save_png
from .pictures import LABEL, TITLE, _figure, _number


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
