"""Training runs on disk: what ``numcnn train`` writes and ``evaluate`` / ``predict`` / ``summary`` read.

A run directory holds:

* ``config.json``: data set (with the directory its files came from), architecture,
  optimizer, loss and every training setting;
* ``checkpoint.safetensors``: weights, optimizer state, epoch, history and random states
  after the last finished epoch (``--resume DIR`` continues from it);
* ``history.csv``: one row per epoch (epoch from 1, loss, accuracy, val_loss, val_accuracy,
  learning_rate, seconds);
* ``curves.png``: loss and accuracy per epoch;
* ``model.safetensors``: the trained model (architecture + weights), when training ended;
* ``metrics.json``: ``test_accuracy``, ``test_loss``, ``epochs``, ``seconds`` and more.

``numcnn import model.onnx`` writes a run of a network trained elsewhere: ``model.safetensors`` and a
``config.json`` with a ``source`` section (the file, its opset and producer), the ``preprocessing``
that turns an image into the model's input and the class names; it has no training files.

Every file is written atomically (temporary file + rename); the temporaries of writes cut by a
crash are removed when the run starts again.

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

from .._version import __version__
from ..data import load_dataset
from ..data.folders import load_folder_dataset
from ..data.preprocessing import preprocessing_of  # noqa: F401
from ..io.onnx_import import from_onnx
from ..io.run_dir import (  # noqa: F401  (the commands read runs through this module)
    CHECKPOINT,
    RUN_FORMAT,
    RUN_FORMAT_VERSION,
    is_imported,
    load_run,
    read_config,
    read_history_csv,
)
from ..models import Sequential, zoo
from ..models.transfer import FineTune, freeze, unfreeze, with_new_head
from ..training import BackupAndRestore, Callback, load_checkpoint, losses, optimizers
from ..training.live_log import LIVE_LOG, LiveLog
from ..training.strategy import OneProcess
from ..training.trainer import validation_cut
from ..utils.files import remove_stale_temporaries, write_text_atomic
from ..viz import plot_history
from .augment import Augmentation
from .settings import RunError, RunSettings


class TrainingDiverged(RunError):
    """Training stopped on a non-finite or exploding step (see ``Model.fit``); the last good checkpoint is kept."""


# -- files of a run ----------------------------------------------------------------------
def read_settings(run_dir) -> RunSettings:
    """The training settings in the run's ``config.json``."""
    return RunSettings.from_json(read_config(run_dir)["training"], os.path.join(run_dir, "config.json"))


def data_dir_of(config: dict, given=None):
    """Where the run's data set files are: ``given`` (a ``--data-dir`` flag), else where training found them."""
    return given if given is not None else config["dataset"].get("data_dir")


def load_run_dataset(settings: RunSettings, data_dir=None, splits=("train", "test"), progress=True):
    """The data set a run trains on: a built-in one by name, or a folder with the run's image settings."""
    if settings.is_folder:
        return load_folder_dataset(settings.dataset, settings.image_size, settings.color_mode, settings.test_split,
                                   progress=progress, splits=splits)
    return load_dataset(settings.dataset, data_dir, progress=progress, splits=splits)


def _load_base(path):
    """The trained network at ``path``: a run directory's model, or an ONNX file imported channels-last."""
    if path.lower().endswith(".onnx"):
        return from_onnx(path)
    return load_run(path)[0]


def base_input_shape(path) -> tuple:
    """One sample's shape ``(H, W, C)`` of the network ``--from`` names."""
    if path.lower().endswith(".onnx"):
        return tuple(_load_base(path).inputs[0].shape[1:])
    return tuple(read_config(path)["dataset"]["input_shape"])


def transfer_model(settings: RunSettings, input_shape, classes, log=print):
    """``settings.base``'s base with a new head for ``classes``, frozen up to ``settings.freeze``."""
    base = _load_base(settings.base)
    shape = tuple(base.input_shape[1:]) if base.input_shape else None
    if shape != tuple(input_shape):
        raise RunError(f"--from {settings.base}: the network takes samples of shape {shape}, the data set has "
                       f"{tuple(input_shape)}: set --image-size and --color-mode to match. Received: "
                       f"{tuple(input_shape)}")
    try:
        model = with_new_head(base, classes, seed=settings.seed)
        if settings.freeze is not None:
            upto = settings.freeze
            names = [layer.name for layer in model.layers]
            if upto not in names and upto.lstrip("-").isdigit():
                upto = int(upto)
            frozen = freeze(model, upto)
            log(f"transfer from {settings.base}: {len(frozen)} layers frozen (up to {frozen[-1]}), new head of "
                f"{classes} classes")
    except ValueError as e:
        raise RunError(f"--from / --freeze: {e}") from None
    return model


def import_run(source, out_dir, *, data_format="channels_last", size=None, scale=1 / 255, mean=(0.0,), std=(1.0,),
               channel_order="rgb", labels=None, outputs="auto") -> dict:
    """Import an ONNX network as a run directory (see the module docstring); returns its ``config.json``."""
    import hashlib

    from ..data.preprocessing import Preprocessing
    from ..io.onnx_import import from_onnx, load_model_proto, opset_of

    if not os.path.isfile(source):
        raise RunError(f"{source}: no such ONNX file. Received: {os.fspath(source)!r}")
    proto = load_model_proto(source)
    opset = opset_of(proto)
    model = from_onnx(proto, data_format, input_shape=_dynamic_input_shape(proto, size))
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise RunError(f"numcnn import makes runs of networks with one input and one output. Received: "
                       f"{len(model.inputs)} inputs, {len(model.outputs)} outputs")
    shape, out_shape = model.inputs[0].shape, model.outputs[0].shape
    preprocessing = None
    if len(shape) == 4:
        channels = shape[3] if data_format == "channels_last" else shape[1]
        hw = shape[1:3] if data_format == "channels_last" else shape[2:4]
        if size is not None and tuple(size) != tuple(hw):
            raise RunError(f"--size: the network takes {hw[0]}x{hw[1]} images. Received: --size {size[0]} {size[1]}")
        if channels in (1, 3):
            preprocessing = Preprocessing(tuple(hw), channels, scale, tuple(mean), tuple(std), channel_order,
                                          data_format)
    classes = out_shape[-1] if len(out_shape) == 2 else None
    names = _read_labels(labels, classes) if labels else [str(k) for k in range(classes or 0)]
    if outputs == "auto":
        last = model.outputs[0].node.layer
        softmax = type(last).__name__ == "Softmax" or getattr(last, "activation", None) == "softmax"
        outputs = "probabilities" if softmax else "logits"
    claim_out_dir(out_dir)
    model.save(os.path.join(out_dir, "model.safetensors"))
    with open(source, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    config = {
        "format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "numcnn_version": __version__,
        "source": {"kind": "onnx", "file": os.path.basename(os.fspath(source)), "sha256": digest, "opset": opset,
                   "producer": f"{proto.producer_name} {proto.producer_version}".strip()},
        "dataset": {"name": None, "input_shape": list(shape[1:]), "class_names": names, "data_dir": None},
        "preprocessing": None if preprocessing is None else preprocessing.to_json(),
        "outputs": outputs,
        "training": {},
        "model": {"class_name": "Functional", "config": model.get_config()},
    }
    write_text_atomic(os.path.join(out_dir, "config.json"), json.dumps(config, indent=2) + "\n")
    return config


def _dynamic_input_shape(proto, size):
    """``input_shape`` for from_onnx when the file's image input has free height and width and ``--size``
    gives them (NCHW, the file's order)."""
    initializers = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        return None
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) == 4 and not all(d.HasField("dim_value") for d in dims[2:]) and dims[1].HasField("dim_value"):
        if size is None:
            raise RunError("The ONNX file leaves the image size free: pass --size HEIGHT WIDTH. Received: input "
                           f"{inputs[0].name!r} of shape {[d.dim_param or d.dim_value for d in dims]}")
        return (dims[1].dim_value, *size)
    return None


def _read_labels(path, classes):
    try:
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"--labels {path}: cannot read it ({e}). Received: --labels {path}") from None
    if classes is None or len(names) != classes:
        raise RunError(f"--labels must name each of the network's {classes} outputs, one per line. Received: "
                       f"{len(names)} names in {path}")
    return names


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


class RunFiles(Callback):
    """After every epoch (and its checkpoint): ``history.csv``; ``curves.png`` too when the last
    picture is older than ``plot_every`` seconds (drawing costs about 0.3 s)."""

    def __init__(self, run_dir, title, plot_every=15.0):
        self.run_dir, self.title, self.plot_every = run_dir, title, plot_every
        self.last_plot = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        history = self.state.history.history
        write_history_csv(os.path.join(self.run_dir, "history.csv"), history)
        if time.monotonic() - self.last_plot >= self.plot_every:
            plot_history(history, os.path.join(self.run_dir, "curves.png"), self.title)
            self.last_plot = time.monotonic()


def write_run_files(run_dir, history, title):
    write_history_csv(os.path.join(run_dir, "history.csv"), history)
    plot_history(history, os.path.join(run_dir, "curves.png"), title)


def default_out_dir(settings: RunSettings) -> str:
    """``runs/<dataset>-<model>-<timestamp>``, created here so that two runs started in the same
    second get two directories (the second one gets ``-2``)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = os.path.basename(os.path.normpath(settings.dataset)) if settings.is_folder else settings.dataset
    base = os.path.join("runs", f"{name}-{settings.model}-{stamp}")
    os.makedirs("runs", exist_ok=True)
    for k in range(1, 1000):
        path = base if k == 1 else f"{base}-{k}"
        try:
            os.mkdir(path)  # atomic: exactly one run claims each name
            return path
        except FileExistsError:
            continue
    raise RunError(f"Too many runs named {base}-*. Received: --out not given")


def has_started(run_dir) -> bool:
    """Whether ``run_dir`` holds a run that trained at least one epoch (a checkpoint or a model)."""
    return any(os.path.exists(os.path.join(run_dir, name)) for name in (CHECKPOINT, "model.safetensors"))


def claim_out_dir(out_dir) -> None:
    """Create ``out_dir`` for a new run, or take an existing one that holds no trained epoch (empty, or
    left by a run stopped before its first checkpoint: its files are replaced)."""
    if has_started(out_dir):
        raise RunError(f"--out {out_dir} already holds a run: continue it with --resume {out_dir} or choose another "
                       f"--out. Received: --out {out_dir}")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise RunError(f"--out {out_dir}: cannot create the directory ({e.strerror}). Received: --out {out_dir}") from None
    if not os.access(out_dir, os.W_OK):
        raise RunError(f"--out {out_dir}: the directory is not writable. Received: --out {out_dir}")


def _check_resume(out_dir, config, settings: RunSettings, log) -> int:
    """Refuse a resume the saved run cannot take; return the epochs its checkpoint has done (0 without one)."""
    old = read_config(out_dir)
    if old["model"] != config["model"]:
        raise RunError(f"--resume {out_dir}: the model built from its settings differs from the saved one "
                       "(made by another numcnn version?). Received: a different architecture")
    if not os.path.exists(os.path.join(out_dir, CHECKPOINT)):
        log(f"note: {out_dir} stopped before its first checkpoint; training starts from the first epoch")
        return 0
    done = load_checkpoint(os.path.join(out_dir, CHECKPOINT))[1]["epoch"]
    if settings.total_epochs < done:
        raise RunError(f"--resume {out_dir}: the run has already trained {done} epochs; --epochs (with "
                       f"--fine-tune-epochs) is the total and must be at least {done}. Received: --epochs "
                       f"{settings.epochs}" + (f" --fine-tune-epochs {settings.fine_tune_epochs}"
                                               if settings.fine_tune_epochs else ""))
    if settings.schedule == "cosine" and settings.epochs != old["training"]["epochs"]:
        log(f"note: the cosine schedule now spans {settings.epochs} epochs instead of "
            f"{old['training']['epochs']}; the learning rate follows the new curve from epoch {done + 1}")
    return done


def train_run(settings: RunSettings, out_dir, data_dir=None, verbose="auto", resume=False, log=print,
              strategy=None) -> dict:
    """Train as ``numcnn train`` does; write the run directory; return the metrics.

    With an MPI strategy (:mod:`numcnn.training.strategy`), every rank calls this with the same
    arguments; rank 0 alone touches ``out_dir``; every rank returns the same metrics.

    Raises:
        RunError: unusable settings or directory; TrainingDiverged: a non-finite or exploding step.
    """
    strategy = strategy or OneProcess()
    done = 0  # the epochs a resumed run's checkpoint has done (rank 0 reads it)
    with strategy.together("preparing the run"):
        if strategy.is_root:
            if not resume:
                claim_out_dir(out_dir)
            remove_stale_temporaries(out_dir)
        dataset = load_run_dataset(settings, data_dir, progress=strategy.is_root and verbose != 0)
        model = (transfer_model(settings, dataset.input_shape, dataset.classes, log) if settings.base
                 else zoo.get(settings.model, dataset.input_shape, dataset.classes, seed=settings.seed))
        n_train = validation_cut(len(dataset.x_train), settings.validation_split)
        optimizer = settings.make_optimizer(math.ceil(n_train / settings.batch_size))
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer, loss, ["accuracy"])
        model.build((None, *dataset.input_shape))
        config = {
            "format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "numcnn_version": __version__,
            "dataset": {"name": dataset.name, "input_shape": list(dataset.input_shape),
                        "class_names": list(dataset.class_names), "pixel_scale": dataset.pixel_scale,
                        "train_samples": n_train, "test_samples": len(dataset.x_test),
                        "data_dir": dataset.data_dir},
            "preprocessing": dataset.preprocessing.to_json(),
            "training": settings.to_json(),
            "model": {"class_name": "Sequential" if isinstance(model, Sequential) else "Functional",
                      "config": model.get_config()},
            "optimizer": optimizers.serialize(optimizer),
            "loss": losses.serialize(loss),
        }
        if strategy.is_root:
            if resume:
                done = _check_resume(out_dir, config, settings, log)
            write_text_atomic(os.path.join(out_dir, "config.json"), json.dumps(config, indent=2) + "\n")

    if resume and settings.fine_tune_epochs:
        if strategy.broadcast_json(done, "sharing the epoch") >= settings.epochs:
            unfreeze(model)  # resumed inside the fine-tuning epochs: the checkpoint holds the whole base's state
    title = f"{settings.model} on {settings.dataset}"
    live = LiveLog(os.path.join(out_dir, LIVE_LOG)) if strategy.is_root else None
    callbacks = [BackupAndRestore(out_dir, delete_checkpoint=False), RunFiles(out_dir, title)] if strategy.is_root else []
    if settings.fine_tune_epochs:
        callbacks.append(FineTune(settings.epochs, log if strategy.is_root else None))
    if live is not None:
        callbacks.append(live)  # last: an epoch's record follows its checkpoint and history.csv
    try:
        metrics = _fit_and_finish(model, dataset, settings, n_train, out_dir, title, verbose, callbacks, strategy)
    except BaseException as error:
        if live is not None:
            status = ("stopped" if isinstance(error, TrainingDiverged) else
                      "interrupted" if isinstance(error, KeyboardInterrupt) else "failed")
            live.finish(status, str(error) or type(error).__name__)
        raise
    if live is not None:
        live.finish("finished", metrics=metrics)
    return metrics


def _fit_and_finish(model, dataset, settings, n_train, out_dir, title, verbose, callbacks, strategy) -> dict:
    started = time.perf_counter()
    history = model.fit(dataset.x_train, dataset.y_train, batch_size=settings.batch_size, epochs=settings.total_epochs,
                        validation_split=settings.validation_split, seed=settings.seed, verbose=verbose,
                        callbacks=callbacks, augment=Augmentation(settings.augment) or None,
                        distributed=strategy)
    wall = time.perf_counter() - started
    metrics = None
    with strategy.together("saving the trained model"):
        if model.stop_reason:
            done = len(history.history.get("loss", []))
            kept = (f"the checkpoint of epoch {done} in {out_dir} is intact" if done
                    else "no epoch finished, so there is no checkpoint")
            raise TrainingDiverged(f"Training diverged: {model.stop_reason}; {kept}. Try a smaller --lr with a new "
                                   f"--out. Received: --lr {settings.lr}")
        if strategy.is_root:
            metrics = _finish_run(model, dataset, history.history, settings, n_train, wall, out_dir, title)
    return strategy.broadcast_json(metrics, "sharing the test metrics")


def _finish_run(model, dataset, hist, settings, n_train, wall, out_dir, title) -> dict:
    """Test the trained model; write ``model.safetensors``, the run files and ``metrics.json``."""
    test_loss, test_accuracy = model.evaluate(dataset.x_test, dataset.y_test, batch_size=256)
    model.save(os.path.join(out_dir, "model.safetensors"))
    metrics = {
        "test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
        "epochs": len(hist.get("loss", [])), "seconds": float(sum(hist.get("seconds", []))),
        "wall_seconds": wall, "dataset": settings.dataset, "model": settings.model,
        "parameters": model.count_params(), "train_samples": n_train, "test_samples": len(dataset.x_test),
    }
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if hist.get(key):
            metrics[f"final_{key}"] = float(hist[key][-1])
    write_run_files(out_dir, copy.deepcopy(hist), title)
    write_text_atomic(os.path.join(out_dir, "metrics.json"), json.dumps(metrics, indent=2) + "\n")
    return metrics
