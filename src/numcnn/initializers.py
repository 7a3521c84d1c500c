"""Weight initializers (Keras names and formulas), drawing from an explicit Generator.

An initializer is called as ``init(shape, dtype, rng)``. Fans follow Keras: for a
conv kernel ``(kh, kw, in, out)``, ``fan_in = kh*kw*in`` and ``fan_out = kh*kw*out``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .utils.registry import Registry
from .utils.validation import _short, check_number


def compute_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a kernel shape, Keras convention."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(rng, shape, stddev, dtype):
    """Normal samples redrawn until within two standard deviations (as Keras/TF)."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return (out * stddev).astype(dtype)


class Initializer:
    """Base class: ``__call__(shape, dtype, rng) -> array`` and ``get_config()``."""

    def __call__(self, shape, dtype, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class Zeros(Initializer):
    def __call__(self, shape, dtype, rng):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype, rng):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    """Every entry ``value`` (a finite number)."""

    def __init__(self, value=0.0):
        self.value = check_number(value, "value")

    def __call__(self, shape, dtype, rng):
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal samples of ``mean`` and ``stddev`` (finite; ``stddev >= 0``)."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = check_number(mean, "mean"), check_number(stddev, "stddev", low=0)

    def __call__(self, shape, dtype, rng):
        return rng.normal(self.mean, self.stddev, shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class RandomUniform(Initializer):
    """Uniform samples in ``[minval, maxval)`` (finite, ``minval <= maxval``, ``maxval - minval`` a finite float)."""

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval, self.maxval = check_number(minval, "minval"), check_number(maxval, "maxval")
        if not self.minval <= self.maxval or not math.isfinite(self.maxval - self.minval):
            raise ValueError(
                "The `minval` and `maxval` arguments must satisfy minval <= maxval with a range maxval - minval "
                f"within float range. Received: minval={_short(minval)}, maxval={_short(maxval)}")

    def __call__(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class VarianceScaling(Initializer):
    """Samples with variance ``scale / n``, ``n`` = fan_in, fan_out or their mean.

    ``distribution="uniform"`` draws from ``[-sqrt(3 scale / n), +sqrt(3 scale / n)]``;
    ``"truncated_normal"`` from a normal truncated at 2 sigma, rescaled so the
    variance is exact (Keras' 0.8796... factor); ``"untruncated_normal"`` plain normal.
    """

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        scale = check_number(scale, "scale", 0, low_open=True)  # Keras: a positive float
        if not isinstance(mode, str) or mode not in self.MODES:
            raise ValueError(f"The `mode` argument must be one of {self.MODES}. Received: mode={_short(mode)}")
        if not isinstance(distribution, str) or distribution not in self.DISTRIBUTIONS:
            raise ValueError(
                f"The `distribution` argument must be one of {self.DISTRIBUTIONS}. Received: distribution={_short(distribution)}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype, rng):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape).astype(dtype)
        if self.distribution == "truncated_normal":
            return _truncated_normal(rng, shape, math.sqrt(variance) / 0.87962566103423978, dtype)
        return (rng.standard_normal(shape) * math.sqrt(variance)).astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


INITIALIZERS = Registry("initializer", Initializer, "kernel_initializer")
for _cls, _name in ((Zeros, "zeros"), (Ones, "ones"), (Constant, "constant"), (RandomNormal, "random_normal"),
                    (RandomUniform, "random_uniform"), (VarianceScaling, "variance_scaling")):
    INITIALIZERS.register(_cls, names=(_name,))
for _name, _scale, _mode, _distribution in (
        ("glorot_uniform", 1.0, "fan_avg", "uniform"), ("glorot_normal", 1.0, "fan_avg", "truncated_normal"),
        ("he_uniform", 2.0, "fan_in", "uniform"), ("he_normal", 2.0, "fan_in", "truncated_normal"),
        ("lecun_uniform", 1.0, "fan_in", "uniform"), ("lecun_normal", 1.0, "fan_in", "truncated_normal")):
    INITIALIZERS.alias(_name, functools.partial(VarianceScaling, _scale, _mode, _distribution))


def get(identifier, argument="kernel_initializer") -> Initializer:
    """An initializer from a Keras name (``"glorot_uniform"``), a config dict, or an instance.

    A config's arguments are checked when it is read (a layer refuses a bad one in its
    constructor), and the error names ``argument`` and the bad entry.
    """
    return INITIALIZERS.get(identifier, argument)


def serialize(identifier):
    """JSON-friendly form: the name when one was given, else class name + config."""
    if isinstance(identifier, dict):  # a config (e.g. read back by from_config): normalise it
        identifier = get(identifier)
    if isinstance(identifier, str):
        return identifier.lower()
    return INITIALIZERS.serialize(identifier)
