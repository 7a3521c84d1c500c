"""``Model``: subclass it, assign layers in ``__init__``, write ``call``; it trains.

Layers assigned as attributes (directly, or in lists, tuples and dicts) are the
model's layers, found in assignment order. During a call every layer call is
recorded on a tape (see :mod:`numcnn.layers.tape`), so ``model.backward(dy)`` fills the
``grads`` of every layer whatever ``call`` did with them: residual ``Add``,
``Concatenate``, one layer used twice.
"""

from __future__ import annotations

import inspect
import os

import numpy as np

from ..layers import serialize as serialize_layer
from ..layers.base import Layer
from ..layers.tape import Tape, in_inference, recording, run_backward, training_mode
from ..training.trainer import Trainer, predict
from ..utils.validation import _is_int, _short, as_array, check_batch_shape
from .graph import Graph
from .model_file import read_model_file, write_model_file
from .summary import format_summary


def _collect_layers(value, found, seen):
    if isinstance(value, Layer):
        if id(value) not in seen:
            seen.add(id(value))
            found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_layers(item, found, seen)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_layers(item, found, seen)


def _serialize(layer) -> dict:
    """``{"class_name", "config"}`` of a layer, or of a model nested as a layer (its architecture)."""
    if isinstance(layer, Model):
        architecture = layer._architecture()
        if architecture is None:
            raise ValueError(f"Model '{layer.name}' ({type(layer).__name__}) is code, not data: a functional model that "
                             "holds it cannot be saved with its architecture. Received: a subclassed model as a layer")
        return architecture
    return serialize_layer(layer)


class Model(Layer):
    """Base class for models. Subclass it and write ``call(self, x)`` (optionally ``training``).

    Args:
        name: model name.
        seed: int or Generator; layers without their own seed get generators spawned
            from it in layer order, so one seed makes the whole model reproducible.

    Example:
        >>> class TestModel(Model):          # note 001
        ...     def __init__(self):
        ...         super().__init__(seed=0)
        ...         self.conv_layers = [Conv2D(n, 3, activation="relu") for n in (10, 20, 30)]
        ...     def call(self, x):
        ...         for conv in self.conv_layers:
        ...             x = conv(x)
        ...         return x
        >>> TestModel()(np.zeros((32, 28, 28, 3), np.float32)).shape
        (32, 22, 22, 30)

    A subclass that overrides ``__call__`` instead of ``call`` (as note 001 does) works too:
    its ``__call__`` is used as ``call``.
    """

    _call_takes_training = True  # whether ``call`` accepts ``training``; set per subclass below
    _trainer = None  # what compile() chose, and the state of the last fit
    _graph = None  # a functional model's layer calls (numcnn.Input ... Model(inputs, outputs))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__ and "call" not in cls.__dict__:
            cls.call = cls.__dict__["__call__"]
            cls.__call__ = Model.__call__
        cls._call_takes_training = "training" in inspect.signature(cls.call).parameters

    def __init__(self, inputs=None, outputs=None, *, name=None, seed=None, **kwargs):
        functional = inputs is not None or outputs is not None
        super().__init__(name=name or ("functional" if functional else None), seed=seed, **kwargs)
        if functional:
            self._graph = Graph(inputs, outputs)
            self._build_graph()

    def _build_graph(self):
        """Every layer of the graph built for the shapes it is called on, from the model's seed; then
        each call checked against the built weights by a batch of none (a shared layer called on two shapes)."""
        self._hand_down_rngs()
        for node in self._graph.nodes:
            shapes = [t.shape for t in node.inputs]
            if node.inputs:
                node.layer._build_once(shapes if node.multi else shapes[0], node.layer.dtype or node.inputs[0].dtype)
        for node in self._graph.nodes:  # a batch of none: the layers' own checks, at no cost
            if node.inputs:
                probes = [np.zeros((0, *t.shape[1:]), t.dtype) for t in node.inputs]
                try:
                    node.layer(probes if node.multi else probes[0])
                except ValueError as error:
                    shapes = [t.shape for t in node.inputs]
                    raise ValueError(f"{error} (a batch of 0 standing for the graph's inputs of shape "
                                     f"{shapes if node.multi else shapes[0]})") from None
        shapes = [t.shape for t in self._graph.inputs]
        self.input_shape = shapes if self._graph.several_inputs else shapes[0]
        shapes = [t.shape for t in self._graph.outputs]
        self.output_shape = shapes if self._graph.several_outputs else shapes[0]
        self.built = True

    @property
    def inputs(self) -> list:
        """A functional model's input tensors (``numcnn.Input``)."""
        return list(self._functional("inputs").inputs)

    @property
    def outputs(self) -> list:
        """A functional model's output tensors."""
        return list(self._functional("outputs").outputs)

    def _functional(self, what) -> Graph:
        if self._graph is None:
            raise ValueError(f"`{what}` belongs to functional models (numcnn.Model(inputs, outputs)); model "
                             f"'{self.name}' is a {type(self).__name__}. Received: a model without a graph")
        return self._graph

    # -- layers ---------------------------------------------------------------
    @property
    def layers(self) -> list:
        """The model's layers: a functional model's in the order its graph runs them (its input layers
        first), a subclassed model's in the order they were assigned; names made unique."""
        if self._graph is not None:
            found = list(self._graph.layers)
        else:
            found, seen = [], {id(self)}
            for key, value in vars(self).items():
                if not key.startswith("_"):
                    _collect_layers(value, found, seen)
        self._make_names_unique(found)
        return found

    @staticmethod
    def _make_names_unique(layers):
        taken = {}
        for layer in layers:
            if layer.name in taken and taken[layer.name] is not layer:
                if not layer._auto_name:
                    raise ValueError(
                        f"Layer names in a model must be unique. Received: two layers named {layer.name!r}")
                base, k = layer.name, 1
                while f"{base}_{k}" in taken:
                    k += 1
                layer.name = f"{base}_{k}"
            taken[layer.name] = layer

    def _hand_down_rngs(self):
        """Give every layer without its own Generator one spawned from the model's."""
        for layer in self.layers:
            if layer._rng is None and self._rng is not None:
                layer._set_rng_if_unset(self._rng.spawn(1)[0])
            if isinstance(layer, Model):
                layer._hand_down_rngs()

    def flat_layers(self, prefix=""):
        """``(path, layer)`` of every layer, nested models walked into (``"block/conv2d"``)."""
        for layer in self.layers:
            if isinstance(layer, Model):
                yield from layer.flat_layers(f"{prefix}{layer.name}/")
            else:
                yield f"{prefix}{layer.name}", layer

    # -- calling ------------------------------------------------------------------
    def call(self, inputs, training=False):
        """A functional model runs its graph; a subclass writes its own ``call``."""
        if self._graph is None:
            raise NotImplementedError(f"{type(self).__name__} must define call(self, inputs).")
        arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(arrays) != len(self._graph.inputs):
            raise ValueError(f"Model '{self.name}' takes {len(self._graph.inputs)} input(s), "
                             f"{[t.layer.name for t in self._graph.inputs]}. Received: {len(arrays)} array(s)")
        outputs = self._graph.run(arrays, training)
        return outputs if self._graph.several_outputs else outputs[0]

    def compute_output_shape(self, input_shape):
        """A functional model's output shape(s); a subclassed model's is known only by running it."""
        if self._graph is None:
            raise NotImplementedError(f"{type(self).__name__} computes its output shape by running")
        shapes = [t.shape for t in self._graph.outputs]
        return shapes if self._graph.several_outputs else shapes[0]

    def _prepare(self, x):
        x = as_array(x, "inputs")
        if x.ndim == 0:
            raise ValueError(f"Model '{self.name}' needs a batch of inputs (at least 1D). Received: a scalar")
        return x

    def _prepare_inputs(self, inputs):
        if isinstance(inputs, (list, tuple)):  # a model with several inputs
            return [self._prepare(a) for a in inputs]
        return self._prepare(inputs)

    def _forward(self, x, training):
        self._hand_down_rngs()
        tape = None if in_inference() else Tape(inputs=list(x) if isinstance(x, list) else [x])
        with recording(tape), training_mode(training):
            y = self.call(x, training=training) if self._call_takes_training else self.call(x)
        if not isinstance(y, np.ndarray) and not (
                isinstance(y, (list, tuple)) and all(isinstance(v, np.ndarray) for v in y)):
            raise TypeError(f"`{type(self).__name__}.call` must return an array or a list of arrays. Received: {_short(y)}")
        if tape is not None:
            tape.output = y
        self.built = True
        if isinstance(x, np.ndarray) and self.input_shape is None:
            self.input_shape = (None, *x.shape[1:])  # what it was built for (saving and ONNX export read it)
        return y, tape

    def call_recorded(self, inputs, training=False):
        """Run the model and return ``(outputs, tape)``: the tape holds every layer call, its inputs,
        output and cache (:mod:`numcnn.layers.tape`), as ``backward`` reads it. For pictures of what
        the layers computed, and for ONNX export."""
        return self._forward(self._prepare_inputs(inputs), training)

    def _backward(self, dy, tape):
        dxs = run_backward(tape, tape.output, dy, type(self).__name__)
        return (dxs if len(tape.inputs) > 1 else dxs[0]), {}

    def _backward_accumulate(self, dy, cache):
        return self._backward(dy, cache)[0]  # the layers inside hold the gradients

    def backward(self, dy):
        """Backpropagate ``dy`` (gradient w.r.t. the last call's output) through the model.

        Fills ``grads`` of every layer the gradient reaches (summed over repeated uses of a
        layer); a layer it does not reach this time has no ``grads`` (as PyTorch's ``None``),
        never the ones of an earlier pass. Returns the gradient w.r.t. the input (None if
        ``call`` changed the input with NumPy operations before the first layer).
        """
        for _, layer in self.flat_layers():
            layer.grads = {}
        return super().backward(dy)

    def _as_gradient(self, dy, output_shape):
        """``dy`` as an array, or a list of them for several outputs (``run_backward`` checks the shapes)."""
        if isinstance(dy, (list, tuple)) and all(isinstance(d, np.ndarray) for d in dy):  # one per output
            return [as_array(d, f"dy[{i}]") for i, d in enumerate(dy)]
        return as_array(dy, "dy")

    def build(self, input_shape) -> None:
        """Create all weights by running a batch of zeros of ``input_shape`` (batch axis ignored)."""
        if not self.built:
            input_shape = check_batch_shape(input_shape)
            self(np.zeros((1, *input_shape[1:]), dtype=self.dtype or np.float32))
            self._last_cache = None

    def _ensure_built(self):
        pass

    # -- weights ---------------------------------------------------------------------
    @property
    def params(self) -> dict:
        """Every trainable array, keyed ``"layer_name/kernel"`` (stable names for optimizers)."""
        return {f"{path}/{k}": v for path, layer in self.flat_layers() if layer.trainable and self.trainable
                for k, v in layer.params.items()}

    @property
    def grads(self) -> dict:
        """Gradients from the last ``backward``, keyed like :attr:`params`."""
        return {f"{path}/{k}": layer.grads[k] for path, layer in self.flat_layers()
                if layer.trainable and self.trainable for k in layer.params if k in layer.grads}

    @property
    def state(self) -> dict:
        """Non-trainable arrays (e.g. batch-norm moving statistics), keyed like :attr:`params`."""
        return {f"{path}/{k}": v for path, layer in self.flat_layers() for k, v in layer.state.items()}

    @property
    def weights(self) -> list:
        """All arrays of all layers, layer by layer in Keras order."""
        self._ensure_built()
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_variables(self) -> list:
        """Trainable arrays, layer by layer (``[kernel, bias, kernel, bias, ...]``, as note 001 prints)."""
        self._ensure_built()
        return [w for layer in self.layers for w in layer.trainable_variables] if self.trainable else []

    trainable_weights = trainable_variables

    def random_generators(self) -> dict:
        self._hand_down_rngs()
        return {"": self.rng, **{path: layer.rng for path, layer in self.flat_layers()}}

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in :attr:`layers` (Keras ``get_layer``)."""
        layers = self.layers
        if (name is None) == (index is None):
            raise ValueError(f"get_layer takes a name or an index. Received: name={name!r}, index={index!r}")
        if index is not None:
            if not _is_int(index) or not -len(layers) <= index < len(layers):
                raise ValueError(f"The `index` argument must be an int in [-{len(layers)}, {len(layers)}) for the "
                                 f"{len(layers)} layers of model '{self.name}'. Received: index={_short(index)}")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model '{self.name}' has no layer named {name!r}; its layers are "
                         f"{[layer.name for layer in layers]}. Received: name={_short(name)}")

    # -- training (Keras API; the loop is numcnn.training's Trainer) ----------------------
    def compile(self, optimizer="adam", loss=None, metrics=None) -> None:
        """Choose the optimizer, loss and metrics for :meth:`fit` / :meth:`evaluate`.

        Args:
            optimizer: a name (``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``,
                ``"adam"``, ``"adamw"``) or a :mod:`numcnn.optimizers` instance.
            loss: a name (``"sparse_categorical_crossentropy"``, ...) or a :mod:`numcnn.losses`
                instance, e.g. ``SparseCategoricalCrossentropy(from_logits=True)``.
            metrics: list of names, e.g. ``["accuracy"]``.
        """
        self._trainer = Trainer(self, optimizer, loss, metrics)

    def _one_in_one_out(self, what) -> None:
        """``fit``/``evaluate``/``predict`` batch one input and one output."""
        if self._graph is not None and (len(self._graph.inputs) > 1 or len(self._graph.outputs) > 1):
            raise ValueError(f"model.{what}() takes models with one input and one output; model '{self.name}' has "
                             f"{len(self._graph.inputs)} inputs and {len(self._graph.outputs)} outputs: call it on a "
                             f"list of arrays (model([a, b])) and backpropagate with model.backward. Received: a model "
                             "with several inputs or outputs")

    def _compiled(self, what) -> Trainer:
        self._one_in_one_out(what)
        if self._trainer is None:
            raise RuntimeError(f"Call model.compile(optimizer, loss, metrics) before model.{what}(). "
                               "Received: a model that was not compiled")
        return self._trainer

    @property
    def optimizer(self):
        """The optimizer ``compile`` chose (None before)."""
        return None if self._trainer is None else self._trainer.optimizer

    @property
    def loss(self):
        """The loss ``compile`` chose (None before)."""
        return None if self._trainer is None else self._trainer.loss

    @property
    def fit_state(self):
        """The :class:`~numcnn.training.state.FitState` of the last :meth:`fit` (None before)."""
        return None if self._trainer is None else self._trainer.state

    @property
    def history(self):
        """The ``History`` of the last :meth:`fit` (Keras' ``model.history``)."""
        return None if self.fit_state is None else self.fit_state.history

    @property
    def stop_reason(self):
        """Why the last :meth:`fit` stopped before its last epoch (a non-finite or exploding step), or None."""
        return None if self.fit_state is None else self.fit_state.stop_reason

    @property
    def stop_training(self) -> bool:
        """Keras' flag: a callback sets it to True to stop the running :meth:`fit` after the current step."""
        return False if self.fit_state is None else self.fit_state.stop_training

    @stop_training.setter
    def stop_training(self, value):
        if self.fit_state is None:
            raise RuntimeError("model.stop_training stops a running fit; this model has not started one. "
                               f"Received: stop_training={value!r}")
        self.fit_state.stop_training = bool(value)

    def fit(self, x, y, *, batch_size=32, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, seed=None, augment=None, distributed=None):
        """Train for ``epochs`` epochs of mini-batches; returns a ``History`` (``.history["loss"]`` ...).

        Args:
            x, y: inputs and targets (e.g. integer labels); every target is checked before the first step.
            batch_size: samples per update.
            epochs: index of the last epoch (with ``initial_epoch``, as in Keras).
            verbose: 0 silent, 1 progress bar + a line per epoch, 2 a line per epoch,
                "auto" 1 on a terminal and 2 otherwise.
            callbacks: list of :mod:`numcnn.training` callbacks.
            validation_split: fraction of the *last* samples held out for validation.
            validation_data: ``(x_val, y_val)``, evaluated after every epoch.
            shuffle: shuffle the samples every epoch.
            initial_epoch: epoch to start from.
            seed: seed of the shuffling / augmentation Generator (default: spawned from the model's).
            augment: callable ``(x_batch, rng) -> x_batch`` applied to training batches,
                e.g. :class:`numcnn.data.RandomShift`.
            distributed: train data-parallel on MPI (``mpirun -n K``): True for all ranks, a
                :class:`numcnn.distributed.Communicator` or a strategy. ``batch_size`` is then the
                global batch, split between the ranks; rank 0 alone runs ``callbacks`` and prints.
                See :mod:`numcnn.training.strategy`.

        A step whose output, loss, gradients or updated weights are not finite, or whose update
        changes a weight by more than 1,000 times the largest one, is undone and training stops;
        the history keeps the epochs done, :attr:`stop_reason` names the epoch and step, and a
        warning says so even with ``verbose=0``. A finite loss never stops training by its size.

        Shape:
            x: (N, H, W, C) (or what the model takes); y: (N,) labels or (N, K) targets.
        """
        return self._compiled("fit").fit(
            x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
            validation_split=validation_split, validation_data=validation_data, shuffle=shuffle,
            initial_epoch=initial_epoch, seed=seed, augment=augment, distributed=distributed)

    def evaluate(self, x, y, *, batch_size=32, verbose=0, return_dict=False):
        """Loss (and metrics) on ``(x, y)`` in inference mode: ``loss`` or ``[loss, *metrics]``,
        or a dict with ``return_dict=True``."""
        return self._compiled("evaluate").evaluate(x, y, batch_size=batch_size, verbose=verbose,
                                                   return_dict=return_dict)

    def predict(self, x, *, batch_size=32):
        """Outputs for ``x`` in inference mode, ``batch_size`` samples at a time.

        Shape:
            x: (N, ...); returns (N, ...).
        """
        self._one_in_one_out("predict")
        return predict(self, x, batch_size=batch_size)

    def train_on_batch(self, x, y) -> dict:
        """One update on one batch; returns ``{"loss": ..., metrics...}``."""
        return self._compiled("train_on_batch").train_on_batch(x, y)

    # -- files ------------------------------------------------------------------------
    def _architecture(self):
        """``{"class_name": ..., "config": ...}`` that rebuilds this model without its code, or None
        (a subclassed model is code: only a fresh instance of its class can take its weights)."""
        return None if self._graph is None else {"class_name": "Functional", "config": self.get_config()}

    def get_config(self) -> dict:
        """A functional model's config: its layers, the tensors each call of them took, its inputs and
        outputs (Keras' functional config); a subclassed model's is its name only."""
        if self._graph is None:
            return {"name": self.name}
        self._make_names_unique(self._graph.layers)
        config = {"name": self.name, **self._graph.get_config()}
        for entry, layer in zip(config["layers"], self._graph.layers):
            entry.update(_serialize(layer))
        return config

    def save(self, path) -> None:
        """Save the model to one ``.safetensors`` file (Keras ``model.save``), atomically: its weights and,
        for a Sequential, its architecture (``numcnn.load(path)`` rebuilds it). A subclassed model's
        file holds its weights, class name and input shape: ``numcnn.load(path, model=MyModel())``."""
        write_model_file(self, path, "numcnn.model", self._architecture())

    def save_weights(self, path) -> None:
        """Write all arrays to a ``.safetensors`` file (atomically)."""
        write_model_file(self, path, "numcnn.weights")

    def load_weights(self, path) -> None:
        """Load arrays written by :meth:`save_weights` or :meth:`save` (names and shapes must match)."""
        arrays, _ = read_model_file(path)
        self.assign_weights(arrays, os.fspath(path))

    def summary(self, print_fn=print) -> None:
        """Print a Keras-like table: layer (type), output shape, parameter count, totals."""
        self._ensure_built()
        print_fn(format_summary(self))
