"""``Sequential``: a plain stack of layers."""

from __future__ import annotations

import numpy as np

from .._validation import _short
from ..layers import Layer, deserialize, serialize
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
        >>> model(np.zeros((32, 28, 28, 3), np.float32)).shape   # seed 001
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
        """Append a layer to the stack."""
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
        x = inputs
        for layer in self._stack:
            x = layer(x, training=training)
        return x

    def build(self, input_shape=None) -> None:
        """Create every layer's weights for ``input_shape`` (batch axis first), without running data."""
        if input_shape is None:
            if not self._stack or self._stack[0]._batch_input_shape is None:
                raise ValueError(
                    "Sequential.build needs an input shape: pass input_shape=(...) to the first layer or "
                    "build((None, H, W, C)). Received: input_shape=None")
            input_shape = self._stack[0]._batch_input_shape
        self._hand_down_rngs()
        shape = (None, *tuple(input_shape)[1:])
        dtype = self._stack[0].dtype or np.dtype(np.float32) if self._stack else np.dtype(np.float32)
        for layer in self._stack:
            layer._build_once(shape, layer.dtype or dtype)
            shape = layer.compute_output_shape(shape)
            layer.output_shape = shape
            dtype = layer.dtype
        self.built = True

    def _ensure_built(self):
        if not self.built and self._stack and self._stack[0]._batch_input_shape is not None:
            self.build()

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._stack:
            shape = layer.compute_output_shape(shape)
        return shape

    def get_config(self) -> dict:
        return {"name": self.name, "layers": [serialize(layer) for layer in self._stack]}

    @classmethod
    def from_config(cls, config: dict):
        """A new Sequential from :meth:`get_config` output (layers by class name; no code is run)."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(f"A Sequential config needs a 'layers' list. Received: {_short(config)}")
        return cls([deserialize(c) for c in config["layers"]], name=config.get("name"))
