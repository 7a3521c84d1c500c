"""Pictures of training, of what a network sees and of how a convolution works (matplotlib, PNG files
written atomically).

Every function returns the numbers it drew.
"""

from .curves import plot_history
from .pictures import (
    Confusion,
    Pages,
    conv_feature_maps,
    mistake_label,
    model_table,
    page_paths,
    plot_confusion,
    plot_feature_maps,
    plot_filters,
    plot_mistakes,
    plot_model,
    worst_mistakes,
)
from .teaching import SlidingWindow, cell_texts, plot_im2col, plot_sliding_window

__all__ = [
    "Confusion", "Pages", "SlidingWindow", "cell_texts", "conv_feature_maps", "mistake_label", "model_table",
    "page_paths", "plot_confusion", "plot_feature_maps", "plot_filters", "plot_history", "plot_im2col", "plot_mistakes",
    "plot_model", "plot_sliding_window", "worst_mistakes",
]
