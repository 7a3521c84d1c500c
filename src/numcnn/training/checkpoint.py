"""Training checkpoints: everything needed to continue a run exactly where it stopped.

One safetensors file holds the model's arrays (``model/...``), the optimizer's
slots (``optimizer/...``) and, as JSON metadata, the number of finished epochs,
the optimizer's config and step count, the history so far, and the state of
every random generator (each layer's, the data shuffler's). It is written
atomically, so a crash during the write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import numpy as np

from ..utils.arrays import FileFormatError, load_arrays, save_arrays
from . import optimizers

FORMAT = "numcnn.checkpoint"
FORMAT_VERSION = 1


def arrays_under(arrays: dict, prefix: str) -> dict:
    """The arrays whose names start with ``prefix`` (``"model/"``, ``"optimizer/"``), without it."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def rng_states(model) -> dict:
    """JSON-friendly bit-generator states of the model's and every layer's Generator, by path."""
    return {path: rng.bit_generator.state for path, rng in model.random_generators().items()}


def set_rng_state(rng: np.random.Generator, state: dict, source: str) -> None:
    if not isinstance(state, dict) or state.get("bit_generator") != type(rng.bit_generator).__name__:
        raise FileFormatError(
            f"{source}: random generator state for {type(rng.bit_generator).__name__} expected. "
            f"Received: {str(state)[:80]}")
    rng.bit_generator.state = state


def set_rng_states(model, states: dict, source: str) -> None:
    """Put back what :func:`rng_states` returned into the model's and its layers' Generators."""
    generators = model.random_generators()
    for path, state in states.items():
        if path in generators:
            set_rng_state(generators[path], state, source)


def save_checkpoint(path, model, *, epoch: int, history: dict, data_rng=None, optimizer=None, extra=None) -> None:
    """Write a checkpoint of ``model`` and its ``optimizer`` (default: the one it was compiled with)
    after ``epoch`` finished epochs."""
    optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
    arrays = {f"model/{k}": v for k, v in model.named_weights().items()}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "epoch": int(epoch), "history": history,
            "rngs": rng_states(model), "data_rng": None if data_rng is None else data_rng.bit_generator.state,
            "extra": extra or {}}
    if optimizer is not None:
        slots, state = optimizer.get_state()
        arrays.update({f"optimizer/{k}": v for k, v in slots.items()})
        meta["optimizer"] = {**optimizers.serialize(optimizer), "state": state}
    save_arrays(path, arrays, meta)


def load_checkpoint(path) -> tuple[dict, dict]:
    """``(arrays, meta)`` of a checkpoint file, after checking its kind and version."""
    arrays, meta = load_arrays(path, FORMAT)
    if not isinstance(meta.get("format_version"), int) or meta["format_version"] > FORMAT_VERSION:
        raise FileFormatError(f"{path}: checkpoint format version {FORMAT_VERSION} or older expected. "
                              f"Received: {meta.get('format_version')!r}")
    if not isinstance(meta.get("epoch"), int) or meta["epoch"] < 0 or not isinstance(meta.get("history"), dict):
        raise FileFormatError(f"{path}: checkpoint metadata lacks a valid epoch and history. Received: {str(meta)[:80]}")
    return arrays, meta


def _restore_training_state(model, optimizer, arrays, meta, data_rng, source) -> None:
    """The optimizer's slots and step, and every random generator, from a checkpoint."""
    saved = meta.get("optimizer")
    if optimizer is not None and saved is not None:
        if saved.get("class_name") != type(optimizer).__name__:
            raise FileFormatError(
                f"{source}: the checkpoint was made with optimizer {saved.get('class_name')}, the model is compiled "
                f"with {type(optimizer).__name__}. Received: {saved.get('class_name')}")
        optimizer.set_state(arrays_under(arrays, "optimizer/"), saved.get("state", {}))
    set_rng_states(model, meta.get("rngs", {}), source)
    if data_rng is not None and meta.get("data_rng") is not None:
        set_rng_state(data_rng, meta["data_rng"], source)


def restore_checkpoint(path, model, data_rng=None, optimizer=None) -> dict:
    """Load a checkpoint into a built ``model``, its ``optimizer`` (default: the one it was compiled
    with) and ``data_rng``; return its metadata.

    All or nothing: a checkpoint that fails to restore part way (a corrupted optimizer or generator
    state) leaves the model, the optimizer and the generators as they were.
    """
    optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
    source = str(path)
    arrays, meta = load_checkpoint(path)
    before = _current_state(model, optimizer, data_rng)
    try:
        model.assign_weights(arrays_under(arrays, "model/"), source)
        try:  # the metadata is a file's JSON: any structure it should not have means a corrupted file
            _restore_training_state(model, optimizer, arrays, meta, data_rng, source)
        except FileFormatError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as e:
            raise FileFormatError(
                f"{source}: corrupted training state (optimizer or random generators) in the checkpoint "
                f"({type(e).__name__}: {e}). Received: a checkpoint that does not restore") from None
    except BaseException:
        _put_back(model, optimizer, data_rng, before)
        raise
    return meta


def _current_state(model, optimizer, data_rng):
    """Copies of what :func:`restore_checkpoint` may change."""
    weights = {k: v.copy() for k, v in model.named_weights().items()}
    return (weights, None if optimizer is None else optimizer.get_state(), rng_states(model),
            None if data_rng is None else data_rng.bit_generator.state)


def _put_back(model, optimizer, data_rng, state) -> None:
    weights, optimizer_state, rngs, data_state = state
    for name, array in model.named_weights().items():
        array[...] = weights[name]
    if optimizer is not None:
        optimizer.set_state(*optimizer_state)
    set_rng_states(model, rngs, "the state before the restore")
    if data_rng is not None:
        data_rng.bit_generator.state = data_state
