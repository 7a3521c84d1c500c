"""Training: the fit loop, metrics, callbacks and checkpoints."""

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
from .loop import compile, evaluate, fit, predict, train_on_batch, train_step
from .metrics import accuracy, categorical_accuracy, confusion_matrix, sparse_categorical_accuracy

__all__ = [
    "BackupAndRestore", "Callback", "CSVLogger", "EarlyStopping", "History", "ModelCheckpoint", "ProgbarLogger",
    "TerminateOnNaN", "accuracy", "categorical_accuracy", "compile", "confusion_matrix", "evaluate", "fit",
    "load_checkpoint", "predict", "restore_checkpoint", "save_checkpoint", "sparse_categorical_accuracy",
    "train_on_batch", "train_step",
]
