"""Pictures of training (matplotlib, written as PNG files atomically)."""

from .curves import plot_history

__all__ = ["plot_history"]
