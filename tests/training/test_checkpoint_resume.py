"""Checkpoints: an interrupted run resumed in a fresh process ends bit-identical to an uninterrupted one.

The model has Dropout (layer Generator), BatchNormalization (moving statistics), RandomShift augmentation and
shuffling (data Generator), Adam (slots, step count) and a cosine schedule (the rate depends on the step):
each of these must be saved and restored, and the sabotage tests show that losing any one changes the result.
"""

import numpy as np
import pytest
from _fit_helpers import (
    Recorder,
    arrays_differ,
    assert_arrays_equal,
    compiled,
    conv_model,
    dense_model,
    digits,
    snapshot,
)

from numcnn.data import RandomShift
from numcnn.io import FileFormatError, load_arrays, load_weights, save_arrays, save_weights
from numcnn.layers import BatchNormalization, Dropout
from numcnn.losses import SparseCategoricalCrossentropy
from numcnn.optimizers import SGD, Adam
from numcnn.schedules import CosineDecay
from numcnn.training import BackupAndRestore, Callback, load_checkpoint, restore_checkpoint, save_checkpoint

EPOCHS, BATCH, N = 4, 16, 64  # 4 steps per epoch, 16 in all


def new_run():
    """A fresh model and optimizer, as a restarted process would build them."""
    return compiled(conv_model(seed=0), Adam(CosineDecay(0.02, decay_steps=EPOCHS * N // BATCH)))


def train(model, epochs=EPOCHS, callbacks=(), **kwargs):
    x, y = digits(N)
    return model.fit(x, y, epochs=epochs, batch_size=BATCH, augment=RandomShift(1), verbose=0,
                     callbacks=list(callbacks), **kwargs)


def final_state(model):
    slots, meta = model.optimizer.get_state()
    return {**{f"model/{k}": v for k, v in snapshot(model).items()}, **{f"optimizer/{k}": v for k, v in slots.items()},
            "iterations": np.array(meta["iterations"])}


@pytest.fixture(scope="module")
def uninterrupted():
    model = new_run()
    history = train(model)
    return final_state(model), history.history


class InterruptAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def interrupt_after_two_epochs(backup_dir, how):
    model = new_run()
    if how == "KeyboardInterrupt":
        with pytest.raises(KeyboardInterrupt):
            train(model, callbacks=[BackupAndRestore(backup_dir), InterruptAfter(1)])
    else:  # a first fit of 2 epochs, then a new fit of 4
        train(model, epochs=2, callbacks=[BackupAndRestore(backup_dir, delete_checkpoint=False)])
    return model


@pytest.mark.parametrize("how", ["KeyboardInterrupt", "epochs=2"])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, uninterrupted, how):
    expected_state, expected_history = uninterrupted
    first = interrupt_after_two_epochs(tmp_path, how)
    _, meta = load_checkpoint(tmp_path / BackupAndRestore.filename)
    assert meta["epoch"] == 2
    assert arrays_differ(final_state(first), expected_state)  # two epochs are missing

    resumed = new_run()
    recorder = Recorder()
    history = train(resumed, callbacks=[BackupAndRestore(tmp_path), recorder])
    assert_arrays_equal(final_state(resumed), expected_state)  # weights, moving statistics, Adam slots and step
    assert [a for h, a in recorder.calls if h == "epoch_begin"] == [2, 3]
    assert history.epoch == [0, 1, 2, 3]
    for key, values in expected_history.items():
        if key != "seconds":
            assert history.history[key] == values, key
    assert len(history.history["seconds"]) == 4
    assert not (tmp_path / BackupAndRestore.filename).exists()  # deleted after a normal end


def _dropout(model):
    return next(layer for layer in model.layers if isinstance(layer, Dropout))


def _batch_norm(model):
    return next(layer for layer in model.layers if isinstance(layer, BatchNormalization))


SABOTAGE = {
    "nothing": lambda model: None,
    "optimizer slots": lambda model: model.optimizer.slots.clear(),
    "optimizer step": lambda model: setattr(model.optimizer, "iterations", 0),
    "data generator": lambda model: setattr(model.fit_state.data_rng.bit_generator, "state",
                                            np.random.default_rng(99).bit_generator.state),
    "dropout generator": lambda model: setattr(_dropout(model), "_rng", np.random.default_rng(99)),
    "moving statistics": lambda model: [array.fill(value) for value, array in
                                        zip((0.0, 1.0), _batch_norm(model).state.values())],
}


class Sabotage(Callback):
    """Runs after BackupAndRestore's restore and undoes one part of it."""

    def __init__(self, undo):
        self.undo = undo

    def on_train_begin(self, logs=None):
        self.undo(self.model)


@pytest.mark.parametrize("lost", sorted(SABOTAGE))
def test_losing_any_part_of_the_checkpoint_changes_the_result(tmp_path, uninterrupted, lost):
    expected_state, _ = uninterrupted
    interrupt_after_two_epochs(tmp_path, "KeyboardInterrupt")
    resumed = new_run()
    train(resumed, callbacks=[BackupAndRestore(tmp_path), Sabotage(SABOTAGE[lost])])
    if lost == "nothing":
        assert_arrays_equal(final_state(resumed), expected_state)
    else:
        assert arrays_differ(final_state(resumed), expected_state)


def test_resuming_from_the_weights_alone_differs(tmp_path, uninterrupted):
    # what a user gets without BackupAndRestore: the epoch-2 weights, a new optimizer and new random streams
    expected_state, _ = uninterrupted
    first = interrupt_after_two_epochs(tmp_path, "KeyboardInterrupt")
    save_weights(first, tmp_path / "epoch2.safetensors")
    (tmp_path / BackupAndRestore.filename).unlink()
    resumed = new_run()
    resumed.build((None, 8, 8, 1))
    load_weights(resumed, tmp_path / "epoch2.safetensors")
    train(resumed, initial_epoch=2, callbacks=[BackupAndRestore(tmp_path)])
    assert arrays_differ(final_state(resumed), expected_state)


# -- save_checkpoint / load_checkpoint / restore_checkpoint ---------------------------------------------------------

def _trained(seed=0):
    model = compiled(conv_model(seed=seed), Adam(0.01))
    x, y = digits(32)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    return model


def test_checkpoint_round_trip(tmp_path):
    model = _trained()
    data_rng = np.random.default_rng(3)
    data_rng.random(7)  # not at its start
    path = tmp_path / "ckpt.safetensors"
    history = {"loss": [2.5, 1.25], "accuracy": [0.1, 0.5]}
    save_checkpoint(path, model, epoch=2, history=history, data_rng=data_rng, extra={"note": "hello"})

    arrays, meta = load_checkpoint(path)
    assert meta["format"] == "numcnn.checkpoint" and meta["epoch"] == 2
    assert meta["history"] == history and meta["extra"] == {"note": "hello"}
    assert meta["optimizer"]["class_name"] == "Adam"
    assert meta["optimizer"]["state"]["iterations"] == 2
    slots, _ = model.optimizer.get_state()
    assert_arrays_equal({k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}, slots)
    assert_arrays_equal({k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}, snapshot(model))

    fresh = compiled(conv_model(seed=5), Adam(0.01))
    fresh.build((None, 8, 8, 1))
    fresh_rng = np.random.default_rng(4)
    assert restore_checkpoint(path, fresh, fresh_rng) == meta
    assert_arrays_equal(snapshot(fresh), snapshot(model))
    assert_arrays_equal(fresh.optimizer.get_state()[0], slots)
    assert fresh.optimizer.iterations == model.optimizer.iterations == 2
    np.testing.assert_array_equal(fresh_rng.random(5), data_rng.random(5))
    # the dropout Generator continues where it was: the next training step is the same on both
    x, y = digits(16, offset=100)
    assert model.train_on_batch(x, y) == fresh.train_on_batch(x, y)
    assert_arrays_equal(snapshot(fresh), snapshot(model))
    assert_arrays_equal(fresh.optimizer.get_state()[0], model.optimizer.get_state()[0])


def test_checkpoint_without_optimizer_or_data_generator(tmp_path):
    model = conv_model()
    model.build((None, 8, 8, 1))
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, epoch=0, history={})
    arrays, meta = load_checkpoint(path)
    assert "optimizer" not in meta and meta["data_rng"] is None
    assert all(k.startswith("model/") for k in arrays)
    fresh = conv_model(seed=9)
    fresh.build((None, 8, 8, 1))
    restore_checkpoint(path, fresh)
    assert_arrays_equal(snapshot(fresh), snapshot(model))


def test_restore_with_another_optimizer_class(tmp_path):
    model = _trained()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, epoch=1, history={})
    other = compiled(conv_model(), SGD(0.01, momentum=0.9))
    other.build((None, 8, 8, 1))
    with pytest.raises(FileFormatError, match=r"ckpt\.safetensors.*optimizer Adam.*SGD"):
        restore_checkpoint(path, other)


def test_restore_into_another_architecture(tmp_path):
    model = _trained()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, epoch=1, history={})
    other = compiled(dense_model(), Adam(0.01))
    other.build((None, 8, 8, 1))
    with pytest.raises(FileFormatError, match=r"ckpt\.safetensors.*missing \['dense_1/bias'.*unexpected \['batch_norm"):
        restore_checkpoint(path, other)


def _rewrite_meta(path, **changes):
    arrays, meta = load_arrays(path)
    save_arrays(path, arrays, {**meta, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"format_version": 2}, "version 1 or older expected. Received: 2"),
    ({"format_version": "1"}, "version"),
    ({"epoch": -1}, "epoch and history"),
    ({"epoch": 1.5}, "epoch and history"),
    ({"history": [1.0]}, "epoch and history"),
    ({"format": "numcnn.weights"}, "expected a 'numcnn.checkpoint' file"),
    ({"rngs": {"": {"bit_generator": "MT19937", "state": {}}}}, "random generator state for PCG64"),
])
def test_bad_checkpoint_metadata(tmp_path, changes, message):
    model = _trained()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, epoch=1, history={})
    _rewrite_meta(path, **changes)
    fresh = compiled(conv_model(), Adam(0.01))
    fresh.build((None, 8, 8, 1))
    with pytest.raises(FileFormatError, match=message) as info:
        restore_checkpoint(path, fresh)
    assert str(path) in str(info.value)


def test_a_weights_file_is_not_a_checkpoint(tmp_path):
    model = conv_model()
    model.build((None, 8, 8, 1))
    save_weights(model, tmp_path / "w.safetensors")
    with pytest.raises(FileFormatError, match="numcnn.checkpoint.*Received: format='numcnn.weights'"):
        load_checkpoint(tmp_path / "w.safetensors")


def test_a_checkpoint_that_fails_part_way_leaves_everything_as_it_was(tmp_path):
    """Weights are read before the generators' states: a corrupted state must not leave new weights behind."""
    source = dense_model(seed=1)
    source.compile(SGD(0.1), SparseCategoricalCrossentropy(from_logits=True))
    source.build((None, 8, 8, 1))
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, source, epoch=1, history={})
    arrays, meta = load_arrays(path)
    meta["rngs"] = {"": {"bit_generator": "MT19937"}}
    save_arrays(path, arrays, meta)
    target = dense_model(seed=2)
    target.compile(SGD(0.1), SparseCategoricalCrossentropy(from_logits=True))
    target.build((None, 8, 8, 1))
    before = {k: v.copy() for k, v in target.named_weights().items()}
    with pytest.raises(FileFormatError, match="random generator state for PCG64 expected"):
        restore_checkpoint(path, target)
    for name, value in target.named_weights().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
