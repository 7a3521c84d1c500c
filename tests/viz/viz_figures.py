"""What the tests of numcnn.viz look at in a drawn figure (imported by tests/viz/test_*.py)."""

import os

from PIL import Image


def assert_png(path, size, alone=True):
    """A PNG of ``size`` = (width, height) pixels (figsize * dpi 100), alone in its directory: no temp files."""
    with Image.open(path) as png:
        assert png.format == "PNG"
        assert png.size == size
        png.load()
    if alone:
        assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]


def image_axes(figure):
    """Axes that show an image, in grid order."""
    return [ax for ax in figure.axes if ax.images]


def colorbar_labels(figure):
    """The labels of the figure's colour bars, in the order they were made."""
    return [ax.get_ylabel() for ax in figure.axes if getattr(ax, "_colorbar", None) is not None]
