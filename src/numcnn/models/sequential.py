"""``Sequential``: a plain stack of layers."""

from __future__ import annotations

import numpy as np

from ..utils.validation import _short, check_batch_shape, float_dtype
from ..layers import InputLayer, Layer, deserialize, serialize
from ..layers.symbolic import SymbolicTensor
from .model import Model


class Sequential(Model):
    """A linear stack of layers (Keras ``Sequential``).

    Args:
        layers: list of layers (more can be added with :meth:`add`).
        name: model name.
        seed: int or Generator handed down to layers without their own seed.

    Example:
        >>> model = Sequential([Conv2D(10, 3, activation="relu", input_shape=(28, 28, 3)),
        ...                     Conv2D(20, 3, activation="relu"), Conv2D(30, 3, activation="relu")], seed=0)
        >>> model(np.zeros((32, 28, 28, 3), np.float32)).shape   # note 001
        (32, 22, 22, 30)
    """

    def __init__(self, layers=None, *, name=None, seed=None):
        super().__init__(name=name, seed=seed)
        self._stack = []
        if layers is not None:
            if not isinstance(layers, (list, tuple)):
                raise TypeError(f"The `layers` argument must be a list of layers. Received: layers={_short(layers)}")
            for layer in layers:
                self.add(layer)

    def add(self, layer) -> None:
        """Append a layer to the stack (``numcnn.Input(shape)`` is taken as its input layer, as in Keras)."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):
            layer = layer.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add needs a numcnn layer. Received: {_short(layer)}")
        if any(layer is other for other in self._stack):
            raise ValueError(f"Sequential.add: layer {layer.name!r} is already in this model. Received: the same layer twice")
        self._stack.append(layer)
        self.built = False

    @property
    def layers(self) -> list:
        self._make_names_unique(self._stack)
        return list(self._stack)

    def call(self, inputs, training=False):
        declared = self._stack[0]._batch_input_shape if self._stack else None
        if declared is not None and not self.built and isinstance(inputs, np.ndarray):
            # as Keras: a declared input shape builds every layer for it (the shape a saved file records),
            # so inputs of another shape work where the weights allow it (a fully convolutional stack)
            # and are refused where they do not (a Dense after Flatten), never building a model that
            # save_model writes and load_model cannot rebuild
            self._build(declared, self._stack[0].dtype or float_dtype(inputs))
        x = inputs
        try:
            for layer in self._stack:
                x = layer(x, training=training)
        except ValueError as error:
            if type(error) is not ValueError or declared is None or not isinstance(inputs, np.ndarray) \
                    or inputs.shape[1:] == declared[1:]:
                raise
            raise ValueError(
                f"Model '{self.name}' is built for inputs of shape {declared} (the input_shape of its first layer "
                f"'{self._stack[0].name}') and fails on inputs of shape {inputs.shape}: {error}") from None
        return x

    def build(self, input_shape=None) -> None:
        """Create every layer's weights for ``input_shape`` (batch axis first), without running data.

        An empty Sequential (the identity) has no weights: it is built without a shape.
        """
        if input_shape is None:
            if not self._stack:
                self.built = True
                return
            if self._stack[0]._batch_input_shape is None:
                raise ValueError(
                    "Sequential.build needs an input shape: pass input_shape=(...) to the first layer or "
                    "build((None, H, W, C)). Received: input_shape=None")
            input_shape = self._stack[0]._batch_input_shape
        declared = self._stack[0]._batch_input_shape if self._stack else None
        input_shape = check_batch_shape(input_shape)
        if declared is not None and tuple(input_shape[1:]) != declared[1:]:
            raise ValueError(
                f"Model '{self.name}' is built for inputs of shape {declared} (the input_shape of its first layer "
                f"'{self._stack[0].name}'). Received: input_shape={tuple(input_shape)}")
        self._build(input_shape, (self._stack[0].dtype if self._stack else None) or np.dtype(np.float32))

    def _build(self, input_shape, dtype) -> None:
        input_shape = check_batch_shape(input_shape)
        self._hand_down_rngs()
        shape = self.input_shape = (None, *input_shape[1:])
        for layer in self._stack:
            layer._build_once(shape, layer.dtype or dtype)
            shape = layer.compute_output_shape(shape)
            layer.output_shape = shape
            dtype = layer.dtype
        self.built = True

    def _ensure_built(self):
        if not self.built and (not self._stack or self._stack[0]._batch_input_shape is not None):
            self.build()  # an empty stack has nothing to build: its (absent) weights are complete

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._stack:
            shape = layer.compute_output_shape(shape)
        return shape

    def get_config(self) -> dict:
        return {"name": self.name, "layers": [serialize(layer) for layer in self._stack]}

    def _architecture(self):
        return {"class_name": "Sequential", "config": self.get_config()}

    @classmethod
    def from_config(cls, config: dict):
        """A new Sequential from :meth:`get_config` output (layers by class name; no code is run)."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(f"A Sequential config needs a 'layers' list. Received: {_short(config)}")
        return cls([deserialize(c) for c in config["layers"]], name=config.get("name"))
