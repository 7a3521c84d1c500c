"""compile / fit / evaluate / predict / train_on_batch: values, history, validation split, seeds, argument errors."""

import math
import re

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
from helpers import assert_close

from numcnn.data import RandomShift
from numcnn.functional import softmax_cross_entropy, softmax_cross_entropy_backward, softmax_cross_entropy_forward
from numcnn.models import zoo
from numcnn.optimizers import SGD, Adam
from numcnn.schedules import CosineDecay
from numcnn.training import Callback

HISTORY_KEYS = {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"}


# -- training works ----------------------------------------------------------------------------------------------

def test_simple_convnet_learns_digits():
    x, y = digits(320)
    x_val, y_val = digits_test(160)
    model = compiled(zoo.simple_convnet((8, 8, 1)), Adam(0.003))
    before_loss, before_acc = model.evaluate(x_val, y_val)
    history = model.fit(x, y, epochs=2, batch_size=32, validation_data=(x_val, y_val), verbose=0)
    loss, val_loss = history.history["loss"], history.history["val_loss"]
    assert loss[1] < loss[0] < math.log(10) + 0.2  # starts near chance (log 10), then falls
    assert val_loss[1] < val_loss[0] < before_loss
    after_loss, after_acc = model.evaluate(x_val, y_val)
    assert after_loss == pytest.approx(val_loss[-1], rel=1e-12)  # the last val_loss is of the final weights
    assert after_acc > max(0.5, before_acc + 0.3)


def test_history_keys_lengths_and_learning_rate():
    x, y = digits(96)
    schedule = CosineDecay(0.01, decay_steps=20)
    model = compiled(dense_model(), Adam(schedule))
    history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0)
    assert set(history.history) == HISTORY_KEYS
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert model.history is history
    steps = math.ceil(72 / 32)  # 24 of the 96 samples are held out
    assert model.optimizer.iterations == 3 * steps
    # the logged rate is the one the epoch's last update used
    assert history.history["learning_rate"] == [schedule(steps * (e + 1) - 1) for e in range(3)]
    assert all(s > 0 for s in history.history["seconds"])
    assert all(0 <= a <= 1 for a in history.history["accuracy"] + history.history["val_accuracy"])


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    # batches of 32, 32, 32 and 4: a plain mean of the batch means would weigh the last 4 samples 8 times too much
    x, y = digits(100)
    model = compiled(dense_model(), SGD(0.05))
    model.build((None, 8, 8, 1))  # as the replay below is built (see test_fit_builds_the_same_weights_as_build)
    batch_losses = []

    class Losses(Callback):
        def on_train_batch_end(self, batch, logs=None):
            batch_losses.append(logs["loss"])

    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0, callbacks=[Losses()])
    history = model.history.history
    # the batch logs carry the running mean; its last value is the epoch's loss
    assert batch_losses[-1] == pytest.approx(history["loss"][0], rel=1e-12)
    # recompute the per-batch losses (dense model: training and inference give the same outputs) with a replay
    replay = compiled(dense_model(), SGD(0.05))
    per_batch = []
    for start in range(0, 100, 32):
        per_batch.append((replay.train_on_batch(x[start:start + 32], y[start:start + 32])["loss"], len(y[start:start + 32])))
    weighted = sum(v * n for v, n in per_batch) / 100
    assert history["loss"][0] == pytest.approx(weighted, rel=1e-9)
    assert abs(np.mean([v for v, _ in per_batch]) - weighted) > 1e-4  # the test can tell the two means apart


def test_fit_builds_the_same_weights_as_build():
    # Sequential(seed=0).fit(...) and Sequential(seed=0) + summary() + fit(...) should train the same network
    x, y = digits(8)
    built = dense_model()
    built.build((None, 8, 8, 1))
    by_fit = compiled(dense_model())
    by_fit.fit(x, y, epochs=0, verbose=0)
    assert_arrays_equal(snapshot(by_fit), snapshot(built))


def test_validation_split_holds_out_the_last_samples():
    x, y = digits(40)
    model = compiled(dense_model(), SGD(0.1))
    seen = []

    def record(batch, rng):
        seen.append(batch.copy())
        return batch

    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0, augment=record)
    trained_on = np.concatenate(seen)
    assert len(trained_on) == 2 * 30
    rows = {row.tobytes() for row in x[:30]}
    assert {row.tobytes() for row in trained_on} == rows  # every one of the first 30, none of the last 10
    val_loss, val_acc = model.evaluate(x[30:], y[30:], batch_size=8)
    assert history.history["val_loss"][-1] == val_loss
    assert history.history["val_accuracy"][-1] == val_acc


@pytest.mark.parametrize("n, split", [(10, 0.25), (2, 0.25), (3, 0.1)])
def test_validation_split_count_matches_keras(n, split):
    # keras/src/trainers/data_adapters/array_slicing.py: split_at = int(math.floor(batch_dim * (1.0 - validation_split)))
    x, y = digits(n)
    model = compiled(dense_model(), SGD(0.1))
    seen = []
    model.fit(x, y, epochs=1, batch_size=n, validation_split=split, verbose=0,
              augment=lambda batch, rng: seen.append(len(batch)) or batch)
    assert seen == [math.floor(n * (1.0 - split))]


def test_validation_data_is_used_instead_of_the_split():
    x, y = digits(48)
    x_val, y_val = digits_test(20)
    model = compiled(dense_model(), SGD(0.1))
    history = model.fit(x, y, epochs=1, batch_size=16, validation_split=0.5, validation_data=(x_val, y_val), verbose=0)
    assert model.optimizer.iterations == 3  # all 48 training samples: the split is ignored (as Keras)
    assert history.history["val_loss"] == [model.evaluate(x_val, y_val, batch_size=16)[0]]


# -- evaluate and predict ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [7, 13, 32, 50, 64])
def test_evaluate_equals_the_loss_over_the_whole_set(batch_size):
    x, y = digits(50)
    model = compiled(conv_model())
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # non-trivial moving statistics
    logits = model(x, training=False)
    expected_loss = float(softmax_cross_entropy(y, logits))
    expected_acc = np.mean(np.argmax(logits, axis=1) == y)
    loss, acc = model.evaluate(x, y, batch_size=batch_size)
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    assert acc == pytest.approx(expected_acc, abs=1e-12)
    if batch_size < 50 and 50 % batch_size:  # a mean of batch means would be wrong here; make sure the tolerance can see it
        batch_means = [float(softmax_cross_entropy(y[i:i + batch_size], logits[i:i + batch_size]))
                       for i in range(0, 50, batch_size)]
        assert abs(np.mean(batch_means) - expected_loss) > 1e-5 * expected_loss


def test_evaluate_return_forms():
    x, y = digits(40)
    with_metric = compiled(dense_model())
    result = with_metric.evaluate(x, y)
    assert isinstance(result, list) and len(result) == 2
    as_dict = with_metric.evaluate(x, y, return_dict=True)
    assert list(as_dict) == ["loss", "accuracy"]
    assert [as_dict["loss"], as_dict["accuracy"]] == result

    without = compiled(dense_model(), metrics=None)
    scalar = without.evaluate(x, y)
    assert isinstance(scalar, float)
    assert scalar == result[0]  # same seed, same weights
    assert without.evaluate(x, y, return_dict=True) == {"loss": scalar}


def test_evaluate_and_predict_use_inference_mode():
    x, y = digits(40)
    model = compiled(conv_model(dropout=0.5))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    state = snapshot(model)
    assert model.evaluate(x, y) == model.evaluate(x, y)  # no dropout masks
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    assert_arrays_equal(snapshot(model), state)  # moving statistics untouched


@pytest.mark.parametrize("batch_size", [1, 7, 40, 100])
def test_predict_equals_calling_the_model(batch_size):
    x, y = digits(40)
    model = compiled(conv_model())
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    out = model.predict(x, batch_size=batch_size)
    expected = np.concatenate([model(x[i:i + batch_size], training=False) for i in range(0, 40, batch_size)])
    assert out.shape == (40, 10) and out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    assert_close(out, model(x, training=False), rtol=1e-5)  # the whole batch at once: only rounding differs


def test_predict_does_not_need_compile():
    model = dense_model()
    x, _ = digits(5)
    np.testing.assert_array_equal(model.predict(x), model(x))


# -- train_on_batch ----------------------------------------------------------------------------------------------

def test_train_on_batch_is_one_sgd_step():
    x, y = digits(24)
    model = compiled(dense_model(), SGD(0.1))
    reference = dense_model()  # same seed, same initial weights
    logits = reference(x, training=True)
    loss, cache = softmax_cross_entropy_forward(y, logits)
    reference.backward(softmax_cross_entropy_backward(cache))
    expected = {name: value - np.float32(0.1) * reference.grads[name] for name, value in reference.params.items()}

    logs = model.train_on_batch(x, y)
    assert set(logs) == {"loss", "accuracy"}
    assert logs["loss"] == pytest.approx(float(loss), rel=1e-7)  # the loss before the update
    assert logs["accuracy"] == np.mean(np.argmax(logits, axis=1) == y)
    for name, value in model.params.items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-6, atol=1e-7, err_msg=name)
    assert model.optimizer.iterations == 1


# -- errors ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch"])
def test_training_before_compile_is_a_runtime_error(method):
    x, y = digits(4)
    model = dense_model()
    with pytest.raises(RuntimeError, match=rf"model\.compile\(optimizer, loss, metrics\) before model\.{method}\(\)"):
        getattr(model, method)(x, y)


def test_compile_errors():
    model = dense_model()
    with pytest.raises(ValueError, match="loss"):
        model.compile("adam")
    with pytest.raises(TypeError, match="Received"):
        model.compile("adam", "mse", metrics="accuracy")
    with pytest.raises(ValueError, match=r"The `metrics` argument must be a function or one of .*Received: metrics="):
        model.compile("adam", "mse", metrics=["precision"])


@pytest.mark.parametrize("kwargs, argument", [
    ({"epochs": -1}, "epochs"),
    ({"epochs": 2.0}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 4.5}, "batch_size"),
    ({"initial_epoch": -1}, "initial_epoch"),
    ({"validation_split": 1.0}, "validation_split"),
    ({"validation_split": -0.1}, "validation_split"),
    ({"validation_split": "0.2"}, "validation_split"),
    ({"validation_data": (np.zeros((3, 8, 8, 1), np.float32),)}, "validation_data"),
    ({"validation_data": np.zeros((3, 8, 8, 1), np.float32)}, "validation_data"),
    ({"validation_data": (np.zeros((3, 8, 8, 1), np.float32), np.zeros(2, int))}, "y"),
    ({"verbose": 3}, "verbose"),
    ({"verbose": "yes"}, "verbose"),
])
def test_fit_argument_errors(kwargs, argument):
    x, y = digits(10)
    model = compiled(dense_model())
    before = snapshot(model)
    with pytest.raises(ValueError, match="Received") as info:
        model.fit(x, y, **{"verbose": 0, **kwargs})
    assert argument in str(info.value)
    assert_arrays_equal(snapshot(model), before)  # nothing was trained


def test_fit_x_y_length_mismatch():
    x, y = digits(10)
    model = compiled(dense_model())
    with pytest.raises(ValueError, match=r"`y`.*\(10\).*Received: y with shape \(9,\)"):
        model.fit(x, y[:9], verbose=0)
    with pytest.raises(ValueError, match="Received"):
        model.evaluate(x[:9], y)
    with pytest.raises(ValueError, match="Received"):
        model.predict(x, batch_size=0)


# -- epochs, order, seeds, augmentation --------------------------------------------------------------------------

def test_initial_epoch():
    x, y = digits(64)
    model = compiled(dense_model())
    recorder = Recorder()
    history = model.fit(x, y, epochs=3, initial_epoch=1, batch_size=32, verbose=0, callbacks=[recorder])
    assert history.epoch == [1, 2]
    assert len(history.history["loss"]) == 2
    assert [a for h, a in recorder.calls if h == "epoch_begin"] == [1, 2]
    assert model.optimizer.iterations == 4
    nothing = model.fit(x, y, epochs=3, initial_epoch=3, verbose=0)
    assert nothing.history == {} and model.optimizer.iterations == 4


def test_shuffle_false_visits_samples_in_order_and_shuffle_true_permutes_each_epoch():
    n = 20
    x = np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 8, 8, 1), np.float32)
    y = np.arange(n) % 10
    seen = []

    def record(batch, rng):
        seen.append(batch[:, 0, 0, 0].astype(int).tolist())
        return batch

    compiled(dense_model(), SGD(1e-4)).fit(x, y, epochs=2, batch_size=6, shuffle=False, verbose=0, augment=record)
    assert seen == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 17], [18, 19]] * 2

    seen.clear()
    compiled(dense_model(), SGD(1e-4)).fit(x, y, epochs=2, batch_size=6, shuffle=True, seed=3, verbose=0,
                                           augment=record)
    epochs = [sum(seen[:4], []), sum(seen[4:], [])]
    assert [len(b) for b in seen] == [6, 6, 6, 2] * 2
    assert all(sorted(order) == list(range(n)) for order in epochs)
    assert epochs[0] != list(range(n)) and epochs[0] != epochs[1]


def _train(fit_seed, model_seed=0):
    x, y = digits(64)
    model = compiled(conv_model(seed=model_seed), Adam(CosineDecay(0.01, 8)))
    model.fit(x, y, epochs=2, batch_size=16, seed=fit_seed, augment=RandomShift(1), verbose=0)
    return snapshot(model), model.optimizer.get_state()[0]


def test_same_seed_gives_bit_identical_weights():
    weights_a, slots_a = _train(fit_seed=5)
    weights_b, slots_b = _train(fit_seed=5)
    assert_arrays_equal(weights_a, weights_b)
    assert_arrays_equal(slots_a, slots_b)
    weights_c, _ = _train(fit_seed=6)
    assert arrays_differ(weights_a, weights_c)
    weights_d, _ = _train(fit_seed=None, model_seed=0)
    weights_e, _ = _train(fit_seed=None, model_seed=0)
    assert_arrays_equal(weights_d, weights_e)  # without a fit seed, the data Generator comes from the model's seed
    weights_f, _ = _train(fit_seed=None, model_seed=1)
    assert arrays_differ(weights_d, weights_f)


def test_augment_is_called_with_the_data_generator_and_its_output_is_trained_on():
    x, y = digits(48)
    calls = []

    def zero_out(batch, rng):
        calls.append((batch.shape, rng))
        return np.zeros_like(batch)

    augmented = compiled(dense_model(), SGD(0.1))
    augmented.fit(x, y, epochs=2, batch_size=16, seed=1, augment=zero_out, verbose=0)
    assert [shape for shape, _ in calls] == [(16, 8, 8, 1)] * 6
    assert all(rng is augmented.fit_state.data_rng for _, rng in calls)
    assert all(isinstance(rng, np.random.Generator) for _, rng in calls)

    direct = compiled(dense_model(), SGD(0.1))
    direct.fit(np.zeros_like(x), y, epochs=2, batch_size=16, seed=1, verbose=0)
    assert_arrays_equal(snapshot(augmented), snapshot(direct))
    plain = compiled(dense_model(), SGD(0.1))
    plain.fit(x, y, epochs=2, batch_size=16, seed=1, verbose=0)
    assert arrays_differ(snapshot(augmented), snapshot(plain))


def test_random_shift_shifts_within_bounds_and_fills_zeros(rng):
    x = rng.random((6, 8, 8, 1)).astype(np.float32) + 1  # no zeros of its own
    shifted = RandomShift(2)(x, np.random.default_rng(0))
    assert shifted.shape == x.shape and shifted.dtype == x.dtype
    for original, out in zip(x, shifted):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(out, np.roll(original, (dy, dx), axis=(0, 1)) * _mask(dy, dx))]
        assert len(matches) == 1
    assert RandomShift(0)(x, np.random.default_rng(0)) is x
    with pytest.raises(ValueError, match="Received"):
        RandomShift(-1)


def _mask(dy, dx):
    mask = np.zeros((8, 8, 1), np.float32)
    mask[max(dy, 0):8 + min(dy, 0), max(dx, 0):8 + min(dx, 0)] = 1
    return mask


def test_verbose_2_prints_one_line_per_epoch(capsys):
    x, y = digits(32)
    model = compiled(dense_model())
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for e, line in enumerate(lines):
        assert line.startswith(f"Epoch {e + 1}/2 - ")
        assert f"loss: {history.history['loss'][e]:.4f}" in line
        assert re.search(r"accuracy: \d\.\d{4}", line)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert capsys.readouterr().out == ""


def test_plotting_curves_leaves_the_matplotlib_backend_alone(tmp_path):
    import matplotlib

    from numcnn.viz import plot_history

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, tmp_path / "c.png")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_refuses_a_model_without_trainable_weights():
    from numcnn import Sequential
    from numcnn.layers import Flatten

    x, y = digits(16)
    model = Sequential([Flatten(input_shape=(8, 8, 1))])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"Model 'sequential' has no trainable weights to fit.*Received: a model "
                                         r"with 0 trainable weights"):
        model.fit(x, np.zeros((16, 64), np.float32), verbose=0)


def test_train_on_batch_refuses_bad_labels_and_leaves_every_array_as_it_was():
    from numcnn import Sequential
    from numcnn.layers import BatchNormalization, Dense, Flatten
    from numcnn.losses import SparseCategoricalCrossentropy

    x, y = digits(16)
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(8), BatchNormalization(), Dense(10)], seed=0)
    model.compile("sgd", SparseCategoricalCrossentropy(from_logits=True))
    model.build((None, 8, 8, 1))
    before = {k: v.copy() for k, v in {**model.params, **model.state}.items()}
    bad = y.copy()
    bad[5] = 10
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\).*Received: y_true\[5\] = 10"):
        model.train_on_batch(x, bad)
    for name, value in {**model.params, **model.state}.items():  # the moving statistics too
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert model.optimizer.iterations == 0
    assert model.train_on_batch(x, y)["loss"] > 0 and model.optimizer.iterations == 1


def test_fit_refuses_inputs_other_than_the_declared_input_shape():
    from numcnn import Sequential
    from numcnn.layers import Dense

    model = Sequential([Dense(4, input_shape=(3,)), Dense(2)], seed=0)
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 3\).*Received: input_shape=\(None, 4\)"):
        model.fit(np.ones((5, 4), np.float32), np.ones((5, 2), np.float32), verbose=0)
    assert not model.built
    model.fit(np.ones((5, 3), np.float32), np.ones((5, 2), np.float32), verbose=0)
    assert model.layers[0].params["kernel"].shape == (3, 4)
