"""Learning-rate schedules: ``schedule(step) -> learning rate``.

``step`` is the optimizer's ``iterations`` before the update (0 for the first
step), as in Keras. Every schedule is a small object with ``get_config`` so a
training run can save it as JSON and rebuild it on resume.

    >>> from numcnn.schedules import CosineDecay
    >>> s = CosineDecay(0.1, decay_steps=100, warmup_target=1.0, warmup_steps=10)
    >>> round(s(5), 3), s(10), round(s(110), 6)
    (0.55, 1.0, 0.0)
"""

from __future__ import annotations

import math

import numpy as np

from ..utils.registry import Registry
from ..utils.validation import _short, check_bool, check_number


def _positive_number(value, name, allow_zero=False):
    return check_number(value, name, 0, low_open=not allow_zero)


def _scaled(initial, rate, exponent):
    """``initial * rate ** exponent``, ``inf`` once that passes the float range (a growing schedule,
    ``rate > 1``, far enough) instead of Python's OverflowError; the training loop then refuses the
    non-finite update that such a rate makes."""
    try:
        return initial * rate ** exponent
    except OverflowError:
        return math.inf


def _positive_int(value, name, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0 or (value == 0 and not allow_zero):
        allowed = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"The `{name}` argument must be {allowed} int. Received: {name}={_short(value)}")
    return int(value)


class LearningRateSchedule:
    """Base class: ``__call__(step) -> float`` and ``get_config() -> dict``."""

    def __call__(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class StepDecay(LearningRateSchedule):
    """Multiply the rate by ``gamma`` every ``step_size`` steps (PyTorch ``StepLR``).

    ``lr(step) = initial_learning_rate * gamma ** (step // step_size)``

    With ``gamma > 1`` the rate grows; once it passes the float range it is ``inf`` (never
    an OverflowError), and the training loop refuses the non-finite update.
    """

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        self.initial_learning_rate = _positive_number(initial_learning_rate, "initial_learning_rate")
        self.step_size = _positive_int(step_size, "step_size")
        self.gamma = _positive_number(gamma, "gamma")

    def __call__(self, step):
        return _scaled(self.initial_learning_rate, self.gamma, int(step) // self.step_size)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(LearningRateSchedule):
    """Keras ``ExponentialDecay``: ``lr * decay_rate ** (step / decay_steps)`` (floored if ``staircase``).

    With ``decay_rate > 1`` the rate grows; once it passes the float range it is ``inf`` (never
    an OverflowError), and the training loop refuses the non-finite update.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = _positive_number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive_int(decay_steps, "decay_steps")
        self.decay_rate = _positive_number(decay_rate, "decay_rate")
        self.staircase = check_bool(staircase, "staircase")

    def __call__(self, step):
        p = int(step) / self.decay_steps
        return _scaled(self.initial_learning_rate, self.decay_rate, math.floor(p) if self.staircase else p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


class CosineDecay(LearningRateSchedule):
    """Keras ``CosineDecay``, with optional linear warm-up.

    Without warm-up: ``lr(step) = initial * ((1 - alpha) * (1 + cos(pi * t)) / 2 + alpha)`` with
    ``t = min(step, decay_steps) / decay_steps``. With ``warmup_steps`` and ``warmup_target``, the
    rate first rises linearly from ``initial_learning_rate`` to ``warmup_target`` and the cosine
    then decays from ``warmup_target`` over the next ``decay_steps`` steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = _positive_number(initial_learning_rate, "initial_learning_rate", allow_zero=True)
        self.decay_steps = _positive_int(decay_steps, "decay_steps")
        self.alpha = _positive_number(alpha, "alpha", allow_zero=True)
        if self.alpha > 1:
            raise ValueError(f"The `alpha` argument must be in [0, 1]. Received: alpha={alpha!r}")
        self.warmup_target = None if warmup_target is None else _positive_number(warmup_target, "warmup_target")
        self.warmup_steps = _positive_int(warmup_steps, "warmup_steps", allow_zero=True)

    def __call__(self, step):
        step = int(step)
        peak = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        if self.warmup_target is not None and step < self.warmup_steps:
            return self.initial_learning_rate + (peak - self.initial_learning_rate) * step / self.warmup_steps
        if self.warmup_target is not None:
            step -= self.warmup_steps
        t = min(step, self.decay_steps) / self.decay_steps
        return peak * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * t)) + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class FineTuneSchedule(LearningRateSchedule):
    """``schedule`` up to step ``boundary``, then the constant ``fine_tune_rate``: a head trained first, then
    the whole network fine-tuned at a small rate (``numcnn train --from ... --fine-tune-epochs``)."""

    def __init__(self, schedule, boundary, fine_tune_rate):
        self.schedule = deserialize(schedule) if isinstance(schedule, dict) else schedule
        if not isinstance(self.schedule, (LearningRateSchedule, float)):
            raise ValueError(f"The `schedule` argument must be a schedule or a float. Received: {_short(schedule)}")
        self.boundary = _positive_int(boundary, "boundary", allow_zero=True)
        self.fine_tune_rate = _positive_number(fine_tune_rate, "fine_tune_rate")

    def __call__(self, step):
        if int(step) >= self.boundary:
            return self.fine_tune_rate
        return self.schedule(step) if isinstance(self.schedule, LearningRateSchedule) else self.schedule

    def get_config(self):
        return {"schedule": serialize(self.schedule), "boundary": self.boundary, "fine_tune_rate": self.fine_tune_rate}


SCHEDULES = Registry("schedule", LearningRateSchedule, "learning_rate")
for _cls in (StepDecay, ExponentialDecay, CosineDecay, FineTuneSchedule):
    SCHEDULES.register(_cls)
del _cls


def serialize(schedule) -> dict | float:
    """A float stays a float; a schedule becomes ``{"class_name": ..., "config": {...}}``."""
    if isinstance(schedule, LearningRateSchedule):
        return SCHEDULES.serialize(schedule)
    return float(schedule)


def deserialize(config):
    """Inverse of :func:`serialize`; only the schedules in this module are accepted."""
    if isinstance(config, (int, float)) and not isinstance(config, bool):
        return check_number(config, "learning_rate")
    return SCHEDULES.deserialize(config)
