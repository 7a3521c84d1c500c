"""Callbacks: EarlyStopping, ModelCheckpoint, CSVLogger, TerminateOnNaN, custom hooks and stop_training."""

import csv
import math
import os

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
    digits_test,
    snapshot,
)

from numcnn.io import load_arrays
from numcnn.optimizers import Adam
from numcnn.schedules import CosineDecay
from numcnn.training import Callback, CSVLogger, EarlyStopping, ModelCheckpoint, TerminateOnNaN


class StubModel:
    """All EarlyStopping and TerminateOnNaN touch when they do not restore weights."""

    stop_training = False


def stop_epoch(callback, values, monitor="val_loss"):
    """Feed ``values`` of ``monitor`` epoch by epoch; the epoch after which training stops, or None."""
    model = StubModel()
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {monitor: value, "loss": 1.0})
        if model.stop_training:
            return epoch
    return None


# -- EarlyStopping -----------------------------------------------------------------------------------------------

def test_early_stopping_patience_0_stops_at_the_first_epoch_without_improvement():
    assert stop_epoch(EarlyStopping(patience=0), [1.0, 0.9, 0.8, 0.85, 0.5]) == 3
    assert stop_epoch(EarlyStopping(patience=0), [1.0, 0.9, 0.8, 0.7]) is None
    assert stop_epoch(EarlyStopping(patience=0), [1.0, 1.0]) == 1  # equal is no improvement


@pytest.mark.parametrize("patience, values, expected", [
    (1, [1.0, 0.9, 0.95, 0.5, 0.6, 0.7], 2),
    (2, [1.0, 0.9, 0.95, 0.96, 0.5], 3),
    (2, [1.0, 1.1, 0.9, 1.1, 1.2, 1.3], 4),  # an improvement resets the count
    (3, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3),
])
def test_early_stopping_patience_counts_epochs_without_improvement_as_keras(patience, values, expected):
    # Keras 3 (keras/src/callbacks/early_stopping.py): `wait += 1` every epoch, reset on improvement, and
    # stop when `wait >= patience` on an epoch without improvement; its doc: "Number of epochs with no
    # improvement after which training will be stopped."
    assert stop_epoch(EarlyStopping(patience=patience), values) == expected


def test_early_stopping_waits_longer_with_more_patience():
    values = [1.0, 0.9] + [0.95] * 10
    stops = [stop_epoch(EarlyStopping(patience=p), values) for p in range(5)]
    assert stops == sorted(stops) and stops[4] >= stops[0] + 3
    assert stops[0] == 2


def test_early_stopping_min_delta():
    values = [1.0, 0.95, 0.9, 0.85]
    assert stop_epoch(EarlyStopping(patience=0, min_delta=0.1), values) == 1  # 0.05 is not enough
    assert stop_epoch(EarlyStopping(patience=0, min_delta=0.01), values) is None
    assert stop_epoch(EarlyStopping(patience=0, min_delta=-0.1), values) == 1  # the sign is ignored, as Keras
    assert stop_epoch(EarlyStopping(monitor="val_accuracy", patience=0, min_delta=0.1), [0.5, 0.55], "val_accuracy") == 1
    assert stop_epoch(EarlyStopping(monitor="val_accuracy", patience=0, min_delta=0.1), [0.5, 0.65], "val_accuracy") is None


@pytest.mark.parametrize("monitor, mode, expected", [
    ("val_accuracy", "auto", "max"), ("accuracy", "auto", "max"), ("val_acc", "auto", "max"),
    ("val_loss", "auto", "min"), ("loss", "auto", "min"), ("val_loss", "max", "max"), ("val_accuracy", "min", "min"),
])
def test_early_stopping_mode(monitor, mode, expected):
    callback = EarlyStopping(monitor=monitor, mode=mode, patience=0)
    assert callback.mode == expected
    rising = [0.5, 0.6, 0.7]
    assert stop_epoch(callback, rising, monitor) == (None if expected == "max" else 1)


def test_early_stopping_argument_errors():
    with pytest.raises(ValueError, match="mode.*Received"):
        EarlyStopping(mode="maximum")
    with pytest.raises(ValueError, match="patience.*Received"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="patience.*Received"):
        EarlyStopping(patience=1.5)


def test_early_stopping_unknown_monitor_names_the_available_keys():
    x, y = digits(32)
    model = compiled(dense_model())
    with pytest.raises(ValueError) as info:
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[EarlyStopping(monitor="val_loss")])
    message = str(info.value)
    assert "'val_loss'" in message
    assert "['accuracy', 'learning_rate', 'loss', 'seconds']" in message
    assert "Received: monitor='val_loss'" in message


def _warmup_then_decay():
    # 4 steps per epoch; the rate after each epoch: 0.0055, 0.01 (the peak), 0.005, 0.0, so epoch 1 is the best
    return CosineDecay(0.001, decay_steps=8, warmup_target=0.01, warmup_steps=8)


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_restore_best_weights(restore):
    x, y = digits(64)
    model = compiled(conv_model(), Adam(_warmup_then_decay()))
    recorder = Recorder(snapshot_at={"epoch_end"})
    stopper = EarlyStopping(monitor="learning_rate", mode="max", patience=1, restore_best_weights=restore)
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[recorder, stopper])
    # the rate of each epoch's last step (steps 3, 7, 11): warm-up 0.001 -> 0.01 over 8 steps, then cosine
    assert history.history["learning_rate"][:3] == pytest.approx([0.004375, 0.008875, 0.01 * (1 + np.cos(np.pi * 3 / 8)) / 2])
    assert stopper.best_epoch == 1
    assert stopper.stopped_epoch is not None and len(history.epoch) == stopper.stopped_epoch + 1 < 6
    weights = {epoch: arrays for (_, epoch), arrays, _ in recorder.snapshots}
    if restore:
        assert_arrays_equal(snapshot(model), weights[1])  # params and moving statistics
    else:
        assert_arrays_equal(snapshot(model), weights[stopper.stopped_epoch])
    assert arrays_differ(weights[1], weights[stopper.stopped_epoch])


def test_early_stopping_can_be_reused_across_fits():
    x, y = digits(32)
    model = compiled(dense_model())
    stopper = EarlyStopping(monitor="learning_rate", patience=0)  # a constant rate never improves
    first = model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[stopper])
    second = model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[stopper])
    assert len(first.epoch) == len(second.epoch) == 2


# -- ModelCheckpoint ---------------------------------------------------------------------------------------------

def test_model_checkpoint_formats_the_file_name_and_saves_each_epoch(tmp_path):
    x, y = digits(48)
    x_val, y_val = digits_test(16)
    model = compiled(dense_model())
    recorder = Recorder(snapshot_at={"epoch_end"})
    pattern = str(tmp_path / "w-{epoch:02d}-{val_loss:.3f}.safetensors")
    history = model.fit(x, y, epochs=3, batch_size=16, validation_data=(x_val, y_val), verbose=0,
                        callbacks=[ModelCheckpoint(pattern), recorder])
    expected = [f"w-{e + 1:02d}-{v:.3f}.safetensors" for e, v in enumerate(history.history["val_loss"])]
    assert sorted(os.listdir(tmp_path)) == expected
    assert expected[0].startswith("w-01-") and len(expected[0]) == len("w-01-2.345.safetensors")
    for name, (_, arrays, _) in zip(expected, recorder.snapshots):
        fresh = dense_model(seed=1)
        fresh.load_weights(tmp_path / name)
        assert_arrays_equal(snapshot(fresh), arrays)


def _drive_checkpoint(callback, model, values, monitor="val_loss"):
    """Epoch ends with scripted ``values``; the weights change (+1) before every epoch end."""
    callback.set_model(model)
    callback.on_train_begin()
    weights = []
    for epoch, value in enumerate(values):
        for array in model.named_weights().values():
            array += 1
        weights.append(snapshot(model))
        callback.on_epoch_end(epoch, {monitor: value})
    return weights


def test_model_checkpoint_save_best_only_writes_only_improvements(tmp_path):
    model = dense_model()
    model.build((None, 8, 8, 1))
    path = tmp_path / "best.safetensors"
    weights = _drive_checkpoint(ModelCheckpoint(path, save_best_only=True), model, [1.0, 1.2, 0.8, 0.8, 0.9])
    arrays, _ = load_arrays(path)
    assert_arrays_equal(arrays, weights[2])  # not the later, worse or equal, epochs
    assert os.listdir(tmp_path) == ["best.safetensors"]

    pattern = str(tmp_path / "e{epoch}.safetensors")
    _drive_checkpoint(ModelCheckpoint(pattern, save_best_only=True), model, [1.0, 1.2, 0.8, 0.8, 0.9])
    assert sorted(os.listdir(tmp_path)) == ["best.safetensors", "e1.safetensors", "e3.safetensors"]

    accuracy = str(tmp_path / "acc{epoch}.safetensors")
    _drive_checkpoint(ModelCheckpoint(accuracy, monitor="val_accuracy", save_best_only=True), model,
                      [0.5, 0.4, 0.6], monitor="val_accuracy")  # auto mode: higher is better
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("acc")) == ["acc1.safetensors", "acc3.safetensors"]


@pytest.mark.parametrize("filepath", ["weights.h5", "weights.keras", "weights", "weights.safetensors.tmp"])
def test_model_checkpoint_needs_a_safetensors_suffix(tmp_path, filepath):
    with pytest.raises(ValueError, match=r"\.safetensors.*Received: filepath="):
        ModelCheckpoint(tmp_path / filepath)


def test_model_checkpoint_unknown_field_in_the_file_name(tmp_path):
    model = dense_model()
    model.build((None, 8, 8, 1))
    callback = ModelCheckpoint(str(tmp_path / "w-{val_los:.2f}.safetensors"))
    callback.set_model(model)
    with pytest.raises(ValueError, match=r"\['loss', 'val_loss'\].*Received: filepath="):
        callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})
    assert os.listdir(tmp_path) == []


# -- CSVLogger ---------------------------------------------------------------------------------------------------

def _read_csv(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter=separator))


def test_csv_logger_content_equals_the_history(tmp_path):
    x, y = digits(48)
    x_val, y_val = digits_test(16)
    model = compiled(dense_model())
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=3, batch_size=16, validation_data=(x_val, y_val), verbose=0,
                        callbacks=[CSVLogger(path)])
    rows = _read_csv(path)
    assert list(rows[0]) == ["epoch", *history.history]
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2]
    for key, values in history.history.items():
        assert [float(row[key]) for row in rows] == values  # exact: floats are written with repr


def test_csv_logger_append_keeps_previous_rows(tmp_path):
    x, y = digits(32)
    model = compiled(dense_model())
    path = tmp_path / "log.csv"
    first = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    before = path.read_text()
    second = model.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0,
                       callbacks=[CSVLogger(path, separator=";", append=True)])
    after = path.read_text()
    assert after.startswith(before)  # the old rows are kept byte for byte
    rows = _read_csv(path, ";")
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2, 3]
    assert [float(row["loss"]) for row in rows] == first.history["loss"] + second.history["loss"]

    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    assert [int(row["epoch"]) for row in _read_csv(path, ";")] == [0]  # append=False starts a new file


# -- TerminateOnNaN ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss, stops", [(1.0, False), (0.0, False), (math.nan, True), (math.inf, True),
                                         (-math.inf, True), (np.float32("nan"), True)])
def test_terminate_on_nan(loss, stops):
    model = StubModel()
    callback = TerminateOnNaN()
    callback.set_model(model)
    callback.on_train_batch_end(0, {"loss": loss})
    assert model.stop_training is stops
    callback.on_train_batch_end(1, {})  # no loss: nothing to judge
    assert model.stop_training is stops


# -- hooks and stop_training ----------------------------------------------------------------------------------------

def test_custom_callback_hooks_in_order():
    x, y = digits(40)  # batches of 16, 16, 8
    model = compiled(dense_model())
    recorder = Recorder()
    model.fit(x, y, epochs=3, initial_epoch=1, batch_size=16, verbose=0, callbacks=[recorder])

    def epoch(e):
        return [("epoch_begin", e), *[(h, s) for s in range(3) for h in ("batch_begin", "batch_end")], ("epoch_end", e)]

    assert recorder.calls == [("train_begin", None), *epoch(1), *epoch(2), ("train_end", None)]
    assert recorder.model is model


def test_callback_logs():
    x, y = digits(40)
    model = compiled(dense_model())
    logs = []

    class Logs(Callback):
        def on_train_batch_end(self, batch, batch_logs=None):
            logs.append(("batch", batch, dict(batch_logs)))

        def on_epoch_end(self, epoch, epoch_logs=None):
            logs.append(("epoch", epoch, dict(epoch_logs)))

    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[Logs()])
    assert [set(entry[2]) for entry in logs[:3]] == [{"loss", "accuracy"}] * 3
    assert logs[3][:2] == ("epoch", 0)
    assert logs[3][2] == {key: values[0] for key, values in history.history.items()}
    assert logs[2][2]["loss"] == logs[3][2]["loss"]  # the batch logs hold the running mean


def test_callbacks_must_be_callback_instances():
    x, y = digits(16)
    model = compiled(dense_model())
    with pytest.raises(TypeError, match="Received"):
        model.fit(x, y, verbose=0, callbacks=[lambda: None])


class StopAt(Callback):
    def __init__(self, hook, when):
        self.hook, self.when = hook, when

    def on_epoch_end(self, epoch, logs=None):
        if self.hook == "epoch_end" and epoch == self.when:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if self.hook == "batch_end" and batch == self.when:
            self.model.stop_training = True


def test_stop_training_at_epoch_end():
    x, y = digits(48)
    model = compiled(dense_model())
    recorder = Recorder()
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[StopAt("epoch_end", 1), recorder])
    assert history.epoch == [0, 1]
    assert model.optimizer.iterations == 6
    assert recorder.calls[-1] == ("train_end", None)
    assert model.stop_reason is None


def test_stop_training_at_batch_end():
    x, y = digits(64)
    model = compiled(dense_model())
    recorder = Recorder()
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[StopAt("batch_end", 1), recorder])
    assert model.optimizer.iterations == 2
    assert [c for c in recorder.calls if c[0] == "batch_end"] == [("batch_end", 0), ("batch_end", 1)]
    assert history.epoch == [0]  # the epoch that was cut short still ends (as Keras), and no other starts
    assert ("epoch_begin", 1) not in recorder.calls


@pytest.mark.parametrize("make, name", [
    (lambda: EarlyStopping(start_from_epoch="2"), "start_from_epoch"), (lambda: EarlyStopping(min_delta="a"), "min_delta"),
    (lambda: EarlyStopping(monitor=3), "monitor"), (lambda: EarlyStopping(patience=1.5), "patience"),
    (lambda: EarlyStopping(restore_best_weights="yes"), "restore_best_weights"),
    (lambda: ModelCheckpoint("w.safetensors", save_best_only="no"), "save_best_only"),
    (lambda: ModelCheckpoint("w.safetensors", monitor=None), "monitor"),
    (lambda: ModelCheckpoint("w.h5"), "filepath"), (lambda: CSVLogger("log.csv", separator=";;"), "separator"),
    (lambda: CSVLogger("log.csv", append=1), "append"),
])
def test_callback_arguments_are_checked_in_the_constructor(make, name):
    with pytest.raises(ValueError, match=rf"`{name}` argument must .*Received: {name}="):
        make()
