"""Named objects of one kind (layers, optimizers, losses, schedules, initializers, metrics): the one
place that turns names and configs into objects and back.

A config is data: ``{"class_name": "Adam", "config": {"learning_rate": 0.001}}``. Only the classes
registered here can be named, so reading a config never runs code from a file (no eval, no pickle).

    >>> OPTIMIZERS = Registry("optimizer", Optimizer)
    >>> OPTIMIZERS.register(Adam)                       # "Adam" in configs, "adam" as a short name
    >>> OPTIMIZERS.alias("momentum", lambda **kw: SGD(momentum=0.9, **kw))
    >>> OPTIMIZERS.get("momentum", learning_rate=0.1)   # a new SGD
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .validation import _short, check_config


def snake_case(name: str) -> str:
    """Keras' default names: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d, SparseCategoricalCrossentropy
    -> sparse_categorical_crossentropy."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Registry(Mapping):
    """Classes (or functions) of one kind by name; as a mapping, the classes by class name (what
    configs say: ``LAYERS["Conv2D"]``).

    Args:
        kind: what the objects are, for messages ("layer", "optimizer", ...).
        base: the class every object of this kind derives from; instances of it pass through
            :meth:`get` unchanged. None for a registry of plain functions (metrics).
        argument: the argument that takes these objects, for messages (``"optimizer"``, ...).
    """

    def __init__(self, kind: str, base: type | None = None, argument: str | None = None):
        self.kind, self.base, self.argument = kind, base, argument or kind
        self.classes: dict[str, object] = {}  # class name -> class (what configs name)
        self.names: dict[str, object] = {}  # lower-case short name -> class, function or factory

    def register(self, entry, *, names=()):
        """Add a class (configs name it by its class name) or a function, and the short ``names`` that
        :meth:`get` takes for it (``"adam"``, ``"mse"``); returns ``entry``."""
        if isinstance(entry, type):
            self.classes[entry.__name__] = entry
        for name in names:
            self.names[name.lower()] = entry
        return entry

    def __getitem__(self, class_name):
        return self.classes[class_name]

    def __iter__(self):
        return iter(self.classes)

    def __len__(self):
        return len(self.classes)

    def alias(self, name: str, factory) -> None:
        """Let ``name`` make an object with ``factory(**kwargs)``, e.g. ``"he_normal"`` or ``"momentum"``."""
        self.names[name.lower()] = factory

    def allowed(self) -> list:
        """The names :meth:`get` takes: the short names, or the class names where there are none."""
        return sorted(self.names) or sorted(self.classes)

    def _expected(self) -> str:
        if self.base is None:
            return "a function"
        return f"{'an' if self.base.__name__[0] in 'AEIOU' else 'a'} {self.base.__name__}"

    def lookup(self, name, argument=None):
        """The class, function or factory registered under ``name`` (any case)."""
        if isinstance(name, str) and name.lower() in self.names:
            return self.names[name.lower()]
        argument = argument or self.argument
        raise ValueError(f"The `{argument}` argument must be {self._expected()} or one of {self.allowed()}. "
                         f"Received: {argument}={_short(name)}")

    def get(self, identifier, argument=None, **kwargs):
        """An object from a name (made with ``kwargs``), a config dict, or an object of the kind as is.

        Args:
            identifier: a name, a config (:meth:`serialize`'s form) or an object of the kind.
            argument: the argument it came in, for messages (default: the registry's).
            **kwargs: arguments of the object a name makes.
        """
        if self.base is not None and isinstance(identifier, self.base):
            return identifier
        if self.base is None and callable(identifier):
            return identifier
        if isinstance(identifier, dict):
            return self.deserialize(identifier, argument)
        entry = self.lookup(identifier, argument)
        return entry if self.base is None else entry(**kwargs)

    def serialize(self, obj) -> dict:
        """``{"class_name": ..., "config": obj.get_config()}``."""
        return {"class_name": type(obj).__name__, "config": obj.get_config()}

    def deserialize(self, config, argument=None):
        """A new object from :meth:`serialize`'s output; anything else is refused by name.

        Raises:
            ValueError: an unknown class name, a config that is not a dict of arguments, or
                arguments the class refuses (its message is kept).
        """
        name = config.get("class_name") if isinstance(config, dict) else None
        if not isinstance(name, str) or name not in self.classes:  # a list or dict class_name is unhashable
            if argument:
                raise ValueError(f"The `{argument}` argument must be {self._expected()} or one of {self.allowed()}, "
                                 f"or a config naming one of {sorted(self.classes)}. Received: "
                                 f"{argument}={_short(config)}")
            if not isinstance(config, dict):
                raise ValueError(f"A {self.kind} config must be a dict {{'class_name': ..., 'config': {{...}}}}. "
                                 f"Received: {_short(config)}")
            raise ValueError(f"A {self.kind} config must name one of {sorted(self.classes)}. "
                             f"Received: class_name={_short(name)}")
        try:
            arguments = check_config(config.get("config", {}), f"The config of {self.kind} '{name}'")
            return self.classes[name].from_config(dict(arguments))
        except TypeError as error:  # an unknown or missing argument: Python names it
            error = ValueError(f"The config of {self.kind} '{name}' does not fit its arguments ({error}). "
                               f"Received: {_short(config.get('config'))}")
            if not argument:
                raise error from None
            raise ValueError(f"The `{argument}` argument is not a valid {name} {self.kind}: {error}") from None
        except ValueError as error:  # the class refused a value: its message names the argument
            if not argument:
                raise
            raise ValueError(f"The `{argument}` argument is not a valid {name} {self.kind}: {error}") from None
