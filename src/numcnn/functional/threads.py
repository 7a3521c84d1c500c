"""Split element-wise work over the batch axis across threads.

NumPy's element-wise loops (copies, ``+=``, ``np.maximum``) run on one core, but they
release the GIL, so a few threads each working on their own slice of the batch run
them in parallel. Matrix multiplies are left alone: BLAS already uses every core.

Results do not depend on the thread count: every chunk writes its own rows, and
sums over the batch are added up per chunk in a fixed order (see :func:`batch_chunks`).

The thread count is ``NUMCNN_NUM_THREADS`` if set, else the cores this process may
use; change it with :func:`set_num_threads`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from ..utils.validation import _short

#: below this many elements per call, one thread is faster than handing out work
MIN_PARALLEL_ELEMENTS = 1 << 17
#: the batch is cut into this many pieces at most, whatever the thread count, so that a
#: reduction over the batch adds the same partial sums in the same order on any machine
MAX_CHUNKS = 8

_state = {"threads": None, "pool": None}


def _default_threads() -> int:
    env = os.environ.get("NUMCNN_NUM_THREADS")
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"NUMCNN_NUM_THREADS must be a positive integer. Received: {env!r}")
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def get_num_threads() -> int:
    """How many threads numcnn's element-wise kernels use."""
    if _state["threads"] is None:
        _state["threads"] = _default_threads()
    return _state["threads"]


def set_num_threads(threads: int) -> None:
    """Use ``threads`` threads (>= 1) for numcnn's element-wise kernels."""
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"The `threads` argument must be a positive int. Received: threads={_short(threads)}")
    _shutdown()
    _state["threads"] = threads


def _shutdown() -> None:
    pool, _state["pool"] = _state["pool"], None
    if pool is not None:
        pool.shutdown(wait=False)


def _forget_pool_in_child() -> None:
    # a forked child has no worker threads: start a new pool on first use
    _state["pool"] = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def batch_chunks(n: int, elements: int) -> list[tuple[int, int]]:
    """Cut ``range(n)`` into contiguous ``(start, stop)`` pieces for :func:`run_chunks`.

    ``elements`` is the work of the whole batch; small work gets one piece. The pieces
    depend only on ``n`` and ``elements`` (never on the thread count), so results are the
    same on every machine.
    """
    pieces = 1 if elements < MIN_PARALLEL_ELEMENTS else min(n, MAX_CHUNKS)
    pieces = max(pieces, 1)
    bounds = [n * i // pieces for i in range(pieces + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(pieces) if bounds[i] < bounds[i + 1]]


def run_chunks(fn, chunks) -> list:
    """``[fn(start, stop) for start, stop in chunks]``, on up to :func:`get_num_threads` threads."""
    threads = get_num_threads()
    if threads == 1 or len(chunks) == 1:
        return [fn(start, stop) for start, stop in chunks]
    if _state["pool"] is None:
        _state["pool"] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="numcnn")
    return list(_state["pool"].map(lambda bounds: fn(*bounds), chunks))


def over_batch(fn, n: int, elements: int) -> list:
    """Run ``fn(start, stop)`` over pieces of a batch of ``n`` with ``elements`` of work."""
    return run_chunks(fn, batch_chunks(n, elements))
