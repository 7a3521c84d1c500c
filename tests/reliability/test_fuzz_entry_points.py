"""Fuzzing every public entry point: a correct result or a clear error, never anything else.

Each ``test_fuzz_*`` test drives one entry point with hypothesis (random shapes incl. zero-size
and 1-pixel, every dtype kind, argument values that are negative, zero, huge, floats, None,
strings; random and mutated files). The allowed outcomes are:

* a correct result: the output shape the geometry predicts (computed here, independently of
  numcnn), the documented dtype, and finite values when the inputs are finite and small;
* a ``ValueError`` / ``TypeError`` (numcnn's own errors subclass ``ValueError``) whose message
  says what was wrong: it carries numcnn's ``Received: ...`` (or Python's own message naming a
  keyword argument), and for a bad argument it names that argument.

"Check once, at the door": the public functional ops validate their arguments (layers call them
with ``check=False``), but they do not scan arrays for NaN and infinity. A non-finite (numeric)
array flows through conv2d, pooling, global pooling, the activations and the functional losses
as IEEE arithmetic (and PyTorch) would: the expectation is a result of the right shape and dtype,
whose values need not be finite. Only ``fit`` catches non-finite values.

Absurd sizes ("huge" strides, padding, pool sizes, units, filters) have no bespoke checks: one
generic guard, ``numcnn.utils.validation.allocation_guard``, turns NumPy's refusal to allocate into
an ``ArraySizeError`` (a ``ValueError`` and a ``MemoryError``) whose message says what was being
made and ends with ``Received: ...``. Where a huge argument is involved, the allowed outcomes are
the correct result or a clear error, and an ``ArraySizeError`` counts as one without naming the
argument. Nowhere else is a ``MemoryError`` (or an ``ArraySizeError`` for small sizes) allowed.

Anything else fails: IndexError, KeyError, AttributeError, OverflowError, a bare MemoryError,
RecursionError, UnicodeDecodeError, an unwrapped json/struct/tokenize error, a NumPy message
without ``Received``, a hang (a watchdog stops an example after 60 s), a wrong shape or dtype.

Known bugs would be tolerated inside the fuzz tests only through the narrow predicates of
:data:`KNOWN_BUGS` (each counted as a hypothesis ``event`` so ``--hypothesis-show-statistics``
shows how often it was hit), each with a minimal regression test at the end of this file, marked
as an expected failure (strict) while the bug is there. There are none at present: every test at the
end is a plain test, which fails while the bug it names is there.

Run ``HYPOTHESIS_PROFILE=fuzz pytest tests/reliability/test_fuzz_entry_points.py
--hypothesis-show-statistics`` for 1,000 examples per entry point; the default ``ci`` profile
runs 50. Sizes are bounded: every "huge" value is astronomically large (>= 2**40, so any
allocation it causes fails at once instead of filling memory) and every ordinary one is small.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gzip
import io
import json
import math
import os
import re
import shutil
import signal
import struct
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

import numcnn
from numcnn import functional as F
from numcnn import layers as L
from numcnn import optimizers, schedules
from numcnn.data import read_idx, read_idx_bytes
from numcnn.filters import load_kernel
from numcnn.io import FileFormatError, load, load_arrays, load_model, load_weights, model_from_config
from numcnn.io import save_model, save_weights
from numcnn.losses import SparseCategoricalCrossentropy
from numcnn.training import load_checkpoint, restore_checkpoint, save_checkpoint
from numcnn.utils.validation import ArraySizeError

# Fixtures here are module-scoped; an example never depends on a function-scoped one.
FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

HUGE = (2**40, 2**62, 2**63, 2**64, 10**30)  # astronomic: an allocation of this size fails at once
DATA_FORMATS = ("channels_last", "channels_first")

# ---------------------------------------------------------------------------------------------
# outcome checks
# ---------------------------------------------------------------------------------------------

# Python's own messages that do say which argument was wrong (a config with an unknown key)
_PYTHON_NAMES_ARGUMENT = re.compile(
    r"unexpected keyword argument '|missing \d+ required (positional |keyword-only )?arguments?:")


class Hang(BaseException):
    """Raised by the watchdog (a BaseException, so that no ``except Exception`` can swallow it)."""


@contextlib.contextmanager
def watchdog(seconds=60):
    """Fail an example that runs longer than ``seconds`` (a hang) instead of blocking the run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise Hang(f"no result after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def is_clear_error(error: BaseException, names=(), huge=False) -> bool:
    """A ValueError/TypeError whose message says what was wrong (and names one of ``names``).

    ``huge``: the call had an absurd size among its arguments, so the generic guard's
    :class:`ArraySizeError` (also a MemoryError) is a clear error too, without naming the argument.
    An ArraySizeError for a call of ordinary sizes, or any other MemoryError, never is.
    """
    if isinstance(error, ArraySizeError):
        message = str(error)
        return huge and "Received: " in message and bool(message.split("Received: ", 1)[0].strip())
    forbidden = (LookupError, ArithmeticError, AttributeError, MemoryError, RecursionError, UnicodeError,
                 json.JSONDecodeError, struct.error, OSError)
    if not isinstance(error, (ValueError, TypeError)) or isinstance(error, forbidden):
        return False
    message = str(error)
    if not message.strip():
        return False
    if "Received" not in message and not _PYTHON_NAMES_ARGUMENT.search(message):
        return False
    return not names or any(name in message for name in names)


def assert_clear_error(error: BaseException, names=(), huge=False):
    assert is_clear_error(error, names, huge), (
        "expected a ValueError/TypeError with a clear message"
        f"{' naming one of ' + repr(sorted(names)) if names else ''}"
        f"{' (or the generic ArraySizeError: a huge argument)' if huge else ''}; "
        f"got {type(error).__module__}.{type(error).__name__}: {str(error)[:300]}")


def has_huge(value) -> bool:
    """True when ``value`` (an argument, or a tuple, list or dict of them) holds an astronomic int."""
    if _is_int(value):
        return abs(int(value)) >= 2**40
    if isinstance(value, dict):
        return any(has_huge(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return any(has_huge(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.size <= 16:
        return bool((np.abs(value.astype(object)) >= 2**40).any())
    return False


def known_bug(bug_id: str, condition) -> bool:
    """True when the failure at hand is the known bug ``bug_id`` (listed in KNOWN_BUGS)."""
    assert bug_id in KNOWN_BUGS, bug_id
    if condition:
        event(f"known bug: {bug_id}")
        return True
    return False


def outcome(call):
    """``(result, None)`` or ``(None, exception)``; a hang is never an outcome."""
    try:
        with watchdog(), np.errstate(all="ignore"):
            return call(), None
    except Hang:
        raise
    except Exception as error:  # noqa: BLE001 - the point is to look at every kind
        return None, error


# ---------------------------------------------------------------------------------------------
# value strategies shared by the functional ops and the layers
# ---------------------------------------------------------------------------------------------

VALID_DTYPES = ("float16", "float32", "float64", "int8", "int32", "int64", "uint8", "uint64", "bool")
INVALID_DTYPES = ("complex64", "complex128", "object", "str", "bytes", "datetime64[s]", "timedelta64[s]",
                  "structured")


def make_array(shape, dtype, seed, magnitude="small", non_finite=False):
    """An array of ``shape``: small values (|v| <= 3) or ``magnitude="extreme"`` (near the dtype's max)."""
    rng = np.random.default_rng(seed)
    if dtype == "object":
        a = np.empty(shape, dtype=object)
        a[...] = 1.0
        return a
    if dtype == "str":
        return np.full(shape, "a")
    if dtype == "bytes":
        return np.full(shape, b"a")
    if dtype == "structured":
        return np.zeros(shape, dtype=[("a", "f4")])
    if dtype.startswith(("datetime", "timedelta")):
        return np.zeros(shape, dtype=dtype)
    if dtype.startswith("complex"):
        return (rng.standard_normal(shape) + 1j).astype(dtype)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        if magnitude == "extreme":
            return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
        low = 0 if dtype.startswith("u") else -3
        return rng.integers(low, 4, shape).astype(dtype)
    top = float(np.finfo(dtype).max) * 0.9 if magnitude == "extreme" else 3.0
    a = (rng.uniform(-1, 1, shape) * top).astype(dtype)
    if non_finite and a.size:
        a.reshape(-1)[rng.integers(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
    return a


def compute_dtype(*arrays):
    """numcnn's rule, from its docs: the widest float among the inputs, else float32."""
    floats = [np.asarray(a).dtype for a in arrays if a is not None and np.asarray(a).dtype.kind == "f"]
    return np.result_type(*floats) if floats else np.dtype(np.float32)


def is_numeric(a) -> bool:
    try:
        return np.asarray(a).dtype.kind in "biuf"
    except (ValueError, TypeError):
        return False


def is_finite(a) -> bool:
    a = np.asarray(a)
    return a.dtype.kind != "f" or bool(np.isfinite(a).all())


@st.composite
def arrays(draw, shape, dtypes=VALID_DTYPES + INVALID_DTYPES, allow_non_finite=True, allow_extreme=True,
           allow_list=True):
    """``(array, info)``: info says whether it is numeric, finite and small."""
    dtype = draw(st.sampled_from(dtypes))
    magnitude = draw(st.sampled_from(["small"] * 4 + (["extreme"] if allow_extreme else [])))
    non_finite = allow_non_finite and dtype.startswith("float") and draw(st.integers(0, 9)) == 0
    a = make_array(tuple(shape), dtype, draw(st.integers(0, 2**32 - 1)), magnitude, non_finite)
    numeric = dtype in VALID_DTYPES
    if allow_list and numeric and 0 < a.size <= 64 and draw(st.integers(0, 9)) == 0:
        a = a.tolist()  # nested lists: as good as an array
    return a, {"numeric": numeric, "finite": numeric and is_finite(a), "small": magnitude == "small",
               "dtype": dtype}


def int_tuple_arg(low=1, high=3, huge=True):
    """An int-or-pair argument (strides, dilation_rate, pool_size, kernel_size): valid and invalid forms."""
    good = st.integers(low, high)
    forms = [good, st.tuples(good, good), st.lists(good, min_size=2, max_size=2),
             st.integers(-2, 0), st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
             st.sampled_from([None, "", "2", "same", 1.0, 1.5, float("nan"), float("inf"), True, False, (1,), (1, 1, 1),
                              (1.0, 1), ("1", 1), (None, 1), ((1, 1),), {}, [1, [1]], np.int64(2), np.float64(2.0),
                              np.array([1, 1]), (np.int64(1), np.int64(2))])]
    if huge:
        forms.append(st.sampled_from(HUGE))
        forms.append(st.tuples(st.sampled_from(HUGE), good))
    return st.one_of(*forms)


def good_int_tuple_arg(high=3):
    """A well-formed int-or-pair argument (strides, dilation_rate, pool_size)."""
    good = st.integers(1, high)
    return st.one_of(good, st.tuples(good, good), st.lists(good, min_size=2, max_size=2))


def good_padding_arg(high=3):
    side = st.integers(0, high)
    return st.one_of(st.sampled_from(["valid", "same", "VALID", "Same"]), side, st.tuples(side, side),
                     st.tuples(st.tuples(side, side), st.tuples(side, side)))


def huge_arg():
    """An astronomic int-or-pair value (with every other argument valid: the correct result or a clear error)."""
    return st.one_of(st.sampled_from(HUGE), st.tuples(st.integers(1, 3), st.sampled_from(HUGE)))


WELL_FORMED = st.integers(0, 1).map(lambda i: i == 0)  # half of the calls have only well-formed arguments (and
# hypothesis' simplest draws are well-formed ones: 0)


PADDING_BAD = [None, "", "full", "causal", 1.0, -1, (1, -1), ((1, 2), (3,)), ((1, 1), (0, 0), (1, 1)),
               ((-1, 0), (0, 0)),
               {1: 2}, ("ab", "cd"), ((1, 1), "ab"), np.array([1, 1]), True, (True, 1)]


def padding_arg(high=3):
    side = st.integers(0, high)
    return st.one_of(
        st.sampled_from(["valid", "same", "VALID", "Same"]),
        side, st.tuples(side, side), st.tuples(st.tuples(side, side), st.tuples(side, side)),
        st.lists(st.lists(side, min_size=2, max_size=2), min_size=2, max_size=2),
        st.sampled_from(HUGE), st.tuples(st.tuples(st.sampled_from(HUGE), side), st.tuples(side, side)),
        st.sampled_from(PADDING_BAD))


def data_format_arg():
    return st.sampled_from(list(DATA_FORMATS) * 4 + ["CHANNELS_LAST", "Channels_First", "NHWC", "NCHW", None, 1,
                                                    b"channels_last", ""])


# -- an independent statement of the argument rules (the docs and house style, not numcnn's code) ----

BAD = "bad"  # the argument is invalid
EITHER = "either"  # a sensible implementation may accept it or refuse it clearly


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def spec_tuple(value, n=2, allow_zero=False):
    """The ``n`` ints an int-or-tuple argument means, or BAD / EITHER."""
    if _is_int(value):
        values = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n and all(_is_int(v) for v in value):
        values = tuple(int(v) for v in value)
    elif isinstance(value, np.ndarray) and value.shape == (n,) and value.dtype.kind in "iu":
        return EITHER  # an array of ints: not the documented form, but it means something
    else:
        return BAD
    return BAD if any(v < (0 if allow_zero else 1) for v in values) else values


def spec_padding(padding):
    """``"valid"``, ``"same"``, explicit ((top, bottom), (left, right)), or BAD / EITHER."""
    if isinstance(padding, str):
        return padding.lower() if padding.lower() in ("valid", "same") else BAD
    if _is_int(padding):
        return ((int(padding),) * 2,) * 2 if padding >= 0 else BAD
    if isinstance(padding, np.ndarray):
        return EITHER
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        if all(_is_int(p) for p in padding):
            return tuple((int(p), int(p)) for p in padding) if min(padding) >= 0 else BAD
        pairs = [spec_tuple(p, 2, allow_zero=True) for p in padding]
        return BAD if any(p in (BAD, EITHER) for p in pairs) else tuple(pairs)
    return BAD


def spec_data_format(data_format):
    if isinstance(data_format, str) and data_format.lower() in DATA_FORMATS:
        return data_format.lower()
    return BAD


def out_size(size, kernel, stride, before, after, dilation=1):
    """Output length along one axis, or None when the (dilated) kernel does not fit."""
    effective = (kernel - 1) * dilation + 1
    padded = size + before + after
    return None if effective > padded else (padded - effective) // stride + 1


def same_pads(size, kernel, stride, dilation=1):
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def explicit_pads(padding, hw, kernel_hw, strides, dilation=(1, 1)):
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        return tuple(same_pads(*args) for args in zip(hw, kernel_hw, strides, dilation))
    return padding


class Expect:
    """What a call should do: refuse naming one of ``bad`` (or of ``maybe``), refuse clearly or succeed
    (``either``), or succeed with ``shape`` (None: not checked) and ``dtype``; ``finite``: the values
    must be finite (the inputs were finite and small); ``huge``: an argument is astronomic, so the
    generic guard's ArraySizeError is a clear refusal too (only where no argument is invalid: those are
    checked at the door, before anything is allocated)."""

    def __init__(self):
        self.bad, self.maybe, self.either, self.shape, self.dtype, self.finite = set(), set(), False, None, None, True
        self.huge = False

    def refuse(self, *names):
        self.bad.update(names)

    def allow(self, *names):
        """An argument a sensible implementation may accept or refuse (naming it)."""
        self.either = True
        self.maybe.update(names)

    def absurd(self):
        """An astronomic size: the correct result, or a clear error (the generic ArraySizeError too)."""
        self.allow()
        self.huge = True

    def check(self, result, error, known=lambda error: False):
        """True when there is a result to check further."""
        if error is not None:
            if known(error):
                return False
            if self.bad:
                assert_clear_error(error, self.bad | self.maybe)
            elif self.either:
                assert_clear_error(error, huge=self.huge)
            else:
                raise AssertionError(f"a valid call raised {type(error).__name__}: {str(error)[:300]}") from error
            return False
        assert not self.bad, f"an invalid call returned a result instead of refusing {sorted(self.bad)}"
        return True


def _space(shape) -> int:
    return int(np.prod([int(s) for s in shape], dtype=object)) if shape else 1


ASTRONOMIC = 2**30  # elements: a padded input or an output this large may be refused (memory)

# ---------------------------------------------------------------------------------------------
# the known bugs (bug id -> what goes wrong), each tolerated only through ``known_bug(id, predicate)``
# and with a minimal regression test at the end of this file. None at present ("loss-config-type",
# losses.deserialize of an unhashable class_name or a config that is not a dict, is fixed: the
# regression tests of configs that are not dicts cover it).
# ---------------------------------------------------------------------------------------------

KNOWN_BUGS: dict[str, str] = {}

# ---------------------------------------------------------------------------------------------
# numcnn.functional: conv2d + backward
# ---------------------------------------------------------------------------------------------


@st.composite
def conv_calls(draw):
    if draw(WELL_FORMED):
        return draw(well_formed_conv_calls())
    n = draw(st.sampled_from([0, 1, 1, 2, 3]))
    h, w = draw(st.integers(0, 7)), draw(st.integers(0, 7))
    c = draw(st.sampled_from([0, 1, 2, 3, 4]))
    groups = draw(st.one_of(st.integers(1, 4), st.integers(-1, 0), st.sampled_from(HUGE),
                            st.sampled_from([1.0, None, "1", True, np.int64(2)])))
    cg = c // groups if _is_int(groups) and groups >= 1 else c
    if draw(st.integers(0, 5)) == 0:
        cg = draw(st.integers(0, 4))
    filters = draw(st.sampled_from([0, 1, 2, 3, 4, 6]))
    kh, kw = draw(st.sampled_from([0, 1, 2, 3, 3])), draw(st.sampled_from([0, 1, 2, 3, 3]))
    data_format = draw(data_format_arg())
    x_shape = (n, h, w, c)
    if spec_data_format(data_format) == "channels_first":
        x_shape = (n, c, h, w)
    rank = draw(st.sampled_from([4] * 12 + [0, 2, 3, 5]))
    if rank != 4:
        x_shape = tuple(x_shape[:rank]) + (2,) * max(0, rank - 4)
    k_shape = (kh, kw, cg, filters)
    if draw(st.integers(0, 15)) == 0:
        k_shape = k_shape[:3]
    x, x_info = draw(arrays(x_shape))
    kernel, k_info = draw(arrays(k_shape))
    bias, b_info = None, {"numeric": True, "finite": True, "small": True}
    if draw(st.booleans()):
        b_shape = draw(st.sampled_from([(filters,)] * 6 + [(filters + 1,), (), (1, filters)]))
        bias, b_info = draw(arrays(b_shape))
    call = dict(strides=draw(int_tuple_arg()), padding=draw(padding_arg()), dilation_rate=draw(int_tuple_arg()),
                groups=groups, data_format=data_format)
    return x, kernel, bias, call, (x_info, k_info, b_info)


@st.composite
def well_formed_conv_calls(draw):
    """Numeric arrays of the right ranks and sizes, valid arguments (the kernel may still not fit)."""
    n, h, w = draw(st.sampled_from([0, 1, 1, 2, 3])), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kind = draw(st.sampled_from(["plain"] * 4 + ["depthwise", "grouped"]))
    if kind == "plain":
        groups, c, filters = 1, draw(st.integers(1, 4)), draw(st.sampled_from([1, 2, 3, 4, 6]))
    elif kind == "depthwise":
        c = draw(st.integers(1, 4))
        groups, filters = c, c * draw(st.integers(1, 2))
    else:
        groups, c, filters = 2, draw(st.sampled_from([2, 4])), draw(st.sampled_from([2, 4, 6]))
    data_format = draw(st.sampled_from(DATA_FORMATS + ("Channels_First", "CHANNELS_LAST")))
    x_shape = (n, h, w, c) if spec_data_format(data_format) == "channels_last" else (n, c, h, w)
    x, x_info = draw(arrays(x_shape, dtypes=VALID_DTYPES))
    kernel, k_info = draw(arrays((draw(st.integers(1, 3)), draw(st.integers(1, 3)), c // groups, filters),
                                 dtypes=VALID_DTYPES))
    bias, b_info = None, {"numeric": True, "finite": True, "small": True}
    if draw(st.booleans()):
        bias, b_info = draw(arrays((filters,), dtypes=VALID_DTYPES))
    call = dict(strides=draw(good_int_tuple_arg()), padding=draw(good_padding_arg()),
                dilation_rate=draw(good_int_tuple_arg(2)), groups=groups, data_format=data_format)
    if draw(st.integers(0, 7)) == 0:  # one absurd size
        call[draw(st.sampled_from(["strides", "padding", "dilation_rate"]))] = draw(huge_arg())
    return x, kernel, bias, call, (x_info, k_info, b_info)


def expect_conv(x, kernel, bias, call, infos) -> Expect:
    e = Expect()
    x_info, k_info, b_info = infos
    data_format = spec_data_format(call["data_format"])
    strides, dilation = spec_tuple(call["strides"]), spec_tuple(call["dilation_rate"])
    padding = spec_padding(call["padding"])
    groups = call["groups"]
    for name, value in (("data_format", data_format), ("strides", strides), ("dilation_rate", dilation),
                        ("padding", padding)):
        if value is BAD:
            e.refuse(f"`{name}`")
        elif value is EITHER:
            e.allow(f"`{name}`")
    if not _is_int(groups) or groups < 1:
        e.refuse("`groups`")
    for name, info, array, rank in (("x", x_info, x, 4), ("kernel", k_info, kernel, 4), ("bias", b_info, bias, 1)):
        if not info["numeric"] or (array is not None and np.ndim(array) != rank and name != "bias"):
            e.refuse(f"`{name}`")  # NaN and inf are no reason to refuse: they flow through (IEEE)
    if has_huge(call):
        e.huge = True  # a refusal may be the generic ArraySizeError (once the arguments passed the door)
    if data_format is BAD or np.ndim(x) != 4 or np.ndim(kernel) != 4 or "`groups`" in e.bad:
        return e
    xs, ks = np.shape(x), np.shape(kernel)
    n, h, w, c = xs if data_format == "channels_last" else (xs[0], xs[2], xs[3], xs[1])
    kh, kw, k_in, filters = ks
    if c % groups or filters % groups:
        e.refuse("`groups`")
    elif k_in * groups != c:
        e.refuse("`kernel`")
    if bias is not None and np.shape(bias) != (filters,):
        e.refuse("`bias`")
    if e.bad or e.either:
        return e
    if 0 in (c, filters, kh, kw):
        e.allow("`x`", "`kernel`")  # nothing to convolve: a clear refusal is as good as an empty result
        if 0 in (kh, kw):
            return e
    pads = explicit_pads(padding, (h, w), (kh, kw), strides, dilation)
    out = [out_size(*args) for args in zip((h, w), (kh, kw), strides, (p[0] for p in pads), (p[1] for p in pads),
                                           dilation)]
    if None in out:
        e.refuse("kernel")  # "The kernel (size ...) is larger than the padded input"
        return e
    padded = n * c * (h + sum(pads[0])) * (w + sum(pads[1]))
    if padded > ASTRONOMIC or max(n, 1) * out[0] * out[1] * filters > ASTRONOMIC or e.huge:
        e.absurd()  # too big to compute, or an absurd argument: a clear refusal is fine, a result must be right
    e.shape = (n, *out, filters) if data_format == "channels_last" else (n, filters, *out)
    e.dtype = compute_dtype(x, kernel, bias)
    e.finite = all(info["small"] and info["finite"] for info in infos)
    return e


@FUZZ
@given(conv_calls(), st.data())
def test_fuzz_conv2d_forward_backward(case, data):
    x, kernel, bias, call, infos = case
    note(f"x {np.shape(x)} {np.asarray(x).dtype}, kernel {np.shape(kernel)}, bias {np.shape(bias)}, {call}")
    expect = expect_conv(x, kernel, bias, call, infos)
    result, error = outcome(lambda: F.conv2d_forward(x, kernel, bias, **call))
    if not expect.check(result, error):
        return
    y, cache = result
    if expect.shape is not None:
        assert y.shape == expect.shape
        assert y.dtype == expect.dtype
    if expect.finite:
        assert np.isfinite(y).all()
    with np.errstate(all="ignore"):  # extreme values overflow (IEEE), as in the call above
        np.testing.assert_array_equal(F.conv2d(x, kernel, bias, **call), y)  # NaN in the same places too

    # backward: a good dy, or a bad one
    kind = data.draw(st.sampled_from(["good"] * 5 + ["shape", "strings", "none", "list"]))
    dtype = data.draw(st.sampled_from(["float16", "float32", "float64", "int32"]))
    dy = make_array(y.shape, dtype, data.draw(st.integers(0, 2**32 - 1)))
    if kind == "shape":
        dy = make_array(data.draw(st.sampled_from([y.shape[:3], (y.shape[0] + 1, *y.shape[1:]), (1,), ()])),
                        dtype, 0)
    elif kind == "strings":
        dy = np.full(y.shape, "a")
    elif kind == "none":
        dy = None
    elif kind == "list" and 0 < y.size <= 64:  # (an empty array's list would lose its shape)
        dy = dy.tolist()
    result, error = outcome(lambda: F.conv2d_backward(dy, cache))
    if kind in ("good", "list") or (kind == "shape" and np.shape(dy) == y.shape):
        assert error is None, f"backward with a good dy raised {type(error).__name__}: {error}"
        dx, dkernel, dbias = result
        assert dx.shape == np.shape(x) and dkernel.shape == np.shape(kernel)
        assert (dbias is None) == (bias is None) and (bias is None or dbias.shape == np.shape(bias))
        if expect.finite and dtype != "float16":
            assert all(np.isfinite(g).all() for g in (dx, dkernel, dbias) if g is not None)
    else:
        assert error is not None, f"backward accepted a bad dy ({kind})"
        assert_clear_error(error, {"`dy`"})


# ---------------------------------------------------------------------------------------------
# numcnn.functional: max / average pooling + backward
# ---------------------------------------------------------------------------------------------


@st.composite
def pool_calls(draw):
    if draw(WELL_FORMED):
        return draw(well_formed_pool_calls())
    n = draw(st.sampled_from([0, 1, 1, 2, 3]))
    h, w, c = draw(st.integers(0, 7)), draw(st.integers(0, 7)), draw(st.sampled_from([0, 1, 2, 3]))
    data_format = draw(data_format_arg())
    shape = (n, h, w, c) if spec_data_format(data_format) != "channels_first" else (n, c, h, w)
    rank = draw(st.sampled_from([4] * 12 + [0, 2, 3, 5]))
    if rank != 4:
        shape = tuple(shape[:rank]) + (2,) * max(0, rank - 4)
    x, info = draw(arrays(shape))
    strides = draw(st.one_of(st.none(), int_tuple_arg()))
    call = dict(pool_size=draw(int_tuple_arg()), strides=strides, padding=draw(padding_arg(2)),
                data_format=data_format)
    return x, call, info


@st.composite
def well_formed_pool_calls(draw):
    """A numeric 4D input with pixels and channels, valid arguments, explicit padding smaller than the window."""
    n, h, w, c = draw(st.sampled_from([0, 1, 1, 2, 3])), draw(st.integers(1, 7)), draw(st.integers(1, 7)), \
        draw(st.integers(1, 3))
    data_format = draw(st.sampled_from(DATA_FORMATS + ("Channels_First", "CHANNELS_LAST")))
    x, info = draw(arrays((n, h, w, c) if spec_data_format(data_format) == "channels_last" else (n, c, h, w),
                          dtypes=VALID_DTYPES))
    call = dict(pool_size=draw(good_int_tuple_arg()), strides=draw(st.one_of(st.none(), good_int_tuple_arg())),
                data_format=data_format)
    if draw(st.integers(0, 7)) == 0:  # one absurd size
        call[draw(st.sampled_from(["pool_size", "strides"]))] = draw(huge_arg())
    call["padding"] = draw(good_padding_arg(min(2, min(spec_tuple(call["pool_size"])) - 1)))
    return x, call, info


def expect_pool(x, call, info) -> Expect:
    e = Expect()
    data_format = spec_data_format(call["data_format"])
    pool = spec_tuple(call["pool_size"])
    strides = pool if call["strides"] is None else spec_tuple(call["strides"])
    padding = spec_padding(call["padding"])
    for name, value in (("data_format", data_format), ("pool_size", pool), ("strides", strides), ("padding", padding)):
        if value is BAD:
            e.refuse(f"`{name}`")
        elif value is EITHER:
            e.allow(f"`{name}`")
    if not info["numeric"] or np.ndim(x) != 4:
        e.refuse("`x`")  # NaN and inf flow through (IEEE): no reason to refuse
    if has_huge(call):
        e.huge = True
    if e.bad or e.either:
        return e
    xs = np.shape(x)
    n, h, w, c = xs if data_format == "channels_last" else (xs[0], xs[2], xs[3], xs[1])
    if 0 in (c, h, w):
        e.refuse("`x`")  # no channel or no pixel: refused, as conv and PyTorch refuse it (an empty batch is fine)
    if not isinstance(padding, str) and any(p >= k for pair, k in zip(padding, pool) for p in pair):
        e.refuse("`padding`")  # explicit padding as large as the window: a window of padding only
    if e.bad:
        return e
    pads = explicit_pads(padding, (h, w), pool, strides)
    out = [out_size(*args) for args in zip((h, w), pool, strides, (p[0] for p in pads), (p[1] for p in pads))]
    if None in out:
        e.refuse("kernel")
        return e
    if n * c * (h + sum(pads[0])) * (w + sum(pads[1])) > ASTRONOMIC or e.huge:
        e.absurd()
    e.shape = (n, *out, c) if data_format == "channels_last" else (n, c, *out)
    e.dtype = compute_dtype(x)
    e.finite = info["finite"]  # average pooling too stays finite for finite values near the dtype's max
    return e


@FUZZ
@pytest.mark.parametrize("mode", ["max", "avg"])
@given(case=pool_calls(), data=st.data())
def test_fuzz_pool2d_forward_backward(mode, case, data):
    x, call, info = case
    note(f"x {np.shape(x)} {np.asarray(x).dtype}, {call}")
    forward = F.max_pool2d_forward if mode == "max" else F.avg_pool2d_forward
    backward = F.max_pool2d_backward if mode == "max" else F.avg_pool2d_backward
    expect = expect_pool(x, call, info)
    result, error = outcome(lambda: forward(x, **call))
    if not expect.check(result, error):
        return
    y, cache = result
    assert y.shape == expect.shape and y.dtype == expect.dtype
    if expect.finite:
        assert np.isfinite(y).all(), "finite input, non-finite output"
    if mode == "max" and y.size:  # every output is one of the inputs (NaN only where the input has one)
        inputs = np.asarray(x, dtype=y.dtype)
        assert np.isin(y[~np.isnan(y)], inputs).all()
        assert not np.isnan(y).any() or np.isnan(inputs).any()
    kind = data.draw(st.sampled_from(["good"] * 4 + ["shape", "strings"]))
    dy = make_array(y.shape, data.draw(st.sampled_from(["float32", "float64", "int8"])), 0)
    if kind == "shape":
        dy = np.ones(data.draw(st.sampled_from([y.shape[1:], (y.shape[0] + 1, *y.shape[1:]), ()])))
    elif kind == "strings":
        dy = np.full(y.shape, "a")
    result, error = outcome(lambda: backward(dy, cache))
    if kind == "good":
        assert error is None, f"backward with a good dy raised {type(error).__name__}: {error}"
        assert result.shape == np.shape(x) and result.dtype == y.dtype
        assert np.isfinite(result).all() or not expect.finite
    else:
        assert error is not None
        assert_clear_error(error, {"`dy`"})


# ---------------------------------------------------------------------------------------------
# numcnn.functional: global pooling + backward
# ---------------------------------------------------------------------------------------------


@FUZZ
@pytest.mark.parametrize("mode", ["avg", "max"])
@given(data=st.data())
def test_fuzz_global_pool2d(mode, data):
    if data.draw(WELL_FORMED):  # a numeric 4D input with pixels and channels, valid arguments
        shape = (data.draw(st.sampled_from([0, 1, 1, 2, 3])), *data.draw(st.tuples(*[st.integers(1, 5)] * 3)))
        x, info = data.draw(arrays(shape, dtypes=VALID_DTYPES))
        data_format = data.draw(st.sampled_from(DATA_FORMATS))
        keepdims = data.draw(st.sampled_from([False, True, np.bool_(True), 0, 1]))
    else:
        shape = data.draw(st.tuples(*[st.sampled_from([0, 1, 1, 2, 3, 5])] * 4))
        if data.draw(st.integers(0, 9)) == 0:
            shape = shape[:data.draw(st.sampled_from([0, 1, 2, 3]))] + data.draw(st.sampled_from([(), (2,)]))
        x, info = data.draw(arrays(shape))
        data_format = data.draw(data_format_arg())
        keepdims = data.draw(st.sampled_from([False, True, False, True, 0, 1, np.bool_(True), "no", "yes", None,
                                              2.5]))
    note(f"x {np.shape(x)} {np.asarray(x).dtype}, data_format={data_format!r}, keepdims={keepdims!r}")
    forward = F.global_avg_pool2d_forward if mode == "avg" else F.global_max_pool2d_forward
    e = Expect()
    if spec_data_format(data_format) is BAD:
        e.refuse("`data_format`")
    if not (isinstance(keepdims, (bool, np.bool_)) or keepdims in (0, 1)):
        e.refuse("`keepdims`")
    if not info["numeric"] or np.ndim(x) != 4:
        e.refuse("`x`")  # NaN and inf flow through (IEEE): no reason to refuse
    axes = (1, 2) if spec_data_format(data_format) == "channels_last" else (2, 3)
    channel_axis = 3 if axes == (1, 2) else 1
    if not e.bad and 0 in (np.shape(x)[axes[0]], np.shape(x)[axes[1]], np.shape(x)[channel_axis]):
        e.refuse("`x`")  # no pixel to pool over, or no channel (as PyTorch); an empty batch is fine
    result, error = outcome(lambda: forward(x, data_format, keepdims))
    if not e.check(result, error):
        return
    y, cache = result
    if info["finite"]:  # global average pooling too stays finite for finite values near the dtype's max
        assert np.isfinite(y).all(), "finite input, non-finite output"
    if mode == "max" and y.size:  # every output is one of the inputs (NaN only where the input has one)
        inputs = np.asarray(x, dtype=y.dtype)
        assert np.isin(y[~np.isnan(y)], inputs).all()
        assert not np.isnan(y).any() or np.isnan(inputs).any()
    xs = np.shape(x)
    kept = tuple(1 if i in axes else s for i, s in enumerate(xs))
    assert y.shape == (kept if keepdims else tuple(s for i, s in enumerate(xs) if i not in axes))
    assert y.dtype == compute_dtype(x)
    kind = data.draw(st.sampled_from(["good"] * 4 + ["0d", "1d", "wrong", "strings"]))
    dy = {"good": lambda: np.ones(y.shape), "0d": lambda: np.float64(1.0), "1d": lambda: np.ones(3),
          "wrong": lambda: np.ones((y.shape[0] + 1, *y.shape[1:])), "strings": lambda: np.full(y.shape, "a")}[kind]()
    result, error = outcome(lambda: F.global_pool2d_backward(dy, cache))
    if kind == "good":
        assert error is None, f"backward with a good dy raised {type(error).__name__}: {error}"
        assert result.shape == xs and result.dtype == y.dtype
        assert np.isfinite(result).all() or not info["finite"]
    elif error is None:
        assert kind == "1d" and np.shape(dy) == y.shape, f"backward accepted a bad dy ({kind})"
    else:
        assert_clear_error(error, {"`dy`"})


# ---------------------------------------------------------------------------------------------
# numcnn.functional: activations (forward + backward)
# ---------------------------------------------------------------------------------------------

SLOPES = [0, 0.2, 1, 3, 0.5, np.float32(0.3), np.int64(1), -0.1, float("nan"), float("inf"), "0.1", True, None, 1e300,
          7e4]


@FUZZ
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax"])
@given(data=st.data())
def test_fuzz_activation(name, data):
    rank = data.draw(st.integers(0, 4))
    shape = tuple(data.draw(st.lists(st.sampled_from([0, 1, 2, 3, 5]), min_size=rank, max_size=rank)))
    x, info = data.draw(arrays(shape))
    kwargs = {}
    e = Expect()
    if name == "leaky_relu":
        slope = data.draw(st.sampled_from(SLOPES))
        kwargs["negative_slope"] = slope
        ok = isinstance(slope, (int, float, np.integer, np.floating)) and not isinstance(slope, bool) \
            and math.isfinite(slope) and slope >= 0
        if not ok:
            e.refuse("`negative_slope`")
        elif isinstance(slope, np.integer):
            e.allow("`negative_slope`")  # numpy-scalar-args: refused today; either is fine here
    if name == "softmax":
        axis = data.draw(st.sampled_from([-1, -1, 0, 1, -2, 2, 3, -5, 2**70, 1.0, "1", None, True]))
        kwargs["axis"] = axis
        if isinstance(axis, bool):
            e.allow("`axis`")
        elif not _is_int(axis) or not -rank <= axis < rank:
            e.refuse("`axis`", "`x`")
    if not info["numeric"]:
        e.refuse("`x`")
    note(f"x {shape} {info['dtype']}, {kwargs}")
    forward = getattr(F, f"{name}_forward")
    result, error = outcome(lambda: forward(x, **kwargs))
    if not e.check(result, error):
        return
    y, cache = result
    assert y.shape == shape and y.dtype == compute_dtype(x)
    slope = float(kwargs.get("negative_slope", 1) or 1)
    top = float(np.max(np.abs(np.asarray(x, dtype=np.float64)))) if np.size(x) else 0.0
    # a slope beyond the dtype's range is no longer computed in float64: 0 * inf is NaN there (IEEE)
    biggest = float(np.finfo(y.dtype).max)
    if info["finite"] and slope < biggest and top * max(slope, 1.0) < biggest:
        assert np.isfinite(y).all(), "finite input, non-finite output"
    if name in ("sigmoid", "softmax") and info["finite"]:
        assert ((y >= 0) & (y <= 1)).all()
    # backward: a good dy or a bad one
    kind = data.draw(st.sampled_from(["good"] * 4 + ["broadcast", "wrong", "strings", "none", "list"]))
    dy = {"good": lambda: np.ones(shape, dtype=y.dtype), "broadcast": lambda: np.ones((2, *shape)),
          "wrong": lambda: np.ones((*shape, 3)), "strings": lambda: np.full(shape, "a"), "none": lambda: None,
          "list": lambda: np.ones(shape).tolist() if _space(shape) else np.ones(shape)}[kind]()
    result, error = outcome(lambda: getattr(F, f"{name}_backward")(dy, cache))
    if kind in ("good", "list"):
        assert error is None, f"backward with a good dy raised {type(error).__name__}: {error}"
        assert np.shape(result) == shape
    else:
        assert error is not None, f"backward accepted a bad dy ({kind}): shape {np.shape(result)}"
        assert_clear_error(error, {"`dy`"})


# ---------------------------------------------------------------------------------------------
# numcnn.functional: losses (forward + backward)
# ---------------------------------------------------------------------------------------------


def reference_loss(name, y_true, y_pred, labels):
    """The documented loss in float64: the mean over rows of ``-sum(target * log p)`` (integer labels pick
    their row's log-probability), or the mean of ``(y_pred - y_true) ** 2``."""
    z = y_pred.astype(np.float64)
    if name == "mean_squared_error":
        return float(np.mean((z - y_true.astype(np.float64)) ** 2))
    if name == "softmax_cross_entropy":
        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    else:
        log_p = np.log(np.clip(z, 1e-7, 1 - 1e-7))
    if labels:
        return float(-log_p[np.arange(len(z)), y_true.reshape(-1).astype(np.int64)].mean())
    return float(-(y_true.astype(np.float64) * log_p).sum() / len(z))


@FUZZ
@pytest.mark.parametrize("name", ["softmax_cross_entropy", "categorical_cross_entropy", "mean_squared_error"])
@given(data=st.data())
def test_fuzz_loss(name, data):
    well_formed = data.draw(WELL_FORMED)  # (N >= 1, K >= 1) numeric predictions, targets of a fitting form
    if well_formed:
        n, k = data.draw(st.sampled_from([1, 2, 3, 5])), data.draw(st.sampled_from([1, 2, 3, 4]))
        pred_shape = (n, k)
        y_pred, p_info = data.draw(arrays(pred_shape, dtypes=VALID_DTYPES))
    else:
        n, k = data.draw(st.sampled_from([0, 1, 2, 3, 5])), data.draw(st.sampled_from([0, 1, 2, 3, 4]))
        pred_shape = data.draw(st.sampled_from([(n, k)] * 6 + [(n,), (n, k, 1), ()]))
        y_pred, p_info = data.draw(arrays(pred_shape))
    cross_entropy = name != "mean_squared_error"
    form = data.draw(st.sampled_from(["labels", "labels", "column", "onehot", "onehot"]
                                     + ([] if well_formed else ["other"])))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    high = k if well_formed else data.draw(st.sampled_from([k, k, k, k + 1, 2**64 - 1]))
    t_info = {"numeric": True, "finite": True, "small": True}
    if cross_entropy and form in ("labels", "column"):
        dtype = data.draw(st.sampled_from(["int64", "int64", "uint64", "float32", "float64", "int8"] if well_formed
                                          else ["int64", "int64", "uint64", "float32", "float64", "bool", "str",
                                                "object"]))
        labels = rng.integers(0, max(high, 1), n, dtype=np.uint64 if high > 2**62 else np.int64)
        t_info["small"] = high <= k  # (k == 1 makes an (N, 1) column a probability row: a huge one is not small)
        if dtype.startswith("float") and not well_formed and data.draw(st.integers(0, 4)) == 0:
            y_true = labels.astype(dtype) + 0.5
        elif dtype in ("str", "object"):
            y_true = labels.astype(dtype)
            t_info["numeric"] = False
        else:
            y_true = labels.astype(dtype)
        if form == "column":
            y_true = y_true.reshape(-1, 1)
    elif well_formed:
        y_true, t_info = data.draw(arrays(pred_shape, dtypes=VALID_DTYPES))
    else:
        y_true, t_info = data.draw(arrays(data.draw(st.sampled_from([pred_shape] * 4 + [(n, k + 1), (n,)]))))
    note(f"y_true {np.shape(y_true)} {np.asarray(y_true).dtype}, y_pred {pred_shape} {p_info['dtype']}")
    pred_arg = "`logits`" if name == "softmax_cross_entropy" else "`y_pred`"
    e = Expect()
    if not p_info["numeric"]:
        e.refuse(pred_arg)
    if not t_info["numeric"]:
        e.refuse("`y_true`")
    ts, yt = np.shape(y_true), np.asarray(y_true) if t_info["numeric"] else None
    labels = False  # integer labels (N,) or (N, 1): each row's log-probability is gathered
    # NaN and inf in the predictions or in probability rows flow through (IEEE): no reason to refuse
    if cross_entropy:
        if p_info["numeric"] and (len(pred_shape) != 2 or n == 0 or k == 0):
            e.refuse(pred_arg)  # "with at least one row and one class"
        elif t_info["numeric"] and p_info["numeric"]:
            if len(ts) == 1 or (len(ts) == 2 and ts[1] == 1 and k > 1):
                labels = True
                flat = yt.reshape(-1)
                if flat.shape[0] != n:
                    e.refuse("`y_true`")
                elif flat.dtype.kind == "f" and (not np.isfinite(flat).all() or (flat != np.round(flat)).any()):
                    e.refuse("`y_true`")
                elif flat.size and (flat.astype(np.float64).min() < 0 or flat.astype(np.float64).max() >= k):
                    e.refuse("`y_true`")
            elif ts != pred_shape:
                e.refuse("`y_true`")
    elif p_info["numeric"] and t_info["numeric"]:
        if ts != pred_shape:
            e.refuse("`y_true`")
        elif _space(pred_shape) == 0:
            e.refuse("`y_pred`")
    forward = getattr(F, f"{name}_forward")
    result, error = outcome(lambda: forward(y_true, y_pred))
    if not e.check(result, error):
        return
    value, cache = result
    assert np.ndim(value) == 0
    assert np.asarray(value).dtype == compute_dtype(y_pred)
    finite_inputs = p_info["finite"] and t_info["finite"]
    ordinary = finite_inputs and p_info["small"] and t_info.get("small", True)
    if not np.isfinite(value):  # NaN/inf in, far-apart logits, huge "one-hot" targets: IEEE's answer
        assert not ordinary, f"finite, small inputs gave a loss of {value}"
    else:
        negative_targets = cross_entropy and not labels and yt.dtype.kind != "b" and (yt < 0).any()
        assert value >= 0 or negative_targets
    if ordinary and np.asarray(value).dtype != np.float16:  # the value, computed here independently
        expected = reference_loss(name, yt, np.asarray(y_pred), labels)
        tolerance = 1e-4 if np.asarray(value).dtype == np.float32 else 1e-9
        np.testing.assert_allclose(float(value), expected, rtol=tolerance, atol=tolerance)
    dloss = data.draw(st.sampled_from([1.0, 1.0, 0.5, 2, np.float32(1.0), "a", None, np.ones(3), [1.0]]))
    good = isinstance(dloss, (int, float, np.floating)) and not isinstance(dloss, bool)
    result, error = outcome(lambda: getattr(F, f"{name}_backward")(cache, dloss))
    if good:
        assert error is None, f"backward raised {type(error).__name__}: {error}"
        assert result.shape == pred_shape
    else:
        assert error is not None, f"backward accepted dloss={dloss!r}"
        assert_clear_error(error, {"`dloss`"})


# ---------------------------------------------------------------------------------------------
# numcnn.layers: every constructor with random arguments, then a call, a backward and a config round trip
# ---------------------------------------------------------------------------------------------

OK, NOPE, NUMPY, MAYBE = "valid", "invalid", "numpy scalar", "either"


class Arg:
    """Strategies of ``(value, status)`` for one constructor argument: ``any`` (valid, invalid, NumPy scalars,
    either) and ``valid`` (the valid values only, for well-formed calls)."""

    def __init__(self, any_, valid):
        self.any, self.valid = any_, valid

    def __or__(self, other):
        return Arg(st.one_of(self.any, other.any), st.one_of(self.valid, other.valid))


def arg(valid=(), invalid=(), numpy=(), maybe=()) -> Arg:
    parts, valid_parts = [], []
    for values, status, weight in ((valid, OK, 6), (invalid, NOPE, 2), (numpy, NUMPY, 1), (maybe, MAYBE, 1)):
        if isinstance(values, st.SearchStrategy):
            part = values.map(lambda v, s=status: (v, s))
        elif values:
            part = st.sampled_from(list(values)).map(lambda v, s=status: (v, s))
        else:
            continue
        parts += [part] * weight
        if status == OK:
            valid_parts.append(part)
    return Arg(st.one_of(*parts), st.one_of(*valid_parts))


POS_INT_BAD = (0, -1, 2.0, 1.5, "2", None, True, [2])
FILTERS_ARG = arg(st.integers(1, 4), POS_INT_BAD, (np.int64(2),), HUGE)
SIZE_ARG = arg(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),
               (0, -1, (3, 0), (1, 2, 3), "3", None, 1.5, True), (np.int64(2),), HUGE)
STRIDES_ARG = arg(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),
                  (0, -1, 1.5, "1", (1, 0), True), (np.int64(1),), (2**40,))
DILATION_ARG = arg(st.integers(1, 2), (0, -1, 1.5))
PADDING_LAYER_ARG = arg(st.one_of(st.sampled_from(["valid", "same", "SAME"]), st.integers(0, 2),
                                  st.tuples(st.integers(0, 2), st.integers(0, 2))),
                        ("full", -1, (1, -1), 1.0, None, ((1, 1), (0, 0), (1, 1))))
_SIDES = st.tuples(st.integers(0, 2), st.integers(0, 2))
# ZeroPadding2D's padding and Cropping2D's cropping: an int, (height, width) or ((top, bottom), (left, right))
MARGINS_ARG = arg(st.one_of(st.integers(0, 2), _SIDES, st.tuples(_SIDES, _SIDES), st.tuples(st.integers(0, 2), _SIDES)),
                  ("same", -1, (1, -1), 1.0, None, ((1, 1), (0, 0), (1, 1)), ((1, 2, 3), (0, 0)), True, "1",
                   ((-1, 0), (0, 0))), (np.int64(1), (np.int64(1), np.int64(0))), (2**40, ((2**40, 0), (0, 0))))
# 1D: kernel_size, strides, pool_size and dilation_rate are an int or a 1-tuple; padding "valid", "same",
# "causal" (convolution only), an int or (left, right)
SIZE_1D_ARG = arg(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3))),
                  (0, -1, (0,), (1, 2), "3", None, 1.5, True), (np.int64(2), (np.int64(2),)), HUGE)
STRIDES_1D_ARG = arg(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3))), (0, -1, 1.5, "1", (1, 1), True),
                     (np.int64(1),), (2**40,))
PADDING_1D_ARG = arg(st.one_of(st.sampled_from(["valid", "same", "SAME"]), st.integers(0, 2), _SIDES),
                     ("full", -1, (1, -1), 1.0, None, ((1, 1), (0, 0)), (1, 2, 3), ""), (np.int64(1),))
FORMAT_ARG = arg(DATA_FORMATS, ("NHWC", None, 1, ""))
ACTIVATION_ARG = arg((None, "relu", "linear", "sigmoid", "tanh", "softmax", "leaky_relu", "ReLU"),
                     ("gelu", 1, {}, ["relu"], "", "__import__('os').getcwd()"))
INIT_OK = ("glorot_uniform", "zeros", "ones", "he_normal", "lecun_uniform", "random_normal",
           {"class_name": "Constant", "config": {"value": 0.5}},
           {"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_in", "distribution": "uniform"}})
INIT_BAD = ("glorot", 3, None, {"class_name": "Nope"}, {"class_name": "Constant", "config": {"value": "x"}},
            {"class_name": "RandomUniform", "config": {"minval": -1e308, "maxval": 1e308}},
            {"class_name": "VarianceScaling", "config": {"scale": -1}}, {"class_name": "Constant", "config": [1]})
INIT_ARG = arg(INIT_OK, INIT_BAD)
BOOL_ARG = arg((True, False), ("no", "yes", None, 2))
AXIS_ARG = arg(st.integers(-3, 3), (1.5, "1", None, True), (), (2**70,))
RATE_ARG = arg((0, 0.1, 0.5, 0.99, np.float64(0.5)), (1, 1.0, 1.5, -0.1, float("nan"), "0.5", True, None),
               (np.float32(0.5),))
NAN, INF = float("nan"), float("inf")
NUMBER_BAD = (NAN, INF, -INF, "1", True, [1.0], 10**400)  # None: no bound


def factor_arg(low=-1.0, high=1.0, low_open=False):
    """An augmentation factor: a number ``f`` (the range [-|f|, |f|]) or a pair (low, high) in either order, each
    number within [low, high] (``low_open``: above low)."""
    number = st.floats(low, high, exclude_min=low_open)
    pair = st.tuples(number, number)
    outside = (low - 0.5, high + 0.5) if low_open else (low - 0.5, low - 1e-3, high + 0.5)
    return arg(st.one_of(number, pair, pair.map(list)),
               (*outside, *((low,) if low_open else ()), (0.1, high + 0.5), (low - 0.5, 0.1), (0.1,), [0.1],
                (0.1, 0.2, 0.3), "0.1", None, True, (True, 0.1), (0.1, "0.2"), {}, *NUMBER_BAD[:3], (0.1, NAN),
                10**400), (np.float32(0.25), (np.float64(0.1), np.float32(0.5)), np.int64(0)))


FILL_ARGS = {"fill_mode": arg(("reflect", "wrap", "constant", "nearest", "Constant", "REFLECT"),
                              ("mirror", "", None, 1, ["wrap"])),
             "interpolation": arg(("bilinear", "nearest", "Nearest"), ("bicubic", "lanczos3", "area", None, 1, "")),
             # an astronomic fill value overflows float32 and float16 images: IEEE infinity or a refusal
             "fill_value": arg((0, 0.5, -1.0, 2, 255.0), NUMBER_BAD, (np.float32(0.5), np.int64(1)), (1e300, -1e300)),
             "data_format": FORMAT_ARG}
# (low, high) with low < high; an astronomic range overflows float32 and float16 images: IEEE infinity or a refusal
VALUE_RANGE_ARG = arg((((0, 255), (0, 1), [0, 1], (-1, 1), (0.0, 1.5), (-2.5, 0))),
                      ((1, 0), (0, 0), [0], (0, 1, 2), None, 1, "0,1", (0, NAN), (0, INF), (-INF, 0), (0, "1"),
                       (True, 2), (None, 1), {}, (0, 10**400)),
                      ((np.float32(0), np.float32(1)), (np.int64(0), np.int64(255))), ((-1e300, 1e300), (0, 1e300)))


def _scale_array(spec):
    """A Rescaling ``scale``/``offset`` array of the drawn shape (as an ndarray or as nested lists)."""
    shape, as_list = spec
    a = np.arange(1, _space(shape) + 1, dtype=np.float64).reshape(shape) * 0.5 - 1
    return a.tolist() if as_list else a


SCALE_ARRAYS = st.tuples(st.lists(st.sampled_from([1, 1, 2, 3, 4]), max_size=3), st.booleans()).map(_scale_array)

COMMON_ARGS = {
    "name": arg(("a", "layer_1"), ("", 3, ["a"])),
    "dtype": arg(("float32", "float64", "float16", np.float32), ("int32", "float8", 3, "complex64", "bool")),
    "trainable": BOOL_ARG,
    "seed": arg((0, 7, 2**70), (-1, "x", 1.5, True)),
}

LAYER_ARGS = {
    "Conv2D": {"filters": FILTERS_ARG, "kernel_size": SIZE_ARG, "strides": STRIDES_ARG, "padding": PADDING_LAYER_ARG,
               "data_format": FORMAT_ARG, "dilation_rate": DILATION_ARG,
               "groups": arg((1, 2), (0, -1, 1.5, None), (np.int64(1),)), "activation": ACTIVATION_ARG,
               "use_bias": arg((True, False)), "kernel_initializer": INIT_ARG, "bias_initializer": INIT_ARG},
    "DepthwiseConv2D": {"kernel_size": SIZE_ARG, "strides": STRIDES_ARG, "padding": PADDING_LAYER_ARG,
                        "depth_multiplier": arg(st.integers(1, 3), POS_INT_BAD, (np.int64(2),), HUGE),
                        "data_format": FORMAT_ARG, "dilation_rate": DILATION_ARG, "activation": ACTIVATION_ARG,
                        "use_bias": arg((True, False)), "depthwise_initializer": INIT_ARG,
                        "bias_initializer": INIT_ARG},
    "SeparableConv2D": {"filters": FILTERS_ARG, "kernel_size": SIZE_ARG, "strides": STRIDES_ARG,
                        "padding": PADDING_LAYER_ARG, "data_format": FORMAT_ARG, "dilation_rate": DILATION_ARG,
                        "depth_multiplier": arg(st.integers(1, 3), POS_INT_BAD, (np.int64(2),), HUGE),
                        "activation": ACTIVATION_ARG, "use_bias": arg((True, False)),
                        "depthwise_initializer": INIT_ARG, "pointwise_initializer": INIT_ARG,
                        "bias_initializer": INIT_ARG},
    "Conv2DTranspose": {"filters": FILTERS_ARG, "kernel_size": SIZE_ARG, "strides": STRIDES_ARG,
                        "padding": PADDING_LAYER_ARG | arg(st.tuples(_SIDES, _SIDES)),
                        "output_padding": arg(st.one_of(st.none(), st.integers(0, 2), st.tuples(
                            st.integers(0, 2), st.integers(0, 2))), (-1, (0, -1), 1.5, "1", (1, 2, 3), True),
                                              (np.int64(0),)),
                        "data_format": FORMAT_ARG, "dilation_rate": DILATION_ARG, "activation": ACTIVATION_ARG,
                        "use_bias": arg((True, False)), "kernel_initializer": INIT_ARG, "bias_initializer": INIT_ARG},
    "Conv1D": {"filters": FILTERS_ARG, "kernel_size": SIZE_1D_ARG, "strides": STRIDES_1D_ARG,
               "padding": PADDING_1D_ARG | arg(("causal", "Causal")), "data_format": FORMAT_ARG,
               "dilation_rate": arg(st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 2))), (0, -1, 1.5, (1, 1))),
               "groups": arg((1, 2), (0, -1, 1.5, None), (np.int64(1),)), "activation": ACTIVATION_ARG,
               "use_bias": arg((True, False)), "kernel_initializer": INIT_ARG, "bias_initializer": INIT_ARG},
    "Dense": {"units": arg(st.integers(1, 5), POS_INT_BAD, (np.int64(3),), HUGE), "activation": ACTIVATION_ARG,
              "use_bias": arg((True, False)), "kernel_initializer": INIT_ARG, "bias_initializer": INIT_ARG},
    "Flatten": {"data_format": FORMAT_ARG},
    "Reshape": {"target_shape": arg(st.lists(st.sampled_from([-1, 1, 2, 3, 4, 6]), min_size=1, max_size=3).filter(
        lambda t: t.count(-1) <= 1).map(tuple),
                                    ((0, 3), (-1, -1), "ab", 3, (1.5,), None, (-2,)), ((np.int64(2),),))},
    "Permute": {"dims": arg(st.integers(1, 3).flatmap(lambda k: st.permutations(range(1, k + 1))),
                            ((), (0, 1), (1, 1), (2,), (1, 3), "12", None, 1, (1.0, 2), ((1,), (2,))),
                            ((np.int64(2), np.int64(1)),))},
    # scale and offset: numbers, or arrays (nested lists) broadcast against one sample; infinity inside an array
    # flows through as IEEE arithmetic has it (NaN too, left out here: a config holding NaN is not equal to itself)
    "Rescaling": {"scale": arg(st.one_of(st.sampled_from([1 / 255, 0.5, 2, -1.0, 0.0, 3]), SCALE_ARRAYS),
                               (NAN, INF, "1", None, True, [], ["a"], [[1.0, 2.0], [3.0]], [1.0, "2"], [True, False],
                                [None], {}), (np.float32(2.0), np.float64(0.5)), ([1.0, INF], [[-INF]])),
                  "offset": arg(st.one_of(st.sampled_from([0.0, -1.0, 1, 0.5]), SCALE_ARRAYS),
                                (NAN, "0", None, [], ["a"], [[0.0], [1.0, 2.0]], [None]), (np.float32(1.0),),
                                ([INF],))},
    "Activation": {"activation": ACTIVATION_ARG},
    "ReLU": {"max_value": arg((None, 6, 0, 1.5, 0.0), (-1, NAN, INF, "6", True, [6]), (np.float32(6.0),)),
             "negative_slope": arg((0, 0.1, 1, 2.5), (-0.1, NAN, INF, "0.1", True, None), (np.int64(1),)),
             "threshold": arg((0, 0.5, 2), (-1, NAN, INF, "0", None, True), (np.float32(0.5),))},
    "LeakyReLU": {"negative_slope": arg((0, 0.3, 1, 2.5, np.float32(0.1)), (-0.1, NAN, INF, "0.1", True, None),
                                        (np.int64(1),))},
    "PReLU": {"alpha_initializer": INIT_ARG,
              "shared_axes": arg((None, 1, 2, 3, [1, 2], (1, 2, 3), [2, 1], (3,), [1, 1]),
                                 (0, -1, "1", 1.5, [0, 1], [1, "2"], True, [True], {1: 2}),
                                 (np.int64(1), [np.int64(2)]))},
    "Clip": {"min_value": arg((None, -1, 0, 0.5, 2, -2.5), NUMBER_BAD, (np.float32(0.5),)),
             "max_value": arg((None, 1, 0, 3, -0.5), NUMBER_BAD, (np.int64(2),))},
    "Softmax": {"axis": AXIS_ARG},
    "Dropout": {"rate": RATE_ARG,
                "noise_shape": arg(st.one_of(st.none(), st.lists(st.sampled_from([None, 1, 1, 2, 3]), min_size=1,
                                                                 max_size=4).map(tuple)),
                                   ((0,), (-1, None), "ab", 3, (1.5,), [None, "x"], (True,)),
                                   ((np.int64(1), None),), ((),))},
    "SpatialDropout2D": {"rate": RATE_ARG, "data_format": FORMAT_ARG},
    "BatchNormalization": {"axis": AXIS_ARG, "momentum": arg((0, 0.5, 0.99, 1), (1.5, -0.1, NAN, "0.9", None, True)),
                           "epsilon": arg((1e-3, 1e-5, 1), (0, -1, NAN, "1e-3", None, True), (), (INF,)),
                           "center": arg((True, False)), "scale": arg((True, False))},
    # alpha < 0 or bias <= 0 can make the base of the power negative or zero: a NaN or an infinity from a
    # finite input, as in PyTorch; accepting them (IEEE) or refusing them are both sensible
    "LocalResponseNormalization": {
        "size": arg(st.integers(1, 6), POS_INT_BAD, (np.int64(3),), HUGE),
        "alpha": arg((1e-4, 0, 0.5, 2), (NAN, INF, "1", None, True), (np.float32(1e-3),), (-1.0,)),
        "beta": arg((0.75, 0.5, 1, 0, -0.5, 2), (NAN, INF, "0.75", None, True), (np.float64(0.75),)),
        "bias": arg((1.0, 2, 0.5), (NAN, -INF, "1", None, True), (np.float32(2.0),), (0, -1.0)),
        "data_format": FORMAT_ARG},
    "MaxPooling2D": {"pool_size": SIZE_ARG, "strides": arg((None,)) | STRIDES_ARG, "padding": PADDING_LAYER_ARG,
                     "data_format": FORMAT_ARG},
    "AveragePooling2D": {"pool_size": SIZE_ARG, "strides": arg((None,)) | STRIDES_ARG, "padding": PADDING_LAYER_ARG,
                         "data_format": FORMAT_ARG},
    "MaxPooling1D": {"pool_size": SIZE_1D_ARG, "strides": arg((None,)) | STRIDES_1D_ARG,
                     "padding": PADDING_1D_ARG | arg((), ("causal",)), "data_format": FORMAT_ARG},
    "AveragePooling1D": {"pool_size": SIZE_1D_ARG, "strides": arg((None,)) | STRIDES_1D_ARG,
                         "padding": PADDING_1D_ARG | arg((), ("causal",)), "data_format": FORMAT_ARG},
    "GlobalAveragePooling2D": {"data_format": FORMAT_ARG, "keepdims": BOOL_ARG},
    "GlobalMaxPooling2D": {"data_format": FORMAT_ARG, "keepdims": BOOL_ARG},
    "GlobalAveragePooling1D": {"data_format": FORMAT_ARG, "keepdims": BOOL_ARG},
    "GlobalMaxPooling1D": {"data_format": FORMAT_ARG, "keepdims": BOOL_ARG},
    "ZeroPadding2D": {"padding": MARGINS_ARG, "data_format": FORMAT_ARG},
    "Cropping2D": {"cropping": MARGINS_ARG, "data_format": FORMAT_ARG},
    "UpSampling2D": {"size": SIZE_ARG, "data_format": FORMAT_ARG,
                     "interpolation": arg(("nearest", "bilinear", "Bilinear"), ("bicubic", "lanczos3", "area", None,
                                                                                 1, ""))},
    "Add": {},
    "Multiply": {},
    "Subtract": {},
    "Concatenate": {"axis": arg(st.integers(-3, 3), (1.5, "1", None, True), (), (2**70,))},
    "RandomFlip": {"mode": arg(("horizontal", "vertical", "horizontal_and_vertical", "HORIZONTAL"),
                               ("diagonal", "horizontal-and-vertical", "", None, 1, ["vertical"])),
                   "data_format": FORMAT_ARG},
    "RandomRotation": {"factor": factor_arg(), **FILL_ARGS},
    "RandomTranslation": {"height_factor": factor_arg(), "width_factor": factor_arg(), **FILL_ARGS},
    "RandomZoom": {"height_factor": factor_arg(low_open=True), "width_factor": arg((None,)) | factor_arg(low_open=True),
                   **FILL_ARGS},
    # height and width: the output size, as an astronomic one is the generic guard's (SIZE_ARGUMENTS)
    "RandomCrop": {"height": arg(st.integers(1, 5), POS_INT_BAD, (np.int64(2),), HUGE),
                   "width": arg(st.integers(1, 5), POS_INT_BAD, (np.int64(3),), HUGE), "data_format": FORMAT_ARG},
    "RandomContrast": {"factor": factor_arg(0.0, 1.0), "value_range": VALUE_RANGE_ARG, "data_format": FORMAT_ARG},
    "RandomBrightness": {"factor": factor_arg(), "value_range": VALUE_RANGE_ARG, "data_format": FORMAT_ARG},
}
SIZE_ARGUMENTS = ("filters", "units", "kernel_size", "strides", "padding", "dilation_rate", "pool_size",
                  "depth_multiplier", "size", "cropping", "height", "width")
REQUIRED = {"Conv2D": ("filters", "kernel_size"), "DepthwiseConv2D": ("kernel_size",),
            "SeparableConv2D": ("filters", "kernel_size"), "Conv2DTranspose": ("filters", "kernel_size"),
            "Conv1D": ("filters", "kernel_size"), "Dense": ("units",), "Reshape": ("target_shape",),
            "Permute": ("dims",), "Rescaling": ("scale",), "Activation": ("activation",), "Dropout": ("rate",),
            "SpatialDropout2D": ("rate",), "RandomRotation": ("factor",),
            "RandomTranslation": ("height_factor", "width_factor"), "RandomZoom": ("height_factor",),
            "RandomCrop": ("height", "width"), "RandomContrast": ("factor",), "RandomBrightness": ("factor",)}
CONV_2D = {"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"}
AUGMENTATION = {"RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomCrop", "RandomContrast",
                "RandomBrightness"}
FOUR_D = CONV_2D | AUGMENTATION | {"MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
                                   "ZeroPadding2D", "Cropping2D", "UpSampling2D", "SpatialDropout2D"}
THREE_D = {"Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D"}
MERGE = {"Add", "Multiply", "Subtract", "Concatenate"}
POOL = {"MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D"}


def test_every_layer_is_fuzzed():
    # InputLayer is a functional graph's entry (tests/models/test_functional.py), not a layer to fuzz
    assert sorted(LAYER_ARGS) == sorted(set(L.LAYERS) - {"InputLayer"})


def spec_padding_1d(padding, causal=True):
    """``"valid"``, ``"same"``, ``"causal"`` (convolution only) or ``(left, right)``, or BAD."""
    names = ("valid", "same", "causal") if causal else ("valid", "same")
    if isinstance(padding, str):
        return padding.lower() if padding.lower() in names else BAD
    if _is_int(padding):
        return (int(padding),) * 2 if padding >= 0 else BAD
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(_is_int(p) and p >= 0 for p in padding):
        return tuple(int(p) for p in padding)
    return BAD


def spec_margins(value):
    """ZeroPadding2D's ``padding`` / Cropping2D's ``cropping`` as ((top, bottom), (left, right)), or BAD."""
    return BAD if isinstance(value, str) else spec_padding(value)


def _rescaling_shapes(kwargs):
    """The shapes of Rescaling's array ``scale`` and ``offset`` (numbers, 0-d and ragged arrays left out)."""
    shapes = []
    for name in ("scale", "offset"):
        value = kwargs.get(name)
        if isinstance(value, (list, tuple, np.ndarray)):
            try:
                shape = np.shape(value)
            except ValueError:  # ragged
                continue
            if shape:
                shapes.append(shape)
    return shapes


def _prelu_axes(shared_axes):
    if shared_axes is None:
        return []
    return [int(shared_axes)] if _is_int(shared_axes) else [int(a) for a in shared_axes]


def cross_argument_rules(class_name, kwargs, status):
    """Arguments valid on their own but not together: marked invalid (NOPE) in ``status``."""
    groups, filters = kwargs.get("groups", 1), kwargs.get("filters")
    if _is_int(groups) and _is_int(filters) and groups > 0 and int(filters) % int(groups):
        status["groups"] = NOPE  # must divide filters
    if class_name in POOL and status.get("padding", OK) in (OK, NUMPY):
        n = 1 if class_name in THREE_D else 2
        pool = spec_tuple(kwargs.get("pool_size", 2), n)
        padding = spec_padding(kwargs.get("padding", "valid")) if n == 2 else spec_padding_1d(
            kwargs.get("padding", "valid"), causal=False)
        pairs = padding if n == 2 else (padding,)
        if pool not in (BAD, EITHER) and not isinstance(padding, str) and any(
                p >= k for pair, k in zip(pairs, pool) for p in pair):
            status["padding"] = NOPE  # every window must hold a real pixel: refused when the layer is made
    if class_name == "Conv2DTranspose" and kwargs.get("output_padding") is not None:
        output_padding = spec_tuple(kwargs["output_padding"], allow_zero=True)
        strides = spec_tuple(kwargs.get("strides", 1))
        if BAD not in (output_padding, strides) and EITHER not in (output_padding, strides) and any(
                o >= s for o, s in zip(output_padding, strides)):
            status["output_padding"] = NOPE  # each smaller than its stride
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if class_name == "Clip" and all(status.get(k) in (OK, NUMPY) for k in ("min_value", "max_value")) and \
            None not in (low, high) and low > high:
        status["min_value"] = NOPE  # min_value <= max_value


def well_formed_arguments(draw, class_name, kwargs):
    """Valid arguments changed where they do not fit together."""
    groups = kwargs.get("groups", 1)
    if class_name in ("Conv2D", "Conv1D") and kwargs["filters"] % groups:
        kwargs["filters"] = groups * draw(st.integers(1, 2))
    if class_name in POOL:  # explicit padding smaller than the window
        status = {}
        cross_argument_rules(class_name, kwargs, status)
        if status:
            kwargs["padding"] = draw(st.sampled_from(["valid", "same", 0]))
    if class_name == "Conv2DTranspose" and kwargs.get("output_padding") is not None:
        strides = spec_tuple(kwargs.get("strides", 1))
        output_padding = spec_tuple(kwargs["output_padding"], allow_zero=True)
        kwargs["output_padding"] = tuple(min(o, s - 1) for o, s in zip(output_padding, strides))
    if class_name == "Clip" and None not in (kwargs.get("min_value"), kwargs.get("max_value")):
        kwargs["min_value"], kwargs["max_value"] = sorted((kwargs["min_value"], kwargs["max_value"]))


@st.composite
def sample_shape(draw, class_name, kwargs, well_formed=False):
    """One sample's shape (no batch axis), of the rank the layer takes most of the time."""
    low = 1 if well_formed else 0
    size = st.integers(low, 6)
    layout_last = kwargs.get("data_format", "channels_last") != "channels_first"
    if class_name in FOUR_D | THREE_D:
        groups = kwargs.get("groups", 1)
        channels = st.integers(1, 2).map(lambda k: k * groups) if well_formed and class_name in ("Conv2D", "Conv1D") \
            else st.integers(low, 4)
        spatial = tuple(draw(st.lists(size, min_size=2, max_size=2))) if class_name in FOUR_D else (draw(size),)
        c = draw(channels)
        return (*spatial, c) if layout_last else (c, *spatial)
    dims = kwargs.get("dims")
    if class_name == "Permute" and isinstance(dims, (list, tuple)):
        return tuple(draw(st.lists(st.integers(low, 4), min_size=len(dims), max_size=len(dims))))
    noise_shape = kwargs.get("noise_shape")
    if class_name == "Dropout" and isinstance(noise_shape, (list, tuple)):  # mostly sizes the noise shape fits
        return tuple(d if _is_int(d) and d > 1 and draw(st.integers(0, 3)) else draw(st.integers(low, 4))
                     for d in noise_shape[1:])
    shapes = _rescaling_shapes(kwargs) if class_name == "Rescaling" else []
    if shapes:  # mostly a sample the larger array broadcasts to
        target = max(shapes, key=len)
        lead = tuple(draw(st.lists(st.integers(max(low, 1), 3), max_size=1)))
        return lead + tuple(d if d > 1 and draw(st.integers(0, 3)) else draw(st.integers(low, 3)) for d in target)
    if class_name == "PReLU":  # an input with every shared axis, or one axis more; (N,) inputs too (alpha ())
        axes = kwargs.get("shared_axes")
        axes = [axes] if _is_int(axes) else axes if isinstance(axes, (list, tuple)) else []
        rank = max([int(a) for a in axes if _is_int(a) and 0 < a < 8], default=0) + draw(st.integers(0, 1))
        return tuple(draw(st.lists(st.integers(low, 4), min_size=rank, max_size=rank)))
    return tuple(draw(st.lists(st.integers(low, 4), min_size=1, max_size=3)))


@st.composite
def layer_cases(draw, class_name):
    if draw(WELL_FORMED):
        return draw(well_formed_layer_cases(class_name))
    kwargs, status = {}, {}
    for name, strategy in {**LAYER_ARGS[class_name], **COMMON_ARGS}.items():
        if name in REQUIRED.get(class_name, ()) or draw(st.booleans()):
            kwargs[name], status[name] = draw(strategy.any)
    cross_argument_rules(class_name, kwargs, status)
    # the input: mostly the rank the layer takes (4D images, 3D sequences...), else any rank; lists for merges
    if draw(st.integers(0, 9)):
        shape = (draw(st.sampled_from([0, 1, 2, 3])), *draw(sample_shape(class_name, kwargs)))
    else:
        rank = draw(st.integers(0, 4))
        shape = (draw(st.sampled_from([0, 1, 2, 3])),) + tuple(
            draw(st.lists(st.sampled_from([0, 1, 2, 3, 4]), min_size=rank, max_size=rank)))
        shape = shape[:rank]
    x, info = draw(arrays(shape, dtypes=VALID_DTYPES * 3 + INVALID_DTYPES, allow_extreme=False, allow_list=False))
    if class_name in MERGE:
        count = draw(st.integers(0, 3))
        others = []
        for _ in range(max(count - 1, 0)):
            other_shape = list(shape)
            if shape and draw(st.integers(0, 3)) == 0:
                other_shape[draw(st.integers(0, len(shape) - 1))] += 1
            others.append(make_array(tuple(other_shape), draw(st.sampled_from(VALID_DTYPES)), 1))
        x = [x, *others][:count] if count else x
    declared = draw(st.sampled_from([None, None, None, "same", "other", "bad"]))
    if declared == "same" and len(shape) >= 2 and min(shape[1:]) > 0:
        kwargs["input_shape"], status["input_shape"] = tuple(shape[1:]), OK
    elif declared == "other" and len(shape) >= 2:
        kwargs["input_shape"], status["input_shape"] = tuple(s + 1 for s in shape[1:]), MAYBE
    elif declared == "bad":
        kwargs["input_shape"], status["input_shape"] = draw(st.sampled_from([(0,), (-1, 3), "abc", (1.5,)])), NOPE
    return kwargs, status, x, info, draw(st.booleans())


@st.composite
def well_formed_layer_cases(draw, class_name):
    """Valid constructor arguments and a numeric input of a plausible rank (it may still not fit the layer)."""
    kwargs, status = {}, {}
    for name, strategy in {**LAYER_ARGS[class_name], **COMMON_ARGS}.items():
        if name in REQUIRED.get(class_name, ()) or draw(st.booleans()):
            kwargs[name], status[name] = draw(strategy.valid)
    well_formed_arguments(draw, class_name, kwargs)
    shape = (draw(st.sampled_from([0, 1, 2, 3])), *draw(sample_shape(class_name, kwargs, well_formed=True)))
    x, info = draw(arrays(shape, dtypes=VALID_DTYPES, allow_extreme=False, allow_list=False))
    if class_name in MERGE:
        count = 1 if class_name == "Subtract" else draw(st.integers(1, 2))
        x = [x, *(make_array(shape, draw(st.sampled_from(VALID_DTYPES)), i) for i in range(count))]
    if draw(st.booleans()) and len(shape) >= 2 and min(shape[1:]) > 0:
        kwargs["input_shape"], status["input_shape"] = tuple(shape[1:]), OK
    return kwargs, status, x, info, draw(st.booleans())


def transpose_size(size, kernel, stride, padding, output_padding, dilation):
    """Output length of a transposed convolution along one axis (Keras's ``deconv_output_length`` for "valid" and
    "same", PyTorch's ``(in - 1) * stride - before - after + ek + output_padding`` for explicit padding), or None
    when there is none."""
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        out = (size - 1) * stride + (max(effective, stride) if output_padding is None else effective + output_padding)
    elif padding == "same":
        out = size * stride if output_padding is None else (size - 1) * stride + effective % 2 + output_padding
    else:
        out = (size - 1) * stride + effective - sum(padding) + (output_padding or 0)
    return out if size >= 1 and out >= 1 else None


def _image_layout(kwargs, shape):
    """``(channels_last, n, spatial sizes, c)`` of a 3D or 4D input."""
    last = kwargs.get("data_format", "channels_last") == "channels_last"
    return last, shape[0], tuple(shape[1:-1] if last else shape[2:]), shape[-1 if last else 1]


def _laid_out(last, n, spatial, c):
    return (n, *spatial, c) if last else (n, c, *spatial)


def expected_image_output(class_name, kwargs, shape):
    """The 3D and 4D layers: the output shape of the documented geometry, or (None, names)."""
    rank = 4 if class_name in FOUR_D else 3
    if len(shape) != rank:
        return None, {f"{rank}D"}
    last, n, spatial, c = _image_layout(kwargs, shape)
    if class_name in ("SpatialDropout2D",) or class_name in AUGMENTATION - {"RandomCrop"}:
        return shape, None
    if class_name == "RandomCrop":  # a window of every image, resized to height x width: no pixel, no window
        out = (kwargs["height"], kwargs["width"])
        return (None, {"pixel"}) if 0 in spatial else (_laid_out(last, n, out, c), None)
    if class_name in ("ZeroPadding2D", "Cropping2D"):
        margins = spec_margins(kwargs.get("padding", 1) if class_name == "ZeroPadding2D" else kwargs.get("cropping", 0))
        sign = 1 if class_name == "ZeroPadding2D" else -1
        out = tuple(s + sign * sum(pair) for s, pair in zip(spatial, margins))
        return (None, {"`cropping`"}) if min(out) < 1 and sign < 0 else (_laid_out(last, n, out, c), None)
    if class_name == "UpSampling2D":
        size = spec_tuple(kwargs.get("size", 2))
        return _laid_out(last, n, tuple(s * f for s, f in zip(spatial, size)), c), None
    if class_name.startswith("Global"):
        if 0 in (*spatial, c):
            return None, {"`x`"}  # no pixel or no channel (an empty batch is fine)
        if not kwargs.get("keepdims", False):
            return (n, c), None
        return _laid_out(last, n, (1,) * len(spatial), c), None
    if class_name in POOL:
        if 0 in (*spatial, c):
            return None, {"`x`"}  # no pixel or no channel (an empty batch is fine)
        k = spec_tuple(kwargs.get("pool_size", 2), rank - 2)
        strides = k if kwargs.get("strides") is None else spec_tuple(kwargs["strides"], rank - 2)
        dilation, out_c = (1,) * (rank - 2), c
    else:  # the convolutions
        if c == 0:
            return None, {"channel"}
        k = spec_tuple(kwargs["kernel_size"], rank - 2)
        strides, dilation = spec_tuple(kwargs.get("strides", 1), rank - 2), spec_tuple(kwargs.get("dilation_rate", 1),
                                                                                      rank - 2)
        groups = kwargs.get("groups", 1)
        if c % groups:
            return None, {"`groups`"}
        out_c = c * kwargs.get("depth_multiplier", 1) if class_name == "DepthwiseConv2D" else kwargs["filters"]
    if class_name == "Conv2DTranspose":
        padding = spec_padding(kwargs.get("padding", "valid"))
        output_padding = kwargs.get("output_padding")
        output_padding = (None, None) if output_padding is None else spec_tuple(output_padding, allow_zero=True)
        pads = (padding,) * 2 if isinstance(padding, str) else padding
        out = [transpose_size(*a) for a in zip(spatial, k, strides, pads, output_padding, dilation)]
    elif rank == 3:
        padding = spec_padding_1d(kwargs.get("padding", "valid"))
        (length,), (k,), (stride,), (dilation,) = spatial, k, strides, dilation
        pads = {"valid": (0, 0), "causal": (dilation * (k - 1), 0)}.get(padding, padding)
        if padding == "same":
            pads = same_pads(length, k, stride, dilation)
        out = [out_size(length, k, stride, *pads, dilation)]
    else:
        padding = spec_padding(kwargs.get("padding", "valid"))
        pads = explicit_pads(padding, spatial, k, strides, dilation)
        out = [out_size(*a) for a in zip(spatial, k, strides, (p[0] for p in pads), (p[1] for p in pads), dilation)]
    if None in out:
        return None, {"kernel"}
    return _laid_out(last, n, tuple(out), out_c), None


def expected_merge_output(class_name, kwargs, x):
    shapes = [np.shape(a) for a in x]
    if class_name not in MERGE or len(x) < 2:
        return None, {"inputs"}
    if any(len(s) == 0 for s in shapes):  # scalars: no batch axis, refused as by every layer
        return None, {"1D"}
    if class_name == "Subtract" and len(x) != 2:
        return None, {"2"}
    if class_name != "Concatenate":
        return (shapes[0], None) if len(set(shapes)) == 1 else (None, {"shape"})
    ndim = len(shapes[0])
    axis = kwargs.get("axis", -1)
    if ndim == 0 or not -ndim <= axis < ndim or axis % ndim == 0:
        return None, {"`axis`"}
    axis %= ndim
    rest = {tuple(s for i, s in enumerate(shape) if i != axis) for shape in shapes}
    if any(len(s) != ndim for s in shapes) or len(rest) != 1:
        return None, {"axis"}
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return tuple(out), None


def expected_layer_output(class_name, kwargs, x, training=False):
    """The output shape the layer's documented geometry gives, or (None, names) when the call must be refused."""
    if isinstance(x, list):
        return expected_merge_output(class_name, kwargs, x)
    shape = np.shape(x)
    if class_name in MERGE:
        return None, {"list"}
    if len(shape) == 0:
        return None, {"scalar", "4D", "features"}
    if class_name in FOUR_D | THREE_D:
        return expected_image_output(class_name, kwargs, shape)
    if class_name == "Dense":
        return ((*shape[:-1], kwargs["units"]), None) if len(shape) >= 2 else (None, {"features"})
    if class_name == "Flatten":
        return (shape[0], _space(shape[1:])), None
    if class_name == "Reshape":
        target, size = kwargs["target_shape"], _space(shape[1:])
        known_size = _space([d for d in target if d != -1])
        if (-1 in target and size % known_size) or (-1 not in target and size != known_size):
            return None, {"reshape"}
        return (shape[0], *(size // known_size if d == -1 else d for d in target)), None
    if class_name == "Permute":
        dims = kwargs["dims"]
        return ((shape[0], *(shape[d] for d in dims)), None) if len(shape) == len(dims) + 1 else (None, {"`dims`"})
    if class_name == "Softmax":
        axis = kwargs.get("axis", -1)
        return (shape, None) if -len(shape) <= axis < len(shape) else (None, {"`axis`"})
    if class_name == "BatchNormalization":
        axis = kwargs.get("axis", -1)
        if not -len(shape) <= axis < len(shape) or axis % len(shape) == 0:
            return None, {"`axis`"}
        return shape, None
    if class_name == "LocalResponseNormalization":
        return (shape, None) if len(shape) >= 2 else (None, {"channel"})
    if class_name == "PReLU":
        return (None, {"axes"}) if any(a >= len(shape) for a in _prelu_axes(kwargs.get("shared_axes"))) else (shape,
                                                                                                                None)
    if class_name == "Rescaling":
        for array_shape in _rescaling_shapes(kwargs):
            try:
                fits = np.broadcast_shapes(shape[1:], array_shape) == shape[1:]
            except ValueError:
                fits = False
            if not fits:
                return None, {"broadcast"}
        return shape, None
    if class_name == "Dropout" and training and float(kwargs["rate"]) > 0 and kwargs.get("noise_shape") is not None:
        noise_shape = kwargs["noise_shape"]  # one entry per axis: None, 1 or the input's size (only drawn in training)
        if len(noise_shape) != len(shape) or any(d not in (None, 1, s) for d, s in zip(noise_shape, shape)):
            return None, {"`noise_shape`"}
    return shape, None


@FUZZ
@pytest.mark.parametrize("class_name", sorted(LAYER_ARGS))
@given(data=st.data())
def test_fuzz_layer(class_name, data):
    kwargs, status, x, info, training = data.draw(layer_cases(class_name))
    note(f"{class_name}({kwargs}) on {[np.shape(a) for a in x] if isinstance(x, list) else np.shape(x)} "
         f"{info['dtype']}, training={training}")
    cls = L.LAYERS[class_name]
    bad = {f"`{k}`" for k, s in status.items() if s == NOPE}
    layer, error = outcome(lambda: cls(**kwargs))
    if error is not None:
        maybe_args = {f"`{k}`" for k, s in status.items() if s == MAYBE}
        assert bad or maybe_args, f"valid arguments refused: {type(error).__name__}: {error}"
        assert_clear_error(error, bad | maybe_args)
        return
    assert not bad, f"accepted invalid {sorted(bad)}"
    # the config is JSON and rebuilds the same layer
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    assert cls.from_config(json.loads(json.dumps(config))).get_config() == config

    # a call: the shape the geometry gives, or a clear refusal
    result, error = outcome(lambda: layer(x, training=training))
    arrays_in = x if isinstance(x, list) else [x]
    numeric = all(is_numeric(a) for a in arrays_in) and info["numeric"]
    shape, refuse = (None, {"numeric"}) if not numeric else expected_layer_output(class_name, kwargs, x, training)
    declared = kwargs.get("input_shape")
    huge = has_huge({k: v for k, v in kwargs.items() if k in SIZE_ARGUMENTS})
    if error is not None:  # NaN and inf in the input are no reason to refuse: they flow through (IEEE)
        assert refuse is not None or status.get("input_shape") in (MAYBE, NOPE) or huge, (
            f"a valid call raised {type(error).__name__}: {error}")
        assert_clear_error(error, huge=huge)  # weights of an absurd size fail when built, before the input's checks
        return
    assert refuse is None, f"an invalid call returned {np.shape(result)} instead of refusing ({sorted(refuse)})"
    y = result
    if declared is not None and status.get("input_shape") == MAYBE and y.shape != shape:
        return  # built for the declared shape: checked by the declared-input-shape regression test
    assert y.shape == shape, f"output shape {y.shape}, the geometry gives {shape}"
    expected_dtype = np.dtype(kwargs["dtype"]) if kwargs.get("dtype") is not None else compute_dtype(*arrays_in)
    assert y.dtype == expected_dtype
    state_finite = all(np.isfinite(v).all() for v in layer.state.values())
    assert class_name != "BatchNormalization" or state_finite or not info["finite"], "non-finite moving statistics"
    ieee_arguments = any(s == MAYBE for k, s in status.items() if k != "input_shape")  # e.g. bias=0 in LRN
    finite = info["finite"] and expected_dtype != np.float16 and not ieee_arguments
    if finite:
        assert np.isfinite(y).all(), "finite input, non-finite output"

    # backward: the input's shape back, a gradient per parameter
    dy = np.ones(y.shape, dtype=y.dtype)
    result, error = outcome(lambda: layer.backward(dy))
    assert error is None, f"backward raised {type(error).__name__}: {error}"
    dx = result
    if isinstance(x, list):
        assert [np.shape(d) for d in dx] == [np.shape(a) for a in x]
    else:
        assert np.shape(dx) == np.shape(x)
    # a frozen layer keeps no weight gradients (PyTorch's requires_grad=False)
    assert sorted(layer.grads) == (sorted(layer.params) if layer.trainable else [])
    for name, grad in layer.grads.items():
        assert grad.shape == layer.params[name].shape
    if finite:
        assert all(np.isfinite(a).all() for a in [*(dx if isinstance(x, list) else [dx]), *layer.grads.values()]), (
            "finite input, non-finite gradient")


# ---------------------------------------------------------------------------------------------
# Sequential: building, predict with random batch sizes, and a save/load round trip
# ---------------------------------------------------------------------------------------------


@st.composite
def small_layers(draw):
    kind = draw(st.sampled_from(["conv", "conv", "max", "avg", "bn", "relu", "leaky", "dropout", "rescale", "tanh",
                                 "softmax", "gap", "flatten", "dense", "dense", "reshape"]))
    if kind == "conv":
        return L.Conv2D(draw(st.integers(1, 3)), draw(st.integers(1, 3)), strides=draw(st.integers(1, 2)),
                        padding=draw(st.sampled_from(["valid", "same", 1])),
                        activation=draw(st.sampled_from([None, "relu", "tanh"])))
    if kind in ("max", "avg"):
        cls = L.MaxPooling2D if kind == "max" else L.AveragePooling2D
        return cls(draw(st.integers(1, 2)), padding=draw(st.sampled_from(["valid", "same"])))
    if kind == "dense":
        return L.Dense(draw(st.integers(1, 4)), activation=draw(st.sampled_from([None, "relu", "softmax"])))
    return {"bn": L.BatchNormalization, "relu": L.ReLU, "leaky": lambda: L.LeakyReLU(0.1),
            "dropout": lambda: L.Dropout(0.3), "rescale": lambda: L.Rescaling(0.5),
            "tanh": lambda: L.Activation("tanh"),
            "softmax": L.Softmax, "gap": L.GlobalAveragePooling2D, "flatten": L.Flatten,
            "reshape": lambda: L.Reshape((-1,))}[kind]()


BATCH_SIZES = [1, 2, 3, 5, 8, 32, 2**70, 0, -1, 2.0, None, True, "4"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(data=st.data())
def test_fuzz_sequential_predict(workdir, data):
    stack = [data.draw(small_layers()) for _ in range(data.draw(st.sampled_from([0, 1, 1, 2, 2, 3, 3, 4, 5, 5])))]
    sample = (data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8)), data.draw(st.integers(1, 3)))
    n = data.draw(st.sampled_from([0, 1, 2, 3, 5, 9]))
    x, info = data.draw(arrays((n, *sample), dtypes=VALID_DTYPES * 4 + INVALID_DTYPES, allow_extreme=False,
                               allow_non_finite=False, allow_list=False))
    declared = data.draw(st.sampled_from([None, None, "same", "other"]))
    if stack and declared:
        stack[0]._batch_input_shape = (None, *(sample if declared == "same" else (sample[0] + 1, *sample[1:])))
    batch_size = data.draw(st.sampled_from(BATCH_SIZES))
    note(f"{[repr(layer) for layer in stack]} declared {declared}, x {np.shape(x)} {info['dtype']}, "
         f"batch_size={batch_size!r}")
    model = numcnn.Sequential(stack, seed=0)
    geometry, geometry_error = outcome(lambda: model.compute_output_shape((n, *sample)))
    if geometry_error is not None:
        assert_clear_error(geometry_error)
    result, error = outcome(lambda: model.predict(x, batch_size=batch_size))
    good_batch = _is_int(batch_size) and batch_size >= 1
    if error is not None:
        assert_clear_error(error)
        assert not (geometry_error is None and info["numeric"] and n and good_batch and declared != "other"), (
            f"the geometry gives {geometry} but predict raised {type(error).__name__}: {error}")
        return
    assert good_batch, f"predict accepted batch_size={batch_size!r}"
    assert info["numeric"] and n > 0
    assert result.shape[0] == n
    if geometry_error is None and declared != "other":
        assert result.shape == tuple(geometry)
    assert np.isfinite(result).all() or result.dtype == np.float16
    # all at once gives the same numbers as batch by batch
    whole = model(np.asarray(x), training=False)
    tolerance = 2e-2 if result.dtype == np.float16 else 1e-5
    np.testing.assert_allclose(result, whole, rtol=tolerance, atol=tolerance)
    # a save/load round trip keeps the predictions exactly
    path = workdir / "sequential.safetensors"
    saved, error = outcome(lambda: save_model(model, path))
    assert error is None, f"save_model raised {type(error).__name__}: {error}"
    loaded, error = outcome(lambda: load_model(path))
    assert error is None, f"load_model of a model save_model wrote raised {type(error).__name__}: {error}"
    np.testing.assert_array_equal(loaded.predict(x, batch_size=max(1, min(int(batch_size), 64))), result)


# ---------------------------------------------------------------------------------------------
# numcnn.data: the IDX reader on random bytes and on mutated valid files
# ---------------------------------------------------------------------------------------------

IDX_CODES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}  # the format's table


def idx_bytes(array, code):
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + \
        np.asarray(array, dtype=IDX_CODES[code]).tobytes()


def _mnist_heads():
    """The first records of the real MNIST test files (images and labels), when they are here."""
    root = Path(__file__).resolve().parents[2]
    for base in ([os.environ["NUMCNN_DATA_DIR"]] if os.environ.get("NUMCNN_DATA_DIR") else []) + [
            root.parent / "shared" / "datasets"]:
        for folder in (Path(base), Path(base) / "mnist"):
            images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
            if images.is_file() and labels.is_file():
                x = read_idx(images)[:3]
                y = read_idx(labels)[:40]
                return [idx_bytes(x, 0x08), idx_bytes(y, 0x08)]
    return []


@pytest.fixture(scope="module")
def idx_files():
    rng = np.random.default_rng(0)
    files = [idx_bytes(rng.integers(0, 256, (2, 3, 4)), 0x08), idx_bytes(rng.integers(-128, 128, (5,)), 0x09),
             idx_bytes(rng.integers(-999, 999, (2, 2)), 0x0B), idx_bytes(rng.integers(-99999, 99999, (3,)), 0x0C),
             idx_bytes(rng.standard_normal((2, 2, 1)), 0x0D), idx_bytes(rng.standard_normal((1, 3)), 0x0E)]
    return files + _mnist_heads()


@st.composite
def idx_mutations(draw, files):
    data = bytearray(draw(st.sampled_from(files)))
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["flip", "flip-header", "truncate", "append", "code", "ndim", "dim", "magic",
                                    "huge-dim"]))
        if how in ("flip", "flip-header") and data:
            i = draw(st.integers(0, min(len(data), 24 if how == "flip-header" else len(data)) - 1))
            data[i] = draw(st.integers(0, 255))
        elif how == "truncate":
            data = data[:draw(st.integers(0, len(data)))]
        elif how == "append":
            data += draw(st.binary(min_size=1, max_size=16))
        elif how == "code" and len(data) > 2:
            data[2] = draw(st.sampled_from([0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x00, 0xFF]))
        elif how == "ndim" and len(data) > 3:
            data[3] = draw(st.sampled_from([0, 1, 2, 3, 4, 64, 65, 100, 255]))
        elif how in ("dim", "huge-dim") and len(data) >= 8:
            k = draw(st.integers(0, max(0, min(data[3], (len(data) - 4) // 4) - 1)))
            value = draw(st.integers(0, 8) if how == "dim" else st.sampled_from([2**31, 2**32 - 1, 10**9]))
            data[4 + 4 * k:8 + 4 * k] = struct.pack(">I", value)
        elif how == "magic" and len(data) >= 2:
            data[draw(st.integers(0, 1))] = draw(st.integers(1, 255))
    return bytes(data)


def _check_idx(data, read, source):
    result, error = outcome(read)
    if error is not None:
        assert_clear_error(error)
        assert source in str(error), f"the message does not name the file: {error}"
        return
    # what parses is exactly the header's shape and type, and all the bytes
    assert data[:2] == b"\0\0" and data[2] in IDX_CODES
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    assert result.shape == shape
    assert result.dtype == np.dtype(IDX_CODES[data[2]]).newbyteorder("=")
    assert 4 + 4 * ndim + result.nbytes == len(data)
    np.testing.assert_array_equal(result.reshape(-1), np.frombuffer(data, IDX_CODES[data[2]], offset=4 + 4 * ndim))


def _consistent_idx(code, dims, seed):
    """A header and exactly as many data bytes as it asks for (dims are 0-2, up to 255 of them)."""
    itemsize = np.dtype(IDX_CODES[code]).itemsize
    body = np.random.default_rng(seed).bytes(math.prod(dims) * itemsize)
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body


@FUZZ
@given(data=st.one_of(st.binary(max_size=64), st.builds(
    _consistent_idx, st.sampled_from(sorted(IDX_CODES)),
    st.sampled_from([1, 2, 3, 4, 64, 65, 100, 255]).flatmap(
        lambda ndim: st.lists(st.sampled_from([1] * 12 + [2, 3, 0]), min_size=ndim, max_size=ndim)).filter(
        lambda d: math.prod(d) <= 4096),
    st.integers(0, 2**32 - 1)), st.builds(
    lambda code, ndim, dims, body: bytes([0, 0, code, ndim]) + b"".join(struct.pack(">I", d) for d in dims) + body,
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x0A, 0x00]), st.sampled_from([1, 2, 3, 64, 65, 200]),
    st.lists(st.integers(0, 3), max_size=70), st.binary(max_size=32))))
def test_fuzz_read_idx_bytes_random(data):
    _check_idx(data, lambda: read_idx_bytes(data, "fuzz.idx"), "fuzz.idx")


@FUZZ
@given(data=st.data())
def test_fuzz_read_idx_mutated_files(idx_files, workdir, data):
    raw = data.draw(idx_mutations(idx_files))
    wrap = data.draw(st.sampled_from(["raw", "gzip", "gzip-truncated", "gzip-flipped"]))
    content = raw if wrap == "raw" else gzip.compress(raw)
    if wrap == "gzip-truncated":
        content = content[:data.draw(st.integers(0, len(content) - 1))]
    elif wrap == "gzip-flipped":
        content = bytearray(content)
        content[data.draw(st.integers(0, len(content) - 1))] ^= data.draw(st.integers(1, 255))
        content = bytes(content)
    path = workdir / "mutated-idx"
    path.write_bytes(content)
    result, error = outcome(lambda: gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content)
    if error is not None:  # a broken gzip stream: the reader must say so, naming the file
        result, error = outcome(lambda: read_idx(path))
        assert error is not None
        assert_clear_error(error)
        assert str(path) in str(error)
        return
    _check_idx(result, lambda: read_idx(path), str(path))


# ---------------------------------------------------------------------------------------------
# random JSON (configs, metadata) and mutations of JSON trees
# ---------------------------------------------------------------------------------------------

CONFIG_KEYS = ["class_name", "config", "layers", "name", "units", "filters", "kernel_size", "strides", "padding",
               "activation", "input_shape", "dtype", "format", "format_version", "model_config", "epoch", "history",
               "optimizer", "state", "iterations", "params", "rngs", "data_rng", "bit_generator", "learning_rate",
               "seed", "trainable", "data_format", "pool_size", "axis", "momentum", "epsilon", "target_shape", "rate",
               "scale", "offset", "negative_slope", "keepdims", "groups", "dilation_rate", "use_bias",
               "kernel_initializer", "bias_initializer", "value", "minval", "maxval", "mode", "distribution", "extra",
               "step_size", "gamma", "decay_steps", "alpha", "warmup_target", "warmup_steps", "from_logits"]
CONFIG_WORDS = ["Dense", "Conv2D", "Sequential", "Flatten", "BatchNormalization", "relu", "softmax", "channels_last",
                "same", "valid", "numcnn.model", "numcnn.weights", "numcnn.checkpoint", "SGD", "Adam", "StepDecay",
                "Constant", "RandomUniform", "glorot_uniform", "PCG64", "float32", "float16", "int32", "Layer",
                "os.system", "__import__('os').system('touch PWNED')", "eval", "{}", "[]", ""]

json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 64), st.sampled_from([2**40, 2**63, -2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1e-3, 1e308, -1e308]),
    st.text(max_size=10), st.sampled_from(CONFIG_WORDS))
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(CONFIG_KEYS) | st.text(max_size=6), children, max_size=5),
    max_leaves=24)


def json_paths(tree, path=()):
    yield path
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from json_paths(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from json_paths(value, (*path, i))


@st.composite
def mutated_json(draw, tree, max_mutations=3):
    """A deep copy of ``tree`` with a few values replaced, deleted or added at random places."""
    tree = json.loads(json.dumps(tree))
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = list(json_paths(tree))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "retype"]))
        if not path:
            if action == "replace":
                tree = draw(json_values)
            continue
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action == "delete":
            del parent[key]
        elif action == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(CONFIG_KEYS))] = draw(json_values)
        elif action == "retype":  # the same value as another JSON type
            value = parent[key]
            parent[key] = draw(st.sampled_from([str(value), [value], {"value": value}, None]))
        else:
            parent[key] = draw(json_values)
    return tree


# ---------------------------------------------------------------------------------------------
# numcnn.io: load_model / load_weights / load / load_checkpoint on random bytes and mutated safetensors files
# ---------------------------------------------------------------------------------------------


def _reference_model(seed=0):
    model = numcnn.Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.BatchNormalization(), L.MaxPooling2D(),
                               L.Flatten(), L.Dense(3)], seed=seed)
    model.build()
    return model


class _Subclassed(numcnn.Model):
    def __init__(self):
        super().__init__(seed=0)
        self.dense = L.Dense(3)

    def call(self, x):
        return self.dense(x)


def _compiled(model):
    model.compile(optimizers.Adam(schedules.StepDecay(0.01, 5)), SparseCategoricalCrossentropy(from_logits=True),
                  ["accuracy"])
    return model


@functools.lru_cache(maxsize=1)
def safetensors_files():
    """Good files of every kind numcnn writes, as bytes (cached: written once per process)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = _compiled(_reference_model())
        rng = np.random.default_rng(0)
        model.train_on_batch(rng.random((4, 5, 5, 1), dtype=np.float32), np.array([0, 1, 2, 1]))
        save_model(model, root / "model.safetensors")
        save_weights(model, root / "weights.safetensors")
        save_checkpoint(root / "checkpoint.safetensors", model, epoch=1, history={"loss": [1.0]},
                        data_rng=np.random.default_rng(1))
        sub = _Subclassed()
        sub(np.zeros((1, 4), np.float32))
        numcnn.save(sub, root / "subclassed.safetensors")
        return {p.stem: p.read_bytes() for p in sorted(root.iterdir())}


def split_safetensors(raw):
    (size,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + size]), raw[8 + size:]


def join_safetensors(header, body, length_delta=0):
    text = json.dumps(header).encode()
    return struct.pack("<Q", max(0, len(text) + length_delta)) + text + body


_ITEMSIZE = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I8": 1, "U8": 1, "I16": 2, "I32": 4, "I64": 8, "BOOL": 1}


@st.composite
def mutated_safetensors(draw):
    files = safetensors_files()
    kind = draw(st.sampled_from(sorted(files)))
    raw = files[kind]
    how = draw(st.sampled_from(["bytes", "tensor", "tensor", "retype", "metadata", "metadata", "metadata", "random"]))
    if how == "random":
        return kind, draw(st.binary(max_size=200))
    header, body = split_safetensors(raw)
    names = [k for k in header if k != "__metadata__"]
    if how == "bytes":
        data = bytearray(raw)
        for _ in range(draw(st.integers(1, 4))):
            action = draw(st.sampled_from(["flip", "flip-length", "truncate", "append", "insert"]))
            if action == "flip" and data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
            elif action == "flip-length" and len(data) >= 8:
                data[draw(st.integers(0, 7))] = draw(st.integers(0, 255))
            elif action == "truncate":
                data = data[:draw(st.integers(0, len(data)))]
            elif action == "append":
                data += draw(st.binary(min_size=1, max_size=8))
            else:
                i = draw(st.integers(0, len(data)))
                data[i:i] = draw(st.binary(min_size=1, max_size=4))
        return kind, bytes(data)
    if how in ("tensor", "retype") and names:
        name = draw(st.sampled_from(names))
        entry = header[name]
        if how == "retype":  # another dtype and a shape of the same byte size: only numcnn can object
            dtype = draw(st.sampled_from(sorted(_ITEMSIZE)))
            start, stop = entry["data_offsets"]
            if (stop - start) % _ITEMSIZE[dtype] == 0:
                entry["dtype"], entry["shape"] = dtype, [(stop - start) // _ITEMSIZE[dtype]]
        else:
            field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "delete", "rename", "extra"]))
            if field == "dtype":
                entry["dtype"] = draw(st.sampled_from(["F16", "F64", "I32", "BOOL", "X", 5, None, "F8_E4M3"]))
            elif field in ("shape", "data_offsets"):
                entry[field] = draw(st.one_of(st.lists(st.sampled_from([0, 1, 2, 3, 18, 2**40, 2**63, -1]),
                                                       max_size=4), json_values))
            elif field == "delete":
                del header[name]
            elif field == "rename":
                header[draw(st.sampled_from(["x", name + "_", "model/" + name, "__metadata__x"]))] = header.pop(name)
            else:
                entry[draw(st.sampled_from(["x", "dtype2"]))] = draw(json_values)
        return kind, join_safetensors(header, body, draw(st.sampled_from([0] * 9 + [-1, 1])))
    meta_text = header.get("__metadata__", {}).get("numcnn", "{}")
    choice = draw(st.sampled_from(["tree", "tree", "tree", "tree", "text", "value"]))
    if choice == "tree":
        header["__metadata__"]["numcnn"] = json.dumps(draw(mutated_json(json.loads(meta_text))))
    elif choice == "text":
        cut = draw(st.integers(0, len(meta_text)))
        header["__metadata__"]["numcnn"] = meta_text[:cut] + draw(st.text(max_size=4)) + meta_text[cut + 1:]
    else:
        header["__metadata__"] = draw(st.one_of(json_values, st.dictionaries(st.text(max_size=6), json_values,
                                                                              max_size=3)))
    return kind, join_safetensors(header, body)


LOADERS = ["load_model", "load_weights", "load", "load_into", "load_checkpoint"]


def _run_loader(loader, path):
    if loader == "load_model":
        return load_model(path)
    if loader == "load_weights":
        model = _reference_model(seed=3)
        load_weights(model, path)
        return model
    if loader == "load":
        return load(path)
    if loader == "load_into":
        return load(path, model=_reference_model(seed=3))
    model = _compiled(_reference_model(seed=3))
    arrays, meta = load_checkpoint(path)
    restore_checkpoint(path, model, np.random.default_rng(5))
    return model


@FUZZ
@pytest.mark.parametrize("loader", LOADERS)
@given(data=st.data())
def test_fuzz_safetensors_loader(loader, workdir, data):
    kind, raw = data.draw(mutated_safetensors())
    path = workdir / f"{loader}.safetensors"
    path.write_bytes(raw)
    note(f"from {kind}: {raw[:400]!r}")
    model, error = outcome(lambda: _run_loader(loader, path))
    if error is not None:
        text = str(error)
        assert_clear_error(error)
        assert str(path) in text, f"the message does not name the file: {text[:300]}"
        return
    # whatever loads is a usable model with the file's arrays
    assert isinstance(model, numcnn.Model)
    arrays, _ = load_arrays(path)
    current = {**model.params, **model.state}
    prefix = "model/" if loader == "load_checkpoint" else ""
    for name, value in current.items():
        assert value.shape == arrays[prefix + name].shape
        np.testing.assert_array_equal(value, arrays[prefix + name].astype(value.dtype))
    shape = model.layers[0].input_shape if model.layers and model.layers[0].input_shape else None
    if shape is not None and _space(shape[1:]) <= 4096:
        y, error = outcome(lambda: model.predict(np.ones((2, *shape[1:]), np.float32)))
        if error is not None:  # NaN weights in the file flow through predict (IEEE); other refusals are clear
            assert_clear_error(error)
    assert not (workdir / "PWNED").exists() and not Path("PWNED").exists()


# ---------------------------------------------------------------------------------------------
# configs: numcnn.layers.deserialize, model_from_config, optimizers / schedules / losses / initializers
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def good_configs():
    """Valid configs of every kind, as plain JSON (what files hold)."""
    from numcnn import initializers, losses

    layers = [L.serialize(layer) for layer in (
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu", kernel_initializer="he_normal"),
        L.Dense(3, activation="softmax", bias_initializer={"class_name": "Constant", "config": {"value": 0.1}}),
        L.MaxPooling2D(2), L.AveragePooling2D(3, 1, "same"), L.BatchNormalization(momentum=0.9), L.Dropout(0.5),
        L.Flatten(), L.Reshape((-1, 2)), L.Rescaling(1 / 255), L.Activation("tanh"), L.LeakyReLU(0.2), L.Softmax(),
        L.GlobalAveragePooling2D(keepdims=True), L.GlobalMaxPooling2D(), L.ReLU(), L.Add(), L.Concatenate(axis=1))]
    model = _reference_model()
    return {
        "layer": layers,
        "model": [{"class_name": "Sequential", "config": model.get_config()}],
        "optimizer": [optimizers.serialize(o) for o in (
            optimizers.SGD(0.1, momentum=0.9, nesterov=True), optimizers.Adam(schedules.CosineDecay(0.1, 10, 0.1)),
            optimizers.AdamW(weight_decay=0.1), optimizers.RMSprop(centered=True), optimizers.Adagrad(clipnorm=1.0))],
        "schedule": [schedules.serialize(s) for s in (
            schedules.StepDecay(0.1, 3, 0.5), schedules.ExponentialDecay(0.1, 10, 0.9, staircase=True),
            schedules.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=5))] + [0.01],
        "loss": [losses.serialize(loss()) for loss in (losses.SparseCategoricalCrossentropy,
                                                       losses.CategoricalCrossentropy, losses.MeanSquaredError)],
        "initializer": [initializers.serialize(initializers.get(name)) for name in ("glorot_uniform", "constant")]
        + [{"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.1}}],
    }


def _deserialize(kind, config, input_shape):
    from numcnn import initializers, losses

    if kind == "layer":
        return L.deserialize(config)
    if kind == "model":
        return model_from_config(config, input_shape)
    if kind == "optimizer":
        return optimizers.deserialize(config)
    if kind == "schedule":
        return schedules.deserialize(config)
    if kind == "loss":
        return losses.deserialize(config)
    return initializers.get(config)


def _declared_input_shape(config):
    """The input_shape the first layer of a (valid) Sequential config declares, or None."""
    inner = config.get("config") if isinstance(config, dict) else None  # a mutated config may hold anything
    layers = inner.get("layers") if isinstance(inner, dict) else None
    first = layers[0].get("config", {}) if isinstance(layers, list) and layers and isinstance(layers[0], dict) else {}
    return first.get("input_shape") if isinstance(first, dict) else None


@FUZZ
@pytest.mark.parametrize("kind", ["layer", "model", "optimizer", "schedule", "loss", "initializer"])
@given(data=st.data())
def test_fuzz_deserialize(kind, data):
    from numcnn import initializers, losses

    how = data.draw(st.sampled_from(["mutated", "mutated", "mutated", "random", "valid"]))
    good = good_configs()[kind]
    if how == "random":
        config = data.draw(json_values)
    elif how == "valid":
        config = data.draw(st.sampled_from(good))
    else:
        config = data.draw(mutated_json(data.draw(st.sampled_from(good))))
    input_shape = data.draw(st.sampled_from([None, [5, 5, 1], [5, 5, 1], [8, 8, 3], "abc", [0, 1, 1], [2**40, 1, 1]]))
    note(f"{kind}: {config!r}, input_shape={input_shape!r}")
    result, error = outcome(lambda: _deserialize(kind, config, input_shape))
    if error is not None:
        text = str(error)
        declared = _declared_input_shape(config) if kind == "model" else None
        good_shape = input_shape is None or kind != "model" or (
            isinstance(input_shape, list) and all(_is_int(d) and 0 < d < 2**40 for d in input_shape)
            and declared in (None, input_shape))  # a saved shape that contradicts the config: a bad file
        assert how != "valid" or not good_shape, f"a valid config was refused: {type(error).__name__}: {text}"
        assert_clear_error(error, huge=has_huge(config) or has_huge(input_shape))  # e.g. "units": 2**40
        return
    expected_type = {"layer": L.Layer, "model": numcnn.Sequential, "optimizer": optimizers.Optimizer,
                     "schedule": (schedules.LearningRateSchedule, float), "loss": losses.Loss,
                     "initializer": initializers.Initializer}[kind]
    assert isinstance(result, expected_type)
    if kind == "schedule" and isinstance(result, float):
        return
    # what was accepted serialises back to JSON
    if kind in ("layer", "optimizer", "schedule", "initializer"):
        config_back, error = outcome(lambda: json.dumps(result.get_config()))
        assert error is None, f"get_config of an accepted config failed: {type(error).__name__}: {error}"
    if kind == "schedule":
        for step in (0, 1, 5, 1000):
            value, error = outcome(lambda: result(step))
            assert error is None, f"schedule({step}) raised {type(error).__name__}: {error}"
            assert not math.isnan(value) and value >= 0


# ---------------------------------------------------------------------------------------------
# numcnn.filters.load_kernel on random and mutated .txt / .npy bytes
# ---------------------------------------------------------------------------------------------


def _npy(array, version=(1, 0)):
    out = io.BytesIO()
    np.lib.format.write_array(out, array, version=version, allow_pickle=False)
    return out.getvalue()


@st.composite
def kernel_files(draw):
    suffix = draw(st.sampled_from([".txt", ".npy"]))
    how = draw(st.sampled_from(["random", "mutated", "mutated", "header"]))
    if how == "random":
        return suffix, draw(st.binary(max_size=128))
    if suffix == ".txt":
        rows = draw(st.lists(st.lists(st.sampled_from(["1", "-2", "0.5", "1e3", "1e400", "nan", "inf", "0x10", "1_0",
                                                        "٣", "1,2", "True", "", "#"]), min_size=1, max_size=4),
                             min_size=1, max_size=4))
        text = "\n".join(" ".join(row) for row in rows)
        if draw(st.booleans()):
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.text(max_size=3)) + text[i:]
        encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]))
        return suffix, text.encode(encoding, errors="replace")
    dtype = draw(st.sampled_from(["<f8", "<f4", "<f2", "<i4", "|u1", "|b1", "<c8", "<U1", "|S1", "<M8[s]"]))
    shape = draw(st.sampled_from([(2, 2), (3, 3), (1, 5), (3,), (), (0, 2), (2, 2, 2)]))
    array = np.ones(shape, dtype=dtype)
    raw = bytearray(_npy(array, draw(st.sampled_from([(1, 0), (2, 0), (3, 0)]))))
    if how == "header":  # a structural change of the header dict, keeping its length field right
        header_len_size = 2 if raw[6] == 1 else 4
        start = 6 + 2 + header_len_size
        length = int.from_bytes(raw[8:8 + header_len_size], "little")
        header = raw[start:start + length].decode("latin-1")
        replacement = draw(st.sampled_from([
            ("'shape': ", "'shape': (99999999999, 99999), 'x': "), ("'shape': ", "'shape': (-2, 2), 'x': "),
            ("'shape': ", "'shape': 'ab', 'x': "), ("'descr': ", "'descr': '<q9', 'x': "),
            ("'descr': ", "'descr': [('a', '<f4')], 'x': "), ("'fortran_order': False", "'fortran_order': 7"),
            ("'descr': ", "'descr': __import__('os').system('touch PWNED'), 'x': "), ("{", "{" + "(" * 200),
            ("{", "{'descr': '<f8', "), ("}", ", 'extra': 1}"), ("'shape': ", "'shape': ((((((((((")]))
        header = header.replace(*replacement, 1)
        padded = header.encode("latin-1")
        raw = raw[:8] + len(padded).to_bytes(header_len_size, "little") + padded + raw[start + length:]
        return suffix, bytes(raw)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["flip", "truncate", "append", "version"]))
        if action == "flip" and raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        elif action == "truncate":
            raw = raw[:draw(st.integers(0, len(raw)))]
        elif action == "append":
            raw += draw(st.binary(min_size=1, max_size=8))
        elif len(raw) > 7:
            raw[6] = draw(st.sampled_from([0, 1, 2, 3, 4, 9, 255]))
    return suffix, bytes(raw)


@FUZZ
@given(case=kernel_files())
def test_fuzz_load_kernel(workdir, case):
    suffix, raw = case
    path = workdir / f"kernel{suffix}"
    path.write_bytes(raw)
    note(repr(raw[:200]))
    kernel, error = outcome(lambda: load_kernel(path))
    assert not (workdir / "PWNED").exists() and not Path("PWNED").exists()
    if error is not None:
        text = str(error)
        assert_clear_error(error)
        assert text.startswith(str(path)), f"the message does not start with the file: {text[:200]}"
        return
    assert kernel.ndim == 2 and kernel.size and kernel.dtype == np.float64 and np.isfinite(kernel).all()


# ---------------------------------------------------------------------------------------------
# optimizers and schedules: constructors with random arguments, one update, a config round trip
# ---------------------------------------------------------------------------------------------

NUMBERS = [0, 1e-3, 0.1, 0.5, 0.9, 0.999, 1, 2, 10, 1e300, -1, -0.0, float("nan"), float("inf"), float("-inf"), 10**400,
           "0.1", None, True, np.float32(0.5), np.int64(1), np.float16(0.1), [0.1]]
UNIT = (0.0, 1.0, False, True)  # [low, high) as (low, high, low_open, high_open)
OPTIMIZER_RULES = {  # argument: (low, high, low_open, high_open, allow_none) -- the documented ranges
    "learning_rate": (0, math.inf, True, False, False), "weight_decay": (0, math.inf, False, False, False),
    "clipnorm": (0, math.inf, True, False, True), "global_clipnorm": (0, math.inf, True, False, True),
    "momentum": (0, 1, False, True, False), "initial_accumulator_value": (0, math.inf, False, False, False),
    "epsilon": (0, math.inf, True, False, False), "rho": (0, 1, False, True, False),
    "beta_1": (0, 1, False, True, False), "beta_2": (0, 1, False, True, False),
}
OPTIMIZER_ARGS = {
    "SGD": ("learning_rate", "momentum", "weight_decay", "clipnorm", "global_clipnorm"),
    "Adagrad": ("learning_rate", "initial_accumulator_value", "epsilon", "weight_decay", "clipnorm"),
    "RMSprop": ("learning_rate", "rho", "momentum", "epsilon", "weight_decay", "global_clipnorm"),
    "Adam": ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay", "clipnorm"),
    "AdamW": ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay", "global_clipnorm"),
}
SCHEDULE_RULES = {
    "StepDecay": {"initial_learning_rate": (0, math.inf, True, False, False), "step_size": "int>=1",
                  "gamma": (0, math.inf, True, False, False)},
    "ExponentialDecay": {"initial_learning_rate": (0, math.inf, True, False, False), "decay_steps": "int>=1",
                         "decay_rate": (0, math.inf, True, False, False)},
    "CosineDecay": {"initial_learning_rate": (0, math.inf, False, False, False), "decay_steps": "int>=1",
                    "alpha": (0, 1, False, False, False), "warmup_target": (0, math.inf, True, False, True),
                    "warmup_steps": "int>=0"},
}
INTS = [0, 1, 2, 5, 100, -1, 2**70, 1.0, 2.5, "3", None, True, np.int64(4)]


def _in_range(value, rule):
    if isinstance(rule, str):
        return _is_int(value) and value >= (1 if rule == "int>=1" else 0)
    low, high, low_open, high_open, allow_none = rule
    if value is None:
        return allow_none
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    if isinstance(value, int) and abs(value) > 1e308:
        return False
    v = float(value)
    return math.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)


@FUZZ
@pytest.mark.parametrize("name", sorted(OPTIMIZER_ARGS) + sorted(SCHEDULE_RULES))
@given(data=st.data())
def test_fuzz_optimizer_and_schedule_constructors(name, data):
    is_schedule = name in SCHEDULE_RULES
    rules = SCHEDULE_RULES[name] if is_schedule else {k: OPTIMIZER_RULES[k] for k in OPTIMIZER_ARGS[name]}
    kwargs = {}
    for arg_name, rule in rules.items():
        required = is_schedule and arg_name in ("initial_learning_rate", "step_size", "decay_steps", "gamma",
                                                 "decay_rate")
        if required or data.draw(st.booleans()):
            kwargs[arg_name] = data.draw(st.sampled_from(INTS if isinstance(rule, str) else NUMBERS))
    if not is_schedule and data.draw(st.integers(0, 4)) == 0:
        kwargs["learning_rate"] = schedules.StepDecay(0.1, 2)
    bad = {f"`{k}`" for k, v in kwargs.items() if not isinstance(v, schedules.LearningRateSchedule)
           and not _in_range(v, rules[k])}
    if not is_schedule and kwargs.get("clipnorm") is not None and kwargs.get("global_clipnorm") is not None:
        bad.add("clipnorm")
    if name == "CosineDecay" and kwargs.get("warmup_steps") and kwargs.get("warmup_target") is None:
        pass  # a warm-up without a target is the plain cosine: allowed
    note(f"{name}({kwargs}); invalid: {sorted(bad)}")
    cls = getattr(schedules, name) if is_schedule else getattr(optimizers, name)
    result, error = outcome(lambda: cls(**kwargs))
    if error is not None:
        assert bad, f"valid arguments refused: {type(error).__name__}: {error}"
        assert_clear_error(error, bad)
        return
    assert not bad, f"accepted invalid {sorted(bad)}"
    config = result.get_config()
    config = json.loads(json.dumps({"class_name": name, "config": config}))
    again = (schedules.deserialize if is_schedule else optimizers.deserialize)(config)
    assert again.get_config() == result.get_config()
    if is_schedule:
        for step in (0, 1, 7, 10**6):
            value, error = outcome(lambda: result(step))
            assert error is None, f"schedule({step}) raised {type(error).__name__}: {error}"
            assert isinstance(value, float) and not math.isnan(value) and value >= 0
        return
    # three updates of a small parameter: finite while the numbers stay in range
    param = np.ones((2, 3), np.float32)
    for _ in range(3):
        _, error = outcome(lambda: result.apply({"w": np.full((2, 3), 0.5, np.float32)}, {"w": param}))
        assert error is None, f"apply raised {type(error).__name__}: {error}"
    rate = result.learning_rate if isinstance(result.learning_rate, float) else 0.1
    if rate * (1 + result.weight_decay) <= 1e3:
        assert np.isfinite(param).all()


# ---------------------------------------------------------------------------------------------
# the numcnn command: random flags and values; nothing trains (train_run and the demo are stubbed and
# check that what reaches them was validated)
# ---------------------------------------------------------------------------------------------

NUMBER_TEXTS = ["1", "2", "3", "0", "-1", "1.5", "0.3", "nan", "inf", "-inf", "1e999", "1e-400", "٣", "1_0", "0x10",
                "",
                " 3", "\x00", "abc", "10**9", "99999999999999999999999", "1e8", "0.49", "0.5", "1e-3"]
TRAIN_FLAGS = {
    "--dataset": ["digits", "mnist", "fashion-mnist", "cifar", ""], "--model": ["simple", "lenet5", "deep", "resnet"],
    "--epochs": NUMBER_TEXTS, "--batch-size": NUMBER_TEXTS, "--optimizer": ["sgd", "adam", "adamw", "lbfgs", "SGD"],
    "--lr": NUMBER_TEXTS, "--schedule": ["constant", "step", "cosine", "linear"], "--decay-epochs": NUMBER_TEXTS,
    "--decay-rate": NUMBER_TEXTS, "--warmup-epochs": NUMBER_TEXTS, "--weight-decay": NUMBER_TEXTS,
    "--clipnorm": NUMBER_TEXTS, "--augment": NUMBER_TEXTS, "--validation-split": NUMBER_TEXTS, "--seed": NUMBER_TEXTS,
    "--progress": ["bar", "lines", "quiet", "loud"],
}
HELP = ("-h", "--help", "--version")


@functools.lru_cache(maxsize=1)
def cli_places():
    """Paths the command is pointed at: nothing, an empty dir, a file, a run without weights, a kernel, an image."""
    from PIL import Image

    from numcnn.app.runs import RUN_FORMAT, RUN_FORMAT_VERSION
    from numcnn.app.settings import RunSettings
    from numcnn.models import zoo

    root = Path(tempfile.mkdtemp(prefix="numcnn-cli-fuzz-"))
    atexit.register(shutil.rmtree, root, True)
    (root / "empty").mkdir()
    (root / "file").write_text("not a directory")
    run = root / "run"
    run.mkdir()
    model = zoo.simple_convnet((8, 8, 1), 10, seed=0)
    config = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "numcnn_version": numcnn.__version__,
              "dataset": {"name": "digits", "input_shape": [8, 8, 1], "class_names": [str(i) for i in range(10)],
                          "pixel_scale": 16.0, "train_samples": 1293, "test_samples": 360},
              "training": RunSettings.resolve({"dataset": "digits"}).to_json(),
              "model": {"class_name": "Sequential", "config": model.get_config()}}
    (run / "config.json").write_text(json.dumps(config))
    np.save(root / "kernel.npy", np.ones((3, 3)))
    (root / "kernel.txt").write_text("0 1 0\n1 -4 1\n0 1 0\n")
    (root / "noise.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4).save(root / "image.png")
    return root, config


def _settings_problems(settings):
    """What a setting that reached training must satisfy (the documented ranges); ``settings`` is
    what ``RunSettings.to_json()`` gives (what config.json holds)."""
    from numcnn.app.settings import SCHEDULE_NAMES
    from numcnn.models import zoo

    def integer(v, low):
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    def number(v, ok):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and ok(v)

    checks = {
        "epochs": integer(settings.get("epochs"), 1), "batch_size": integer(settings.get("batch_size"), 1),
        "lr": number(settings.get("lr"), lambda v: v > 0), "decay_epochs": integer(settings.get("decay_epochs"), 1),
        "decay_rate": number(settings.get("decay_rate"), lambda v: 0 < v <= 1),
        "warmup_epochs": integer(settings.get("warmup_epochs"), 0),
        "augment": integer(settings.get("augment"), 0) and settings["augment"] <= 4,
        "validation_split": number(settings.get("validation_split"), lambda v: 0 <= v < 0.5),
        "seed": integer(settings.get("seed"), 0), "schedule": settings.get("schedule") in SCHEDULE_NAMES,
        "model": settings.get("model") in zoo.MODELS,
        "optimizer": settings.get("optimizer") in optimizers.OPTIMIZERS.names,
        "weight_decay": settings.get("weight_decay") is None or number(settings["weight_decay"], lambda v: v >= 0),
        "clipnorm": settings.get("clipnorm") is None or number(settings["clipnorm"], lambda v: v > 0),
    }
    return sorted(name for name, ok in checks.items() if not ok)


@st.composite
def cli_argvs(draw, root):
    places = [str(root / p) for p in ("missing", "empty", "file", "run", "mutated-run")] + ["a\x00b", ""]
    command = draw(st.sampled_from(["train"] * 6 + ["evaluate", "predict", "summary", "show", "filter", "demo",
                                                    "bogus", "--version", "-h", ""]))
    argv = [command] if command else []
    if command == "train":
        for flag in draw(st.lists(st.sampled_from(sorted(TRAIN_FLAGS)), max_size=5, unique=True)):
            argv += [flag, draw(st.sampled_from(TRAIN_FLAGS[flag]))]
        where = draw(st.sampled_from(["out", "out", "resume", "resume-mutated", "both", "none"]))
        if where in ("out", "both"):
            argv += ["--out", draw(st.sampled_from([str(root / "new" / str(draw(st.integers(0, 10**9))))] * 3
                                                   + places))]
        if where in ("resume", "both"):
            argv += ["--resume", draw(st.sampled_from(places))]
        if where == "resume-mutated":
            argv += ["--resume", str(root / "mutated-run")]
        if draw(st.integers(0, 5)) == 0:
            argv += ["--data-dir", draw(st.sampled_from(places))]
    elif command in ("evaluate", "predict", "summary", "show"):
        argv.append(draw(st.sampled_from(places)))
        if command == "predict":
            argv += draw(st.lists(st.sampled_from([str(root / "image.png"), str(root / "file"), "missing.png"]),
                                  min_size=0, max_size=2))
        if command == "show":
            argv += ["--what", draw(st.sampled_from(["filters", "curves", "model", "confusion", "nope"])), "--out",
                     str(root / "show.png")]
        if command == "evaluate" and draw(st.booleans()):
            argv += ["--batch-size", draw(st.sampled_from(NUMBER_TEXTS))]
    elif command == "filter":
        argv.append(draw(st.sampled_from([str(root / "image.png"), str(root / "file"), "missing.png"])))
        if draw(st.booleans()):
            argv += ["--kernel", draw(st.sampled_from(["blur", "sobel-x", "nope"]))]
        if draw(st.booleans()):
            argv += ["--kernel-file", draw(st.sampled_from([str(root / "kernel.npy"), str(root / "kernel.txt"),
                                                            str(root / "noise.npy"), str(root / "file"), "a\x00b"]))]
        for flag, values in (("--stride", NUMBER_TEXTS), ("--padding", ["same", "valid", "full"]),
                             ("--normalize", ["auto", "clip", "minmax", "abs", "x"]),
                             ("--mode", ["auto", "gray", "x"])):
            if draw(st.booleans()):
                argv += [flag, draw(st.sampled_from(values))]
        if draw(st.integers(0, 5)):
            argv += ["--out", str(root / draw(st.sampled_from(["out.png", "out.jpg", "out.unknown"])))]
    elif command == "demo":
        for flag in ("--seed", "--batch-size"):
            if draw(st.booleans()):
                argv += [flag, draw(st.sampled_from(NUMBER_TEXTS))]
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["--foo", "extra", "-x", "--", "-h"])))
    return argv


@FUZZ
@given(data=st.data())
def test_fuzz_cli_main(data):
    from numcnn.app import cli, commands
    from numcnn.app.settings import RunSettings

    root, good_config = cli_places()
    if data.draw(st.booleans()):  # most often the training settings, the part --resume reads
        mutated = {**good_config, "training": data.draw(mutated_json(good_config["training"]))}
    else:
        mutated = data.draw(mutated_json(good_config))
    mutated_run = root / "mutated-run"
    mutated_run.mkdir(exist_ok=True)
    (mutated_run / "config.json").write_text(json.dumps(mutated))
    argv = data.draw(cli_argvs(root))
    note(f"argv={argv!r}")
    reached, problems = [], []

    def fake_train_run(settings, out_dir, data_dir=None, verbose="auto", resume=False, log=print, **_distributed):
        reached.append("train")
        if not isinstance(settings, RunSettings):
            problems.append(f"settings of type {type(settings).__name__}, not RunSettings")
            return {"test_accuracy": 1.0, "test_loss": 0.0, "epochs": 1, "seconds": 0.0}
        problems.extend(_settings_problems(settings.to_json()))
        return {"test_accuracy": 1.0, "test_loss": 0.0, "epochs": settings.epochs, "seconds": 0.0}

    def fake_demo(args):
        reached.append("demo")
        if not (_is_int(args.seed) and args.seed >= 0 and _is_int(args.batch_size) and args.batch_size >= 1):
            problems.append("demo arguments")
        return 0

    saved = commands.train_run, commands.demo
    commands.train_run, commands.demo = fake_train_run, fake_demo  # the parser binds commands.demo when built
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    code, error = None, None
    try:
        os.chdir(root)  # a train without --out creates runs/ here
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), watchdog():
            code = cli.main(argv)
    except SystemExit as exit_:
        code = ("exit", exit_.code)
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001 - a traceback is what we look for
        error = e
    finally:
        os.chdir(cwd)
        commands.train_run, commands.demo = saved
    messages = err.getvalue()
    if error is not None:
        raise AssertionError(f"numcnn {argv!r} ended in a traceback: {type(error).__name__}: {error}")
    if problems:
        raise AssertionError(f"unvalidated settings reached training: {problems}")
    if isinstance(code, tuple):  # argparse's exits
        if code[1] == 0:
            assert any(h in argv for h in HELP), f"exit 0 without --help/--version: {argv!r}"
        else:
            assert code[1] == 2 and "error:" in messages, (code, messages[-300:])
        return
    if code == 0:
        assert reached or argv[:1] in ([], [""]) or "filter" in argv, f"exit 0 without doing anything: {argv!r}"
        return
    assert code == 2, f"exit code {code!r}"
    last = messages.strip().splitlines()[-1] if messages.strip() else ""
    assert last.startswith("numcnn ") and ": error: " in last, messages[-300:]
    assert "Traceback" not in messages
    if "Received" not in last:
        raise AssertionError(f"an error without 'Received': {last[:300]}")


# ---------------------------------------------------------------------------------------------
# regression tests: the minimal input of every bug these fuzzers found, and the rules stated above
# ---------------------------------------------------------------------------------------------


def assert_result_or_clear_error(call, shape=None, names=(), huge=False):
    result, error = outcome(call)
    if error is not None:
        assert_clear_error(error, names, huge)
    elif shape is not None:
        assert np.shape(result) == shape


def test_what_counts_as_a_clear_error():
    """The outcome check itself: it must still fail on a deep traceback, a bare MemoryError, an error
    without "Received" or one that does not name the bad argument."""
    assert is_clear_error(ValueError("The `x` argument must be 4D. Received: x with shape (2,)"), {"`x`"})
    assert not is_clear_error(ValueError("The `x` argument must be 4D. Received: x with shape (2,)"), {"`y`"})
    assert not is_clear_error(ValueError("operands could not be broadcast together"))
    assert not is_clear_error(IndexError("tuple index out of range. Received: 3"))
    assert not is_clear_error(MemoryError("Unable to allocate 16.0 TiB. Received: units=2**40"))
    assert not is_clear_error(MemoryError("Unable to allocate 16.0 TiB. Received: units=2**40"), huge=True)
    size_error = ArraySizeError("Layer 'dense' (Dense) needs more memory than this machine has. Received: weight "
                                "'kernel' of shape (2, 1099511627776)")
    assert isinstance(size_error, MemoryError) and isinstance(size_error, ValueError)
    assert is_clear_error(size_error, {"`units`"}, huge=True)  # need not name the argument
    assert not is_clear_error(size_error)  # but only where an argument is astronomic
    assert not is_clear_error(ArraySizeError("too big"), huge=True)  # and it ends with "Received: ..."


X4 = np.ones((1, 4, 4, 3))


@pytest.mark.parametrize("call", [lambda: F.conv2d(np.zeros((0, 4, 4, 1)), np.ones((3, 3, 1, 2))),
                                  lambda: L.Conv2D(2, 3)(np.zeros((0, 4, 4, 1)))], ids=["conv2d", "Conv2D"])
def test_bug_conv_on_an_empty_batch(call):
    result, error = outcome(call)
    assert error is None, f"{type(error).__name__}: {error}"
    assert result.shape == (0, 2, 2, 2)


@pytest.mark.parametrize("x, kernel", [(np.zeros((1, 4, 4, 0)), np.zeros((3, 3, 0, 2))),
                                       (X4, np.zeros((3, 3, 3, 0))), (X4, np.zeros((0, 3, 3, 2)))],
                         ids=["no-channels", "no-filters", "no-kernel-rows"])
def test_bug_conv_with_a_zero_sized_axis(x, kernel):
    assert_result_or_clear_error(lambda: F.conv2d(x, kernel), names={"`x`", "`kernel`"})


@pytest.mark.parametrize("call, value", [
    (lambda: F.conv2d(np.ones((1, 4, 4, 1)), np.ones((2, 2, 1, 1)), strides=2**62), 4.0),
    (lambda: F.max_pool2d(np.ones((1, 4, 4, 1)), 2, strides=2**62), 1.0),
    (lambda: F.conv2d(np.ones((1, 4, 4, 1)), np.ones((2, 2, 1, 1)), padding=2**40), None),
    (lambda: F.avg_pool2d(np.ones((1, 4, 4, 1)), 2**40, padding="same"), 1.0),
    (lambda: F.conv2d(np.ones((1, 4, 4, 1)), np.ones((2, 2, 1, 1)), dilation_rate=(1, 2**40)), None),
], ids=["conv-stride", "pool-stride", "conv-padding", "pool-size-same", "conv-dilation"])
def test_bug_huge_strides_padding_and_pool_sizes(call, value):
    """An absurd size: the correct result (one output pixel of ``value``; None: an output too big for any
    machine), or a clear error, which may be the generic ArraySizeError; never a deep traceback."""
    result, error = outcome(call)
    if error is not None:
        assert_clear_error(error, {"`padding`", "`pool_size`", "`strides`", "`dilation_rate`", "kernel"}, huge=True)
    else:
        assert value is not None, f"returned shape {result.shape}"
        assert result.shape == (1, 1, 1, 1) and result.dtype == np.float64
        assert result.item() == value


@pytest.mark.parametrize("call", [lambda: F.avg_pool2d(np.full((1, 2, 2, 1), 6e4, np.float16), 2),
                                  lambda: F.global_avg_pool2d(np.full((1, 2, 2, 1), 3e38, np.float32))],
                         ids=["avg_pool2d-float16", "global_avg_pool2d-float32"])
def test_bug_average_of_large_finite_numbers(call):
    assert np.isfinite(call()).all()


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d], ids=["max", "avg"])
def test_bug_pooling_windows_of_padding_only(pool):
    result, error = outcome(lambda: pool(np.zeros((1, 0, 0, 1)), 2, padding=1))
    assert error is not None, f"returned {result.ravel()} from windows without a pixel"
    assert_clear_error(error)


@pytest.mark.parametrize("pool", [F.global_avg_pool2d, F.global_max_pool2d], ids=["avg", "max"])
def test_bug_global_pooling_over_no_pixel(pool):
    result, error = outcome(lambda: pool(np.zeros((1, 0, 3, 2))))
    assert error is not None, f"returned {result}"
    assert_clear_error(error, {"`x`"})


POOLS = {"max": lambda x, **kw: F.max_pool2d(x, 2, **kw), "avg": lambda x, **kw: F.avg_pool2d(x, 2, **kw),
         "global-max": F.global_max_pool2d, "global-avg": F.global_avg_pool2d,
         "MaxPooling2D": lambda x, **kw: L.MaxPooling2D(**kw)(x),
         "AveragePooling2D": lambda x, **kw: L.AveragePooling2D(**kw)(x),
         "GlobalMaxPooling2D": lambda x, **kw: L.GlobalMaxPooling2D(**kw)(x),
         "GlobalAveragePooling2D": lambda x, **kw: L.GlobalAveragePooling2D(**kw)(x)}


@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("pool", sorted(POOLS))
def test_pooling_no_channel_is_refused_an_empty_batch_is_not(pool, data_format):
    """As conv (and PyTorch): an input without a channel is refused; an empty batch gives an empty result."""
    def nhwc(*shape):
        n, h, w, c = shape
        return np.zeros((n, h, w, c) if data_format == "channels_last" else (n, c, h, w), np.float32)

    for shape in ((1, 4, 4, 0), (0, 4, 4, 0)):
        result, error = outcome(lambda: POOLS[pool](nhwc(*shape), data_format=data_format))
        assert error is not None, f"{shape}: returned {np.shape(result)}"
        assert_clear_error(error, {"`x`"} if not pool[0].isupper() else ())
    y, error = outcome(lambda: POOLS[pool](nhwc(0, 4, 4, 3), data_format=data_format))
    assert error is None, f"{type(error).__name__}: {error}"
    expected = (0, 3) if "global" in pool.lower() else (0, 2, 2, 3) if data_format == "channels_last" else (0, 3, 2, 2)
    assert y.shape == expected and y.dtype == np.float32


NON_FINITE_CALLS = {
    "conv2d": lambda x: F.conv2d(x, np.ones((2, 2, 3, 2), np.float32)),
    "max_pool2d": lambda x: F.max_pool2d(x, 2), "avg_pool2d": lambda x: F.avg_pool2d(x, 2, padding="same"),
    "global_max_pool2d": F.global_max_pool2d, "global_avg_pool2d": F.global_avg_pool2d,
    "relu": F.relu, "leaky_relu": F.leaky_relu, "sigmoid": F.sigmoid, "tanh": F.tanh, "softmax": F.softmax,
    "softmax_cross_entropy": lambda x: F.softmax_cross_entropy([18], x.reshape(1, -1)),  # 18: the odd value's
    "categorical_cross_entropy": lambda x: F.categorical_cross_entropy([18], x.reshape(1, -1)),
    "mean_squared_error": lambda x: F.mean_squared_error(np.zeros_like(x), x),
    "Conv2D": lambda x: L.Conv2D(2, 2, seed=0)(x), "Dense": lambda x: L.Dense(2, seed=0)(x),
    "BatchNormalization": lambda x: L.BatchNormalization()(x, training=True),
}
NON_FINITE_SHAPES = {"conv2d": (1, 3, 3, 2), "max_pool2d": (1, 2, 2, 3), "avg_pool2d": (1, 2, 2, 3),
                     "global_max_pool2d": (1, 3), "global_avg_pool2d": (1, 3), "softmax_cross_entropy": (),
                     "categorical_cross_entropy": (), "mean_squared_error": (), "Conv2D": (1, 3, 3, 2),
                     "Dense": (1, 4, 4, 2)}


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", sorted(NON_FINITE_CALLS))
def test_non_finite_values_flow_through(name, value):
    """Check once, at the door: NaN and inf are no reason to refuse (IEEE, as PyTorch); only fit catches them."""
    x = np.ones((1, 4, 4, 3), np.float32)
    x[0, 1, 2, 0] = value
    y, error = outcome(lambda: NON_FINITE_CALLS[name](x))
    assert error is None, f"{type(error).__name__}: {error}"
    assert np.shape(y) == NON_FINITE_SHAPES.get(name, x.shape) and np.asarray(y).dtype == np.float32
    if np.isnan(value):
        assert np.isnan(y).any(), "NaN was masked, not propagated"


@pytest.mark.parametrize("pool, keepdims", [(F.global_max_pool2d, "no"), (F.global_avg_pool2d, "no"),
                                            (F.global_avg_pool2d, np.True_)], ids=["max-no", "avg-no", "avg-np-bool"])
def test_bug_global_pooling_keepdims(pool, keepdims):
    result, error = outcome(lambda: pool(X4, keepdims=keepdims))
    if isinstance(keepdims, str):
        assert error is not None, f"keepdims={keepdims!r} gave shape {result.shape}"
        assert_clear_error(error, {"`keepdims`"})
    else:
        assert error is None, f"{type(error).__name__}: {error}"
        assert result.shape == (1, 1, 1, 3)


def test_bug_global_pool_backward_with_a_scalar_dy():
    _, cache = F.global_max_pool2d_forward(X4)
    _, error = outcome(lambda: F.global_pool2d_backward(np.float64(1.0), cache))
    assert_clear_error(error, {"`dy`"})


@pytest.mark.parametrize("name, dy", [("relu", np.ones((3, 3))), ("sigmoid", np.ones((2, 2, 3))),
                                      ("tanh", np.full((2, 3), "a")), ("relu", [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])],
                         ids=["relu-shape", "sigmoid-broadcast", "tanh-strings", "relu-list"])
def test_bug_activation_backward_checks_dy(name, dy):
    _, cache = getattr(F, f"{name}_forward")(np.ones((2, 3)))
    result, error = outcome(lambda: getattr(F, f"{name}_backward")(dy, cache))
    if isinstance(dy, list):
        assert error is None and np.shape(result) == (2, 3), f"{type(error).__name__}: {error}"
    else:
        assert error is not None, f"a dy of shape {np.shape(dy)} gave a result of shape {np.shape(result)}"
        assert_clear_error(error, {"`dy`"})


def test_bug_softmax_over_an_empty_axis():
    assert_result_or_clear_error(lambda: F.softmax(np.zeros((3, 0))), shape=(3, 0), names={"`x`", "`axis`"})


@pytest.mark.parametrize("loss", [F.softmax_cross_entropy, F.categorical_cross_entropy], ids=["softmax", "probs"])
@pytest.mark.parametrize("y_true", [np.zeros((2, 0)), np.zeros(2, np.int64)], ids=["rows", "labels"])
def test_bug_cross_entropy_with_zero_classes(loss, y_true):
    _, error = outcome(lambda: loss(y_true, np.zeros((2, 0))))
    assert error is not None
    assert_clear_error(error, {"`logits`", "`y_pred`"})
    assert "at least one row and one class" in str(error)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_of_labels_gathers_each_rows_log_probability(dtype):
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]], dtype)
    labels = np.array([2, 0])
    log_p = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum(axis=1, keepdims=True))
    expected = -(log_p[0, 2] + log_p[1, 0]) / 2
    for y_true in (labels, labels.reshape(-1, 1), labels.astype(np.float32), np.eye(3)[labels]):
        value = F.softmax_cross_entropy(y_true, logits)
        assert value.dtype == np.dtype(dtype)
        np.testing.assert_allclose(value, expected, rtol=1e-6)
    probs = np.exp(log_p)
    value = F.categorical_cross_entropy(labels, probs.astype(dtype))
    np.testing.assert_allclose(value, expected, rtol=1e-6)


@pytest.mark.parametrize("dloss", ["a", None, np.ones(3)], ids=["string", "none", "array"])
def test_bug_loss_backward_checks_dloss(dloss):
    _, cache = F.softmax_cross_entropy_forward([0, 1], np.zeros((2, 3)))
    _, error = outcome(lambda: F.softmax_cross_entropy_backward(cache, dloss))
    assert error is not None
    assert_clear_error(error, {"`dloss`"})


@pytest.mark.parametrize("make", [lambda: L.Conv2D(np.int64(2), 3), lambda: L.Conv2D(2, 3, groups=np.int64(1)),
                                  lambda: L.Dense(np.int64(3)), lambda: L.Reshape((np.int64(2),)),
                                  lambda: L.Rescaling(np.float32(2.0)), lambda: L.LeakyReLU(np.int64(1)),
                                  lambda: L.Dropout(np.float32(0.5))],
                         ids=["Conv2D-filters", "Conv2D-groups", "Dense-units", "Reshape", "Rescaling", "LeakyReLU",
                              "Dropout"])
def test_bug_layers_take_numpy_scalars(make):
    _, error = outcome(make)
    assert error is None, f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("config", [{"class_name": "Constant", "config": {"value": "x"}},
                                    {"class_name": "RandomUniform", "config": {"minval": -1e308, "maxval": 1e308}},
                                    {"class_name": "VarianceScaling", "config": {"scale": -1}},
                                    {"class_name": "RandomNormal", "config": {"stddev": -1}}],
                         ids=["constant-string", "uniform-overflow", "variance-negative", "normal-negative"])
def test_bug_initializer_configs_are_checked(config):
    _, error = outcome(lambda: L.Dense(2, kernel_initializer=config)(np.ones((1, 2))))
    assert error is not None
    assert_clear_error(error, {"`kernel_initializer`", "`value`", "`minval`", "`maxval`", "`scale`", "`stddev`"})


@pytest.mark.parametrize("make", [lambda: L.Dense(2**40)(np.ones((1, 2))), lambda: L.Conv2D(2**40, 1)(X4),
                                  lambda: model_from_config({"class_name": "Sequential", "config": {
                                      "layers": [{"class_name": "Dense", "config": {"units": 2**40}}]}}, [2])],
                         ids=["Dense", "Conv2D", "model_from_config"])
def test_bug_huge_sizes_are_refused_clearly(make):
    _, error = outcome(make)
    assert error is not None
    assert_clear_error(error, huge=True)  # the generic ArraySizeError is clear enough


def test_merge_layers_refuse_scalars_as_every_layer_does():
    """0-d inputs have no batch axis: refused by name, as a single-input layer refuses a scalar."""
    for layer in (L.Add(), L.Concatenate()):
        with pytest.raises(ValueError, match=r"needs batches of inputs \(at least 1D arrays\)\. "
                                             r"Received: shapes \[\(\), \(\)\]"):
            layer([np.array(2.0), np.array(1.0)])


def test_bug_dense_backward_with_zero_features():
    dense = L.Dense(1)
    y = dense(np.ones((2, 0)))
    dx, error = outcome(lambda: dense.backward(np.ones(y.shape)))
    assert error is None, f"{type(error).__name__}: {error}"
    assert dx.shape == (2, 0) and dense.grads["kernel"].shape == (0, 1)


def test_bug_flatten_an_empty_batch():
    y, error = outcome(lambda: L.Flatten()(np.zeros((0, 3, 4))))
    assert error is None, f"{type(error).__name__}: {error}"
    assert y.shape == (0, 12)


def test_bug_batch_norm_on_an_empty_batch_keeps_its_statistics():
    bn = L.BatchNormalization()
    bn(np.ones((4, 3)))
    outcome(lambda: bn(np.zeros((0, 3)), training=True))  # refusing is fine too
    assert all(np.isfinite(v).all() for v in bn.state.values()), bn.state


def test_bug_batch_norm_backward_with_zero_channels():
    bn = L.BatchNormalization()
    y = bn(np.zeros((2, 0)), training=True)
    dx, error = outcome(lambda: bn.backward(np.ones(y.shape)))
    assert error is None or is_clear_error(error), f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("make, name", [(lambda: L.GlobalAveragePooling2D(keepdims="no"), "keepdims"),
                                        (lambda: L.Dense(2, trainable="no"), "trainable"),
                                        (lambda: L.BatchNormalization(epsilon=True), "epsilon")],
                         ids=["keepdims", "trainable", "epsilon"])
def test_bug_boolean_arguments_are_checked(make, name):
    _, error = outcome(make)
    assert error is not None
    assert_clear_error(error, {f"`{name}`"})


@pytest.mark.parametrize("call", [
    lambda: L.deserialize({"class_name": ["Dense"]}), lambda: L.deserialize({"class_name": "Dense", "config": [1, 2]}),
    lambda: L.deserialize({"class_name": "Dense", "config": None}),
    lambda: optimizers.deserialize({"class_name": "SGD", "config": None}),
    lambda: schedules.deserialize({"class_name": "StepDecay", "config": [1]}),
    lambda: schedules.deserialize({"class_name": {}})],
    ids=["layer-unhashable", "layer-list", "layer-none", "optimizer-none", "schedule-list", "schedule-unhashable"])
def test_bug_configs_that_are_not_dicts(call):
    _, error = outcome(call)
    assert error is not None
    assert_clear_error(error)


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(learning_rate=10**400),
                                  lambda: optimizers.Adam(weight_decay=10**400),
                                  lambda: schedules.StepDecay(10**400, 1)], ids=["SGD", "Adam", "StepDecay"])
def test_bug_ints_beyond_float_range(make):
    _, error = outcome(make)
    assert error is not None
    assert_clear_error(error)


@pytest.mark.parametrize("schedule", [lambda: schedules.StepDecay(1.0, 1, gamma=2.0),
                                      lambda: schedules.ExponentialDecay(1.0, 1, 2.0)], ids=["step", "exponential"])
def test_bug_growing_schedules_do_not_raise_overflow(schedule):
    value, error = outcome(lambda: schedule()(10**6))
    assert error is None, f"{type(error).__name__}: {error}"
    assert not math.isnan(value)


def test_bug_a_declared_input_shape_is_kept(tmp_path):
    model = numcnn.Sequential([L.Conv2D(2, 3, padding="same", input_shape=(5, 5, 1)), L.Flatten(), L.Dense(3)],
                              seed=0)
    y, error = outcome(lambda: model.predict(np.ones((2, 6, 6, 1), np.float32)))
    if error is not None:  # refusing the other shape is one right answer
        assert_clear_error(error)
        return
    save_model(model, tmp_path / "m.safetensors")  # accepting it is another, if the file then loads
    loaded, error = outcome(lambda: load_model(tmp_path / "m.safetensors"))
    assert error is None, f"{type(error).__name__}: {error}"
    np.testing.assert_array_equal(loaded.predict(np.ones((2, 6, 6, 1), np.float32)), y)


def test_bug_an_empty_sequential_round_trip(tmp_path):
    model = numcnn.Sequential([])
    model(np.ones((1, 2), np.float32))
    _, error = outcome(lambda: save_model(model, tmp_path / "m.safetensors"))
    if error is None:
        _, error = outcome(lambda: load_model(tmp_path / "m.safetensors"))
        assert error is None, f"save_model wrote it, load_model refused it: {error}"


@pytest.mark.parametrize("shape", ["abc", (None, None), (None, -2)], ids=["string", "none", "negative"])
def test_bug_sequential_build_checks_the_shape(shape):
    _, error = outcome(lambda: numcnn.Sequential([L.Dense(3)]).build(shape))
    assert error is not None
    assert_clear_error(error)


def test_bug_idx_header_with_65_dimensions():
    _, error = outcome(lambda: read_idx_bytes(bytes([0, 0, 8, 65]) + b"\0\0\0\1" * 65 + b"\0", "f.idx"))
    assert_clear_error(error)
    assert str(error).startswith("f.idx")


@pytest.mark.parametrize("header", ["{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999), }",
                                    "{'descr': '<f8', 'fortran_order': False, 'shape': ((((((((((((, }"],
                         ids=["huge-shape", "unbalanced"])
def test_bug_npy_kernel_headers(tmp_path, header):
    text = header.encode("latin-1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    path = tmp_path / "k.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text)
    _, error = outcome(lambda: load_kernel(path))
    assert_clear_error(error)
    assert str(error).startswith(str(path))


def test_bug_an_empty_npy_kernel(tmp_path):
    path = tmp_path / "empty.npy"
    path.write_bytes(b"")
    _, error = outcome(lambda: load_kernel(path))
    assert_clear_error(error)
    assert str(error).startswith(str(path))


def test_bug_a_bfloat16_tensor_in_a_weights_file(tmp_path):
    header, body = split_safetensors(safetensors_files()["weights"])
    header["dense/bias"].update(dtype="BF16", shape=[6])  # 12 bytes: as many as the float32 bias
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(join_safetensors(header, body))
    _, error = outcome(lambda: load_weights(_reference_model(), path))
    assert isinstance(error, FileFormatError), f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("change", [lambda meta: meta["rngs"]["dense"].update(state={}),
                                    lambda meta: meta.update(optimizer=[]),
                                    lambda meta: meta["optimizer"]["state"].update(params=[["x"]])],
                         ids=["rng-state", "optimizer-list", "optimizer-params"])
def test_bug_corrupted_checkpoint_state(tmp_path, change):
    header, body = split_safetensors(safetensors_files()["checkpoint"])
    meta = json.loads(header["__metadata__"]["numcnn"])
    change(meta)
    header["__metadata__"]["numcnn"] = json.dumps(meta)
    path = tmp_path / "c.safetensors"
    path.write_bytes(join_safetensors(header, body))
    _, error = outcome(lambda: restore_checkpoint(path, _compiled(_reference_model())))
    assert isinstance(error, FileFormatError), f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("training", [{}, {"lr": 10**400}, {"dataset": ["digits"]}, {"model": ["simple"]},
                                      {"epochs": True}],
                         ids=["no-settings", "lr-beyond-float", "dataset-list", "model-list", "epochs-bool"])
def test_bug_resume_with_a_corrupted_config(tmp_path, training):
    from numcnn.app import cli, commands

    root, good = cli_places()
    run = tmp_path / "run"
    run.mkdir()
    settings = good["training"] if training else {}
    (run / "config.json").write_text(json.dumps({**good, "training": {**settings, **training}}))
    reached = []
    saved = commands.train_run
    commands.train_run = lambda settings, *args, **kwargs: reached.append(settings) or {
        "test_accuracy": 1.0, "test_loss": 0.0, "epochs": 1, "seconds": 0.0}
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code, error = outcome(lambda: cli.main(["train", "--resume", str(run)]))
    finally:
        commands.train_run = saved
    assert error is None, f"a traceback: {type(error).__name__}: {error}"
    assert code == 2 and not reached and "Received" in err.getvalue(), (code, reached, err.getvalue())


@pytest.mark.parametrize("argv", [["train", "--resume", "a\x00b"], ["evaluate", "a\x00b"]], ids=["resume", "evaluate"])
def test_bug_a_path_with_a_nul_byte(argv, capsys):
    from numcnn.app.cli import main

    assert main(argv) == 2
    assert "Received" in capsys.readouterr().err


@pytest.mark.parametrize("config", [{"class_name": []}, {"class_name": {"a": 1}}, [1], "MeanSquaredError", None,
                                    {"class_name": "MeanSquaredError", "config": [1]},
                                    {"class_name": "MeanSquaredError", "config": None},
                                    {"class_name": "MeanSquaredError", "config": {1: 2}}],
                         ids=["unhashable-list", "unhashable-dict", "list", "string", "none", "config-list",
                              "config-none", "config-int-key"])
def test_bug_loss_configs_that_are_not_dicts(config):
    """Formerly the known bug "loss-config-type" (Python's 'unhashable type' / 'argument after ** must be a
    mapping'); the registries now share one ``deserialize``."""
    from numcnn import losses

    _, error = outcome(lambda: losses.deserialize(config))
    assert error is not None
    assert isinstance(error, ValueError), f"{type(error).__name__}: {error}"
    assert_clear_error(error)


@pytest.mark.parametrize("cls", ["CategoricalCrossentropy", "SparseCategoricalCrossentropy"])
@pytest.mark.parametrize("from_logits", ["yes", 1, None, [True]], ids=["string", "int", "none", "list"])
def test_cross_entropy_from_logits_is_a_bool(cls, from_logits):
    from numcnn import losses

    _, error = outcome(lambda: getattr(losses, cls)(from_logits=from_logits))
    assert error is not None, f"from_logits={from_logits!r} accepted"
    assert_clear_error(error, {"`from_logits`"})
    _, error = outcome(lambda: losses.deserialize({"class_name": cls, "config": {"from_logits": from_logits}}))
    assert error is not None, f"from_logits={from_logits!r} accepted from a config"
    assert_clear_error(error, {"`from_logits`"})


@pytest.mark.parametrize("make", [lambda: L.RandomRotation(0.3), lambda: L.RandomTranslation(0.2, 0.2),
                                  lambda: L.RandomZoom(0.5), lambda: L.RandomCrop(5, 6)],  # resized
                         ids=["RandomRotation", "RandomTranslation", "RandomZoom", "RandomCrop"])
def test_bug_warps_of_images_with_no_channel(make):
    """The warp's backward reshaped dy to (-1, 0), which NumPy cannot do."""
    layer = make()
    y = layer(np.ones((2, 3, 4, 0)), training=True)
    assert y.shape == layer.compute_output_shape((2, 3, 4, 0))
    dx, error = outcome(lambda: layer.backward(np.ones(y.shape)))
    assert error is None, f"{type(error).__name__}: {error}"
    assert dx.shape == (2, 3, 4, 0)


@pytest.mark.parametrize("shape", [(2, 0, 3, 1), (2, 3, 0, 1)], ids=["no-row", "no-column"])
@pytest.mark.parametrize("training", [False, True])
def test_bug_random_crop_of_images_with_no_pixel(shape, training):
    """No window to crop or resize: refused by name, formerly an IndexError from the crop."""
    _, error = outcome(lambda: L.RandomCrop(2, 2)(np.ones(shape), training=training))
    assert error is not None
    assert_clear_error(error)
    assert "at least one pixel" in str(error)
