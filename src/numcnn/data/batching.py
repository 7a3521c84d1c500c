"""Mini-batches and light augmentation, with randomness from an explicit Generator."""

from __future__ import annotations

import numpy as np

from ..utils.validation import _short, check_int


def batch_indices(n, batch_size, rng=None, shuffle=True):
    """Index arrays of the mini-batches of one epoch (the last one may be smaller).

    Args:
        n: number of samples.
        batch_size: samples per batch.
        rng: ``numpy.random.Generator`` for the shuffle (needed when ``shuffle``).
        shuffle: visit the samples in a random order.

    Example:
        >>> [b.tolist() for b in batch_indices(5, 2, shuffle=False)]
        [[0, 1], [2, 3], [4]]
    """
    batch_size = check_int(batch_size, "batch_size")
    if shuffle:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"Shuffling needs `rng`, a numpy.random.Generator. Received: rng={_short(rng)}")
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def random_shift(x, max_shift, rng):
    """Shift every image by its own random whole-pixel offset in ``[-max_shift, max_shift]``, zero-filled.

    Args:
        x: images, channels last.
        max_shift: largest shift in pixels, on each axis.
        rng: ``numpy.random.Generator``.

    Shape:
        x: (N, H, W, C); returns (N, H, W, C), same dtype; ``x`` is not modified.
    """
    if max_shift == 0:
        return x
    n, h, w, _ = x.shape
    m = int(max_shift)
    padded = np.pad(x, ((0, 0), (m, m), (m, m), (0, 0)))
    dy, dx = rng.integers(0, 2 * m + 1, size=(2, n))
    rows = dy[:, None] + np.arange(h)
    cols = dx[:, None] + np.arange(w)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


class RandomShift:
    """Augmentation for ``fit(augment=...)``: :func:`random_shift` by up to ``max_shift`` pixels."""

    def __init__(self, max_shift=2):
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"The `max_shift` argument must be a non-negative int. Received: max_shift={_short(max_shift)}")
        self.max_shift = max_shift

    def __call__(self, x, rng):
        return random_shift(x, self.max_shift, rng)

    def get_config(self):
        return {"max_shift": self.max_shift}
