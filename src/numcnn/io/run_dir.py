"""Reading a run directory (what ``numcnn train`` and ``numcnn import`` write, see :mod:`numcnn.app.runs`):
its ``config.json``, its model (the trained one, or the last checkpoint of a run still training) and its
``history.csv``. The commands and ``numcnn.explain`` read runs through these functions alone.
"""

from __future__ import annotations

import csv
import json
import os

from ..models import load_model, model_from_config
from ..training import BackupAndRestore, load_checkpoint
from ..training.checkpoint import arrays_under

RUN_FORMAT = "numcnn.run"
RUN_FORMAT_VERSION = 1
CHECKPOINT = BackupAndRestore.filename


class RunError(ValueError):
    """A run directory or a training setting is not usable; the message says why."""


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise RunError(f"{path}: not found; is this a numcnn run directory? Received: {os.fspath(path)!r}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunError(f"{path}: unreadable or corrupted JSON ({e}). Received: {os.fspath(path)!r}") from None


def read_config(run_dir) -> dict:
    """The run's ``config.json``, checked."""
    path = os.path.join(run_dir, "config.json")
    config = _read_json(path)
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise RunError(f"{path}: not a numcnn run config. Received: format={config.get('format') if isinstance(config, dict) else None!r}")
    if not isinstance(config.get("format_version"), int) or config["format_version"] > RUN_FORMAT_VERSION:
        raise RunError(f"{path}: made by a newer numcnn (format version {config.get('format_version')!r}); this one "
                       f"reads {RUN_FORMAT_VERSION}. Received: {config.get('format_version')!r}")
    for key in ("training", "model", "dataset"):
        if not isinstance(config.get(key), dict):
            raise RunError(f"{path}: the '{key}' section is missing or not an object. Received: {config.get(key)!r}")
    return config


def is_imported(config: dict) -> bool:
    """Whether the run is a network imported from a file (``numcnn import``), not trained here."""
    return isinstance(config.get("source"), dict)


def load_run(run_dir):
    """``(model, config)`` of a run: ``model.safetensors``, or the last checkpoint of an unfinished run."""
    config = read_config(run_dir)
    final = os.path.join(run_dir, "model.safetensors")
    if os.path.exists(final):
        return load_model(final), config
    checkpoint = os.path.join(run_dir, CHECKPOINT)
    if not os.path.exists(checkpoint):
        raise RunError(f"{run_dir}: holds neither model.safetensors nor {CHECKPOINT}: nothing trained "
                       "yet. Received: " + repr(sorted(os.listdir(run_dir))))
    model = model_from_config(config["model"], config["dataset"].get("input_shape"), os.path.join(run_dir, "config.json"))
    arrays, _ = load_checkpoint(checkpoint)
    model.assign_weights(arrays_under(arrays, "model/"), checkpoint)
    return model, config


def read_history_csv(path) -> dict:
    """The lists ``history.csv`` holds (:func:`numcnn.app.runs.write_history_csv`), keyed by column
    (``epoch`` included)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keys = rows[0].keys() if rows else []
    return {k: [float(r[k]) for r in rows if r[k] != ""] for k in keys}
