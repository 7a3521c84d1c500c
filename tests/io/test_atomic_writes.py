"""Atomic writes (a failure midway leaves the previous file and no temporary file) and no pickle anywhere."""

import ast
import errno
import os
from pathlib import Path

import numpy as np
import pytest

import numcnn
from numcnn import Sequential
from numcnn.io import load_arrays, save_model, save_weights, write_bytes_atomic, write_text_atomic
from numcnn.utils import files
from numcnn.layers import Dense, Flatten
from numcnn.training import CSVLogger, load_checkpoint, save_checkpoint


def small_model(seed=0):
    model = Sequential([Flatten(input_shape=(3, 3, 1)), Dense(4), Dense(2)], seed=seed)
    model.build((None, 3, 3, 1))
    return model


class FailingWriter:
    """Stands in for the file object of ``open(tmp, "wb")``: writes ``limit`` bytes, then raises ``error``."""

    def __init__(self, real, limit, error, log):
        self.real, self.limit, self.error, self.log = real, limit, error, log

    def write(self, data):
        self.real.write(data[:self.limit])
        self.real.flush()
        self.log.append((self.real.name, os.path.getsize(self.real.name)))
        raise self.error

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def fail_midway(monkeypatch, error, limit=20):
    """Make the next atomic write raise ``error`` after ``limit`` bytes; returns the log of (temp path, size)."""
    log = []
    real_open = open

    def fake_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return FailingWriter(handle, limit, error, log) if mode == "wb" else handle

    monkeypatch.setattr(files, "open", fake_open, raising=False)  # shadows the builtin inside numcnn.io.files
    return log


WRITES = {
    "save_weights": lambda model, path: save_weights(model, path),
    "save_model": lambda model, path: save_model(model, path),
    "save_checkpoint": lambda model, path: save_checkpoint(path, model, epoch=1, history={}),
}


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk full", "interrupt"])
@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_failing_midway_keeps_the_previous_file(tmp_path, monkeypatch, write, error):
    path = tmp_path / "file.safetensors"
    WRITES[write](small_model(seed=0), path)
    previous = path.read_bytes()

    log = fail_midway(monkeypatch, error)
    with pytest.raises(type(error)):
        WRITES[write](small_model(seed=1), path)
    [(temporary, size)] = log
    assert size == 20 and Path(temporary).parent == tmp_path and Path(temporary) != path  # it did write, elsewhere
    assert path.read_bytes() == previous
    assert sorted(os.listdir(tmp_path)) == ["file.safetensors"]  # the temporary file is gone

    monkeypatch.undo()
    WRITES[write](small_model(seed=1), path)  # and the next write works
    assert path.read_bytes() != previous


def test_a_failing_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, small_model(seed=0), epoch=1, history={"loss": [1.0]})
    previous = path.read_bytes()
    replaced = []

    def failing_replace(src, dst):
        replaced.append((src, dst))
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(OSError, match="cross-device"):
        save_checkpoint(path, small_model(seed=1), epoch=2, history={"loss": [1.0, 0.5]})
    monkeypatch.undo()
    assert len(replaced) == 1 and os.fspath(replaced[0][1]) == os.fspath(path)
    assert path.read_bytes() == previous
    assert load_checkpoint(path)[1]["epoch"] == 1
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_a_failing_rename_of_a_new_file_leaves_nothing(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_text_atomic(tmp_path / "log.csv", "epoch,loss\n0,1.0\n")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_csv_logger_writes_atomically(tmp_path, monkeypatch):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,1.5\n")
    logger = CSVLogger(path, append=True)
    logger.on_train_begin()
    fail_midway(monkeypatch, OSError(errno.EIO, "I/O error"), limit=5)
    with pytest.raises(OSError):
        logger.on_epoch_end(1, {"loss": 0.75})
    assert path.read_text() == "epoch,loss\n0,1.5\n"
    assert os.listdir(tmp_path) == ["log.csv"]


def test_atomic_write_round_trip_and_new_directories(tmp_path):
    target = tmp_path / "a" / "b" / "data.bin"
    write_bytes_atomic(target, b"\x00\x01binary")
    assert target.read_bytes() == b"\x00\x01binary"
    write_text_atomic(target, "tekst ü")
    assert target.read_text(encoding="utf-8") == "tekst ü"
    assert os.listdir(target.parent) == ["data.bin"]


def test_atomic_path_removes_the_temporary_file_on_error(tmp_path):
    target = tmp_path / "plot.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), files.atomic_path(target) as tmp:
        Path(tmp).write_bytes(b"half")
        raise RuntimeError("figure failed")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["plot.png"]


def test_saved_arrays_are_exact(tmp_path):
    model = small_model()
    path = tmp_path / "w.safetensors"
    save_weights(model, path)
    arrays, _ = load_arrays(path)
    for name, value in {**model.params, **model.state}.items():
        assert arrays[name].dtype == value.dtype
        np.testing.assert_array_equal(arrays[name], value)


# -- no pickle ---------------------------------------------------------------------------------------------------

UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _sources():
    root = Path(numcnn.__file__).parent
    found = sorted(root.rglob("*.py"))
    assert len(found) > 20 and root / "utils" / "arrays.py" in found
    return found


def unsafe_uses(source, filename="<source>"):
    """Imports of pickle-like modules, ``allow_pickle=...``, ``torch.load`` and ``eval``/``exec`` calls in ``source``."""
    offences = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        offences += [f"{filename}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
        if isinstance(node, ast.keyword) and node.arg == "allow_pickle" and not (
                isinstance(node.value, ast.Constant) and node.value.value is False):  # only an explicit False is safe
            offences.append(f"{filename}:{node.value.lineno} passes allow_pickle")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
            offences.append(f"{filename}:{node.lineno} calls torch.load")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
            offences.append(f"{filename}:{node.lineno} calls {node.func.id}")
    return offences


def test_nothing_in_numcnn_uses_pickle():
    offences = [o for path in _sources() for o in unsafe_uses(path.read_text(encoding="utf-8"), str(path))]
    assert offences == []


@pytest.mark.parametrize("source", [
    "import pickle", "import os, cPickle as cp", "from pickle import loads", "from joblib import load",
    "import numpy as np\nnp.load('x', allow_pickle=True)", "import numpy as np\nnp.load('x', allow_pickle=flag)",
    "import torch\ntorch.load('m.pt')", "eval('1')",
])
def test_the_pickle_check_can_fail(source):
    assert len(unsafe_uses(source)) == 1


def test_an_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    from numcnn.io import write_text_atomic

    path = tmp_path / "shared.txt"
    path.write_text("old")
    os.chmod(path, 0o640)
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o640


def test_the_pickle_check_accepts_an_explicit_refusal():
    assert unsafe_uses("import numpy as np\nnp.load('x', allow_pickle=False)") == []
