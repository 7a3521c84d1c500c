"""``numcnn.schedules``: the learning-rate schedules of :mod:`numcnn.training.schedules`."""

from .training.schedules import (  # noqa: F401
    SCHEDULES,
    CosineDecay,
    ExponentialDecay,
    LearningRateSchedule,
    StepDecay,
    deserialize,
    serialize,
)
