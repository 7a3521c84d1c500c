"""Training curves: loss and accuracy per epoch, train and validation."""

from __future__ import annotations

from ._png import new_figure, save_png


def plot_history(history: dict, path, title=None) -> None:
    """Write ``curves.png``: loss (left) and accuracy (right) per epoch from a ``History.history`` dict.

    Args:
        history: ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}``.
        path: output PNG file (written atomically).
        title: figure title.
    """
    figure = new_figure(9, 3.6)
    for axes, key in zip(figure.subplots(1, 2), ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = history.get(prefix + key)
            if values:
                epochs = range(1, len(values) + 1)
                axes.plot(epochs, values, style, markersize=3, label=("validation " if prefix else "train ") + key)
        axes.set_xlabel("epoch")
        axes.set_ylabel(key)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    save_png(figure, path)
