"""The state of one fit: everything a ``fit`` call changes besides the weights, in one object."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


#: the checks of a step before its update, in order (a strategy sends the index of the first that failed)
STAGES = ("non-finite model output", "non-finite loss")


@dataclass(frozen=True)
class ResumePoint:
    """Where a restored checkpoint resumes a run: the epochs it finished and their logs."""

    epoch: int
    history: dict


@dataclass
class FitState:
    """What one ``fit`` call is doing, shared with its callbacks (``callback.state``).

    Attributes:
        history: the :class:`~numcnn.training.callbacks.History` of this fit (epoch logs so far).
        data_rng: the Generator that shuffles and augments the training data.
        epochs: the epoch to train up to (``fit(epochs=...)``).
        steps: steps per epoch.
        epoch, step: where training is, from 0.
        stop_training: set it (EarlyStopping does; so may a callback of yours, or Keras-style
            ``model.stop_training = True``) to stop after the current step.
        stop_reason: why training stopped before ``epochs``: a step whose model output, loss,
            gradients or updated weights were not finite, or whose update exploded, named by epoch
            and step (the step is undone).
        resume: where a restored checkpoint resumes; ``BackupAndRestore`` sets it before the
            first epoch.
    """

    history: object
    data_rng: np.random.Generator
    epochs: int
    steps: int
    epoch: int = 0
    step: int = 0
    stop_training: bool = False
    stop_reason: str | None = None
    resume: ResumePoint | None = None
