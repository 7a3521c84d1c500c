"""Argument checks shared by functions and layers.

Every user-facing error names the argument, says what is allowed and ends
with ``Received: ...`` (the Keras convention), so a wrong call fails at the
boundary with a readable message instead of deep inside NumPy.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

import numpy as np

DATA_FORMATS = ("channels_last", "channels_first")


def _short(value: object) -> str:
    """A repr that stays one short line, for error messages."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def standardize_tuple(value, n: int, name: str, allow_zero: bool = False) -> tuple[int, ...]:
    """Turn an int or a sequence of ``n`` ints into a tuple of ``n`` ints.

    Args:
        value: an int, or a list/tuple of ``n`` ints.
        n: the length of the result.
        name: the argument's name, for the error message.
        allow_zero: accept 0 (e.g. a padding amount); otherwise values must be >= 1.

    Returns:
        A tuple of ``n`` Python ints.

    Example:
        >>> standardize_tuple(3, 2, "kernel_size")
        (3, 3)
    """
    lowest = 0 if allow_zero else 1
    allowed = "non-negative" if allow_zero else "positive"
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        values = (int(value),) * n
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == n and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value
    ):
        values = tuple(int(v) for v in value)
    else:
        raise ValueError(
            f"The `{name}` argument must be an int or a tuple of {n} ints, all {allowed}. "
            f"Received: {name}={_short(value)}"
        )
    if any(v < lowest for v in values):
        raise ValueError(
            f"The `{name}` argument must contain only {allowed} integers. "
            f"Received: {name}={_short(value)}"
        )
    return values


def standardize_data_format(data_format) -> str:
    """Check ``data_format`` is ``"channels_last"`` or ``"channels_first"``."""
    if isinstance(data_format, str) and data_format.lower() in DATA_FORMATS:
        return data_format.lower()
    raise ValueError(
        "The `data_format` argument must be one of 'channels_last' (N, H, W, C) or "
        f"'channels_first' (N, C, H, W). Received: data_format={_short(data_format)}"
    )


def standardize_padding(padding):
    """Normalise a padding spec.

    Returns ``"valid"``, ``"same"``, or explicit ``((top, bottom), (left, right))``.
    Accepts the strings (any case), an int, a pair ``(pad_h, pad_w)``, or the
    explicit nested form.
    """
    message = (
        "The `padding` argument must be 'valid', 'same', a non-negative int, a pair "
        "(pad_h, pad_w), or ((top, bottom), (left, right)). "
        f"Received: padding={_short(padding)}"
    )
    if isinstance(padding, str):
        if padding.lower() in ("valid", "same"):
            return padding.lower()
        raise ValueError(message)
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, (bool, np.bool_)):
        if padding < 0:
            raise ValueError(message)
        p = int(padding)
        return ((p, p), (p, p))
    if isinstance(padding, Sequence) and len(padding) == 2:
        if all(isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)) for p in padding):
            ph, pw = (int(p) for p in padding)
            if ph >= 0 and pw >= 0:
                return ((ph, ph), (pw, pw))
            raise ValueError(message)
        try:
            pairs = tuple(standardize_tuple(p, 2, "padding", allow_zero=True) for p in padding)
        except ValueError:
            raise ValueError(message) from None
        return pairs
    raise ValueError(message)


def as_array(x, name: str) -> np.ndarray:
    """Return ``x`` as a numeric NumPy array (no copy when it already is one).

    Raises ``TypeError`` for strings, objects and complex numbers.
    """
    if isinstance(x, np.ndarray):
        array = x
    else:
        try:
            array = np.asarray(x)
        except (ValueError, TypeError) as error:
            raise TypeError(
                f"The `{name}` argument must be a numeric array. Received: {name}={_short(x)} ({error})"
            ) from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"The `{name}` argument must be a real numeric array (bool, int or float). "
            f"Received: {name} with dtype {array.dtype}"
        )
    return array


def check_rank(x: np.ndarray, rank: int, name: str, layout: str) -> None:
    """Raise when ``x`` does not have ``rank`` dimensions; ``layout`` names them."""
    if x.ndim != rank:
        raise ValueError(
            f"The `{name}` argument must be a {rank}D array {layout}. "
            f"Received: {name} with shape {x.shape}"
        )


class NonFiniteError(ValueError):
    """An array holds NaN or infinity where numcnn refuses it (the targets ``fit`` is given)."""


class ArraySizeError(ValueError, MemoryError):
    """An array numcnn was asked to make does not fit in memory, or not even in NumPy's index range.

    Both a ``ValueError`` (the arguments asked for it) and a ``MemoryError`` (``except MemoryError``
    still catches it); the message names the sizes that made it.
    """


#: what NumPy and Python raise when an array is larger than they can address (not only larger than memory)
_TOO_LARGE = ("array is too big", "maximum supported dimension", "Maximum allowed dimension exceeded",
              "too large to convert", "Maximum allowed size", "cannot fit 'int' into an index-sized integer",
              "Python int too large", "must be of integral type")


def as_size_error(error: BaseException, what: str, received: str, hint: str = ""):
    """``error`` as an :class:`ArraySizeError` naming ``what`` and ``received`` if it is NumPy refusing to
    allocate (``MemoryError``, "array is too big", an index overflow), else None."""
    if isinstance(error, ArraySizeError):
        return error
    if isinstance(error, MemoryError):
        return ArraySizeError(f"{what} needs more memory than this machine has ({error}){hint}. Received: {received}")
    if isinstance(error, (ValueError, OverflowError, TypeError)) and any(text in str(error) for text in _TOO_LARGE):
        return ArraySizeError(f"{what} would make an array larger than NumPy can address ({error})"
                              f"{hint or ': check the sizes it is given'}. Received: {received}")
    return None  # TypeError: a size beyond int64 became an object above


@contextlib.contextmanager
def allocation_guard(what: str, received: str, hint: str = ""):
    """Turn NumPy's refusal to allocate inside the block into one :class:`ArraySizeError` that names
    ``what`` was being made and the arguments (:func:`as_size_error`).

    The one guard against sizes no machine holds (a mistaken padding, stride, pool size or number of
    units): numcnn does not check each argument against absurd values, it lets NumPy try and says why
    it failed.

    Args:
        what: e.g. "layer 'dense' (Dense)", for the message.
        received: the arguments that made the sizes, ending the message.
        hint: what to do instead, e.g. ": predict a few samples at a time".
    """
    try:
        yield
    except (MemoryError, ValueError, OverflowError, TypeError) as error:
        converted = as_size_error(error, what, received, hint)
        if converted is None:
            raise
        if converted is error:
            raise
        raise converted from None


def check_finite(x: np.ndarray, name: str) -> None:
    """Raise :class:`NonFiniteError` when ``x`` holds NaN or infinity, naming the first bad sample."""
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.ndim else np.array([True])
        first = int(np.flatnonzero(bad)[0])
        raise NonFiniteError(
            f"The `{name}` argument must contain only finite numbers (no NaN or inf). Received: {name} with "
            f"{int(np.count_nonzero(~np.isfinite(x)))} non-finite value(s), the first in sample {first}")


def float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The float dtype to compute in: the widest float among ``arrays``, else float32.

    Keeps float32 as float32 and float64 as float64; integer or bool inputs
    (e.g. raw pixel data) are computed in float32.
    """
    floats = [a.dtype for a in arrays if a is not None and a.dtype.kind == "f"]
    if not floats:
        return np.dtype(np.float32)
    return np.result_type(*floats)


# -- scalar arguments of layers, initializers, optimizers and schedules ---------------------------
# Python and NumPy scalars alike (Keras accepts np.int64(3) wherever 3 goes); bools are not numbers here.


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _is_finite_number(value) -> bool:
    """A finite real number, Python or NumPy, not a bool; an int beyond float's range is not finite."""
    if not _is_number(value) or (isinstance(value, int) and abs(value) > sys.float_info.max):  # exact, no float()
        return False
    return bool(np.isfinite(float(value)))


def check_int(value, name: str, low: int = 1) -> int:
    """``value`` as a Python int >= ``low`` (a Python or NumPy integer, not a bool).

    Example:
        >>> check_int(np.int64(3), "units")
        3
    """
    if not _is_int(value) or value < low:
        allowed = {1: "a positive int", 0: "a non-negative int"}.get(low, f"an int >= {low}")
        raise ValueError(f"The `{name}` argument must be {allowed}. Received: {name}={_short(value)}")
    return int(value)


def check_number(value, name: str, low: float = -np.inf, high: float = np.inf, low_open: bool = False,
                 high_open: bool = False) -> float:
    """``value`` as a finite Python float in the range (a Python or NumPy int or float, not a bool).

    An int beyond the float range (``10**400``) is refused like infinity, not left to OverflowError.

    Example:
        >>> check_number(np.float32(0.5), "rate", 0, 1, high_open=True)
        0.5
    """
    ok = _is_finite_number(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        if low == -np.inf and high == np.inf:
            allowed = "a finite number"
        elif high == np.inf:
            allowed = f"a finite number {'>' if low_open else '>='} {low:g}"
        else:
            allowed = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"The `{name}` argument must be {allowed}. Received: {name}={_short(value)}")
    return float(value)


def check_bool(value, name: str) -> bool:
    """``value`` as a Python bool; only ``True``/``False`` (or NumPy's) are accepted, not ``"no"`` or 2."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"The `{name}` argument must be True or False. Received: {name}={_short(value)}")
    return bool(value)


def check_config(config, what: str) -> dict:
    """``config`` (the ``"config"`` entry of a serialized object) as a dict with string keys.

    Args:
        config: what was read, e.g. from a JSON file.
        what: e.g. "The config of layer 'Dense'", for the message.
    """
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ValueError(f"{what} must be a dict of arguments by name. Received: {_short(config)}")
    return config


def check_batch_shape(input_shape, name: str = "input_shape") -> tuple:
    """``(batch, *sample_shape)``: a None or int batch, then sample sizes, all ints >= 0 (an array's shape;
    ``(None,)`` for a batch of numbers).

    Example:
        >>> check_batch_shape([None, np.int64(28), 28, 1])
        (None, 28, 28, 1)
    """
    ok = isinstance(input_shape, (tuple, list)) and len(input_shape) >= 1
    ok = ok and (input_shape[0] is None or _is_int(input_shape[0]) and input_shape[0] >= 0)
    ok = ok and all(_is_int(d) and d >= 0 for d in input_shape[1:])
    if not ok:
        raise ValueError(
            f"The `{name}` argument must be a tuple (batch, *sample_shape): the batch size (or None) then the "
            f"sample's sizes, non-negative ints, e.g. (None, 28, 28, 1). Received: {name}={_short(input_shape)}")
    return tuple(None if d is None else int(d) for d in input_shape)
