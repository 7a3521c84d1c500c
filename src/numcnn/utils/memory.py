"""The C allocator's settings for a training loop (the ``numcnn`` command sets them; a program calls
:func:`keep_freed_memory` itself, since they hold for its whole process).

A training step frees and allocates the same few large arrays (activations, patch matrices,
gradients) every time. With glibc's default settings each array above a threshold that starts at
128 KiB gets freshly mapped pages, and the freed top of the heap goes back to the kernel, so every
step pays a page fault per 4 KiB touched: for SimpleConvNet on MNIST, about 1,200 faults and 10%
of the step's time. PyTorch avoids them with its own caching allocator; NumPy arrays use
``malloc``, so numcnn can ask ``malloc`` to keep freed memory for reuse instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

#: arrays up to this size come from the heap, whose freed blocks are reused (glibc's upper limit)
MMAP_THRESHOLD = 32 << 20
#: freed memory at the top of the heap is kept up to this much before it is given back
TRIM_THRESHOLD = 512 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_done = False


def keep_freed_memory() -> bool:
    """Set glibc's ``M_MMAP_THRESHOLD`` to 32 MiB and ``M_TRIM_THRESHOLD`` to 512 MiB for the rest of
    the process; the ``numcnn`` command calls it at start. Returns whether the settings are in effect.

    Arrays up to 32 MiB then reuse freed heap memory instead of fresh pages, and up to 512 MiB of
    freed memory stays in the process rather than going back to the system (the process's RSS
    stays near its peak after a fit). The peak itself measured the same with and without: 191 MiB
    for a SimpleConvNet fit, 471 MiB for the deep model's.

    It does nothing (and returns False) on other C libraries and platforms, when the environment
    variable ``NUMCNN_KEEP_FREED_MEMORY`` is ``0``, or when the process was started with glibc's
    own ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` (the user's choice stands).

    Example:
        >>> from numcnn.utils.memory import keep_freed_memory
        >>> keep_freed_memory()  # once, before model.fit(...)  # doctest: +SKIP
        True
    """
    global _done
    if _done:
        return True
    if (not sys.platform.startswith("linux") or os.environ.get("NUMCNN_KEEP_FREED_MEMORY", "1") == "0"
            or any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"))):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
