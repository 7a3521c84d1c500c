"""Learning-rate schedules: known values, parity with torch.optim.lr_scheduler and Keras, configs, bad input."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_close, import_keras, import_torch
from numcnn import schedules
from numcnn.schedules import CosineDecay, ExponentialDecay, StepDecay


def torch_rates(make_scheduler, initial_learning_rate, steps):
    """The learning rate torch uses at each of ``steps`` optimizer steps, the scheduler stepped after each."""
    torch = import_torch()
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=initial_learning_rate)
    scheduler = make_scheduler(torch, optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def keras_rates(schedule, steps):
    return [float(schedule(step)) for step in range(steps)]


# 1. Known values --------------------------------------------------------------------------------

def test_docstring_values():
    schedule = CosineDecay(0.1, decay_steps=100, warmup_target=1.0, warmup_steps=10)
    assert schedule(0) == pytest.approx(0.1, rel=1e-15)
    assert schedule(5) == pytest.approx(0.55, rel=1e-15)
    assert schedule(10) == 1.0
    assert schedule(60) == pytest.approx(0.5, rel=1e-12)  # half-way down the cosine
    assert schedule(110) == pytest.approx(0.0, abs=1e-15)
    assert schedule(10_000) == pytest.approx(0.0, abs=1e-15)


def test_step_decay_known_values():
    schedule = StepDecay(0.1, step_size=3, gamma=0.5)
    assert [schedule(step) for step in range(8)] == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025] * 2, rel=1e-15)
    assert StepDecay(2.0, step_size=1, gamma=3.0)(2) == 18.0


@pytest.mark.parametrize(("staircase", "expected"), [
    (False, [1.0, 0.5 ** 0.25, 0.5 ** 0.5, 0.5, 0.25 * 0.5 ** 0.5]),
    (True, [1.0, 1.0, 1.0, 0.5, 0.25]),
])
def test_exponential_decay_known_values(staircase, expected):
    schedule = ExponentialDecay(1.0, decay_steps=4, decay_rate=0.5, staircase=staircase)
    assert [schedule(step) for step in (0, 1, 2, 4, 10)] == pytest.approx(expected, rel=1e-15)


def test_cosine_decay_known_values():
    schedule = CosineDecay(2.0, decay_steps=4, alpha=0.25)
    # 2 * (0.75 * (1 + cos(pi t / 4)) / 2 + 0.25), held at the floor 2 * alpha after decay_steps
    expected = [2.0, 0.5 + 0.75 * (1 + math.sqrt(0.5)), 1.25, 0.5 + 0.75 * (1 - math.sqrt(0.5)), 0.5, 0.5]
    assert [schedule(step) for step in range(6)] == pytest.approx(expected, rel=1e-14)


def test_cosine_warm_up_without_target_is_ignored_and_target_without_steps_is_the_peak():
    plain = CosineDecay(1.0, decay_steps=10)
    assert [CosineDecay(1.0, decay_steps=10, warmup_steps=5)(s) for s in range(12)] == [plain(s) for s in range(12)]
    assert CosineDecay(0.1, decay_steps=10, warmup_target=0.5)(0) == 0.5
    assert CosineDecay(0.1, decay_steps=10, warmup_target=0.5)(5) == pytest.approx(0.25, rel=1e-14)


# 2. Parity with PyTorch and Keras ---------------------------------------------------------------

@pytest.mark.parametrize(("step_size", "gamma"), [(1, 0.9), (3, 0.5), (4, 0.1), (2, 1.5)])
def test_step_decay_matches_torch_step_lr(step_size, gamma):
    expected = torch_rates(lambda torch, opt: torch.optim.lr_scheduler.StepLR(opt, step_size, gamma=gamma), 0.3, 15)
    schedule = StepDecay(0.3, step_size=step_size, gamma=gamma)
    assert_close([schedule(step) for step in range(15)], expected, rtol=1e-12)


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize(("decay_steps", "decay_rate"), [(5, 0.5), (3, 0.96), (1, 0.8)])
def test_exponential_decay_matches_keras(decay_steps, decay_rate, staircase):
    keras = import_keras()
    ours = ExponentialDecay(0.1, decay_steps, decay_rate, staircase=staircase)
    theirs = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps, decay_rate, staircase=staircase)
    assert_close([ours(step) for step in range(20)], keras_rates(theirs, 20), rtol=1e-6)


COSINE_CASES = [
    dict(initial_learning_rate=0.1, decay_steps=10),
    dict(initial_learning_rate=0.1, decay_steps=10, alpha=0.2),
    dict(initial_learning_rate=0.0, decay_steps=8, warmup_target=0.5, warmup_steps=4),
    dict(initial_learning_rate=0.05, decay_steps=7, alpha=0.1, warmup_target=0.2, warmup_steps=3),
    dict(initial_learning_rate=0.3, decay_steps=5, warmup_target=0.1, warmup_steps=2),  # warm-up goes down
    dict(initial_learning_rate=0.1, decay_steps=6, warmup_target=0.4),  # no warm-up steps: decays from the target
]


@pytest.mark.parametrize("kwargs", COSINE_CASES)
def test_cosine_decay_matches_keras(kwargs):
    keras = import_keras()
    ours, theirs = CosineDecay(**kwargs), keras.optimizers.schedules.CosineDecay(**kwargs)
    steps = kwargs["decay_steps"] + kwargs.get("warmup_steps", 0) + 4  # past the end too
    peak = kwargs.get("warmup_target") or kwargs["initial_learning_rate"]
    assert_close([ours(step) for step in range(steps)], keras_rates(theirs, steps), rtol=1e-6, scale=peak)


@settings(max_examples=max(1, settings.default.max_examples // 5))  # 10 in the ci profile; more with fuzz
@given(st.just(0.0) | st.floats(1e-4, 1.0), st.integers(1, 20), st.floats(0.0, 1.0), st.none() | st.floats(1e-3, 2.0),
       st.integers(0, 10))
def test_cosine_decay_matches_keras_for_random_arguments(initial, decay_steps, alpha, warmup_target, warmup_steps):
    # (Keras computes in float32: rates under ~1e-38 would underflow there)
    keras = import_keras()
    kwargs = dict(initial_learning_rate=initial, decay_steps=decay_steps, alpha=alpha, warmup_target=warmup_target,
                  warmup_steps=warmup_steps)
    ours, theirs = CosineDecay(**kwargs), keras.optimizers.schedules.CosineDecay(**kwargs)
    steps = decay_steps + warmup_steps + 2
    ours_rates = [ours(step) for step in range(steps)]
    assert_close(ours_rates, keras_rates(theirs, steps), rtol=1e-6, scale=max(initial, warmup_target or 0.0))
    # after the warm-up the rate never rises, and it ends at alpha times the peak
    decay = ours_rates[warmup_steps if warmup_target is not None else 0:]
    assert all(later <= earlier + 1e-15 for earlier, later in zip(decay, decay[1:]))
    assert ours_rates[-1] == pytest.approx(alpha * (warmup_target or initial), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("decay_steps", [1, 6, 25])
def test_cosine_decay_matches_torch_cosine_annealing_over_one_half_period(decay_steps, alpha):
    # torch's eta_min is alpha * initial_learning_rate; past T_max torch rises again, we stay at the floor
    expected = torch_rates(lambda torch, opt: torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=decay_steps, eta_min=alpha * 0.2), 0.2, decay_steps + 1)
    schedule = CosineDecay(0.2, decay_steps=decay_steps, alpha=alpha)
    assert_close([schedule(step) for step in range(decay_steps + 1)], expected, rtol=1e-9, scale=0.2)


# 3. Configs -------------------------------------------------------------------------------------

SCHEDULES = [
    StepDecay(0.1, step_size=3, gamma=0.5),
    ExponentialDecay(0.01, decay_steps=7, decay_rate=0.9, staircase=True),
    CosineDecay(0.0, decay_steps=20, alpha=0.05, warmup_target=0.3, warmup_steps=5),
    CosineDecay(0.2, decay_steps=4),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_serialize_round_trip_through_json(schedule):
    config = json.loads(json.dumps(schedules.serialize(schedule)))
    assert config["class_name"] == type(schedule).__name__
    rebuilt = schedules.deserialize(config)
    assert type(rebuilt) is type(schedule)
    assert rebuilt.get_config() == schedule.get_config()
    assert [rebuilt(step) for step in range(30)] == [schedule(step) for step in range(30)]
    assert repr(rebuilt) == repr(schedule)


def test_config_holds_the_arguments():
    assert schedules.serialize(SCHEDULES[2]) == {"class_name": "CosineDecay", "config": {
        "initial_learning_rate": 0.0, "decay_steps": 20, "alpha": 0.05, "warmup_target": 0.3, "warmup_steps": 5}}
    assert schedules.serialize(SCHEDULES[1])["config"] == {
        "initial_learning_rate": 0.01, "decay_steps": 7, "decay_rate": 0.9, "staircase": True}


def test_plain_numbers_pass_through_as_floats():
    assert schedules.serialize(0.5) == 0.5
    value = schedules.deserialize(3)
    assert value == 3.0 and type(value) is float


# 4. Bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "argument"), [
    (lambda: StepDecay(0.0, 2), "initial_learning_rate"),
    (lambda: StepDecay(-0.1, 2), "initial_learning_rate"),
    (lambda: StepDecay(float("nan"), 2), "initial_learning_rate"),
    (lambda: StepDecay(0.1, 0), "step_size"),
    (lambda: StepDecay(0.1, 2.5), "step_size"),
    (lambda: StepDecay(0.1, True), "step_size"),
    (lambda: StepDecay(0.1, 2, gamma=0.0), "gamma"),
    (lambda: StepDecay(0.1, 2, gamma=float("inf")), "gamma"),
    (lambda: ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
    (lambda: ExponentialDecay(0.1, 10, -0.5), "decay_rate"),
    (lambda: ExponentialDecay("0.1", 10, 0.5), "initial_learning_rate"),
    (lambda: CosineDecay(-1.0, 10), "initial_learning_rate"),
    (lambda: CosineDecay(0.1, 0), "decay_steps"),
    (lambda: CosineDecay(0.1, 10, alpha=1.5), "alpha"),
    (lambda: CosineDecay(0.1, 10, alpha=-0.1), "alpha"),
    (lambda: CosineDecay(0.1, 10, warmup_target=0.0), "warmup_target"),
    (lambda: CosineDecay(0.1, 10, warmup_target=0.5, warmup_steps=-1), "warmup_steps"),
    (lambda: schedules.deserialize({"class_name": "PolynomialDecay", "config": {}}), "PolynomialDecay"),
    (lambda: schedules.deserialize("0.1"), "'0.1'"),
    (lambda: schedules.deserialize(True), "True"),
])
def test_bad_arguments_raise_value_error_naming_them(make, argument):
    with pytest.raises(ValueError, match="Received") as info:
        make()
    assert argument in str(info.value)


def test_numpy_scalars_are_accepted_like_python_numbers():
    schedule = StepDecay(np.float32(0.5), step_size=np.int64(2), gamma=np.float32(0.5))
    assert schedule(2) == 0.25
    assert CosineDecay(np.float32(1.0), decay_steps=np.int64(4))(2) == pytest.approx(0.5)
