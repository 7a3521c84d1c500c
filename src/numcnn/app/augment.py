"""``numcnn train --augment``: random changes to each training batch, named in one list.

    --augment flip,rotate:10,zoom:0.1        (a comma-separated list of NAME[:VALUE])
    --augment 2                              (an int: shifts of up to 2 pixels, as before)

Each name is one of numcnn's augmentation layers with its Keras meaning (except ``shift``, numcnn's
own whole-pixel shift); the list runs on every training batch before the model sees it, drawing
from the fit's data generator (``--seed``), for the whole global batch under MPI, so a run is the
same on any number of processes and resumes exactly. Nothing enters the model: predict, export and
explain see the images as they are.
"""

from __future__ import annotations

from ..data.batching import random_shift
from ..layers import RandomBrightness, RandomContrast, RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from ..layers.tape import inference
from .settings import RunError

FLIP_MODES = {"": "horizontal", "horizontal": "horizontal", "vertical": "vertical",
              "both": "horizontal_and_vertical"}
#: name -> (what its value is, a check of it, the layer it makes from the value, drawing from a generator)
ITEMS = {
    "flip": ("horizontal, vertical or both (default horizontal)", lambda v: v in FLIP_MODES,
             lambda v, rng: RandomFlip(FLIP_MODES[v], seed=rng)),
    "rotate": ("degrees in (0, 180]", lambda v: 0 < float(v) <= 180,
               lambda v, rng: RandomRotation(float(v) / 360, seed=rng)),
    "zoom": ("a fraction in (0, 1)", lambda v: 0 < float(v) < 1, lambda v, rng: RandomZoom(float(v), seed=rng)),
    "translate": ("a fraction in (0, 1)", lambda v: 0 < float(v) < 1,
                  lambda v, rng: RandomTranslation(float(v), float(v), seed=rng)),
    "contrast": ("a fraction in (0, 1)", lambda v: 0 < float(v) < 1,
                 lambda v, rng: RandomContrast(float(v), value_range=(0, 1), seed=rng)),
    "brightness": ("a fraction in (0, 1]", lambda v: 0 < float(v) <= 1,
                   lambda v, rng: RandomBrightness(float(v), value_range=(0, 1), seed=rng)),
    "shift": ("pixels, an int from 1 to 4", lambda v: v.isdigit() and 1 <= int(v) <= 4, None),
}


def parse_augment(spec) -> list:
    """``[(name, value), ...]`` from ``--augment``'s text (an int means ``shift:N``; 0 or "none": nothing).

    Raises:
        RunError: an unknown name or a value out of range, naming the item and what it takes.
    """
    if isinstance(spec, int) and not isinstance(spec, bool):
        if not 0 <= spec <= 4:
            raise RunError(f"argument --augment: shifts are 0 to 4 pixels. Received: {spec}")
        return [("shift", str(spec))] if spec else []
    if not isinstance(spec, str):
        raise RunError(f"argument --augment: must be a list such as flip,rotate:10,zoom:0.1. Received: {spec!r}")
    if spec.strip().isdigit():
        return parse_augment(int(spec))
    items = []
    for part in (p.strip() for p in spec.split(",")):
        if part in ("", "none"):
            continue
        name, _, value = part.partition(":")
        if name not in ITEMS:
            raise RunError(f"argument --augment: {name!r} is not an augmentation; allowed: "
                           f"{', '.join(f'{n}:{ITEMS[n][0]}' for n in ITEMS)}. Received: {spec!r}")
        what, ok, _ = ITEMS[name]
        try:
            valid = ok(value) if name == "flip" or value else False
        except ValueError:
            valid = False
        if not valid or (name != "flip" and not value):
            raise RunError(f"argument --augment: {name} takes {what}. Received: {part!r}")
        if any(n == name for n, _ in items):
            raise RunError(f"argument --augment: {name} is given twice. Received: {spec!r}")
        items.append((name, value))
    return items


class Augmentation:
    """The ``fit(augment=...)`` function of a ``--augment`` list: ``(x_batch, rng) -> x_batch``."""

    def __init__(self, spec):
        self.items = parse_augment(spec)
        self._layers, self._rng = [], None

    def __bool__(self):
        return bool(self.items)

    def __call__(self, x, rng):
        if rng is not self._rng:  # the layers draw from the fit's data generator: one stream, checkpointed
            self._rng = rng
            self._layers = [None if name == "shift" else ITEMS[name][2](value, rng) for name, value in self.items]
        for (name, value), layer in zip(self.items, self._layers):
            if layer is None:
                x = random_shift(x, int(value), rng)
                continue
            with inference():  # no cache kept: nothing goes back through the augmentation
                x = layer(x, training=True)
        return x
