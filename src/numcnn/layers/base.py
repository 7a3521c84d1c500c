"""The ``Layer`` base class: parameters, lazy build, forward/backward bookkeeping.

A layer subclass writes four small methods and nothing else:

* ``build(input_shape)``: create ``self.params`` (and ``self.state`` for non-trainable arrays);
* ``_forward(x, training) -> (y, cache)``: call into :mod:`numcnn.functional`;
* ``_backward(dy, cache) -> (dx, grads)``: the matching backward functions;
* ``compute_output_shape(input_shape)``.

``__call__`` / ``forward`` validate the input, build on first use, cast to the
layer's dtype and keep the cache; ``backward`` turns it into ``grads``.
"""

from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from .. import initializers
from ..functional import get_activation
from ..utils.arrays import FileFormatError
from ..utils.registry import snake_case
from ..utils.validation import _is_int, _short, allocation_guard, as_array, as_size_error, check_bool, float_dtype
from .symbolic import call_symbolic, is_symbolic
from .tape import Node, backward_pass, current_pass, current_tape, current_training, in_inference

_FLOAT_DTYPES = ("float16", "float32", "float64")


def _dtype_name(dtype):
    try:
        return np.dtype(dtype).name
    except (TypeError, ValueError):  # e.g. a dict from a config file: "entry not a 2- or 3- tuple"
        return None


def _make_rng(seed):
    """A Generator from an int seed, a Generator, or None (fresh OS entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        return np.random.default_rng(seed)
    raise ValueError(f"The `seed` argument must be None, a non-negative int or a numpy.random.Generator. Received: seed={_short(seed)}")



_SKIP_INIT: contextvars.ContextVar = contextvars.ContextVar("numcnn_skip_init", default=False)


@contextlib.contextmanager
def skip_init():
    """Weights made inside are zeros (untouched memory) and draw nothing from the layers' generators, as
    ``torch.nn.utils.skip_init``: for a caller that sets every weight next (ONNX import)."""
    token = _SKIP_INIT.set(True)
    try:
        yield
    finally:
        _SKIP_INIT.reset(token)


class Layer:
    """Base class of every layer (and of :class:`~numcnn.models.Model`).

    Args:
        name: layer name (default: snake_case of the class name; models make it unique).
        input_shape: shape of one sample (no batch axis); builds the layer right away.
        dtype: ``"float32"``, ``"float64"`` or ``"float16"``; None takes the dtype of the
            first float input (float32 for integer input).
        trainable: when False, ``params`` are excluded from ``trainable_variables``.
        seed: int or ``numpy.random.Generator`` for initializers and dropout masks. None
            lets the enclosing model hand one down, or uses fresh entropy.

    Attributes:
        params: trainable arrays by name (``kernel``, ``bias``, ``gamma``, ``beta``).
        state: non-trainable arrays by name (``moving_mean``, ``moving_variance``).
        grads: gradients of ``params``, same keys, filled by ``backward``.
    """

    weight_order: tuple = ()  # names of params and state, Keras get_weights() order

    def __init__(self, *, name=None, input_shape=None, dtype=None, trainable=True, seed=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"The `name` argument must be a non-empty string. Received: name={_short(name)}")
        if dtype is not None and _dtype_name(dtype) not in _FLOAT_DTYPES:
            raise ValueError(f"The `dtype` argument must be None or one of {_FLOAT_DTYPES}. Received: dtype={_short(dtype)}")
        self.name = name or snake_case(type(self).__name__)
        self._auto_name = name is None
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.trainable = check_bool(trainable, "trainable")
        self._seed = seed
        self._rng = None if seed is None else _make_rng(seed)
        # via __dict__ so that Model can expose them as read-only properties
        self.__dict__.update(params={}, state={}, grads={})
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._last_cache = None
        self._grad_pass = None
        self._inbound_nodes = []  # the calls of this layer in graphs being built (numcnn.Input)
        self._batch_input_shape = None
        if input_shape is not None:
            if _is_int(input_shape):
                input_shape = (input_shape,)
            if not isinstance(input_shape, (tuple, list)) or not all(_is_int(d) and d > 0 for d in input_shape):
                raise ValueError(
                    "The `input_shape` argument must be a tuple of positive ints, one sample's shape "
                    f"without the batch axis, e.g. (28, 28, 1). Received: input_shape={_short(input_shape)}")
            self._batch_input_shape = (None, *(int(d) for d in input_shape))

    # -- randomness ---------------------------------------------------------
    @property
    def rng(self) -> np.random.Generator:
        """This layer's Generator (created on first use if nobody handed one down)."""
        if self._rng is None:
            self._rng = _make_rng(None)
        return self._rng

    def _set_rng_if_unset(self, rng: np.random.Generator) -> None:
        if self._rng is None:
            self._rng = rng

    def _set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer):
        """Shared by Conv2D and Dense: fused activation, bias switch, initializers."""
        self.activation = activation
        self._act_forward, self._act_backward = get_activation(activation, inplace=True)  # on the layer's own z
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")
        self._init_names = (kernel_initializer, bias_initializer)

    def _kernel_options_config(self) -> dict:
        return {"activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self._init_names[0]),
                "bias_initializer": initializers.serialize(self._init_names[1])}

    # -- building -----------------------------------------------------------
    def build(self, input_shape) -> None:
        """Create the parameters for inputs of ``input_shape`` (batch axis first, may be None)."""

    def _ensure_built(self) -> None:
        """Build from ``input_shape=`` if given and not built yet (weights are created lazily)."""
        if not self.built and self._batch_input_shape is not None:
            self._build_once(self._batch_input_shape, self.dtype or np.dtype(np.float32))

    def _build_once(self, input_shape, dtype) -> None:
        if self.built:
            return
        before = self.dtype, self.input_shape
        self.dtype = self.dtype or dtype
        self.input_shape = tuple(input_shape)
        try:
            if not (self.params or self.state):  # keep weights made by a direct build() call (Keras usage)
                self.build(tuple(input_shape))
            self.output_shape = self.compute_output_shape(tuple(input_shape))
        except BaseException:  # an input it refuses leaves the layer as it was, for the next call
            self.dtype, self.input_shape = before
            self.params.clear()
            self.state.clear()
            raise
        self.built = True

    def add_weight(self, name, shape, initializer, trainable=True):
        """Create ``name`` with ``initializer`` in the layer's dtype; store it in params or state."""
        self.dtype = self.dtype or np.dtype(np.float32)  # build() called directly, before any input
        shape = tuple(shape)
        with allocation_guard(f"Layer '{self.name}' ({type(self).__name__})", f"weight '{name}' of shape {shape}",
                              ": check its size arguments (`units`, `filters`) and the input shape"):
            array = (np.zeros(shape, self.dtype) if _SKIP_INIT.get()
                     else initializers.get(initializer)(shape, self.dtype, self.rng))
            # np.require, not np.ascontiguousarray: a weight of shape () stays 0-d
            (self.params if trainable else self.state)[name] = np.require(array, dtype=self.dtype, requirements="C")
        return array

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch axis included, may be None)."""
        return tuple(input_shape)

    # -- forward / backward -------------------------------------------------
    def _prepare(self, x):
        """Validate, build on first use, and cast one input array (merge layers override ``_prepare_inputs``)."""
        x = as_array(x, "inputs")
        if x.ndim == 0:
            raise ValueError(f"Layer '{self.name}' needs a batch of inputs (at least 1D). Received: a scalar")
        declared = self._batch_input_shape  # input_shape= wins over the first input's shape
        self._build_once(x.shape if declared is None else (x.shape[0], *declared[1:]), self.dtype or float_dtype(x))
        return x.astype(self.dtype, copy=False)

    def _prepare_inputs(self, inputs):
        if isinstance(inputs, (list, tuple)):
            # a list would reach _forward as a list (AttributeError) or be split into rows
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) takes one array as `inputs`; only merge layers "
                f"(Add, Concatenate) and models take a list. Received: inputs={_short(inputs)}")
        return self._prepare(inputs)

    def __call__(self, inputs, training=None):
        """Run the layer: ``y = layer(x)``.

        Args:
            inputs: an array (a list of arrays for merge layers).
            training: True for the training behaviour (Dropout masks, batch statistics).
                None inherits the flag of the enclosing model call, else False.

        Shape:
            inputs: (N, ...), as the layer expects; returns (N, ...).
        """
        if is_symbolic(inputs):  # building a graph (numcnn.Input): shapes, no data
            return call_symbolic(self, inputs)
        multi = isinstance(inputs, (list, tuple))
        x = self._prepare_inputs(inputs)
        if training is None:
            training = current_training()
        try:
            y, cache = self._forward(x, bool(training))
        except (MemoryError, ValueError, OverflowError, TypeError) as error:  # costs nothing unless raised
            shapes = [a.shape for a in x] if multi else x.shape
            converted = as_size_error(error, f"Layer '{self.name}' ({type(self).__name__})", f"inputs with shape "
                                      f"{shapes}", ": split the batch, e.g. model.predict(x, batch_size=...) runs a "
                                      "few samples at a time")
            if converted is None or converted is error:
                raise
            raise converted from None
        if any(y is a for a in (x if multi else [x])):
            y = y.view()  # identity layers: a new array object keeps the tape's identities apart
        tape = current_tape()
        if in_inference():
            self._last_cache = None
        elif tape is not None:
            originals = list(inputs) if multi else [inputs]
            tape.record(Node(self, originals, y, cache, multi))
        else:
            self._last_cache = (cache, y.shape if isinstance(y, np.ndarray) else None)
        self.output_shape = (None, *y.shape[1:]) if isinstance(y, np.ndarray) else self.output_shape
        return y

    @property
    def output(self):
        """The symbolic tensor this layer made in the graph it was called in (Keras' ``layer.output``):
        ``Model(model.inputs, model.get_layer("conv3").output)`` ends a model there."""
        outputs = self._only_node("output").outputs
        return outputs[0] if len(outputs) == 1 else list(outputs)

    @property
    def input(self):
        """The symbolic tensor(s) this layer was called on in its graph (Keras' ``layer.input``)."""
        node = self._only_node("input")
        return list(node.inputs) if node.multi else node.inputs[0]

    def _only_node(self, what):
        if len(self._inbound_nodes) != 1:
            raise ValueError(f"Layer '{self.name}' has no single {what}: it was called {len(self._inbound_nodes)} "
                             "times on symbolic tensors (numcnn.Input), and `layer.{what}` needs exactly one call. "
                             f"Received: {len(self._inbound_nodes)} calls")
        return self._inbound_nodes[0]

    def forward(self, inputs, training=None):
        """Same as calling the layer (the vocabulary of Deep Learning from Scratch and note 004); ``training``
        defaults to False."""
        return self(inputs, training=training)

    def backward(self, dy):
        """Gradient of the loss w.r.t. the last input, given ``dy`` w.r.t. the last output.

        Fills ``self.grads``. Call right after ``forward`` on the same layer.
        """
        if self._last_cache is None:
            raise RuntimeError(
                f"Layer '{self.name}': call the layer (forward) before backward. A layer called inside a "
                "model records its cache on the model's tape: call `model.backward(dy)` instead; a call under "
                "numcnn.layers.tape.inference() (predict and evaluate run in it) keeps nothing to go back through.")
        cache, output_shape = self._last_cache
        dy = self._as_gradient(dy, output_shape)
        with backward_pass():
            return self._backward_accumulate(dy, cache)

    def _as_gradient(self, dy, output_shape):
        """``dy`` checked against the last output's shape, in the layer's dtype."""
        dy = as_array(dy, "dy")
        if dy.shape != output_shape:
            raise ValueError(f"The `dy` argument of layer '{self.name}' must have the last output's shape "
                             f"{output_shape}. Received: dy with shape {dy.shape}")
        return dy.astype(self.dtype, copy=False)

    def _backward_accumulate(self, dy, cache):
        dx, grads = self._backward(dy, cache)
        if not self.trainable:  # frozen: no weight gradients kept, as PyTorch's requires_grad=False
            grads = {}
        token = current_pass()
        if self._grad_pass is not token or token is None:
            self.grads = {k: np.array(v, dtype=self.dtype) for k, v in grads.items()}
            self._grad_pass = token
        else:
            for k, v in grads.items():
                self.grads[k] += v
        return dx

    def _forward(self, x, training):  # pragma: no cover - abstract
        raise NotImplementedError

    def _backward(self, dy, cache):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- weights ------------------------------------------------------------
    @property
    def weights(self) -> list:
        """All arrays (trainable then non-trainable) in Keras ``get_weights`` order."""
        self._ensure_built()
        merged = {**self.params, **self.state}
        order = [k for k in self.weight_order if k in merged] + [k for k in merged if k not in self.weight_order]
        return [merged[k] for k in order]

    @property
    def trainable_variables(self) -> list:
        """The trainable arrays (``[kernel, bias]``...), empty when ``trainable=False``."""
        self._ensure_built()
        return list(self.params.values()) if self.trainable else []

    trainable_weights = trainable_variables

    def get_weights(self) -> list:
        """Copies of the weights, Keras order (e.g. ``[kernel, bias]``)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Load arrays in :meth:`get_weights` order; shapes must match."""
        current = self.weights
        if not isinstance(weights, (list, tuple)) or len(weights) != len(current):
            raise ValueError(
                f"Layer '{self.name}'.set_weights needs a list of {len(current)} arrays with shapes "
                f"{[w.shape for w in current]}. Received: {_short(weights)}")
        for i, (old, new) in enumerate(zip(current, weights)):
            new = as_array(new, f"weights[{i}]")
            if new.shape != old.shape:
                raise ValueError(
                    f"Layer '{self.name}'.set_weights: weights[{i}] must have shape {old.shape}. Received: shape {new.shape}")
            old[...] = new

    def named_weights(self) -> dict:
        """Every array by name, trainable then non-trainable (``{"kernel": ..., "moving_mean": ...}``;
        a model's are keyed ``"layer/kernel"``); the arrays themselves, not copies."""
        self._ensure_built()
        if not self.built:
            raise ValueError(f"Layer '{self.name}' has no weights yet: call it on a batch or build(input_shape) "
                             "first. Received: an unbuilt layer")
        return {**self.params, **self.state}

    def assign_weights(self, arrays: dict, source: str = "weights") -> None:
        """Copy ``arrays`` into :meth:`named_weights` by name; every name must be there, with its shape.

        Raises:
            FileFormatError: missing or unexpected names, other shapes or a non-float array
                (``source`` names the file they came from). Nothing is written then.
        """
        current = self.named_weights()
        missing, extra = sorted(set(current) - set(arrays)), sorted(set(arrays) - set(current))
        if missing or extra:
            owner = "model" if hasattr(self, "layers") else "layer"
            raise FileFormatError(
                f"{source}: the arrays do not match {owner} '{self.name}': missing {missing[:5]}, unexpected {extra[:5]}. "
                f"Received: {len(arrays)} arrays for a {owner} with {len(current)}")
        for name, target in current.items():
            value = np.asarray(arrays[name])
            if value.shape != target.shape or value.dtype.kind != "f":
                raise FileFormatError(f"{source}: array '{name}' must be float with shape {target.shape}. "
                                      f"Received: {value.dtype} with shape {value.shape}")
        for name, target in current.items():
            target[...] = arrays[name]

    def random_generators(self) -> dict:
        """This layer's Generator by path (``{"": rng}``), created if nobody handed one down; a model
        adds its layers' (``"dropout"``...). What a checkpoint saves and restores."""
        return {"": self.rng}

    def count_params(self) -> int:
        """Number of scalars in all weights (trainable and not)."""
        return int(sum(w.size for w in self.weights))

    # -- config -------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments as a JSON-friendly dict (``from_config`` inverts it)."""
        config = {"name": self.name, "trainable": self.trainable}
        if self.dtype is not None:
            config["dtype"] = str(self.dtype)
        if self._batch_input_shape is not None:
            config["input_shape"] = list(self._batch_input_shape[1:])
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def check_axis_size(layer, x, axis, expected, what):
    """Raise a clear error when ``x.shape[axis]`` differs from what the layer was built for."""
    if x.shape[axis] != expected:
        raise ValueError(
            f"Layer '{layer.name}' was built for {expected} {what} on axis {axis}. "
            f"Received: inputs with shape {x.shape}")
