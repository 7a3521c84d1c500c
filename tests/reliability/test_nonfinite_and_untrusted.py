"""NaN / Inf during training, exploding learning rates, and files that must never run code.

What ``tests/training/test_nan_guard.py`` and ``tests/io/`` already cover is not repeated here
(a 1e30 learning rate switched on by a callback, a NaN pixel in epoch 1, the AST scan for pickle
and eval, a pickled object array given to ``load_kernel``, ``class_name: "os.system"``). This file
adds:

* a NaN target or an out-of-range label, refused by ``fit`` before the first step;
* a NaN / +inf / -inf batch in *epoch 2* (dense and conv + batch norm + dropout models): training
  stops naming epoch and step, the weights are those before that step, the epoch-1 checkpoint is
  intact, loads, and a resumed run ends bit-identical to a run that never saw the bad batch;
* a learning rate that explodes mid-run through a schedule (``Model.fit``) and through a run's
  settings (``numcnn train --resume``): exit 3 naming the step, the checkpoint bytes unchanged,
  and the run resumable to the end;
* unknown layer / activation / initializer / optimizer / schedule / loss names, and names that
  are attributes but not registered (``Layer``, ``__class__``, ...), refused with a message
  naming them, from every place a file can hold them;
* Python code in every string of a model file, a checkpoint and a run's ``config.json``, and
  pickle payloads in safetensors metadata and tensors: nothing is ever executed (a marker file
  would appear) and every load either treats the string as data or refuses clearly;
* a token-level scan of ``src/numcnn`` (comments and docstrings stripped) for pickle-like
  modules, ``eval(``, ``exec(``, builtin ``compile(``, ``__import__(``, ``import_module(``,
  ``allow_pickle=True``, ``torch.load(``; and ``np.load`` only with ``allow_pickle=False``.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import pickle
import re
import shutil
import struct
import tokenize
from pathlib import Path

import numpy as np
import pytest

import numcnn
from numcnn import layers as L
from numcnn import losses, optimizers, schedules
from numcnn.app.cli import main
from numcnn.data import load_digits
from numcnn.io import FileFormatError, load, load_arrays, load_model, load_weights, model_from_config, save_model
from numcnn.losses import CategoricalCrossentropy, SparseCategoricalCrossentropy
from numcnn.models import zoo
from numcnn.optimizers import SGD, Adam
from numcnn.training import BackupAndRestore, Callback, load_checkpoint, restore_checkpoint, save_checkpoint

REASON = re.compile(r"loss is (nan|inf) at epoch (\d+), step (\d+) \(non-finite ([a-z' ]+)\): training stopped; "
                    r"the weights are those before that step")
# a learning rate that explodes may keep the loss finite: fit stops the first update that is more than
# MAX_UPDATE times the weights
DIVERGED = re.compile(r"loss is (nan|inf|[-0-9.e+]+) at epoch (\d+), step (\d+) \((non-finite [a-z' ]+|"
                      r"a weight changed by [0-9.e+]+, over 1000 x the largest weight: exploding)\): training stopped; "
                      r"the weights are those before that step")
CODE = "__import__('os').system('touch PWNED')"
PAYLOADS = [CODE, "eval(\"__import__('os').system('touch PWNED')\")", "exec('open(\"PWNED\", \"w\")')",
            "os.system", "lambda: open('PWNED', 'w')", "{{ __import__('os').system('touch PWNED') }}",
            "${__import__('os')}", "!!python/object/apply:os.system ['touch PWNED']"]


def _digits(n, offset=0):
    data = load_digits()
    return data.x_train[offset:offset + n].copy(), data.y_train[offset:offset + n].copy()


def dense_model(seed=0):
    return numcnn.Sequential([L.Flatten(input_shape=(8, 8, 1)), L.Dense(16, activation="relu"), L.Dense(10)],
                             seed=seed)


def conv_model(seed=0):
    """Batch norm, dropout, Adam: every kind of state a resume must restore."""
    return numcnn.Sequential([L.Conv2D(4, 3, padding="same", input_shape=(8, 8, 1)), L.BatchNormalization(momentum=0.9),
                              L.ReLU(), L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.25), L.Dense(10)], seed=seed)


MODELS = {"dense": (dense_model, lambda: SGD(0.05)), "conv": (conv_model, lambda: Adam(0.01))}


def compiled(kind, seed=0, optimizer=None):
    make_model, make_optimizer = MODELS[kind]
    model = make_model(seed)
    model.compile(optimizer or make_optimizer(), SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    return model


def state(model) -> dict:
    """Copies of everything a step changes: weights, moving statistics, optimizer slots, step count."""
    arrays = {f"model/{k}": v.copy() for k, v in {**model.params, **model.state}.items()}
    slots, meta = model.optimizer.get_state()
    arrays.update({f"optimizer/{k}": v for k, v in slots.items()})
    arrays["iterations"] = np.array(meta["iterations"])
    return arrays


def assert_same(actual: dict, expected: dict):
    assert sorted(actual) == sorted(expected)
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


class Snapshots(Callback):
    """The model's state at every batch begin and epoch end, by (epoch, step)."""

    def __init__(self):
        self.epoch, self.batch_begin, self.epoch_end = 0, {}, {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.batch_begin[(self.epoch + 1, batch + 1)] = state(self.model)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end[epoch + 1] = state(self.model)


class PoisonBatch:
    """An ``augment`` that returns the batch unchanged (drawing nothing from the generator), except for
    the batch of (epoch, step), where one pixel becomes ``value``."""

    def __init__(self, steps_per_epoch, epoch=None, step=None, value=np.nan):
        self.steps, self.at, self.value, self.calls = steps_per_epoch, (epoch, step), value, 0

    def __call__(self, x, rng):
        self.calls += 1
        epoch, step = divmod(self.calls - 1, self.steps)
        if (epoch + 1, step + 1) == self.at:
            x = x.copy()
            x[len(x) // 2, 4, 4, 0] = self.value
        return x


N, BATCH = 64, 16  # 4 steps per epoch


# -- a non-finite batch in epoch 2 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_runs():
    """Each model trained 3 epochs on clean data: what a resumed run must reproduce exactly."""
    x, y = _digits(N)
    runs = {}
    for kind in MODELS:
        model = compiled(kind)
        model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, augment=PoisonBatch(N // BATCH))
        runs[kind] = state(model)
    return runs


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_non_finite_batch_in_epoch_2_stops_there_and_the_epoch_1_checkpoint_resumes_exactly(
        tmp_path, clean_runs, kind, value, capsys):
    x, y = _digits(N)
    model = compiled(kind)
    snapshots = Snapshots()
    history = model.fit(x, y, batch_size=BATCH, epochs=3, verbose=2, callbacks=[BackupAndRestore(tmp_path), snapshots],
                        augment=PoisonBatch(N // BATCH, epoch=2, step=3, value=value))

    # the stop names the epoch and the step of the bad batch, on stderr too
    match = REASON.fullmatch(model.stop_reason or "")
    assert match, model.stop_reason
    assert (match.group(2), match.group(3)) == ("2", "3")
    assert f"Stopped: {model.stop_reason}" in capsys.readouterr().err
    # the weights, moving statistics and optimizer state are those before that step
    assert_same(state(model), snapshots.batch_begin[(2, 3)])
    assert history.epoch == [0] and len(history.history["loss"]) == 1

    # the checkpoint is the one of epoch 1, and loads
    path = tmp_path / BackupAndRestore.filename
    arrays, meta = load_checkpoint(path)
    assert meta["epoch"] == 1 and meta["history"] == history.history
    assert not list(tmp_path.glob(".*.tmp")), "a temporary checkpoint was left behind"
    fresh = compiled(kind, seed=5)
    fresh.build((None, 8, 8, 1))
    restore_checkpoint(path, fresh)
    assert_same(state(fresh), snapshots.epoch_end[1])

    # resuming from it with clean data ends exactly where a run that never saw the bad batch ends
    resumed = compiled(kind, seed=5)
    resumed.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path)],
                augment=PoisonBatch(N // BATCH))
    assert resumed.stop_reason is None
    assert_same(state(resumed), clean_runs[kind])


# -- non-finite targets ---------------------------------------------------------------------------------------


def test_a_nan_target_is_refused_before_training_naming_y_and_the_sample():
    """fit checks every target once, at its door: a NaN in one-hot row 40 is named there, not blamed on
    the model's output three steps later (the bug this test was written for)."""
    x, y = _digits(N)
    targets = np.eye(10, dtype=np.float32)[y]
    targets[40, 3] = np.nan
    model = dense_model()
    model.compile(SGD(0.05), CategoricalCrossentropy(from_logits=True))
    model.build((None, 8, 8, 1))
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match=r"The `y` argument must contain only finite numbers.*first in sample 40"):
        model.fit(x, targets, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert_same({k: v for k, v in model.params.items()}, before)  # nothing was trained


@pytest.mark.parametrize("bad, message", [(np.nan, r"integer class labels.*Received: y_true\[40\] = nan"),
                                          (12.0, r"labels must be in \[0, 10\).*Received: y_true\[40\] = 12")],
                         ids=["nan", "out-of-range"])
def test_a_bad_label_is_refused_before_training(bad, message):
    x, y = _digits(N)
    labels = y.astype(np.float32)
    labels[40] = bad
    model = dense_model()
    model.compile(SGD(0.05), SparseCategoricalCrossentropy(from_logits=True))
    model.build((None, 8, 8, 1))
    before = state(model)
    with pytest.raises(ValueError, match=message):
        model.fit(x, labels, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert_same(state(model), before)  # refused up front: nothing was trained


# -- an exploding learning rate -------------------------------------------------------------------------------


def test_a_learning_rate_schedule_that_explodes_in_epoch_2_stops_and_the_checkpoint_resumes(tmp_path):
    """StepDecay with gamma 1e15: 0.05 in epoch 1, 5e13 from epoch 2 on; the outputs overflow a step or two later."""
    x, y = _digits(N)
    exploding = schedules.StepDecay(0.05, step_size=N // BATCH, gamma=1e15)
    model = compiled("dense", optimizer=SGD(exploding))
    snapshots = Snapshots()
    with np.errstate(over="ignore", invalid="ignore"):
        model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path), snapshots])
    match = DIVERGED.fullmatch(model.stop_reason or "")
    assert match and match.group(2) == "2", model.stop_reason
    step = int(match.group(3))
    assert_same(state(model), snapshots.batch_begin[(2, step)])
    assert all(np.isfinite(v).all() for v in state(model).values())

    path = tmp_path / BackupAndRestore.filename
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _, meta = load_checkpoint(path)
    assert meta["epoch"] == 1

    # resumed with the same schedule it stops again at the same step; the checkpoint is not touched
    again = compiled("dense", seed=3, optimizer=SGD(schedules.StepDecay(0.05, step_size=N // BATCH, gamma=1e15)))
    with np.errstate(over="ignore", invalid="ignore"):
        again.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    assert again.stop_reason == model.stop_reason
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest

    # resumed with a sane schedule it trains to the end
    sane = compiled("dense", seed=3, optimizer=SGD(schedules.StepDecay(0.05, step_size=N // BATCH, gamma=0.5)))
    history = sane.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    assert sane.stop_reason is None and len(history.history["loss"]) == 3
    assert sane.optimizer.iterations == 3 * N // BATCH


def test_sgd_at_learning_rate_1e6_is_stopped():
    x, y = _digits(256)
    model = compiled("dense", optimizer=SGD(1e6, momentum=0.9))
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert model.stop_reason is not None, f"losses {history.history['loss']}"
    assert re.search(r"epoch \d+, step \d+", model.stop_reason)


# -- the same through the command line ----------------------------------------------------------------------------

QUIET = ("--progress", "quiet")


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    """A finished one-epoch run (SGD 0.05): config.json, checkpoint.safetensors, model.safetensors, ..."""
    out = tmp_path_factory.mktemp("runs") / "one-epoch"
    assert main(["train", "--optimizer", "sgd", "--lr", "0.05", "--epochs", "1", "--out", str(out), *QUIET]) == 0
    return out


def _set_lr(run, lr):
    path = run / "config.json"
    config = json.loads(path.read_text())
    config["training"]["lr"] = lr
    path.write_text(json.dumps(config))


def test_cli_a_diverging_run_exits_3_naming_the_step_and_leaves_no_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--optimizer", "sgd", "--lr", "1e12", "--epochs", "2", "--out", str(out), *QUIET]) == 3
    err = capsys.readouterr().err
    assert re.search(r"numcnn train: error: Training diverged: loss is (nan|inf|[0-9.e+]+) at epoch 1, step \d+", err), err
    assert "no epoch finished, so there is no checkpoint" in err and "Received: --lr 1000000000000.0" in err
    # nothing half-written, no temporary files; the live log ends in the reason
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "live.jsonl"]
    assert json.loads((out / "live.jsonl").read_text().splitlines()[-1])["status"] == "stopped"


def test_cli_learning_rate_1e8_exits_3(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--lr", "1e8", "--epochs", "2", "--batch-size", "64", "--out", str(out), *QUIET])
    assert code == 3, capsys.readouterr().out[-300:]
    assert re.search(r"at epoch \d+, step \d+", capsys.readouterr().err)


def test_cli_a_run_that_explodes_on_resume_keeps_its_checkpoint_and_resumes_to_the_end(one_epoch_run, tmp_path,
                                                                                        capsys):
    """The learning rate in the run's settings is raised to 1e20 (the flags may not change it on --resume), the run
    resumed: it diverges in epoch 2, exits 3 naming the step and the intact checkpoint of epoch 1. With the rate set
    back, the run resumes to the end and ends exactly as a run trained straight through."""
    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)
    checkpoint, model_file = run / BackupAndRestore.filename, run / "model.safetensors"
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (checkpoint, model_file)}
    _set_lr(run, 1e20)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "3", *QUIET]) == 3
    err = capsys.readouterr().err
    assert re.search(r"Training diverged: loss is (nan|inf|[0-9.e+]+) at epoch 2, step \d+ ", err), err
    assert f"the checkpoint of epoch 1 in {run} is intact" in err
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in digests} == digests
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]

    # the checkpoint loads: model and optimizer state
    arrays, meta = load_checkpoint(checkpoint)
    assert meta["epoch"] == 1 and meta["optimizer"]["class_name"] == "SGD"
    model = zoo.simple_convnet((8, 8, 1), 10, seed=9)
    model.compile(SGD(0.05), SparseCategoricalCrossentropy(from_logits=True))
    model.build((None, 8, 8, 1))
    restore_checkpoint(checkpoint, model)
    final_of_epoch_1 = load_model(model_file)
    for name, value in final_of_epoch_1.params.items():
        np.testing.assert_array_equal(model.params[name], value)
    assert model.optimizer.iterations == meta["optimizer"]["state"]["iterations"] > 0

    # back to a sane rate, the run resumes to the end, exactly as one trained straight through
    _set_lr(run, 0.05)
    assert main(["train", "--resume", str(run), "--epochs", "3", *QUIET]) == 0
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 3
    straight = tmp_path / "straight"
    assert main(["train", "--optimizer", "sgd", "--lr", "0.05", "--epochs", "3", "--out", str(straight), *QUIET]) == 0
    resumed, reference = load_model(run / "model.safetensors"), load_model(straight / "model.safetensors")
    for name, value in reference.params.items():
        np.testing.assert_array_equal(resumed.params[name], value, err_msg=name)


# -- unknown names are refused, from every place a file holds them ---------------------------------------------


def _model_file(tmp_path, change=None, name="m.safetensors"):
    """A model file whose metadata ``change(meta)`` may alter first."""
    model = numcnn.Sequential([L.Conv2D(2, 3, activation="relu", input_shape=(5, 5, 1)), L.Flatten(),
                               L.Dense(3, kernel_initializer="he_normal")], seed=0)
    model.build()
    path = tmp_path / name
    save_model(model, path)
    if change is not None:
        _rewrite_meta(path, change)
    return path


def _rewrite_meta(path, change):
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    meta = json.loads(header["__metadata__"]["numcnn"])
    change(meta)
    header["__metadata__"]["numcnn"] = json.dumps(meta)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + size:])


def _layer(meta, i):
    return meta["model_config"]["config"]["layers"][i]


UNKNOWN_LAYERS = ["Lambda", "TFOpLambda", "Functional", "Layer", "Model", "conv2d", "Conv2d",
                  "Dense ", "numcnn.layers.Dense", "__class__", "__init__", "mro", "os.system", CODE]
UNKNOWN_ACTIVATIONS = ["gelu", "swish", "elu", "lambda x: x", "relu;import os", "__class__", CODE, 7, ["relu"]]
UNKNOWN_INITIALIZERS = ["glorot", "orthogonal", "Initializer", "__class__", CODE, {"class_name": "Orthogonal"},
                        {"class_name": "Initializer"}, {"class_name": "__class__"}, {"class_name": CODE}]


@pytest.mark.parametrize("name", UNKNOWN_LAYERS)
def test_a_model_file_naming_an_unknown_layer_is_refused(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    path = _model_file(tmp_path, lambda meta: _layer(meta, 2).update(class_name=name))
    with pytest.raises(FileFormatError, match=r"must name one of \[.*\]\. Received: class_name=") as info:
        load_model(path)
    assert repr(name)[:60] in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ValueError, match="Received: class_name="):
        L.deserialize({"class_name": name, "config": {}})
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("activation", UNKNOWN_ACTIVATIONS, ids=[str(a)[:20] for a in UNKNOWN_ACTIVATIONS])
@pytest.mark.parametrize("where", ["Conv2D", "Dense", "Activation"])
def test_a_model_file_naming_an_unknown_activation_is_refused(tmp_path, monkeypatch, activation, where):
    monkeypatch.chdir(tmp_path)

    def change(meta):
        if where == "Activation":
            meta["model_config"]["config"]["layers"].insert(2, {"class_name": "Activation",
                                                                "config": {"activation": activation}})
        else:
            _layer(meta, 0 if where == "Conv2D" else 2)["config"]["activation"] = activation
    path = _model_file(tmp_path, change)
    with pytest.raises(FileFormatError, match=r"`activation` argument must be None or one of .*Received: activation=") \
            as info:
        load_model(path)
    assert repr(activation)[:40] in str(info.value)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("initializer", UNKNOWN_INITIALIZERS, ids=[str(i)[:24] for i in UNKNOWN_INITIALIZERS])
def test_a_model_file_naming_an_unknown_initializer_is_refused(tmp_path, monkeypatch, initializer):
    monkeypatch.chdir(tmp_path)
    path = _model_file(tmp_path, lambda meta: _layer(meta, 2)["config"].update(kernel_initializer=initializer))
    with pytest.raises(FileFormatError, match=r"`kernel_initializer` argument must be an Initializer or one of .*"
                                              r"Received: kernel_initializer="):
        load_model(path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name", ["LBFGS", "Optimizer", "sgd", "adam", "__class__", "os.system", CODE, None, ["SGD"]],
                         ids=str)
def test_an_unknown_optimizer_is_refused_in_configs_and_checkpoints(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    if isinstance(name, list):  # unhashable: the deserialize-config-type bug of test_fuzz_entry_points
        return
    names = r"\['Adagrad', 'Adam', 'AdamW', 'RMSprop', 'SGD'\]"
    with pytest.raises(ValueError, match=rf"must name one of {names}\. Received"):
        optimizers.deserialize({"class_name": name, "config": {}})
    # a checkpoint made with another optimizer than the model is compiled with
    model = compiled("dense")
    model.build((None, 8, 8, 1))
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, model, epoch=1, history={})
    _rewrite_meta(path, lambda meta: meta["optimizer"].update(class_name=name))
    with pytest.raises(FileFormatError, match=r"made with optimizer .* compiled with SGD\. Received"):
        restore_checkpoint(path, compiled("dense"))
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name", ["CosineDecayRestarts", "LearningRateSchedule", "PolynomialDecay", "__class__",
                                  CODE, "0.1"])
def test_an_unknown_schedule_is_refused(name):
    with pytest.raises(ValueError, match=r"must name one of \['CosineDecay', 'ExponentialDecay', 'FineTuneSchedule', 'StepDecay'\]\. "
                                         r"Received"):
        schedules.deserialize({"class_name": name, "config": {}})
    with pytest.raises(ValueError, match="Received"):
        optimizers.deserialize({"class_name": "SGD", "config": {"learning_rate": {"class_name": name}}})


@pytest.mark.parametrize("name", ["Huber", "Loss", "BinaryCrossentropy", "__class__", CODE])
def test_an_unknown_loss_is_refused(name):
    with pytest.raises(ValueError, match=r"must name one of .*Received"):
        losses.deserialize({"class_name": name, "config": {}})
    with pytest.raises(ValueError, match=r"The `loss` argument must be a Loss or one of .*Received: loss="):
        losses.get(name)


def test_a_run_config_naming_an_unknown_optimizer_is_refused(one_epoch_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)
    config = json.loads((run / "config.json").read_text())
    config["training"]["optimizer"] = CODE
    (run / "config.json").write_text(json.dumps(config))
    assert main(["train", "--resume", str(run), "--epochs", "2", *QUIET]) == 2
    err = capsys.readouterr().err
    assert "argument --optimizer: must be one of" in err and "Received" in err
    assert not (tmp_path / "PWNED").exists()


# -- code in every string of a file is never run ---------------------------------------------------------------


def _string_paths(tree, path=()):
    if isinstance(tree, str):
        yield path
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from _string_paths(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _string_paths(value, (*path, i))


def _set(tree, path, value):
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


def _outcome(call):
    try:
        return call(), None
    except Exception as error:  # noqa: BLE001
        return None, error


def _assert_data_or_refused(error, path):
    """Loading either worked (the string was data, e.g. a name) or failed with a clear error naming the file."""
    if error is not None:
        assert isinstance(error, (FileFormatError, ValueError)), f"{type(error).__name__}: {error}"
        assert str(path) in str(error) and "Received" in str(error), str(error)


def test_code_in_any_string_of_a_model_file_is_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = _model_file(tmp_path)
    _, meta = load_arrays(base)
    paths = list(_string_paths(meta))
    assert len(paths) > 20  # class names, activations, initializers, names, dtypes, padding, formats...
    for i, where in enumerate(paths):
        for payload in PAYLOADS:
            path = tmp_path / f"m{i}.safetensors"
            shutil.copy(base, path)
            _rewrite_meta(path, lambda meta, where=where, payload=payload: _set(meta, where, payload))
            for loader in (load_model, load, lambda p: load(p, model=numcnn.Sequential([L.Dense(3)]))):
                _, error = _outcome(lambda: loader(path))
                _assert_data_or_refused(error, path)
            assert not (tmp_path / "PWNED").exists(), (where, payload)


def test_code_in_any_string_of_a_checkpoint_is_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = compiled("conv", optimizer=Adam(schedules.CosineDecay(0.01, 10)))
    x, y = _digits(16)
    model.train_on_batch(x, y)
    base = tmp_path / "c.safetensors"
    save_checkpoint(base, model, epoch=1, history={"loss": [1.0]}, data_rng=np.random.default_rng(0))
    _, meta = load_arrays(base)
    paths = list(_string_paths(meta))
    assert len(paths) > 10
    for i, where in enumerate(paths):
        for payload in PAYLOADS[:3]:
            path = tmp_path / f"c{i}.safetensors"
            shutil.copy(base, path)
            _rewrite_meta(path, lambda meta, where=where, payload=payload: _set(meta, where, payload))
            fresh = compiled("conv", optimizer=Adam(0.01))
            fresh.build((None, 8, 8, 1))
            _, error = _outcome(lambda: restore_checkpoint(path, fresh, np.random.default_rng(1)))
            _assert_data_or_refused(error, path)
            assert not (tmp_path / "PWNED").exists(), (where, payload)


def test_code_in_any_string_of_a_run_config_is_never_run(one_epoch_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)
    (run / "model.safetensors").unlink()  # so the model is rebuilt from config.json and the checkpoint
    good = json.loads((run / "config.json").read_text())
    paths = [p for p in _string_paths(good) if p[:1] in (("model",), ("dataset",), ("optimizer",), ("loss",))]
    assert len(paths) > 20
    for where in paths:
        config = copy.deepcopy(good)
        _set(config, where, CODE)
        (run / "config.json").write_text(json.dumps(config))
        for command in (["summary", str(run)], ["evaluate", str(run)]):
            code, error = _outcome(lambda: main(command))
            assert error is None, f"{where}: a traceback: {type(error).__name__}: {error}"
            assert code in (0, 2)
            if code == 2:
                assert "Received" in capsys.readouterr().err
        assert not (tmp_path / "PWNED").exists(), where


# -- pickle payloads are never unpickled -------------------------------------------------------------------------


class Trap:
    """Unpickling this creates ``marker``: proof that a loader ran pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickle_placements(tmp_path, marker):
    blob = pickle.dumps(Trap(marker), protocol=2)
    text = blob.decode("latin-1")
    b64 = __import__("base64").b64encode(blob).decode()
    base = _model_file(tmp_path, name="base.safetensors")
    files = {}

    def variant(name, change=None, extra_metadata=None, extra_tensor=False):
        path = tmp_path / f"{name}.safetensors"
        shutil.copy(base, path)
        if change is not None:
            _rewrite_meta(path, change)
        raw = path.read_bytes()
        (size,) = struct.unpack("<Q", raw[:8])
        header, body = json.loads(raw[8:8 + size]), raw[8 + size:]
        if extra_metadata is not None:
            header["__metadata__"].update(extra_metadata)
        if extra_tensor:
            header["conv2d/pickle"] = {"dtype": "U8", "shape": [len(blob)], "data_offsets": [len(body),
                                                                                               len(body) + len(blob)]}
            body += blob
        encoded = json.dumps(header).encode()
        path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + body)
        files[name] = path

    variant("metadata-instead-of-json", extra_metadata={"numcnn": text})
    variant("metadata-extra-key", extra_metadata={"pickle": text, "pytorch": b64})
    variant("in-model-config", change=lambda meta: meta.update(model_config=b64))
    variant("in-history", change=lambda meta: meta.update(history={"loss": text}))
    variant("as-a-tensor", extra_tensor=True)
    raw_pickle = tmp_path / "raw-pickle.safetensors"
    raw_pickle.write_bytes(blob)
    files["a-pickle-file"] = raw_pickle
    return files


def test_pickle_payloads_in_safetensors_files_are_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "UNPICKLED"
    pickle.loads(pickle.dumps(Trap(marker)))  # the trap works
    assert marker.exists()
    marker.unlink()
    for name, path in _pickle_placements(tmp_path, marker).items():
        for loader in (load_model, load, load_checkpoint, load_arrays,
                       lambda p: load_weights(_model_file(tmp_path, name="target.safetensors") and
                                              load_model(tmp_path / "target.safetensors"), p)):
            _, error = _outcome(lambda: loader(path))
            _assert_data_or_refused(error, path)
        assert not marker.exists(), f"{name}: a loader unpickled the payload"


def test_a_pickled_kernel_file_through_the_command_line_is_refused_and_never_unpickled(tmp_path, monkeypatch, capsys):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "UNPICKLED"
    kernel = tmp_path / "evil.npy"
    np.save(kernel, np.array([[Trap(marker), 1.0]], dtype=object), allow_pickle=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "image.png")
    code = main(["filter", str(tmp_path / "image.png"), "--kernel-file", str(kernel), "--out", str(tmp_path / "o.png")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"numcnn filter: error: {kernel}: cannot read a kernel" in err and "Received" in err
    assert not marker.exists() and not (tmp_path / "o.png").exists()


# -- the source: no pickle, no eval, no dynamic imports ------------------------------------------------------------

UNSAFE_CODE = {
    "a pickle-like module": re.compile(r"\b(c?pickle|_pickle|dill|cloudpickle|joblib|shelve|marshal)\b", re.IGNORECASE),
    "eval": re.compile(r"(?<![\w.])eval\b"),
    "exec": re.compile(r"(?<![\w.])exec\b"),
    "builtin compile(": re.compile(r"(?<![\w.])(?<!def )compile\s*\("),
    "__import__(": re.compile(r"__import__\s*\("),
    "import_module(": re.compile(r"\bimport_module\s*\("),
    "allow_pickle other than False": re.compile(r"allow_pickle\s*=(?!\s*False\b)"),
    "torch.load(": re.compile(r"\btorch\s*\.\s*load\s*\("),
    "yaml.load(": re.compile(r"\byaml\s*\.\s*(unsafe_)?load\s*\("),
}


def code_without_comments_and_strings(source: str) -> str:
    """``source`` with every comment and string literal (docstrings too) blanked out, positions kept."""
    lines = source.splitlines(keepends=True)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in (tokenize.COMMENT, tokenize.STRING):
            continue
        (row, col), (end_row, end_col) = token.start, token.end
        for r in range(row, end_row + 1):
            line = lines[r - 1]
            start = col if r == row else 0
            stop = end_col if r == end_row else len(line.rstrip("\n"))
            lines[r - 1] = line[:start] + " " * (stop - start) + line[stop:]
    return "".join(lines)


def unsafe_code(source: str) -> list:
    code = code_without_comments_and_strings(source)
    found = [what for what, pattern in UNSAFE_CODE.items() if pattern.search(code)]
    for call in re.finditer(r"\bnp\.load\s*\(", code):  # np.load must say allow_pickle=False itself
        if not re.match(r"[^)]*allow_pickle\s*=\s*False", code[call.end():]):
            found.append("np.load( without allow_pickle=False")
    return found


def _numcnn_sources():
    root = Path(numcnn.__file__).parent
    sources = sorted(root.rglob("*.py"))
    assert len(sources) > 30 and root / "models" / "saving.py" in sources
    return sources


def test_the_numcnn_source_never_unpickles_evals_or_imports_by_name():
    offences = {str(path): unsafe_code(path.read_text(encoding="utf-8")) for path in _numcnn_sources()}
    assert {path: found for path, found in offences.items() if found} == {}


@pytest.mark.parametrize("source", [
    "import pickle", "from cPickle import loads", "import dill as d", "x = marshal.loads(b)", "eval(text)",
    "exec(code)", "code = compile(text, 'f', 'exec')", "m = __import__(name)", "importlib.import_module(name)",
    "np.load(path, allow_pickle=True)", "np.load(path)", "np.load(path, allow_pickle=flag)", "torch.load(f)",
    "yaml.load(text)", "f = eval\nf(x)"])
def test_the_source_scan_can_fail(source):
    assert unsafe_code(source)


@pytest.mark.parametrize("source", [
    "'''no pickle, no eval(...)'''", "# never eval( or exec(\nx = 1", "model.compile(opt, loss)",
    "np.load(path, allow_pickle=False)", "message = 'allow_pickle=True is refused'", "ast.literal_eval(text)",
    "evaluate(model)", "self.exec_count = 0"])
def test_the_source_scan_accepts_safe_code(source):
    assert unsafe_code(source) == []


def test_loading_never_calls_pickle_or_eval(tmp_path, monkeypatch):
    """Whatever the source says, no loader reaches pickle.loads / pickle.load / eval / exec at run time."""
    import builtins

    calls = []

    def spy(name, original):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)
        return wrapper

    for module, name in ((pickle, "loads"), (pickle, "load"), (pickle, "Unpickler"), (builtins, "eval"),
                         (builtins, "exec")):
        monkeypatch.setattr(module, name, spy(f"{module.__name__}.{name}", getattr(module, name)))
    path = _model_file(tmp_path)
    model = load_model(path)
    load(path)
    load_weights(model, path)
    checkpoint = tmp_path / "c.safetensors"
    trained = compiled("dense")
    trained.build((None, 8, 8, 1))
    save_checkpoint(checkpoint, trained, epoch=1, history={"loss": [1.0]})
    restore_checkpoint(checkpoint, compiled("dense"))
    model_from_config({"class_name": "Sequential", "config": model.get_config()}, [5, 5, 1])
    assert calls == []
