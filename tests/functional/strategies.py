"""Hypothesis strategies for convolution and pooling configurations.

Every case is small (a few hundred pixels) and always valid: the input is drawn
after the kernel, dilation and padding, so the kernel always fits. Arrays come
from ``numpy.random.default_rng(case.seed)``, which keeps shrinking cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from numcnn.functional import resolve_padding

PADDING_KINDS = ("valid", "same", "int", "pair", "explicit")


def to_format(x_nhwc: np.ndarray, data_format: str) -> np.ndarray:
    """An NHWC array in ``data_format``'s layout."""
    return x_nhwc if data_format == "channels_last" else np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))


def to_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    """An array in ``data_format``'s layout as NHWC."""
    return x if data_format == "channels_last" else x.transpose(0, 2, 3, 1)


def _padding(draw, kind, high=2):
    side = st.integers(0, high)
    if kind == "valid":
        return "valid"
    if kind == "same":
        return "same"
    if kind == "int":
        return draw(side)
    if kind == "pair":
        return (draw(side), draw(side))
    return ((draw(side), draw(side)), (draw(side), draw(side)))


def _explicit_sum(padding, axis):
    if isinstance(padding, str):
        return 0
    if isinstance(padding, int):
        return 2 * padding
    first = padding[axis]
    return 2 * first if isinstance(first, int) else sum(first)


@dataclass(frozen=True)
class ConvCase:
    n: int
    h: int
    w: int
    channels: int
    kernel_hw: tuple
    filters: int
    strides: tuple
    dilation_rate: tuple
    padding: object
    groups: int
    data_format: str
    use_bias: bool
    seed: int

    @property
    def pads(self):
        """Explicit ((top, bottom), (left, right)) for this case."""
        return resolve_padding(self.padding, (self.h, self.w), self.kernel_hw, self.strides, self.dilation_rate)

    @property
    def kwargs(self):
        """Keyword arguments of ``conv2d`` besides x, kernel and bias."""
        return dict(strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate,
                    groups=self.groups, data_format=self.data_format)

    def arrays(self, dtype=np.float64):
        """``(x, kernel, bias)``: x in the case's layout, kernel (kh, kw, C/groups, F)."""
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.n, self.h, self.w, self.channels)).astype(dtype)
        kernel = rng.standard_normal((*self.kernel_hw, self.channels // self.groups, self.filters)).astype(dtype)
        bias = rng.standard_normal(self.filters).astype(dtype) if self.use_bias else None
        return to_format(x, self.data_format), kernel, bias


@st.composite
def conv_cases(draw, padding_kinds=PADDING_KINDS, data_formats=("channels_last", "channels_first"),
               max_groups=3, max_dilation=2, max_stride=3, max_pad=2):
    """Valid convolution configurations: groups, strides, dilation, every padding form."""
    groups = draw(st.integers(1, max_groups))
    channels = groups * draw(st.integers(1, 2))
    filters = groups * draw(st.integers(1, 2))
    kernel_hw = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride)))
    dilation_rate = (draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation)))
    padding = _padding(draw, draw(st.sampled_from(padding_kinds)), high=max_pad)
    sizes = []
    for axis in range(2):
        effective = (kernel_hw[axis] - 1) * dilation_rate[axis] + 1
        smallest = max(1, effective - _explicit_sum(padding, axis))
        sizes.append(draw(st.integers(smallest, smallest + 5)))
    return ConvCase(
        n=draw(st.integers(1, 2)), h=sizes[0], w=sizes[1], channels=channels, kernel_hw=kernel_hw,
        filters=filters, strides=strides, dilation_rate=dilation_rate, padding=padding, groups=groups,
        data_format=draw(st.sampled_from(data_formats)), use_bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@dataclass(frozen=True)
class PoolCase:
    n: int
    h: int
    w: int
    channels: int
    pool_size: tuple
    strides: object  # None or (sh, sw)
    padding: object
    data_format: str
    seed: int

    @property
    def effective_strides(self):
        return self.pool_size if self.strides is None else self.strides

    @property
    def pads(self):
        return resolve_padding(self.padding, (self.h, self.w), self.pool_size, self.effective_strides)

    @property
    def kwargs(self):
        return dict(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                    data_format=self.data_format)

    def array(self, dtype=np.float64, separated=False):
        """The input in the case's layout.

        ``separated=True`` gives distinct values in [-2, 2], at least ``2 / size`` apart
        (a shuffled ``arange`` plus small noise), so max pooling has no ties and no kink
        within a finite-difference step, and sums stay small enough for float64
        central differences to resolve.
        """
        rng = np.random.default_rng(self.seed)
        shape = (self.n, self.h, self.w, self.channels)
        if separated:
            size = int(np.prod(shape))
            ranks = rng.permutation(size).reshape(shape) + rng.uniform(-0.25, 0.25, shape)
            x = 4 * (ranks - size / 2) / size
        else:
            x = rng.standard_normal(shape)
        return to_format(x.astype(dtype), self.data_format)


@st.composite
def pool_cases(draw, padding_kinds=PADDING_KINDS, data_formats=("channels_last", "channels_first")):
    """Valid pooling configurations; explicit padding is smaller than the window on each side."""
    pool_size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if draw(st.booleans()):
        strides = None
    else:
        strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    kind = draw(st.sampled_from(padding_kinds))
    padding = _padding(draw, kind, high=min(pool_size) - 1)
    sizes = []
    for axis in range(2):
        smallest = max(1, pool_size[axis] - _explicit_sum(padding, axis))
        sizes.append(draw(st.integers(smallest, smallest + 5)))
    return PoolCase(
        n=draw(st.integers(1, 2)), h=sizes[0], w=sizes[1], channels=draw(st.integers(1, 3)),
        pool_size=pool_size, strides=strides, padding=padding,
        data_format=draw(st.sampled_from(data_formats)), seed=draw(st.integers(0, 2**32 - 1)),
    )


def seeds():
    """A seed for ``numpy.random.default_rng``."""
    return st.integers(0, 2**32 - 1)
