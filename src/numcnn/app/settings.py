"""The settings of a training run: one typed object, checked when it is made.

``numcnn train`` makes one from its flags over the defaults of the data set and model
(:meth:`RunSettings.resolve`), writes it to ``config.json`` and reads it back for
``--resume``; every check lives in :meth:`RunSettings.__post_init__`, so a setting that
comes from a flag and one that comes from a file are held to the same rules.
"""

from __future__ import annotations

import dataclasses
import os

from ..data import DATASET_NAMES
from ..io.run_dir import RunError
from ..models import zoo
from ..training import optimizers, schedules
from ..utils.validation import _is_finite_number, _short

SCHEDULE_NAMES = ("constant", "step", "cosine")

# Chosen by measurement (docs/benchmarks.md): each reaches its data set's usual accuracy quickly.
DATASET_DEFAULTS = {
    "digits": {"model": "simple", "epochs": 40, "batch_size": 32, "optimizer": "adam", "lr": 0.003,
               "decay_epochs": 10, "augment": 1},
    "mnist": {"model": "simple", "epochs": 6, "batch_size": 100, "optimizer": "adam", "lr": 0.001,
              "decay_epochs": 2, "augment": 0},
    "fashion-mnist": {"model": "simple", "epochs": 10, "batch_size": 100, "optimizer": "adam", "lr": 0.001,
                      "decay_epochs": 3, "augment": 0},
    "cifar10": {"model": "simple", "epochs": 10, "batch_size": 64, "optimizer": "adam", "lr": 0.001,
                "decay_epochs": 4, "augment": 2},
}
MODEL_DEFAULTS = {
    "deep": {"epochs": 8, "batch_size": 100, "lr": 0.002, "decay_epochs": 2, "augment": 2},
    "lenet5": {"epochs": 10, "batch_size": 64, "lr": 0.001, "decay_epochs": 3},
}
#: a data set and model pair whose own defaults go over both (MNIST's deep model: 99.3% within 5 minutes on 2 cores)
PAIR_DEFAULTS = {
    ("digits", "deep"): {"batch_size": 32, "epochs": 30, "augment": 1, "decay_epochs": 10},
    ("mnist", "deep"): {"epochs": 4, "schedule": "cosine", "augment": 1},
}
assert set(DATASET_DEFAULTS) == set(DATASET_NAMES)
#: a folder of your own images (``--dataset PATH``): small images, since numcnn's models are CPU networks
FOLDER_DEFAULTS = {"model": "simple", "epochs": 10, "batch_size": 32, "optimizer": "adam", "lr": 0.001,
                   "decay_epochs": 4, "augment": 0, "image_size": [64, 64], "color_mode": "rgb", "test_split": 0.2}
FOLDER_ONLY = ("image_size", "color_mode", "test_split")


def _is_json_int(value) -> bool:
    """A Python int, not a bool: settings go to config.json, so NumPy scalars are not taken."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    """A finite Python int or float, not a bool (an int beyond the float range is not finite)."""
    return (_is_json_int(value) or isinstance(value, float)) and _is_finite_number(value)


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Everything ``numcnn train`` trains with; the flags of the same names set them.

    Attributes:
        dataset: ``"digits"``, ``"mnist"``, ``"fashion-mnist"``, or a folder with a subfolder of images per class.
        model: a :mod:`numcnn.models.zoo` name: ``"simple"``, ``"lenet5"``, ``"deep"``.
        epochs, batch_size: the training length and samples per update.
        optimizer, lr: an optimizer name and its (peak) learning rate.
        schedule: ``"constant"``, ``"step"`` (times ``decay_rate`` every ``decay_epochs``) or
            ``"cosine"`` (to 0 over all epochs, after ``warmup_epochs`` of linear warm-up).
        weight_decay, clipnorm: L2 decay and the global gradient-norm clip (None: off).
        augment: random shifts of up to this many pixels (0: none), or a list of augmentations
            (:mod:`numcnn.app.augment`: ``"flip,rotate:10,zoom:0.1"``).
        validation_split: the fraction of the training set (its end) that validates.
        seed: of weights, shuffling, dropout and augmentation.
        image_size, color_mode, test_split: for a folder data set, ``[height, width]`` of its samples,
            ``"rgb"`` or ``"grayscale"``, and the fraction held out for testing (None when the folder has
            ``train/`` and ``test/``); None for the built-in data sets.
        base, freeze, fine_tune_epochs, fine_tune_lr: transfer learning (``--from``): the run directory or
            ONNX file whose base gets a new head, the last layer frozen (a name or an index), and the epochs
            after ``epochs`` that fine-tune the unfrozen base at ``fine_tune_lr``.
    """

    dataset: str
    model: str
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    decay_epochs: int
    augment: int | str
    schedule: str = "step"
    decay_rate: float = 0.5
    warmup_epochs: int = 0
    weight_decay: float | None = None
    clipnorm: float | None = None
    validation_split: float = 0.1
    seed: int = 0
    image_size: list | None = None
    color_mode: str | None = None
    test_split: float | None = None
    base: str | None = None
    freeze: str | None = None
    fine_tune_epochs: int = 0
    fine_tune_lr: float = 1e-5

    def __post_init__(self):
        def one_of(name, allowed):
            return isinstance(getattr(self, name), str) and getattr(self, name) in allowed

        checks = [  # (name, test, allowed): each test runs only after the ones before it passed
            ("dataset", lambda: one_of("dataset", DATASET_NAMES) or (isinstance(self.dataset, str)
                                                                    and os.path.isdir(self.dataset)),
             f"one of {list(DATASET_NAMES)} or a folder of class subfolders"),
            ("model", lambda: one_of("model", zoo.MODELS), f"one of {sorted(zoo.MODELS)}"),
            ("epochs", lambda: _is_json_int(self.epochs) and self.epochs >= 1, "an int >= 1"),
            ("batch_size", lambda: _is_json_int(self.batch_size) and self.batch_size >= 1, "an int >= 1"),
            ("optimizer", lambda: one_of("optimizer", optimizers.OPTIMIZERS.names),
             f"one of {optimizers.OPTIMIZERS.allowed()}"),
            ("lr", lambda: _is_number(self.lr) and self.lr > 0, "a number > 0"),
            ("schedule", lambda: one_of("schedule", SCHEDULE_NAMES), f"one of {SCHEDULE_NAMES}"),
            ("decay_epochs", lambda: _is_json_int(self.decay_epochs) and self.decay_epochs >= 1, "an int >= 1"),
            ("decay_rate", lambda: _is_number(self.decay_rate) and 0 < self.decay_rate <= 1, "a number in (0, 1]"),
            ("warmup_epochs", lambda: _is_json_int(self.warmup_epochs) and 0 <= self.warmup_epochs < self.epochs,
             "an int >= 0 and below --epochs"),
            ("augment", lambda: (_is_json_int(self.augment) and 0 <= self.augment <= 4) or isinstance(self.augment, str),
             "an int from 0 to 4 (pixels) or a list such as flip,rotate:10,zoom:0.1"),
            ("validation_split", lambda: _is_number(self.validation_split) and 0 <= self.validation_split < 0.5,
             "a number in [0, 0.5)"),
            ("seed", lambda: _is_json_int(self.seed) and self.seed >= 0, "an int >= 0"),
            ("weight_decay", lambda: self.weight_decay is None or (_is_number(self.weight_decay)
                                                                   and self.weight_decay >= 0), "a number >= 0"),
            ("clipnorm", lambda: self.clipnorm is None or (_is_number(self.clipnorm) and self.clipnorm > 0),
             "a number > 0"),
            *self._folder_checks(),
            ("base", lambda: self.base is None or (isinstance(self.base, str) and (
                os.path.isfile(os.path.join(self.base, "config.json")) or (
                    self.base.lower().endswith(".onnx") and os.path.isfile(self.base)))),
             "a run directory (with its config.json) or an .onnx file"),
            ("freeze", lambda: self.freeze is None or (isinstance(self.freeze, str) and self.freeze
                                                       and self.base is not None), "a layer name or index, with --from"),
            ("fine_tune_epochs", lambda: _is_json_int(self.fine_tune_epochs) and self.fine_tune_epochs >= 0
             and (self.fine_tune_epochs == 0 or self.base is not None), "an int >= 0, with --from"),
            ("fine_tune_lr", lambda: _is_number(self.fine_tune_lr) and self.fine_tune_lr > 0, "a number > 0"),
        ]
        for name, ok, allowed in checks:
            if not ok():
                raise RunError(f"argument --{name.replace('_', '-')}: must be {allowed}. "
                               f"Received: {_short(getattr(self, name))}")
        if self.warmup_epochs and self.schedule != "cosine":
            raise RunError(f"argument --warmup-epochs: needs --schedule cosine. Received: --schedule {self.schedule}")

    @property
    def is_folder(self) -> bool:
        return self.dataset not in DATASET_NAMES

    def _folder_checks(self) -> list:
        if not self.is_folder:
            return [(name, lambda name=name: getattr(self, name) is None, "given for a folder data set only")
                    for name in FOLDER_ONLY]
        return [
            ("image_size", lambda: (isinstance(self.image_size, (list, tuple)) and len(self.image_size) == 2
                                    and all(_is_json_int(d) and 1 <= d <= 4096 for d in self.image_size)),
             "two ints from 1 to 4096 (height width)"),
            ("color_mode", lambda: self.color_mode in ("rgb", "grayscale"), "'rgb' or 'grayscale'"),
            ("test_split", lambda: self.test_split is None or (_is_number(self.test_split)
                                                               and 0 < self.test_split < 0.5), "a number in (0, 0.5)"),
        ]

    # -- making settings -----------------------------------------------------------------
    @staticmethod
    def defaults(dataset="digits", model=None) -> dict:
        """What ``numcnn train --dataset DATASET [--model MODEL]`` uses for every flag not given."""
        if not isinstance(dataset, str) or (dataset not in DATASET_DEFAULTS and not os.path.isdir(dataset)):
            raise RunError(f"argument --dataset: must be one of {list(DATASET_DEFAULTS)} or a folder of class "
                           f"subfolders. Received: {_short(dataset)}")
        if model is not None and (not isinstance(model, str) or model not in zoo.MODELS):
            raise RunError(f"argument --model: must be one of {sorted(zoo.MODELS)}. Received: {_short(model)}")
        values = {**DATASET_DEFAULTS.get(dataset, FOLDER_DEFAULTS), "dataset": dataset}
        if dataset not in DATASET_DEFAULTS and all(os.path.isdir(os.path.join(dataset, d)) for d in ("train", "test")):
            values["test_split"] = None  # its own test/ folder
        model = model or values["model"]
        if model != values["model"]:
            values.update(MODEL_DEFAULTS.get(model, {}))
        values["model"] = model
        values.update(PAIR_DEFAULTS.get((dataset, model), {}))
        return values

    @classmethod
    def resolve(cls, given: dict, saved: RunSettings | None = None) -> RunSettings:
        """The settings of a run: ``given`` flags (None: not given) over the data set's and model's
        defaults, or over ``saved`` (a run being resumed), where only ``epochs`` may change."""
        given = {k: v for k, v in given.items() if v is not None}
        if given.get("dataset") not in (None, *DATASET_NAMES) and isinstance(given["dataset"], str):
            given["dataset"] = os.path.abspath(given["dataset"])  # evaluate and resume work from anywhere
        if given.get("base") is not None and isinstance(given["base"], str):
            given["base"] = os.path.abspath(given["base"])
        if isinstance(given.get("image_size"), tuple):
            given["image_size"] = list(given["image_size"])
        if saved is None:
            return cls(**{**cls.defaults(given.get("dataset", "digits"), given.get("model")), **given})
        changed = {k: v for k, v in given.items() if k != "epochs" and getattr(saved, k) != v}
        if changed:
            raise RunError(
                "--resume continues a run with its own settings; only --epochs may change. "
                f"Received: {', '.join(f'{k}={v!r}' for k, v in changed.items())} "
                f"(the run has {', '.join(f'{k}={getattr(saved, k)!r}' for k in changed)})")
        return dataclasses.replace(saved, **given)

    def to_json(self) -> dict:
        values = dataclasses.asdict(self)
        if values["image_size"] is not None:
            values["image_size"] = list(values["image_size"])
        return values

    @classmethod
    def from_json(cls, values, source: str) -> RunSettings:
        """Settings read from a file; anything missing, unknown or ill-typed is refused naming ``source``."""
        fields = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(values, dict) or not fields >= set(values) or not {"dataset", "model"} <= set(values):
            raise RunError(f"{source}: the training settings are incomplete or corrupted. Received: {_short(values)}")
        try:
            return cls(**{**cls.defaults(values["dataset"], values["model"]), **values})
        except RunError as e:
            raise RunError(f"{source}: corrupted training settings ({e})") from None

    # -- what they make ------------------------------------------------------------------
    @property
    def total_epochs(self) -> int:
        """``epochs``, then ``fine_tune_epochs``."""
        return self.epochs + self.fine_tune_epochs

    def make_optimizer(self, steps_per_epoch: int) -> optimizers.Optimizer:
        """The optimizer with the learning-rate schedule these settings name (schedules count steps); with
        fine-tuning epochs, ``fine_tune_lr`` from the step they start."""
        if self.schedule == "step":
            rate = schedules.StepDecay(self.lr, self.decay_epochs * steps_per_epoch, self.decay_rate)
        elif self.schedule == "cosine":
            warmup = self.warmup_epochs * steps_per_epoch
            decay = max(1, self.epochs * steps_per_epoch - warmup)
            rate = (schedules.CosineDecay(0.0, decay, warmup_target=self.lr, warmup_steps=warmup) if warmup
                    else schedules.CosineDecay(self.lr, decay))
        else:
            rate = self.lr
        if self.fine_tune_epochs:
            rate = schedules.FineTuneSchedule(rate, self.epochs * steps_per_epoch, self.fine_tune_lr)
        kwargs = {"learning_rate": rate}
        if self.weight_decay is not None:
            kwargs["weight_decay"] = float(self.weight_decay)
        if self.clipnorm is not None:
            kwargs["global_clipnorm"] = float(self.clipnorm)
        return optimizers.get(self.optimizer, **kwargs)
