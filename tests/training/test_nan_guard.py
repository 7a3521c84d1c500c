"""The NaN guard: a step with a non-finite output, loss or gradient, or an exploding update, is never kept,
and training stops cleanly."""

import re

import numpy as np
import pytest
from _fit_helpers import (
    Recorder,
    assert_arrays_equal,
    compiled,
    dense_model,
    digits,
    snapshot,
)

import numcnn
from numcnn.layers import BatchNormalization, Conv2D, Dense, Flatten, ReLU
from numcnn.optimizers import SGD
from numcnn.training import BackupAndRestore, Callback, load_checkpoint, restore_checkpoint

REASON = re.compile(r"loss is (nan|inf|[-0-9.e+]+) at epoch (\d+), step (\d+) \((non-finite [a-z' ]+|"
                    r"a weight changed by [0-9.e+]+, over 1000 x the largest weight: exploding)\): training stopped; "
                    r"the weights are those before that step")


class HugeLearningRateFrom(Callback):
    """From epoch ``epoch`` on, SGD takes steps of 1e30: the outputs overflow a step or two later."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.optimizer.learning_rate = 1e30


def _batch_begin_snapshots(recorder, epoch):
    """Snapshots taken at the batch begins of ``epoch`` (the recorder's calls are in order)."""
    current, found = None, []
    for (hook, arg), arrays, _ in recorder.snapshots:
        if hook == "epoch_begin":
            current = arg
        elif hook == "batch_begin" and current == epoch:
            found.append(arrays)
    return found


def test_huge_learning_rate_stops_before_the_bad_step_and_keeps_the_last_checkpoint(tmp_path):
    x, y = digits(64)  # 4 steps per epoch
    model = compiled(dense_model(), SGD(0.05))
    recorder = Recorder(snapshot_at={"epoch_begin", "batch_begin", "epoch_end"})
    backup = BackupAndRestore(tmp_path)
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0,
                        callbacks=[backup, HugeLearningRateFrom(1), recorder])

    match = REASON.fullmatch(model.stop_reason or "")
    assert match, model.stop_reason
    assert match.group(2) == "2"
    step = int(match.group(3))
    before_bad_step = _batch_begin_snapshots(recorder, 1)
    assert len(before_bad_step) == step  # the step named is the last one that began
    assert_arrays_equal(snapshot(model), before_bad_step[-1])
    assert all(np.all(np.isfinite(a)) for a in snapshot(model).values())
    assert model.optimizer.iterations == 4 + step - 1

    # the partial epoch is neither logged nor checkpointed
    assert history.epoch == [0]
    assert all(len(v) == 1 for v in history.history.values())
    assert ("epoch_end", 1) not in recorder.calls and recorder.calls[-1] == ("train_end", None)

    after_epoch_1 = next(arrays for (hook, _), arrays, _ in recorder.snapshots if hook == "epoch_end")
    arrays, meta = load_checkpoint(backup.path)  # kept: training did not end normally
    assert meta["epoch"] == 1
    assert meta["history"] == history.history
    assert_arrays_equal({k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}, after_epoch_1)
    fresh = compiled(dense_model(seed=7), SGD(0.05))
    fresh.build((None, 8, 8, 1))
    restore_checkpoint(backup.path, fresh)
    assert_arrays_equal(snapshot(fresh), after_epoch_1)
    assert fresh.optimizer.iterations == 4

    # and training can continue from it
    resumed = compiled(dense_model(seed=7), SGD(0.05))
    history = resumed.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    assert resumed.stop_reason is None
    assert history.epoch == [0, 1, 2] and resumed.optimizer.iterations == 12
    assert not (tmp_path / BackupAndRestore.filename).exists()  # deleted after a normal end


def test_nan_input_stops_at_its_batch(capsys):
    x, y = digits(64)
    x[40, 3, 3, 0] = np.nan  # in the third batch of 16
    model = compiled(dense_model(), SGD(0.05))
    recorder = Recorder(snapshot_at={"batch_begin"})
    history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=2, callbacks=[recorder])
    assert model.stop_reason == ("loss is nan at epoch 1, step 3 (non-finite model output): training stopped; "
                                 "the weights are those before that step")
    assert f"Stopped: {model.stop_reason}" in capsys.readouterr().err
    assert model.optimizer.iterations == 2
    assert_arrays_equal(snapshot(model), recorder.snapshots[2][1])
    assert history.epoch == [] and history.history == {}


def test_nan_loss_reaches_the_batch_logs():
    x, y = digits(32)
    x[20] = np.inf
    model = compiled(dense_model())
    losses = []

    class Losses(Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(logs["loss"])

    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0, callbacks=[Losses()])
    assert np.isfinite(losses[0]) and np.isnan(losses[1]) and len(losses) == 2
    assert model.stop_training


def test_train_on_batch_with_nan_input_does_not_update():
    x, y = digits(16)
    x[0, 0, 0, 0] = np.nan
    model = compiled(dense_model(), SGD(0.1))
    model.build((None, 8, 8, 1))
    before = snapshot(model)
    logs = model.train_on_batch(x, y)
    assert np.isnan(logs["loss"])
    assert model.optimizer.iterations == 0
    assert_arrays_equal(snapshot(model), before)


def dense_batch_norm_model():
    # batch norm between dense layers: its moving statistics see the NaN in the forward pass
    return numcnn.Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16), BatchNormalization(), ReLU(), Dense(10)],
                             seed=0)


def three_conv_model():
    return numcnn.Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
                              Conv2D(4, 3, padding="same", activation="relu"),
                              Conv2D(4, 3, padding="same", activation="relu"), Flatten(), Dense(10)], seed=0)


def test_nan_step_leaves_batch_norm_moving_statistics_untouched():
    x, y = digits(64)
    x[40, 3, 3, 0] = np.nan
    model = compiled(dense_batch_norm_model(), SGD(0.05))
    recorder = Recorder(snapshot_at={"batch_begin"})
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0, callbacks=[recorder])
    assert model.stop_reason.startswith("loss is nan at epoch 1, step 3")
    assert_arrays_equal(snapshot(model), recorder.snapshots[2][1])  # moving_mean is NaN here


@pytest.mark.parametrize("case", ["huge learning rate", "nan input"])
def test_guard_stops_conv_models_too(case):
    x, y = digits(64)
    if case == "nan input":
        x[40, 3, 3, 0] = np.nan
    model = compiled(three_conv_model(), SGD(1e30 if case == "huge learning rate" else 0.05))
    with np.errstate(over="ignore", invalid="ignore"):
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert REASON.fullmatch(model.stop_reason or "")
    assert all(np.all(np.isfinite(a)) for a in snapshot(model).values())


def test_huge_learning_rate_never_leaves_non_finite_weights():
    x, y = digits(64)
    model = compiled(dense_model(), SGD(1e38))
    with np.errstate(over="ignore"):
        model.fit(x * 100, y, epochs=2, batch_size=16, verbose=0)
    assert model.stop_reason is not None
    assert all(np.all(np.isfinite(a)) for a in snapshot(model).values())


# -- a large finite loss is not a divergence ---------------------------------------------------------------------

def test_a_regression_whose_last_batch_has_large_targets_trains_every_epoch():
    """Dense(1), SGD(1e-4), targets of 300 in the last batch: the loss jumps to about 9e4 there, finite and
    healthy. The old rule (10,000 x the first loss) stopped it as 'exploding'; a large loss never stops fit."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32))[:, None]
    y[48:] = 300.0
    model = numcnn.Sequential([Dense(1, input_shape=(4,))], seed=0)
    model.compile(SGD(1e-4), "mse")
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert model.stop_reason is None
    assert len(history.history["loss"]) == 3 and max(history.history["loss"]) > 2e4
    assert model.optimizer.iterations == 12


def test_a_stop_warns_even_when_silent_and_the_history_keeps_the_epochs_done():
    x, y = digits(64)
    x_bad = x.copy()

    class PoisonSecondEpoch(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                x_bad[:] = np.nan  # the array fit reads batches from

    model = compiled(dense_model(), SGD(0.05))
    with pytest.warns(RuntimeWarning, match=r"Stopped: loss is nan at epoch 2, step 1 \(non-finite model output\)"):
        history = model.fit(x_bad, y, epochs=3, batch_size=16, shuffle=False, verbose=0,
                            callbacks=[PoisonSecondEpoch()])
    assert history.epoch == [0] and len(history.history["loss"]) == 1
    assert model.history is history and model.stop_reason.startswith("loss is nan at epoch 2, step 1")


def test_an_update_a_thousand_times_the_weights_stops_at_once():
    x, y = digits(64)
    model = compiled(dense_model(), SGD(1e8))  # the first update moves weights of ~0.3 by ~1e7
    model.build((None, 8, 8, 1))
    before = snapshot(model)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert re.fullmatch(r"loss is [0-9.]+ at epoch 1, step 1 \(a weight changed by [0-9.e+]+, over 1000 x the "
                        r"largest weight: exploding\): training stopped; the weights are those before that step",
                        model.stop_reason)
    assert_arrays_equal(snapshot(model), before)
    assert model.optimizer.iterations == 0


def test_the_update_check_gives_the_same_verdicts_with_a_scratch_buffer():
    from numcnn.training.trainer import _check_update

    rng = np.random.default_rng(0)
    before = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(5).astype(np.float32)]
    grads = {"a": np.ones((4, 3), np.float32), "b": np.ones(5, np.float32)}
    cases = {"ok": lambda a, b: (a + 0.1, b), "nan": lambda a, b: (a, np.where(np.arange(5) == 2, np.nan, b)),
             "inf": lambda a, b: (np.full_like(a, np.inf), b), "huge": lambda a, b: (a + 1e6, b)}
    for name, make in cases.items():
        a, b = make(*[x.copy() for x in before])
        params = {"a": a.astype(np.float32), "b": b.astype(np.float32)}
        pairs = list(zip(params.values(), before))
        plain = _check_update(params, pairs, grads)
        assert _check_update(params, pairs, grads, np.empty(12, np.float32)) == plain, name
        assert (plain is None) == (name == "ok"), (name, plain)
    assert "exploding" in _check_update({"a": before[0] + 1e6}, [(before[0] + 1e6, before[0])], grads)


def test_finite_weights_too_far_apart_for_float32_are_exploding_not_non_finite():
    from numcnn.training.trainer import _check_update

    copy = np.array([-3e38], np.float32)
    moved = np.array([3e38], np.float32)  # the difference overflows float32; the weights are finite
    grads = {"w": np.ones(1, np.float32)}
    for scratch in (None, np.empty(1, np.float32)):
        assert "exploding" in _check_update({"w": moved}, [(moved, copy)], grads, scratch)
