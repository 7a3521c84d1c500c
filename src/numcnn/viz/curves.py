"""Training curves: loss and accuracy per epoch, train and validation."""

from __future__ import annotations

from ._png import new_figure, save_png


def plot_history(history: dict, path, title=None) -> None:
    """Write ``curves.png``: loss (left) and accuracy (right) per epoch from a ``History.history`` dict.

    Epochs are counted from 1 and ticked at whole numbers only.

    Args:
        history: ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}``.
        path: output PNG file (written atomically).
        title: figure title.
    """
    from matplotlib.ticker import MaxNLocator

    figure = new_figure(9, 3.6)
    epochs = max((len(history.get(prefix + key) or ()) for prefix in ("", "val_") for key in ("loss", "accuracy")),
                 default=0)
    for axes, key in zip(figure.subplots(1, 2), ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = history.get(prefix + key)
            if values:
                axes.plot(range(1, len(values) + 1), values, style, markersize=3,
                          label=("validation " if prefix else "train ") + key)
        axes.set_xlabel("epoch")
        axes.set_ylabel(key)
        if epochs <= 10:  # MaxNLocator(integer=True) still puts 0.5, 0.6, ... on a range of one epoch
            axes.set_xticks(range(1, epochs + 1))
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlim(0.5, max(epochs, 1) + 0.5)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    save_png(figure, path)
