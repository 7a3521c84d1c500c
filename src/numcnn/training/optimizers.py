"""Optimizers: SGD (plain, momentum, Nesterov), Adagrad, RMSprop, Adam, AdamW.

Every optimizer updates named arrays in place::

    optimizer = Adam(learning_rate=1e-3)
    model.backward(dloss)
    optimizer.apply(model.grads, model.params)    # Keras: apply(grads, variables)
    optimizer.update(model.params, model.grads)   # the same, the argument order of Deep Learning from Scratch

Slots are kept per name, so names must be unique across everything one optimizer
updates. To update layers one by one, as note 004 does, give each layer its own
optimizer (``optimizers[layer.name].apply(layer.grads, layer.params)``) or one
optimizer the model's names.

The update rules are PyTorch's ``torch.optim`` (the tests compare them step by
step); argument names are Keras'. Per-array slots (velocities, moments) are
kept under the array's name, so :meth:`Optimizer.get_state` can be saved to a
checkpoint and restored exactly.

Where PyTorch and Keras differ, we follow PyTorch and say so:

* ``weight_decay`` on SGD / Adagrad / RMSprop / Adam adds ``weight_decay * param``
  to the gradient (L2, as in ``torch.optim``); :class:`AdamW` decays the weights
  directly (decoupled), ``param *= 1 - lr * weight_decay``.
* Adam adds ``epsilon`` to the bias-corrected ``sqrt(v_hat)`` (Keras adds it before
  the correction); default ``epsilon=1e-8``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..functional.threads import batch_chunks, run_chunks
from ..utils.registry import Registry
from ..utils.validation import _short, as_array, check_bool, check_number
from . import schedules

def _number(value, name, low=0.0, high=math.inf, low_open=False, high_open=False, allow_none=False):
    if value is None and allow_none:
        return None
    return check_number(value, name, low, high, low_open, high_open)


class Optimizer:
    """Base class: learning rate (float or schedule), gradient clipping, named slots.

    Args:
        learning_rate: a float or a :mod:`numcnn.schedules` schedule of the step count.
        weight_decay: L2 factor added to the gradient (decoupled in AdamW).
        clipnorm: clip each gradient array to this L2 norm.
        global_clipnorm: scale all gradients together so their joint L2 norm is at most this
            (``torch.nn.utils.clip_grad_norm_``).
        name: optimizer name.

    Attributes:
        iterations: number of updates applied so far.
    """

    slot_names: tuple = ()

    def __init__(self, learning_rate=0.001, *, weight_decay=0.0, clipnorm=None, global_clipnorm=None, name=None):
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            self.learning_rate = learning_rate
        else:
            self.learning_rate = _number(learning_rate, "learning_rate", low_open=True)
        self.weight_decay = _number(weight_decay, "weight_decay")
        self.clipnorm = _number(clipnorm, "clipnorm", low_open=True, allow_none=True)
        self.global_clipnorm = _number(global_clipnorm, "global_clipnorm", low_open=True, allow_none=True)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError("Pass at most one of `clipnorm` and `global_clipnorm`. Received: both")
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.slots: dict[str, dict[str, np.ndarray]] = {}
        self._owners: dict[str, np.ndarray] = {}
        self._scratch_arrays: dict = {}  # (shape, dtype) -> arrays for an update's intermediates (not state)

    # -- the update -------------------------------------------------------------
    def learning_rate_at(self, step: int) -> float:
        """The rate of update number ``step`` (0 for the first), from the schedule if there is one."""
        lr = self.learning_rate
        return float(lr(step)) if callable(lr) else lr

    def current_learning_rate(self) -> float:
        """The rate the next update will use."""
        return self.learning_rate_at(self.iterations)

    def apply(self, grads, params, *, check=True) -> None:
        """Update every array of ``params`` in place with the gradient of the same name.

        Args:
            grads: dict name -> gradient (e.g. ``model.grads``), or a list in ``params`` order.
            params: dict name -> array (e.g. ``model.params``), or a list of arrays
                (e.g. ``model.trainable_variables``; then named by position).
            check: check names, shapes and types; the training loop, which passes a model's own
                ``grads`` and ``params``, passes False.
        """
        if check:
            params, grads = self._as_named(params, grads)
            if not params:
                raise ValueError("The optimizer got no parameters to update. Received: params={}")
        grads = {k: grads[k] for k in params}  # only the gradients of what is updated count for clipping
        if self.clipnorm is not None:
            grads = {k: g * min(1.0, self.clipnorm / (float(np.linalg.norm(g)) + 1e-6)) for k, g in grads.items()}
        if self.global_clipnorm is not None:
            total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
            scale = min(1.0, self.global_clipnorm / (total + 1e-6))
            grads = {k: g * scale for k, g in grads.items()}
        lr = self.current_learning_rate()
        self.iterations += 1
        for name, param in params.items():
            grad = grads[name].astype(param.dtype, copy=False)
            if name not in self.slots:
                self.slots[name] = self._new_slots(param)
            self._update(param, grad, self.slots[name], lr, self.iterations)

    def update(self, params, grads) -> None:
        """:meth:`apply` with the argument order of Deep Learning from Scratch: ``update(params, grads)``."""
        self.apply(grads, params)

    def _new_slots(self, param) -> dict:
        return {slot: np.zeros_like(param) for slot in self.slot_names}

    def _update(self, param, grad, slots, lr, step):  # pragma: no cover - abstract
        raise NotImplementedError

    def _as_named(self, params, grads):
        if isinstance(params, (list, tuple)):
            params = {str(i): p for i, p in enumerate(params)}
            if isinstance(grads, (list, tuple)):
                grads = {str(i): g for i, g in enumerate(grads)}
        if not isinstance(params, dict) or not isinstance(grads, dict):
            raise TypeError(
                "The optimizer takes `grads` and `params` as dicts of arrays by name (model.grads, model.params) "
                f"or as lists in the same order. Received: grads={_short(grads)}, params={_short(params)}")
        grads = dict(grads)  # the caller's dict is not changed
        missing = [k for k in params if k not in grads]
        if missing:
            raise ValueError(
                f"No gradient for {missing[:5]}: call model.backward(dloss) before the update. "
                f"Received: gradients for {list(grads)[:5]}")
        for name, param in params.items():
            if not isinstance(param, np.ndarray) or param.dtype.kind != "f":
                raise TypeError(f"Parameter '{name}' must be a float NumPy array (updated in place). Received: {_short(param)}")
            grad = as_array(grads[name], f"grads[{name!r}]")
            if grad.shape != param.shape:
                raise ValueError(
                    f"The gradient of '{name}' must have the parameter's shape {param.shape}. Received: shape {grad.shape}")
            owner = self._owners.setdefault(name, param)  # the array itself: an id() could be reused
            if owner is not param and name in self.slots:
                raise ValueError(
                    f"The optimizer already holds state for another array named '{name}': names must be unique "
                    "across everything it updates, e.g. optimizer.apply(model.grads, model.params). "
                    f"Received: a different array under the name '{name}'")
            grads[name] = grad
        return params, grads

    # -- state and config -------------------------------------------------------------
    def get_state(self) -> tuple[dict, dict]:
        """``(arrays, meta)``: copies of the slot arrays keyed ``"param_name/slot"``, and JSON-friendly scalars."""
        arrays = {f"{name}/{slot}": value.copy() for name, slots in self.slots.items() for slot, value in slots.items()}
        return arrays, {"iterations": self.iterations, "params": list(self.slots)}

    def set_state(self, arrays: dict, meta: dict) -> None:
        """Restore what :meth:`get_state` returned (copies the arrays)."""
        slots = {}
        for name in meta.get("params", []):
            slots[name] = {}
            for slot in self.slot_names:
                key = f"{name}/{slot}"
                if key not in arrays:
                    raise ValueError(f"Optimizer state has no array '{key}' for {type(self).__name__}. Received: {sorted(arrays)[:6]}")
                slots[name][slot] = np.array(arrays[key])
        self.slots, self.iterations, self._owners = slots, int(meta.get("iterations", 0)), {}

    def get_config(self) -> dict:
        config = {"learning_rate": schedules.serialize(self.learning_rate), "weight_decay": self.weight_decay,
                  "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "name": self.name}
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["learning_rate"] = schedules.deserialize(config.get("learning_rate", 0.001))
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} learning_rate={self.learning_rate!r} iterations={self.iterations}>"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum (``torch.optim.SGD``).

    ``v = momentum * v + g``; ``param -= lr * v`` (Nesterov: ``param -= lr * (g + momentum * v)``).
    ``momentum=0`` is plain SGD: ``param -= lr * g``. Seed 004's update.
    """

    slot_names = ("velocity",)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number(momentum, "momentum", high=1.0, high_open=True)
        self.nesterov = check_bool(nesterov, "nesterov")
        if self.nesterov and self.momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0. Received: nesterov=True, momentum=0")
        if self.momentum == 0:
            self.slot_names = ()

    def _update(self, param, grad, slots, lr, step):
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            v = slots["velocity"]
            v *= self.momentum
            v += grad
            grad = grad + self.momentum * v if self.nesterov else v
        param -= lr * grad

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adagrad(Optimizer):
    """Adagrad (``torch.optim.Adagrad``): ``s += g**2``; ``param -= lr * g / (sqrt(s) + epsilon)``."""

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.01, initial_accumulator_value=0.0, epsilon=1e-10, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _number(initial_accumulator_value, "initial_accumulator_value")
        self.epsilon = _number(epsilon, "epsilon", low_open=True)

    def _new_slots(self, param):
        return {"accumulator": np.full_like(param, self.initial_accumulator_value)}

    def _update(self, param, grad, slots, lr, step):
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        s = slots["accumulator"]
        s += grad * grad
        param -= lr * grad / (np.sqrt(s) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """RMSprop (``torch.optim.RMSprop``; ``rho`` is PyTorch's ``alpha``).

    ``v = rho * v + (1 - rho) * g**2``; ``param -= lr * g / (sqrt(v) + epsilon)``;
    with ``momentum``: ``b = momentum * b + g / (sqrt(v) + epsilon)``; ``param -= lr * b``;
    ``centered`` divides by the estimated variance ``sqrt(v - mean(g)**2)`` instead.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-8, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _number(rho, "rho", high=1.0, high_open=True)
        self.momentum = _number(momentum, "momentum", high=1.0, high_open=True)
        self.epsilon = _number(epsilon, "epsilon", low_open=True)
        self.centered = check_bool(centered, "centered")
        self.slot_names = ("velocity",) + (("momentum",) if self.momentum else ()) + (
            ("average_gradient",) if self.centered else ())

    def _update(self, param, grad, slots, lr, step):
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        v = slots["velocity"]
        v *= self.rho
        v += (1 - self.rho) * grad * grad
        if self.centered:
            a = slots["average_gradient"]
            a *= self.rho
            a += (1 - self.rho) * grad
            denom = np.sqrt(v - a * a) + self.epsilon
        else:
            denom = np.sqrt(v) + self.epsilon
        if self.momentum:
            b = slots["momentum"]
            b *= self.momentum
            b += grad / denom
            param -= lr * b
        else:
            param -= lr * grad / denom

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adam(Optimizer):
    """Adam (``torch.optim.Adam``), optionally AMSGrad.

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g**2``;
    ``param -= lr / (1 - b1**t) * m / (sqrt(v / (1 - b2**t)) + epsilon)``.
    """

    _decoupled = False

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", high=1.0, high_open=True)
        self.beta_2 = _number(beta_2, "beta_2", high=1.0, high_open=True)
        self.epsilon = _number(epsilon, "epsilon", low_open=True)
        self.amsgrad = check_bool(amsgrad, "amsgrad")
        self.slot_names = ("m", "v") + (("v_max",) if self.amsgrad else ())

    def _update(self, param, grad, slots, lr, step):
        if self.weight_decay:
            if self._decoupled:
                param *= 1 - lr * self.weight_decay
            else:
                grad = grad + self.weight_decay * param
        # in place through two scratch arrays, each product in the order of the formula above (the same
        # bits as the expression with temporaries, without allocating five arrays per weight per step);
        # element by element, so pieces of the flattened weight go to numcnn's threads, each piece
        # through every step while it is in the cache
        tmp, step_size = self._scratch(param)
        arrays = [param, grad, slots["m"], slots["v"], slots.get("v_max"), tmp, step_size]
        bias_1, bias_2 = 1 - self.beta_1 ** step, 1 - self.beta_2 ** step
        if not all(a is None or a.flags.c_contiguous for a in arrays):
            return self._update_piece(*arrays, lr, bias_1, bias_2)
        flat = [None if a is None else a.reshape(-1) for a in arrays]
        run_chunks(lambda start, stop: self._update_piece(*(None if a is None else a[start:stop] for a in flat), lr,
                                                          bias_1, bias_2),
                   batch_chunks(param.size, param.size))

    def _update_piece(self, param, grad, m, v, v_max, tmp, step_size, lr, bias_1, bias_2):
        m *= self.beta_1
        m += np.multiply(grad, 1 - self.beta_1, out=tmp)
        v *= self.beta_2
        np.multiply(grad, 1 - self.beta_2, out=tmp)
        v += np.multiply(tmp, grad, out=tmp)
        if v_max is not None:
            np.maximum(v_max, v, out=v_max)
            v = v_max
        np.sqrt(v, out=tmp)
        tmp /= math.sqrt(bias_2)
        tmp += self.epsilon
        np.multiply(m, lr / bias_1, out=step_size)
        param -= np.divide(step_size, tmp, out=step_size)

    def _scratch(self, param):
        """Two arrays like ``param`` for the update's intermediates, kept from step to step (not state)."""
        key = (param.shape, param.dtype.str)
        if key not in self._scratch_arrays:
            self._scratch_arrays[key] = (np.empty_like(param), np.empty_like(param))
        return self._scratch_arrays[key]

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``): ``param *= 1 - lr * weight_decay`` first."""

    _decoupled = True

    def __init__(self, learning_rate=0.001, weight_decay=0.01, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


OPTIMIZERS = Registry("optimizer", Optimizer)
for _cls in (SGD, Adagrad, RMSprop, Adam, AdamW):
    OPTIMIZERS.register(_cls, names=(_cls.__name__.lower(),))
del _cls
# the command line's names for SGD with momentum (Keras and Deep Learning from Scratch vocabulary)
OPTIMIZERS.alias("momentum", functools.partial(SGD, momentum=0.9))
OPTIMIZERS.alias("nesterov", functools.partial(SGD, momentum=0.9, nesterov=True))


def get(identifier, **kwargs) -> Optimizer:
    """An optimizer from a name (``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``,
    ``"adam"``, ``"adamw"``) plus keyword arguments, a config, or an :class:`Optimizer` as is."""
    return OPTIMIZERS.get(identifier, **kwargs)


serialize = OPTIMIZERS.serialize
deserialize = OPTIMIZERS.deserialize
