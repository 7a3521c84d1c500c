"""Training runs on disk: what ``numcnn train`` writes and ``evaluate`` / ``predict`` / ``summary`` read.

A run directory holds:

* ``config.json``: data set, architecture, optimizer, loss and every training setting;
* ``checkpoint.safetensors``: weights, optimizer state, epoch, history and random states
  after the last finished epoch (``--resume DIR`` continues from it);
* ``history.csv``: one row per epoch (epoch from 1, loss, accuracy, val_loss, val_accuracy,
  learning_rate, seconds);
* ``curves.png``: loss and accuracy per epoch;
* ``model.safetensors``: the trained model (architecture + weights), when training ended;
* ``metrics.json``: ``test_accuracy``, ``test_loss``, ``epochs``, ``seconds`` and more.

Every file is written atomically (temporary file + rename).

With ``--distributed`` (under ``mpirun``) every rank loads the data set and trains its
share of each batch; rank 0 alone reads and writes the run directory, and the other
ranks learn from it whatever they need (settings, checkpoint, errors).
"""

from __future__ import annotations

import copy
import csv
import datetime
import io
import json
import math
import os
import time

from . import __version__, losses, optimizers, schedules
from ._validation import _is_finite_number, _short
from .data import RandomShift, load_dataset
from .distributed import together
from .io import load_model, model_from_config, save_model, write_text_atomic
from .io.model_io import assign_arrays
from .models import zoo
from .training import BackupAndRestore, Callback, load_checkpoint
from .training.checkpoint import arrays_under
from .training.loop import validation_cut
from .viz import plot_history

RUN_FORMAT = "numcnn.run"
RUN_FORMAT_VERSION = 1

COMMON = {"validation_split": 0.1, "weight_decay": None, "clipnorm": None, "warmup_epochs": 0, "seed": 0,
          "schedule": "step", "decay_rate": 0.5}
# Chosen by measurement (see the README): each reaches its data set's usual accuracy quickly.
DEFAULTS = {
    "digits": {"model": "simple", "epochs": 40, "batch_size": 32, "optimizer": "adam", "lr": 0.003,
               "decay_epochs": 10, "augment": 1},
    "mnist": {"model": "simple", "epochs": 6, "batch_size": 100, "optimizer": "adam", "lr": 0.001,
              "decay_epochs": 2, "augment": 0},
    "fashion-mnist": {"model": "simple", "epochs": 10, "batch_size": 100, "optimizer": "adam", "lr": 0.001,
                      "decay_epochs": 3, "augment": 0},
}
MODEL_DEFAULTS = {
    "deep": {"epochs": 8, "batch_size": 100, "lr": 0.002, "decay_epochs": 2, "augment": 2},
    "lenet5": {"epochs": 10, "batch_size": 64, "lr": 0.001, "decay_epochs": 3},
}
SCHEDULE_NAMES = ("constant", "step", "cosine")
SETTING_NAMES = ("dataset", "model", "epochs", "batch_size", "optimizer", "lr", "schedule", "decay_epochs",
                 "decay_rate", "warmup_epochs", "weight_decay", "clipnorm", "augment", "validation_split", "seed")


class RunError(ValueError):
    """A run directory or a training setting is not usable; the message says why."""


class TrainingDiverged(RunError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def default_settings(dataset="digits", model=None) -> dict:
    """The settings ``numcnn train --dataset DATASET [--model MODEL]`` uses for every flag not given."""
    if dataset not in DEFAULTS:
        raise RunError(f"Unknown data set: allowed are {list(DEFAULTS)}. Received: {dataset!r}")
    settings = {**COMMON, **DEFAULTS[dataset], "dataset": dataset}
    model = model or settings["model"]
    if model != settings["model"]:
        settings.update(MODEL_DEFAULTS.get(model, {}))
    settings["model"] = model
    if dataset == "digits" and model == "deep":
        settings.update(batch_size=32, epochs=30, augment=1, decay_epochs=10)
    return settings


def resolve_settings(given: dict, resume_dir=None) -> dict:
    """Settings of a run: defaults for the data set and model, overridden by the flags ``given``.

    With ``resume_dir``, the settings come from that run's ``config.json``; only ``epochs``
    may change (more epochs continue training), any other differing flag is an error.
    """
    given = {k: v for k, v in given.items() if v is not None}
    if resume_dir is not None:
        settings = dict(read_config(resume_dir)["training"])
        missing = sorted(set(COMMON) - set(settings))
        if missing or not isinstance(settings.get("dataset"), str) or settings["dataset"] not in DEFAULTS:
            raise RunError(
                f"{os.path.join(resume_dir, 'config.json')}: the training settings are incomplete or corrupted "
                f"(missing {missing}, data set {settings.get('dataset')!r}). Received: {_short(settings)}")
        changed = {k: v for k, v in given.items() if k != "epochs" and settings.get(k) != v}
        if changed:
            raise RunError(
                f"--resume continues {resume_dir} with its own settings; only --epochs may change. "
                f"Received: {', '.join(f'{k}={v!r}' for k, v in changed.items())} "
                f"(the run has {', '.join(f'{k}={settings.get(k)!r}' for k in changed)})")
        settings.update(given)
    else:
        settings = {**default_settings(given.get("dataset", "digits"), given.get("model")), **given}
    _check_settings(settings)
    return settings


def _is_json_int(value) -> bool:
    """A Python int, not a bool. Settings are written to config.json, so NumPy scalars are not taken."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_json_number(value) -> bool:
    """A finite Python int or float, not a bool (an int beyond float's range is not finite)."""
    return isinstance(value, (int, float)) and _is_finite_number(value)


def _check_settings(s):
    def one_of(name, allowed):
        return isinstance(s[name], str) and s[name] in allowed

    checks = [  # (name, test, allowed): each test runs only after the ones before it passed
        ("epochs", lambda: _is_json_int(s["epochs"]) and s["epochs"] >= 1, "an int >= 1"),
        ("batch_size", lambda: _is_json_int(s["batch_size"]) and s["batch_size"] >= 1, "an int >= 1"),
        ("lr", lambda: _is_json_number(s["lr"]) and s["lr"] > 0, "a number > 0"),
        ("schedule", lambda: one_of("schedule", SCHEDULE_NAMES), f"one of {SCHEDULE_NAMES}"),
        ("decay_epochs", lambda: _is_json_int(s["decay_epochs"]) and s["decay_epochs"] >= 1, "an int >= 1"),
        ("decay_rate", lambda: _is_json_number(s["decay_rate"]) and 0 < s["decay_rate"] <= 1, "a number in (0, 1]"),
        ("warmup_epochs", lambda: _is_json_int(s["warmup_epochs"]) and 0 <= s["warmup_epochs"] < s["epochs"],
         "an int >= 0 and below --epochs"),
        ("augment", lambda: _is_json_int(s["augment"]) and 0 <= s["augment"] <= 4, "an int from 0 to 4 (pixels)"),
        ("validation_split", lambda: _is_json_number(s["validation_split"]) and 0 <= s["validation_split"] < 0.5,
         "a number in [0, 0.5)"),
        ("seed", lambda: _is_json_int(s["seed"]) and s["seed"] >= 0, "an int >= 0"),
        ("model", lambda: one_of("model", zoo.MODELS), f"one of {sorted(zoo.MODELS)}"),
        ("optimizer", lambda: one_of("optimizer", optimizers.NAMED), f"one of {sorted(optimizers.NAMED)}"),
        ("weight_decay", lambda: s.get("weight_decay") is None or (_is_json_number(s["weight_decay"])
                                                                  and s["weight_decay"] >= 0), "a number >= 0"),
        ("clipnorm", lambda: s.get("clipnorm") is None or (_is_json_number(s["clipnorm"]) and s["clipnorm"] > 0),
         "a number > 0"),
    ]
    for name, ok, allowed in checks:
        if not ok():
            raise RunError(f"argument --{name.replace('_', '-')}: must be {allowed}. Received: {s[name]!r}")
    if s["warmup_epochs"] and s["schedule"] != "cosine":
        raise RunError(f"argument --warmup-epochs: needs --schedule cosine. Received: --schedule {s['schedule']}")


def make_optimizer(settings, steps_per_epoch) -> optimizers.Optimizer:
    """The optimizer with the learning-rate schedule of ``settings`` (schedules count steps)."""
    lr, epochs = float(settings["lr"]), settings["epochs"]
    if settings["schedule"] == "step":
        rate = schedules.StepDecay(lr, settings["decay_epochs"] * steps_per_epoch, float(settings["decay_rate"]))
    elif settings["schedule"] == "cosine":
        warmup = settings["warmup_epochs"] * steps_per_epoch
        decay = max(1, epochs * steps_per_epoch - warmup)
        rate = (schedules.CosineDecay(0.0, decay, warmup_target=lr, warmup_steps=warmup) if warmup
                else schedules.CosineDecay(lr, decay))
    else:
        rate = lr
    kwargs = {"learning_rate": rate}
    if settings.get("weight_decay") is not None:
        kwargs["weight_decay"] = float(settings["weight_decay"])
    if settings.get("clipnorm") is not None:
        kwargs["global_clipnorm"] = float(settings["clipnorm"])
    return optimizers.get(settings["optimizer"], **kwargs)


# -- files of a run ----------------------------------------------------------------------
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


def load_run(run_dir):
    """``(model, config)`` of a run: ``model.safetensors``, or the last checkpoint of an unfinished run."""
    config = read_config(run_dir)
    final = os.path.join(run_dir, "model.safetensors")
    if os.path.exists(final):
        return load_model(final), config
    checkpoint = os.path.join(run_dir, BackupAndRestore.filename)
    if not os.path.exists(checkpoint):
        raise RunError(f"{run_dir}: holds neither model.safetensors nor {BackupAndRestore.filename}: nothing trained "
                       "yet. Received: " + repr(sorted(os.listdir(run_dir))))
    model = model_from_config(config["model"], config["dataset"].get("input_shape"), os.path.join(run_dir, "config.json"))
    arrays, _ = load_checkpoint(checkpoint)
    assign_arrays(model, arrays_under(arrays, "model/"), checkpoint)
    return model, config


def write_history_csv(path, history: dict) -> None:
    """``history.csv``: a row per epoch, epochs counted from 1."""
    keys = list(history)
    rows = max((len(v) for v in history.values()), default=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for i in range(rows):
        writer.writerow([i + 1, *(repr(float(history[k][i])) if i < len(history[k]) else "" for k in keys)])
    write_text_atomic(path, out.getvalue())


def read_history_csv(path) -> dict:
    """The lists :func:`write_history_csv` wrote, keyed by column (``epoch`` included)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keys = rows[0].keys() if rows else []
    return {k: [float(r[k]) for r in rows if r[k] != ""] for k in keys}


class RunFiles(Callback):
    """After every epoch (and its checkpoint): ``history.csv``; ``curves.png`` too when the last
    picture is older than ``plot_every`` seconds (drawing costs about 0.3 s)."""

    def __init__(self, run_dir, title, plot_every=15.0):
        self.run_dir, self.title, self.plot_every = run_dir, title, plot_every
        self.last_plot = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        history = self.model.history.history
        write_history_csv(os.path.join(self.run_dir, "history.csv"), history)
        if time.monotonic() - self.last_plot >= self.plot_every:
            plot_history(history, os.path.join(self.run_dir, "curves.png"), self.title)
            self.last_plot = time.monotonic()


def write_run_files(run_dir, history, title):
    write_history_csv(os.path.join(run_dir, "history.csv"), history)
    plot_history(history, os.path.join(run_dir, "curves.png"), title)


def default_out_dir(settings) -> str:
    """``runs/<dataset>-<model>-<timestamp>``, created here so that two runs started in the same
    second get two directories (the second one gets ``-2``)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join("runs", f"{settings['dataset']}-{settings['model']}-{stamp}")
    os.makedirs("runs", exist_ok=True)
    for k in range(1, 1000):
        path = base if k == 1 else f"{base}-{k}"
        try:
            os.mkdir(path)  # atomic: exactly one run claims each name
            return path
        except FileExistsError:
            continue
    raise RunError(f"Too many runs named {base}-*. Received: --out not given")


def claim_out_dir(out_dir) -> None:
    """Create ``out_dir`` for a new run, or accept an existing one that holds no run."""
    if os.path.exists(os.path.join(out_dir, "config.json")):
        raise RunError(f"--out {out_dir} already holds a run: continue it with --resume {out_dir} or choose another "
                       f"--out. Received: --out {out_dir}")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise RunError(f"--out {out_dir}: cannot create the directory ({e.strerror}). Received: --out {out_dir}") from None
    if not os.access(out_dir, os.W_OK):
        raise RunError(f"--out {out_dir}: the directory is not writable. Received: --out {out_dir}")


def _check_resume(out_dir, config, settings, log) -> None:
    if not os.path.exists(os.path.join(out_dir, BackupAndRestore.filename)):
        raise RunError(f"--resume {out_dir}: no {BackupAndRestore.filename} to continue from. "
                       f"Received: {sorted(os.listdir(out_dir))}")
    old = read_config(out_dir)
    if old["model"] != config["model"]:
        raise RunError(f"--resume {out_dir}: the model built from its settings differs from the saved one "
                       "(made by another numcnn version?). Received: a different architecture")
    done = load_checkpoint(os.path.join(out_dir, BackupAndRestore.filename))[1]["epoch"]
    if settings["epochs"] < done:
        raise RunError(f"--resume {out_dir}: the run has already trained {done} epochs; --epochs is the total "
                       f"and must be at least {done}. Received: --epochs {settings['epochs']}")
    if settings["schedule"] == "cosine" and settings["epochs"] != old["training"]["epochs"]:
        log(f"note: the cosine schedule now spans {settings['epochs']} epochs instead of "
            f"{old['training']['epochs']}; the learning rate follows the new curve from epoch {done + 1}")


def train_run(settings, out_dir, data_dir=None, verbose="auto", resume=False, log=print, communicator=None) -> dict:
    """Train as ``numcnn train`` does; write the run directory; return the metrics.

    With a :class:`numcnn.distributed.Communicator`, every rank calls this with the same
    arguments; rank 0 alone touches ``out_dir``; every rank returns the same metrics.

    Raises:
        RunError: unusable settings or directory; training that diverged (NaN / Inf loss).
    """
    root = communicator is None or communicator.rank == 0
    with together(communicator, "preparing the run"):
        if root and not resume:
            claim_out_dir(out_dir)
        dataset = load_dataset(settings["dataset"], data_dir, progress=root)
        model = zoo.get(settings["model"], dataset.input_shape, dataset.classes, seed=settings["seed"])
        n_train = validation_cut(len(dataset.x_train), settings["validation_split"])
        optimizer = make_optimizer(settings, math.ceil(n_train / settings["batch_size"]))
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer, loss, ["accuracy"])
        model.build((None, *dataset.input_shape))
        config = {
            "format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "numcnn_version": __version__,
            "dataset": {"name": dataset.name, "input_shape": list(dataset.input_shape),
                        "class_names": list(dataset.class_names), "pixel_scale": dataset.pixel_scale,
                        "train_samples": n_train, "test_samples": len(dataset.x_test)},
            "training": dict(settings),
            "model": {"class_name": "Sequential", "config": model.get_config()},
            "optimizer": optimizers.serialize(optimizer),
            "loss": losses.serialize(loss),
        }
        if root:
            if resume:
                _check_resume(out_dir, config, settings, log)
            write_text_atomic(os.path.join(out_dir, "config.json"), json.dumps(config, indent=2) + "\n")

    title = f"{settings['model']} on {settings['dataset']}"
    callbacks = [BackupAndRestore(out_dir, delete_checkpoint=False), RunFiles(out_dir, title)] if root else []
    started = time.perf_counter()
    history = model.fit(dataset.x_train, dataset.y_train, batch_size=settings["batch_size"], epochs=settings["epochs"],
                        validation_split=settings["validation_split"], seed=settings["seed"], verbose=verbose,
                        callbacks=callbacks, augment=RandomShift(settings["augment"]) if settings["augment"] else None,
                        distributed=communicator)
    wall = time.perf_counter() - started
    metrics = None
    with together(communicator, "saving the trained model"):
        if model.stop_reason:
            done = len(history.history.get("loss", []))
            kept = (f"the checkpoint of epoch {done} in {out_dir} is intact" if done
                    else "no epoch finished, so there is no checkpoint")
            raise TrainingDiverged(f"Training diverged: {model.stop_reason}; {kept}. Try a smaller --lr with a new "
                                   f"--out. Received: --lr {settings['lr']}")
        if root:
            metrics = _finish_run(model, dataset, history.history, settings, n_train, wall, out_dir, title)
    if communicator is not None:
        metrics = communicator.broadcast_json(metrics, "sharing the test metrics")
    return metrics


def _finish_run(model, dataset, hist, settings, n_train, wall, out_dir, title) -> dict:
    """Test the trained model; write ``model.safetensors``, the run files and ``metrics.json``."""
    test_loss, test_accuracy = model.evaluate(dataset.x_test, dataset.y_test, batch_size=256)
    save_model(model, os.path.join(out_dir, "model.safetensors"))
    metrics = {
        "test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
        "epochs": len(hist.get("loss", [])), "seconds": float(sum(hist.get("seconds", []))),
        "wall_seconds": wall, "dataset": settings["dataset"], "model": settings["model"],
        "parameters": model.count_params(), "train_samples": n_train, "test_samples": len(dataset.x_test),
    }
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if hist.get(key):
            metrics[f"final_{key}"] = float(hist[key][-1])
    write_run_files(out_dir, copy.deepcopy(hist), title)
    write_text_atomic(os.path.join(out_dir, "metrics.json"), json.dumps(metrics, indent=2) + "\n")
    return metrics
