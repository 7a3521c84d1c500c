"""The two steps every picture shares: a matplotlib Figure, and writing it as a PNG atomically."""

from __future__ import annotations

from ..utils.files import atomic_path


def new_figure(width, height):
    """A Figure of ``width`` x ``height`` inches at 100 dpi; no pyplot, so the global backend is left alone."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def save_png(figure, path) -> None:
    """Write ``figure`` to ``path`` as a PNG (temporary file + rename)."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
