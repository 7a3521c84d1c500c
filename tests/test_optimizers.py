"""Optimizers: parity with torch.optim step by step, known values, clipping, schedules, state, config, training."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import numcnn
from helpers import assert_close, import_torch
from numcnn import optimizers, schedules
from numcnn.functional import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from numcnn.layers import Dense
from numcnn.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop

# several arrays of different shapes updated together, named as model.params names them
SHAPES = {"conv/kernel": (3, 3, 2, 4), "conv/bias": (4,), "dense/kernel": (5, 3), "dense/bias": (3,)}
# the gradient scale changes from step to step, so accumulators, AMSGrad's maximum and momentum all matter
GRAD_SCALES = (1.0, 3.0, 0.3, 2.0, 0.1, 1.0)


def make_params(shapes, rng, dtype=np.float32):
    return {name: np.asarray(rng.standard_normal(shape), dtype=dtype) for name, shape in shapes.items()}


def make_grads(shapes, rng, scales=GRAD_SCALES, dtype=np.float32):
    """One dict of gradients per step."""
    return [{name: np.asarray(scale * rng.standard_normal(shape), dtype=dtype) for name, shape in shapes.items()}
            for scale in scales]


def copy_params(params):
    return {name: value.copy() for name, value in params.items()}


def run_ours(optimizer, params0, grad_steps):
    params = copy_params(params0)
    for grads in grad_steps:
        optimizer.apply(grads, params)
    return params


def run_torch(make_optimizer, params0, grad_steps, max_norm=None):
    """The same steps with torch.optim; ``max_norm`` clips with clip_grad_norm_ before each step."""
    torch = import_torch()
    tensors = {name: torch.nn.Parameter(torch.from_numpy(value.copy())) for name, value in params0.items()}
    optimizer = make_optimizer(torch, list(tensors.values()))
    for grads in grad_steps:
        for name, tensor in tensors.items():
            tensor.grad = torch.from_numpy(grads[name].copy())
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_(list(tensors.values()), max_norm)
        optimizer.step()
    return {name: tensor.detach().numpy() for name, tensor in tensors.items()}


def assert_params_close(actual, desired, params0, rtol=1e-6):
    assert actual.keys() == desired.keys()
    for name in desired:
        assert actual[name].dtype == params0[name].dtype, name
        assert_close(actual[name], desired[name], rtol=rtol)
    # the comparison has teeth: the parameters moved by far more than the tolerance
    moved = max(float(np.max(np.abs(desired[name] - params0[name]))) for name in desired)
    assert moved > 1000 * rtol * max(float(np.max(np.abs(v))) for v in desired.values())


# 1. Parity with torch.optim ---------------------------------------------------------------------

# ours: (class, kwargs); torch: (torch.optim class name, kwargs). Where a default is left out on our
# side and given on torch's, the test also checks our default (e.g. RMSprop's rho=0.9, Keras').
PARITY_CASES = {
    "sgd": (SGD, dict(learning_rate=0.1), "SGD", dict(lr=0.1)),
    "sgd-momentum": (SGD, dict(learning_rate=0.05, momentum=0.9), "SGD", dict(lr=0.05, momentum=0.9)),
    "sgd-nesterov": (SGD, dict(learning_rate=0.05, momentum=0.8, nesterov=True),
                     "SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    "sgd-weight-decay": (SGD, dict(learning_rate=0.05, weight_decay=0.2), "SGD", dict(lr=0.05, weight_decay=0.2)),
    "sgd-momentum-weight-decay": (SGD, dict(learning_rate=0.05, momentum=0.5, nesterov=True, weight_decay=0.1),
                                  "SGD", dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.1)),
    "adagrad": (Adagrad, dict(learning_rate=0.1), "Adagrad", dict(lr=0.1, eps=1e-10)),
    "adagrad-initial-accumulator": (
        Adagrad, dict(learning_rate=0.1, initial_accumulator_value=0.5, epsilon=1e-6, weight_decay=0.05),
        "Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6, weight_decay=0.05)),
    "rmsprop": (RMSprop, dict(learning_rate=0.01), "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-8)),
    "rmsprop-momentum": (RMSprop, dict(learning_rate=0.01, rho=0.8, momentum=0.9),
                         "RMSprop", dict(lr=0.01, alpha=0.8, momentum=0.9)),
    "rmsprop-centered": (RMSprop, dict(learning_rate=0.01, centered=True, epsilon=1e-6),
                         "RMSprop", dict(lr=0.01, alpha=0.9, centered=True, eps=1e-6)),
    "rmsprop-centered-momentum-weight-decay": (
        RMSprop, dict(learning_rate=0.01, rho=0.95, momentum=0.5, centered=True, weight_decay=0.1),
        "RMSprop", dict(lr=0.01, alpha=0.95, momentum=0.5, centered=True, weight_decay=0.1)),
    "adam": (Adam, dict(learning_rate=0.01), "Adam", dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
    "adam-amsgrad": (Adam, dict(learning_rate=0.05, beta_1=0.8, beta_2=0.99, amsgrad=True),
                     "Adam", dict(lr=0.05, betas=(0.8, 0.99), amsgrad=True)),
    "adam-weight-decay": (Adam, dict(learning_rate=0.01, weight_decay=0.5), "Adam", dict(lr=0.01, weight_decay=0.5)),
    "adamw": (AdamW, dict(learning_rate=0.01, weight_decay=0.5), "AdamW", dict(lr=0.01, weight_decay=0.5)),
    "adamw-default-decay-amsgrad": (AdamW, dict(learning_rate=0.01, amsgrad=True, epsilon=1e-6),
                                    "AdamW", dict(lr=0.01, weight_decay=0.01, amsgrad=True, eps=1e-6)),
}


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_matches_torch_optim_step_by_step(case, rng):
    cls, kwargs, torch_name, torch_kwargs = PARITY_CASES[case]
    params0, grad_steps = make_params(SHAPES, rng), make_grads(SHAPES, rng)
    ours = run_ours(cls(**kwargs), params0, grad_steps)
    expected = run_torch(lambda torch, ps: getattr(torch.optim, torch_name)(ps, **torch_kwargs), params0, grad_steps)
    assert_params_close(ours, expected, params0)


def test_amsgrad_case_differs_from_plain_adam(rng):
    # the gradient scales make AMSGrad's running maximum matter, so the amsgrad parity case can fail
    params0, grad_steps = make_params(SHAPES, rng), make_grads(SHAPES, rng)
    plain = run_ours(Adam(0.05, beta_1=0.8, beta_2=0.99), params0, grad_steps)
    ams = run_ours(Adam(0.05, beta_1=0.8, beta_2=0.99, amsgrad=True), params0, grad_steps)
    assert max(float(np.max(np.abs(plain[k] - ams[k]))) for k in SHAPES) > 5e-4


PARAM_NAMES = ("a/kernel", "a/bias", "b/kernel", "b/gamma")


def hyperparameters(family):
    """(numcnn class, kwargs, torch.optim class name, kwargs) drawn at random for one family."""
    lr, wd = st.floats(1e-3, 0.3), st.sampled_from([0.0, 0.0, 0.01, 0.3])
    if family == "sgd":
        return st.builds(
            lambda lr, m, nesterov, wd: (SGD, dict(learning_rate=lr, momentum=m, nesterov=nesterov and m > 0,
                                                   weight_decay=wd),
                                         "SGD", dict(lr=lr, momentum=m, nesterov=nesterov and m > 0, weight_decay=wd)),
            lr, st.sampled_from([0.0, 0.5]) | st.floats(0.0, 0.95), st.booleans(), wd)
    if family == "adagrad":
        return st.builds(
            lambda lr, acc, eps, wd: (Adagrad, dict(learning_rate=lr, initial_accumulator_value=acc, epsilon=eps,
                                                    weight_decay=wd),
                                      "Adagrad", dict(lr=lr, initial_accumulator_value=acc, eps=eps, weight_decay=wd)),
            lr, st.sampled_from([0.0, 0.1]) | st.floats(0.0, 2.0), st.floats(1e-10, 1e-4), wd)
    if family == "rmsprop":
        return st.builds(
            lambda lr, rho, m, centered, eps, wd: (
                RMSprop, dict(learning_rate=lr, rho=rho, momentum=m, centered=centered, epsilon=eps, weight_decay=wd),
                "RMSprop", dict(lr=lr, alpha=rho, momentum=m, centered=centered, eps=eps, weight_decay=wd)),
            st.floats(1e-4, 0.05), st.floats(0.5, 0.99), st.sampled_from([0.0, 0.9]) | st.floats(0.0, 0.9),
            st.booleans(), st.floats(1e-8, 1e-4), wd)
    return st.builds(
        lambda lr, b1, b2, eps, amsgrad, wd, decoupled: (
            AdamW if decoupled else Adam,
            dict(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps, amsgrad=amsgrad, weight_decay=wd),
            "AdamW" if decoupled else "Adam",
            dict(lr=lr, betas=(b1, b2), eps=eps, amsgrad=amsgrad, weight_decay=wd)),
        st.floats(1e-4, 0.1), st.floats(0.0, 0.95), st.floats(0.9, 0.9999), st.floats(1e-8, 1e-4),
        st.booleans(), wd, st.booleans())


@pytest.mark.parametrize("family", ["sgd", "adagrad", "rmsprop", "adam"])
@settings(max_examples=max(1, settings.default.max_examples // 6))  # 8 in the ci profile; more with fuzz
@given(data=st.data())
def test_random_shapes_and_hyperparameters_match_torch(family, data):
    shapes = data.draw(st.dictionaries(st.sampled_from(PARAM_NAMES),
                                       st.lists(st.integers(1, 4), max_size=3).map(tuple), min_size=1), label="shapes")
    cls, kwargs, torch_name, torch_kwargs = data.draw(hyperparameters(family), label="hyperparameters")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    params0, grad_steps = make_params(shapes, rng), make_grads(shapes, rng)
    ours = run_ours(cls(**kwargs), params0, grad_steps)
    expected = run_torch(lambda torch, ps: getattr(torch.optim, torch_name)(ps, **torch_kwargs), params0, grad_steps)
    for name in shapes:
        assert ours[name].dtype == np.float32
        assert_close(ours[name], expected[name], rtol=1e-6, scale=max(1.0, float(np.max(np.abs(expected[name])))))


# 2. Known values by hand ------------------------------------------------------------------------

def test_sgd_plain_step_by_hand():
    param = np.array([1.0, -2.0, 3.0])
    SGD(learning_rate=0.1).apply({"w": np.array([0.5, 0.5, -1.0])}, {"w": param})
    assert_close(param, [0.95, -2.05, 3.1], rtol=1e-15)


@pytest.mark.parametrize(("kwargs", "expected"), [
    (dict(momentum=0.9), [0.9, 0.71, 0.439]),  # v = 1, 1.9, 2.71; p -= 0.1 v
    (dict(momentum=0.9, nesterov=True), [0.81, 0.539, 0.1951]),  # p -= 0.1 (g + 0.9 v)
    (dict(weight_decay=0.5), [0.85, 0.7075, 0.572125]),  # g = 1 + 0.5 p: 1.5, 1.425, 1.35375
])
def test_sgd_momentum_nesterov_and_weight_decay_by_hand(kwargs, expected):
    param, optimizer = np.array([1.0]), SGD(learning_rate=0.1, **kwargs)
    trace = []
    for _ in range(3):
        optimizer.apply({"w": np.array([1.0])}, {"w": param})
        trace.append(param[0])
    assert_close(trace, expected, rtol=1e-12)


def test_adam_first_step_moves_each_param_by_lr_times_g_over_abs_g_plus_epsilon():
    # m_hat = g and v_hat = g**2 after one step, so the move is lr * g / (|g| + epsilon) = lr * sign(g) nearly;
    # for |g| = epsilon it is exactly half of lr (Keras' placement of epsilon would give lr / 32.6)
    g = np.array([3.0, -0.002, 1e-8, -1e-8, 0.0])
    param = np.zeros(5)
    Adam(learning_rate=0.1).apply({"w": g}, {"w": param})
    assert_close(param, -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)
    assert_close(param, [-0.1, 0.1, -0.05, 0.05, 0.0], rtol=1e-5)


def test_adam_with_a_constant_gradient_moves_lr_every_step():
    param, optimizer = np.array([1.0, 1.0]), Adam(learning_rate=0.01, beta_1=0.5, beta_2=0.75)
    for step in range(1, 6):
        optimizer.apply({"w": np.array([2.0, -5.0])}, {"w": param})
        assert_close(param, [1 - 0.01 * step, 1 + 0.01 * step], rtol=1e-9)


def test_adamw_decays_weights_directly_and_adam_adds_l2_to_the_gradient():
    # with a zero gradient AdamW only shrinks the weights: p *= 1 - lr * weight_decay
    param = np.array([2.0, -4.0])
    AdamW(learning_rate=0.1, weight_decay=0.5).apply({"w": np.zeros(2)}, {"w": param})
    assert_close(param, [1.9, -3.8], rtol=1e-15)
    # Adam's L2 term goes through the normalisation: g = 0.5 p, so the first step is lr * sign(p)
    param = np.array([2.0, -4.0])
    Adam(learning_rate=0.1, weight_decay=0.5).apply({"w": np.zeros(2)}, {"w": param})
    assert_close(param, [1.9, -3.9], rtol=1e-8)


def test_adagrad_and_rmsprop_first_steps_by_hand():
    g = np.array([2.0, -0.5])
    param = np.zeros(2)
    Adagrad(learning_rate=0.1, initial_accumulator_value=5.0).apply({"w": g}, {"w": param})
    assert_close(param, -0.1 * g / (np.sqrt(5.0 + g * g) + 1e-10), rtol=1e-14)  # -0.1 * [2/3, -0.5/sqrt(5.25)]
    assert_close(param[0], -0.2 / 3, rtol=1e-9)
    param = np.zeros(2)
    RMSprop(learning_rate=0.1, rho=0.75).apply({"w": g}, {"w": param})
    assert_close(param, [-0.2, 0.2], rtol=1e-7)  # g / sqrt(0.25 g**2) = 2 sign(g)


# 3. Gradient clipping ---------------------------------------------------------------------------

@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clipping, and a bound that is never reached
def test_global_clipnorm_matches_torch_clip_grad_norm(max_norm, rng):
    params0, grad_steps = make_params(SHAPES, rng), make_grads(SHAPES, rng)
    ours = run_ours(SGD(0.1, momentum=0.9, global_clipnorm=max_norm), params0, grad_steps)
    expected = run_torch(lambda torch, ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), params0, grad_steps,
                         max_norm=max_norm)
    assert_params_close(ours, expected, params0)
    # and the clipping did (or did not) change the result
    unclipped = run_ours(SGD(0.1, momentum=0.9), params0, grad_steps)
    changed = any(not np.allclose(unclipped[k], ours[k], rtol=1e-6) for k in SHAPES)
    assert changed == (max_norm < 1)


def test_global_clipnorm_scales_all_arrays_together_by_hand():
    a, b = np.zeros(2), np.zeros(2)
    SGD(learning_rate=1.0, global_clipnorm=1.0).apply({"a": np.array([3.0, 0.0]), "b": np.array([0.0, 4.0])},
                                                     {"a": a, "b": b})
    assert_close(a, [-0.6, 0.0], rtol=1e-6)  # joint norm 5 -> 1
    assert_close(b, [0.0, -0.8], rtol=1e-6)


def test_clipnorm_clips_each_array_separately_by_hand():
    a, b = np.zeros(2), np.zeros(2)
    SGD(learning_rate=1.0, clipnorm=1.0).apply({"a": np.array([3.0, 4.0]), "b": np.array([0.3, -0.4])},
                                              {"a": a, "b": b})
    assert_close(a, [-0.6, -0.8], rtol=1e-6)  # norm 5 -> 1
    assert_array_equal(b, [-0.3, 0.4])  # norm 0.5 is under the bound: untouched


def test_global_clipnorm_counts_only_the_arrays_being_updated():
    # torch's clip_grad_norm_ sees only the parameters it is given; a gradient with no parameter
    # (e.g. of a frozen layer) should not shrink the update
    a = np.zeros(2)
    SGD(learning_rate=1.0, global_clipnorm=1.0).apply({"a": np.array([0.6, 0.0]), "frozen": np.array([100.0, 0.0])},
                                                     {"a": a})
    assert_close(a, [-0.6, 0.0], rtol=1e-6)


# 4. Learning-rate schedules ---------------------------------------------------------------------

def test_step_decay_schedule_sets_the_sgd_step_size():
    optimizer = SGD(learning_rate=schedules.StepDecay(0.1, step_size=2, gamma=0.5))
    param = np.zeros(1)
    expected_rates = [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]
    for step, rate in enumerate(expected_rates):
        assert optimizer.iterations == step
        assert optimizer.current_learning_rate() == pytest.approx(rate, rel=1e-15)
        before = param.copy()
        optimizer.apply({"w": np.ones(1)}, {"w": param})
        assert_close(before - param, [rate], rtol=1e-12)  # plain SGD moves by exactly lr * g
    assert optimizer.iterations == len(expected_rates)


def test_cosine_warmup_schedule_drives_the_learning_rate():
    schedule = schedules.CosineDecay(0.0, decay_steps=4, warmup_target=0.2, warmup_steps=2)
    optimizer, param = SGD(learning_rate=schedule), np.zeros(1)
    rates = []
    for _ in range(8):
        rates.append(optimizer.current_learning_rate())
        optimizer.apply({"w": np.array([-2.0])}, {"w": param})
    # warm-up 0 -> 0.2 over 2 steps, then 0.2 * (1 + cos(pi * t / 4)) / 2, then 0
    assert_close(rates, [0.0, 0.1, 0.2, 0.1 * (1 + math.sqrt(0.5)), 0.1, 0.1 * (1 - math.sqrt(0.5)), 0.0, 0.0],
                 rtol=1e-12, atol_scale=1e-14)
    assert_close(param, [2 * sum(rates)], rtol=1e-12)


def test_adam_with_an_exponential_schedule_moves_by_the_scheduled_rate():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    optimizer, param = Adam(learning_rate=schedule), np.zeros(1)
    for step in range(4):
        before = param.copy()
        optimizer.apply({"w": np.array([1.0])}, {"w": param})
        assert_close(before - param, [0.1 * 0.5 ** step], rtol=1e-7)  # constant g: Adam moves lr


# 5. get_state / set_state -----------------------------------------------------------------------

STATE_CASES = {
    "sgd": lambda: SGD(0.1),
    "sgd-nesterov": lambda: SGD(0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adagrad": lambda: Adagrad(0.1, initial_accumulator_value=0.1),
    "rmsprop-centered-momentum": lambda: RMSprop(0.01, momentum=0.9, centered=True),
    "adam-amsgrad": lambda: Adam(0.01, amsgrad=True),
    "adamw-schedule": lambda: AdamW(schedules.CosineDecay(0.01, decay_steps=5), weight_decay=0.1),
}


@pytest.mark.parametrize("case", list(STATE_CASES))
def test_state_round_trip_continues_bit_identically(case, rng):
    params0, grad_steps = make_params(SHAPES, rng), make_grads(SHAPES, rng)
    a = STATE_CASES[case]()
    params_a = run_ours(a, params0, grad_steps[:3])
    arrays, meta = a.get_state()
    assert meta["iterations"] == 3 and sorted(meta["params"]) == sorted(SHAPES)
    assert all(key.split("/")[-1] in a.slot_names and value.dtype == np.float32 for key, value in arrays.items())
    meta = json.loads(json.dumps(meta))  # as a checkpoint stores it
    b = STATE_CASES[case]()
    b.set_state({key: value.copy() for key, value in arrays.items()}, meta)
    params_b = copy_params(params_a)
    assert b.iterations == 3 and b.current_learning_rate() == a.current_learning_rate()
    fresh, params_fresh = STATE_CASES[case](), copy_params(params_a)
    for grads in grad_steps[3:]:
        a.apply(grads, params_a)
        b.apply(grads, params_b)
        fresh.apply(grads, params_fresh)
    for name in SHAPES:
        assert_array_equal(params_b[name], params_a[name])
    # the restored state mattered (plain SGD has none)
    differs = any(not np.array_equal(params_fresh[k], params_a[k]) for k in SHAPES)
    assert differs == (case != "sgd")


def test_set_state_copies_the_arrays_and_checks_them(rng):
    params = make_params({"w": (3,)}, rng)
    a = SGD(0.1, momentum=0.9)
    a.apply({"w": np.ones(3, np.float32)}, params)
    arrays, meta = a.get_state()
    b = SGD(0.1, momentum=0.9)
    b.set_state(arrays, meta)
    assert_array_equal(b.get_state()[0]["w/velocity"], [1, 1, 1])
    b.apply({"w": np.ones(3, np.float32)}, make_params({"w": (3,)}, rng))
    assert_array_equal(arrays["w/velocity"], [1, 1, 1])  # a's velocity, not changed through b
    with pytest.raises(ValueError, match="w/m.*Received"):
        Adam().set_state(arrays, meta)


# 6. get / serialize / deserialize ---------------------------------------------------------------

@pytest.mark.parametrize(("name", "cls", "settings_"), [
    ("sgd", SGD, dict(momentum=0.0, nesterov=False, learning_rate=0.01)),
    ("momentum", SGD, dict(momentum=0.9, nesterov=False)),
    ("nesterov", SGD, dict(momentum=0.9, nesterov=True)),
    ("adagrad", Adagrad, dict(learning_rate=0.01, initial_accumulator_value=0.0, epsilon=1e-10)),
    ("rmsprop", RMSprop, dict(learning_rate=0.001, rho=0.9, momentum=0.0, centered=False)),
    ("adam", Adam, dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, amsgrad=False,
                        weight_decay=0.0)),
    ("adamw", AdamW, dict(learning_rate=0.001, weight_decay=0.01)),
    ("Adam", Adam, dict()),
])
def test_get_by_name(name, cls, settings_):
    optimizer = optimizers.get(name)
    assert type(optimizer) is cls
    for key, value in settings_.items():
        assert getattr(optimizer, key) == value, key


def test_get_passes_keyword_arguments_and_returns_instances_as_is():
    optimizer = optimizers.get("momentum", learning_rate=0.5, momentum=0.5)
    assert (optimizer.learning_rate, optimizer.momentum) == (0.5, 0.5)
    assert optimizers.get(optimizer) is optimizer
    assert optimizers.get("adamw", weight_decay=0.2).weight_decay == 0.2


SERIALIZE_CASES = [
    SGD(0.2, momentum=0.5, nesterov=True, weight_decay=0.01, clipnorm=2.0, name="my_sgd"),
    Adagrad(schedules.StepDecay(0.1, step_size=2, gamma=0.5), initial_accumulator_value=0.3, global_clipnorm=1.0),
    RMSprop(0.01, rho=0.8, momentum=0.3, centered=True, epsilon=1e-6),
    Adam(schedules.CosineDecay(0.01, 10, alpha=0.1, warmup_target=0.02, warmup_steps=2), amsgrad=True),
    AdamW(schedules.ExponentialDecay(0.01, 3, 0.5, staircase=True), weight_decay=0.3, beta_1=0.8),
]


@pytest.mark.parametrize("optimizer", SERIALIZE_CASES, ids=lambda o: type(o).__name__)
def test_serialize_round_trip_through_json(optimizer, rng):
    config = json.loads(json.dumps(optimizers.serialize(optimizer)))
    assert config["class_name"] == type(optimizer).__name__
    rebuilt = optimizers.deserialize(config)
    assert type(rebuilt) is type(optimizer)
    assert rebuilt.get_config() == optimizer.get_config()
    assert type(rebuilt.learning_rate) is type(optimizer.learning_rate)
    # and it behaves the same
    params0, grad_steps = make_params(SHAPES, rng), make_grads(SHAPES, rng)
    original = run_ours(optimizers.deserialize(config), params0, grad_steps)
    again = run_ours(rebuilt, params0, grad_steps)
    for name in SHAPES:
        assert_array_equal(again[name], original[name])


def test_config_holds_the_settings():
    config = optimizers.serialize(SERIALIZE_CASES[0])["config"]
    assert config == {"learning_rate": 0.2, "weight_decay": 0.01, "clipnorm": 2.0, "global_clipnorm": None,
                      "name": "my_sgd", "momentum": 0.5, "nesterov": True}
    schedule_config = optimizers.serialize(SERIALIZE_CASES[1])["config"]["learning_rate"]
    assert schedule_config == {"class_name": "StepDecay",
                               "config": {"initial_learning_rate": 0.1, "step_size": 2, "gamma": 0.5}}


# 7. Bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "argument"), [
    (lambda: SGD(learning_rate=-0.1), "learning_rate"),
    (lambda: SGD(learning_rate=float("nan")), "learning_rate"),
    (lambda: Adam(learning_rate=0.0), "learning_rate"),
    (lambda: Adam(learning_rate="0.1"), "learning_rate"),
    (lambda: SGD(momentum=1.0), "momentum"),
    (lambda: SGD(momentum=-0.1), "momentum"),
    (lambda: RMSprop(momentum=1.5), "momentum"),
    (lambda: RMSprop(rho=1.0), "rho"),
    (lambda: Adam(beta_1=1.0), "beta_1"),
    (lambda: Adam(beta_2=float("inf")), "beta_2"),
    (lambda: Adam(epsilon=0.0), "epsilon"),
    (lambda: Adagrad(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (lambda: SGD(weight_decay=-0.01), "weight_decay"),
    (lambda: SGD(clipnorm=0.0), "clipnorm"),
    (lambda: SGD(global_clipnorm=-1.0), "global_clipnorm"),
    (lambda: SGD(nesterov=True), "nesterov"),
    (lambda: SGD(clipnorm=1.0, global_clipnorm=1.0), "global_clipnorm"),
    (lambda: optimizers.get("adamax"), "adamax"),
    (lambda: optimizers.get(None), "None"),
    (lambda: optimizers.deserialize({"class_name": "Adamax", "config": {}}), "Adamax"),
])
def test_bad_arguments_raise_value_error_naming_them(make, argument):
    with pytest.raises(ValueError, match="Received") as info:
        make()
    assert argument in str(info.value)


@pytest.mark.parametrize(("grads", "params", "error", "names"), [
    ({"a": np.ones(2)}, {"a": np.zeros(2), "b": np.zeros(3)}, ValueError, "'b'"),  # missing gradient
    ({"a": np.ones(3)}, {"a": np.zeros(2)}, ValueError, "'a'"),  # shape mismatch
    ({"a": np.ones(2)}, {"a": np.zeros(2, dtype=np.int64)}, TypeError, "'a'"),  # non-float param
    ({"a": np.ones(2)}, {"a": [0.0, 0.0]}, TypeError, "'a'"),  # not an array: cannot be updated in place
    ({"a": np.array(["x", "y"])}, {"a": np.zeros(2)}, TypeError, "grads['a']"),
    (np.ones(2), {"a": np.zeros(2)}, TypeError, "grads"),
    ({}, {}, ValueError, "params"),
])
def test_bad_apply_arguments(grads, params, error, names):
    with pytest.raises(error, match="Received") as info:
        SGD(0.1).apply(grads, params)
    assert names in str(info.value)


def test_a_second_array_under_a_used_name_raises():
    optimizer, first, second = Adam(), np.zeros(2), np.zeros(2)
    optimizer.apply({"dense/kernel": np.ones(2)}, {"dense/kernel": first})
    optimizer.apply({"dense/kernel": np.ones(2)}, {"dense/kernel": first})  # the same array again is fine
    with pytest.raises(ValueError, match="Received") as info:
        optimizer.apply({"dense/kernel": np.ones(2)}, {"dense/kernel": second})
    assert "'dense/kernel'" in str(info.value)
    assert_array_equal(second, [0, 0])  # nothing was updated


@pytest.mark.parametrize("make_optimizer", [
    lambda: SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.1, clipnorm=0.5),
    lambda: Adagrad(0.1, weight_decay=0.1, global_clipnorm=0.5),
    lambda: RMSprop(0.1, momentum=0.5, centered=True, weight_decay=0.1),
    lambda: Adam(0.1, amsgrad=True, weight_decay=0.1, clipnorm=0.5),
    lambda: AdamW(0.1, global_clipnorm=0.5),
], ids=["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_apply_keeps_the_callers_grads_and_the_params_dtype(make_optimizer, rng):
    optimizer = make_optimizer()
    params = make_params(SHAPES, rng)
    arrays = dict(params)
    grads = {name: g.astype(np.float64) for name, g in make_grads(SHAPES, rng)[1].items()}  # float64 gradients
    grads["dense/bias"] = grads["dense/bias"].tolist()  # and one as a list, which apply converts
    grads_before = {name: np.array(g) for name, g in grads.items()}
    grads_dict_before = dict(grads)
    params0 = copy_params(params)
    for _ in range(2):
        optimizer.apply(grads, params)
    assert grads == grads_dict_before and all(grads[k] is grads_dict_before[k] for k in grads)
    assert type(grads["dense/bias"]) is list
    for name in SHAPES:
        assert_array_equal(grads[name], grads_before[name])
        assert params[name] is arrays[name]  # updated in place
        assert params[name].dtype == np.float32
        assert not np.array_equal(params[name], params0[name])
    assert all(value.dtype == np.float32 for value in optimizer.get_state()[0].values())


def test_lists_and_the_dlfs_argument_order_update_like_dicts(rng):
    params0, grad_steps = make_params(SHAPES, rng), make_grads(SHAPES, rng)
    expected = run_ours(Adam(0.01), params0, grad_steps)
    names = list(SHAPES)
    as_list = [params0[name].copy() for name in names]
    dlfs = copy_params(params0)
    by_list, by_update = Adam(0.01), Adam(0.01)
    for grads in grad_steps:
        by_list.apply([grads[name] for name in names], as_list)
        by_update.update(dlfs, grads)
    for i, name in enumerate(names):
        assert_array_equal(as_list[i], expected[name])
        assert_array_equal(dlfs[name], expected[name])


# 8. They train ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kwargs"), [
    ("sgd", dict(learning_rate=0.5)), ("momentum", dict(learning_rate=0.2)), ("nesterov", dict(learning_rate=0.2)),
    ("adagrad", dict(learning_rate=0.5)), ("rmsprop", dict(learning_rate=0.02)), ("adam", dict(learning_rate=0.05)),
    ("adamw", dict(learning_rate=0.05)),
])
def test_optimizers_train_a_dense_model(name, kwargs):
    optimizer = optimizers.get(name, **kwargs)
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 2.0], [-1.0, -2.0]])
    labels = np.repeat(np.arange(3), 20)
    x = (centers[labels] + 0.4 * rng.standard_normal((60, 2))).astype(np.float32)
    model = numcnn.Sequential([Dense(8, activation="tanh", input_shape=(2,)), Dense(3)], seed=0)
    losses = []
    for _ in range(40):
        loss, cache = softmax_cross_entropy_forward(labels, model(x))
        losses.append(float(loss))
        model.backward(softmax_cross_entropy_backward(cache))
        optimizer.apply(model.grads, model.params)
    assert all(value.dtype == np.float32 for value in model.params.values())
    assert losses[-1] < 0.05 * losses[0], losses
    assert np.array_equal(np.argmax(model(x), axis=1), labels)


@pytest.mark.parametrize("shape", [(50, 7), (700, 300)])  # the big one is updated in pieces on threads
def test_adam_in_place_update_has_the_bits_of_the_formula(shape):
    """The update runs through scratch arrays; each product keeps the formula's order, so the bits are those
    of the expression with temporaries (AdamW's decoupled decay and AMSGrad included)."""
    import math

    from numcnn.functional.threads import batch_chunks
    from numcnn.optimizers import Adam, AdamW

    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(6)]
    assert (len(batch_chunks(p0.size, p0.size)) > 1) == (p0.size > 1000)
    for cls, kwargs in ((Adam, {}), (Adam, {"amsgrad": True}), (AdamW, {"weight_decay": 0.1})):
        opt, p = cls(0.01, **kwargs), p0.copy()
        for g in grads:
            opt.apply({"w": g}, {"w": p})
        b1, b2, eps, lr = 0.9, 0.999, opt.epsilon, 0.01
        q, m, v, v_max = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)
        for t, g in enumerate(grads, 1):
            if cls is AdamW:
                q *= 1 - lr * 0.1
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            denominator = v
            if kwargs.get("amsgrad"):
                np.maximum(v_max, v, out=v_max)
                denominator = v_max
            q -= (lr / (1 - b1 ** t)) * m / (np.sqrt(denominator) / math.sqrt(1 - b2 ** t) + eps)
        np.testing.assert_array_equal(p, q, err_msg=f"{cls.__name__} {kwargs}")
