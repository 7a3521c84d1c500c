"""Transfer learning, as Keras' guide does it: a trained network's base (everything up to its last
``Flatten`` or global pooling) with a new ``Dense`` head for the new classes, the base's first layers
frozen (``trainable=False``: no update, batch norm on its moving statistics, and no backward pass
through a frozen part that nothing trainable lies behind), then optionally the whole base fine-tuned
at a small learning rate with its batch norms kept in inference mode.

    >>> model = with_new_head(base, classes=5)             # base: a trained Sequential or functional model
    >>> frozen = freeze(model, "flatten")                   # every layer up to and including "flatten"
"""

from __future__ import annotations

from ..layers import (
    BatchNormalization,
    Dense,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    Input,
    InputLayer,
)
from ..training.callbacks import Callback
from ..utils.validation import _is_int, _short
from .model import Model
from .sequential import Sequential

#: the head of a network is what comes after the last of these
BASE_ENDS = (Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalMaxPooling1D)


def base_end(model) -> int:
    """The index in ``model.layers`` of the last ``Flatten`` or global pooling: where the base ends."""
    ends = [i for i, layer in enumerate(model.layers) if isinstance(layer, BASE_ENDS)]
    if not ends:
        raise ValueError(f"Model '{model.name}' has no Flatten or global pooling layer, so its head (the layers "
                         "after it) cannot be told from its base. Received: layers "
                         f"{[type(layer).__name__ for layer in model.layers][:12]}")
    return ends[-1]


def with_new_head(model, classes: int, seed=0, name=None) -> Model:
    """A functional model: ``model``'s layers up to :func:`base_end` (shared, weights and all) and a new
    ``Dense(classes)`` head of logits, initialised from ``seed``."""
    if not _is_int(classes) or classes < 2:
        raise ValueError(f"The `classes` argument must be an int >= 2. Received: classes={_short(classes)}")
    end = base_end(model)
    layers = model.layers
    if isinstance(model, Sequential):
        if model.input_shape is None:
            raise ValueError(f"Model '{model.name}' is not built: call it on a batch first. Received: an unbuilt model")
        x = h = Input(model.input_shape[1:], dtype=str(model.dtype or "float32"))
        for layer in layers[:end + 1]:
            if not isinstance(layer, InputLayer):
                h = layer(h)
    else:
        if len(model.inputs) != 1:
            raise ValueError(f"A new head goes on a model with one input. Received: {len(model.inputs)} inputs")
        x, h = model.inputs[0], layers[end].output
    y = Dense(classes, name="new_head")(h)
    return Model(x, y, name=name or f"{model.name}_transfer", seed=seed)


def freeze(model, upto) -> list:
    """Set ``trainable=False`` on every layer of ``model.layers`` up to and including ``upto`` (a layer
    name, or an index, negative from the end); the head (after :func:`base_end`) cannot be frozen.
    Returns the frozen layers' names."""
    layers = model.layers
    names = [layer.name for layer in layers]
    if isinstance(upto, str) and upto in names:
        index = names.index(upto)
    elif _is_int(upto) and -len(layers) <= upto < len(layers):
        index = upto % len(layers)
    else:
        raise ValueError(f"The `freeze` argument must be a layer name or an index of model '{model.name}' "
                         f"(layers {names[:8]}{'...' if len(names) > 8 else ''}). Received: freeze={_short(upto)}")
    if index > base_end(model):
        raise ValueError(f"The `freeze` argument must be a layer of the base, at most '{names[base_end(model)]}' "
                         f"(the head after it is what trains). Received: freeze={_short(upto)}")
    for layer in layers[:index + 1]:
        layer.trainable = False
    return names[:index + 1]


def unfreeze(model) -> list:
    """Make every layer trainable again, except batch normalisation, which stays in inference mode (as
    Keras' guide advises for fine-tuning: its statistics are those of the data it learnt from).
    Returns the layers made trainable."""
    changed = []
    for layer in model.layers:
        if not layer.trainable and not isinstance(layer, BatchNormalization):
            layer.trainable = True
            changed.append(layer.name)
    return changed


class FineTune(Callback):
    """At the start of epoch ``epoch`` (0-based; and on a run resumed past it), :func:`unfreeze` the model.
    The learning rate of that phase comes from the optimizer's schedule
    (:class:`~numcnn.training.schedules.FineTuneSchedule`)."""

    def __init__(self, epoch: int, log=print):
        super().__init__()
        self.epoch, self.log, self.done = epoch, log, False

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= self.epoch and not self.done:
            self.done = True
            names = unfreeze(self.model)
            if names and self.log:
                self.log(f"fine-tuning from epoch {epoch + 1}: {len(names)} layers unfrozen")
