"""Training: the fit loop and its state, optimizers, schedules, losses, metrics, callbacks,
checkpoints, and the distribution strategies (one process, MPI).

Nothing here imports :mod:`numcnn.models`: a model is what it is called on (``model(x)``,
``model.backward(dy)``, ``model.params``), and :class:`numcnn.Model` gets ``compile`` / ``fit`` /
``evaluate`` / ``predict`` from :class:`Trainer`.
"""

from . import losses, metrics, optimizers, schedules
from .callbacks import (
    BackupAndRestore,
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    ModelCheckpoint,
    ProgbarLogger,
    TerminateOnNaN,
)
from .checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from .metrics import accuracy, categorical_accuracy, confusion_matrix, sparse_categorical_accuracy
from .state import FitState, ResumePoint
from .strategy import MPIStrategy, OneProcess, get_strategy
from .trainer import Trainer, predict

__all__ = [
    "BackupAndRestore", "Callback", "CSVLogger", "EarlyStopping", "FitState", "History", "ModelCheckpoint",
    "MPIStrategy", "OneProcess", "ProgbarLogger", "ResumePoint", "TerminateOnNaN", "Trainer", "accuracy",
    "categorical_accuracy", "confusion_matrix", "get_strategy", "load_checkpoint", "losses", "metrics", "optimizers",
    "predict", "restore_checkpoint", "save_checkpoint", "schedules", "sparse_categorical_accuracy",
]
