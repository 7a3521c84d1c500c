"""Corrupted, truncated, foreign and newer files: always a FileFormatError that names the file."""

import json
import struct

import numpy as np
import pytest

from numcnn import Sequential
from numcnn.io import FileFormatError, load_arrays, load_model, load_weights, save_arrays, save_model, save_weights
from numcnn.layers import BatchNormalization, Dense, Flatten
from numcnn.training import load_checkpoint, save_checkpoint


def small_model(seed=0):
    model = Sequential([Flatten(input_shape=(3, 3, 1)), Dense(4), BatchNormalization(), Dense(2)], seed=seed)
    model.build((None, 3, 3, 1))
    return model


def _weights_of(model):
    return {k: v.copy() for k, v in {**model.params, **model.state}.items()}


@pytest.fixture
def files(tmp_path):
    """A good weights file, model file and checkpoint, as bytes."""
    model = small_model()
    save_weights(model, tmp_path / "w.safetensors")
    save_model(model, tmp_path / "m.safetensors")
    save_checkpoint(tmp_path / "c.safetensors", model, epoch=1, history={"loss": [1.0]})
    return {kind: (tmp_path / f"{kind[0]}.safetensors").read_bytes() for kind in ("weights", "model", "checkpoint")}


LOADERS = {
    "weights": lambda path: load_weights(small_model(seed=1), path),
    "model": load_model,
    "checkpoint": load_checkpoint,
}


def _assert_rejected(kind, path, match=None):
    with pytest.raises(FileFormatError, match=match) as info:
        LOADERS[kind](path)
    assert str(path) in str(info.value)
    assert "Received" in str(info.value)
    return str(info.value)


def _header(obj, data=b""):
    text = json.dumps(obj).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_good_files_load(tmp_path, files):
    for kind, raw in files.items():
        path = tmp_path / "good.safetensors"
        path.write_bytes(raw)
        LOADERS[kind](path)


def test_truncated_weights_file_at_every_length(tmp_path, files):
    raw = files["weights"]
    target = small_model(seed=1)
    before = _weights_of(target)
    for length in range(len(raw)):
        path = tmp_path / f"cut{length}.safetensors"  # a new file each time: truncating one file is slow
        path.write_bytes(raw[:length])
        with pytest.raises(FileFormatError) as info:
            load_weights(target, path)
        assert str(path) in str(info.value), length
    for name, value in _weights_of(target).items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_truncated_model_and_checkpoint_files(tmp_path, files, kind):
    raw = files[kind]
    for length in sorted({0, 1, 7, 8, 9, 50, len(raw) // 2, len(raw) - 8, len(raw) - 1}):
        path = tmp_path / f"cut{length}.safetensors"
        path.write_bytes(raw[:length])
        _assert_rejected(kind, path)


@pytest.mark.parametrize("kind", sorted(LOADERS))
@pytest.mark.parametrize("seed", range(4))
def test_random_bytes(tmp_path, kind, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / "noise.safetensors"
    path.write_bytes(rng.bytes(int(rng.integers(1, 3000))))
    _assert_rejected(kind, path)
    # a plausible header length followed by noise
    noise = rng.bytes(500)
    path.write_bytes(struct.pack("<Q", 400) + noise)
    _assert_rejected(kind, path)


@pytest.mark.parametrize("size", [2 ** 40, 2 ** 64 - 1, 100])
def test_header_length_larger_than_the_file(tmp_path, size):
    path = tmp_path / "big.safetensors"
    path.write_bytes(struct.pack("<Q", size) + b'{"__metadata__": {}}')
    message = _assert_rejected("weights", path, match="truncated safetensors file")
    assert f"the header says {size} bytes" in message


@pytest.mark.parametrize("raw, match", [
    (_header([1, 2]), "corrupted safetensors header"),
    (_header("text"), "corrupted safetensors header"),
    (struct.pack("<Q", 4) + b"\xff\xfe{}", "corrupted safetensors header"),
    (struct.pack("<Q", 5) + b'{"a":', "corrupted safetensors header"),
    (_header({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8), "corrupted or truncated"),
    (_header({"__metadata__": {"numcnn": "{not json"}}), "corrupted numcnn metadata"),
    (_header({"__metadata__": {"numcnn": "[1, 2]"}}), "not a numcnn file"),
    (_header({"__metadata__": {"other": "x"}}), "not a numcnn file"),
])
def test_corrupted_headers(tmp_path, raw, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw)
    for kind in LOADERS:
        _assert_rejected(kind, path, match=match)


def test_a_safetensors_file_from_elsewhere(tmp_path):
    from safetensors.numpy import save_file

    model = small_model()
    path = tmp_path / "foreign.safetensors"
    save_file({k: v for k, v in {**model.params, **model.state}.items()}, str(path))  # the right names, no metadata
    for kind in LOADERS:
        _assert_rejected(kind, path, match="not a numcnn file")
    save_file({"w": np.zeros(3, np.float32)}, str(path), metadata={"format": "pt"})
    for kind in LOADERS:
        _assert_rejected(kind, path, match="not a numcnn file")


@pytest.mark.parametrize("kind, file_format", [("weights", "numcnn.weights"), ("model", "numcnn.model"),
                                               ("checkpoint", "numcnn.checkpoint")])
def test_newer_format_version(tmp_path, files, kind, file_format):
    path = tmp_path / "new.safetensors"
    path.write_bytes(files[kind])
    arrays, meta = load_arrays(path)
    save_arrays(path, arrays, {**meta, "format_version": 2})
    message = _assert_rejected(kind, path)
    assert "Received: 2" in message or "Received: format_version=2" in message
    if kind != "checkpoint":
        assert "newer numcnn" in message


def test_weights_file_of_another_kind(tmp_path, files):
    path = tmp_path / "c.safetensors"
    path.write_bytes(files["checkpoint"])
    _assert_rejected("weights", path, match="not a numcnn model or weights file. Received: format='numcnn.checkpoint'")


def test_missing_file_and_directory(tmp_path):
    for kind in LOADERS:
        _assert_rejected(kind, tmp_path / "nothing.safetensors", match="cannot read the file")
        # numcnn.load of a directory looks for a run's model.safetensors in it
        _assert_rejected(kind, tmp_path, match="directory without model.safetensors" if kind == "model"
                         else "cannot read the file")


@pytest.mark.parametrize("config", [
    {"class_name": "Sequential", "config": {"name": "m", "layers": [{"class_name": "os.system", "config": {}}]}},
    {"class_name": "Sequential", "config": {"name": "m", "layers": [{"class_name": "Dense", "config": {"units": 2,
                                                                                                    "evil": 1}}]}},
    {"class_name": "Sequential", "config": None},
    {"class_name": "Functional", "config": {}},
    None,
])
def test_model_file_with_a_bad_config(tmp_path, files, config):
    path = tmp_path / "m.safetensors"
    path.write_bytes(files["model"])
    arrays, meta = load_arrays(path)
    save_arrays(path, arrays, {**meta, "model_config": config})
    _assert_rejected("model", path, match="config")


@pytest.mark.parametrize("where", ["header", "numcnn metadata"])
def test_deeply_nested_json(tmp_path, where):
    path = tmp_path / "deep.safetensors"
    if where == "header":
        path.write_bytes(struct.pack("<Q", 100_000) + b"[" * 100_000)
    else:
        path.write_bytes(_header({"__metadata__": {"numcnn": "[" * 100_000}}))
    _assert_rejected("weights", path)
