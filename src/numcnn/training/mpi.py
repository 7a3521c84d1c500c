"""The MPI collectives data-parallel training needs, through mpi4py (imported only when used).

:class:`Communicator` knows ranks and buffers, nothing of models: the MPI strategy in
:mod:`numcnn.training.strategy` says what training sends through it.

A sum is one ``MPI_Allreduce`` per *bucket*: arrays (the gradients) are packed into
contiguous buffers of up to ``bucket_bytes`` (25 MiB by default, PyTorch DDP's
size), so a model of a few million weights costs one call per step, not one per array.

Timeout: each collective runs under a watchdog. A rank that waits longer than
``timeout`` seconds for the others (one died, or hangs) prints what it was waiting
for and calls ``MPI_Abort``, which stops every rank of the job: nobody hangs.
Blocking collectives with a watchdog thread are used rather than polling nonblocking
ones: on one host Open MPI's ``Iallreduce`` took 2.5 times as long (1.0 ms against
0.4 ms for 1.7 MB).

Start-up check: the first fit on a communicator (:meth:`Communicator.check_startup`) looks
at how the launcher placed the ranks on cores and times an 8-byte round trip from rank 0 to
each other rank; rank 0 prints a one-line warning for each problem found (docs/mpi.md,
"Latency between hosts"). Its pure parts are in :mod:`numcnn.training.mpi_checks`.

mpi4py's lowercase methods pickle Python objects; only the buffer methods
(``Bcast``, ``Allreduce``, ``Send``, ``Recv`` on NumPy arrays) are used here, small metadata
travels as JSON.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np

from ..functional.threads import set_num_threads
from ..utils.validation import _short
from .mpi_checks import _this_place, link_warning, placement_warnings

#: seconds a rank waits in one collective before it stops the whole job
DEFAULT_TIMEOUT = 120.0
#: largest buffer of one allreduce
DEFAULT_BUCKET_BYTES = 25 * 2**20
#: exit code of a job stopped with MPI_Abort (a rank timed out or failed alone)
EXIT_ABORTED = 4

INSTALL_HINT = 'pip install "numcnn[mpi]"'
#: environment variables that set thread counts; when one is set, share_cores() leaves threads alone
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMCNN_NUM_THREADS")
_PING_TAG = 0x6E63  # the start-up check's point-to-point messages


class RankFailed(RuntimeError):
    """Another rank failed in a step that all ranks run together; that rank's message says why."""


def mpi():
    """The ``mpi4py.MPI`` module (initialises MPI on first use), or an ImportError that says what to install.

    Before the first import it sets ``OMPI_MCA_mpi_yield_when_idle=1`` unless the user set it: Open MPI's
    waiting ranks then yield their core to the process that has work (another rank, the kernel's network
    work) instead of spinning through its time slice, which cost 4 ms per message where ranks share a
    core, and costs ~3 us where they do not. Other MPIs ignore the variable.
    """
    yield_set = "mpi4py.MPI" not in sys.modules and "OMPI_MCA_mpi_yield_when_idle" not in os.environ
    if yield_set:
        os.environ["OMPI_MCA_mpi_yield_when_idle"] = "1"
    try:
        from mpi4py import MPI
    except ImportError as e:
        if yield_set:
            del os.environ["OMPI_MCA_mpi_yield_when_idle"]
        raise ImportError(
            f"Distributed training needs mpi4py and an MPI library: {INSTALL_HINT} installs both from PyPI "
            f"(mpi4py and Open MPI); on a cluster, mpi4py built against the system's MPI works too. Received: {e}"
        ) from None
    return MPI


@dataclass
class Traffic:
    """What a communicator sent: calls, bytes per rank, and seconds spent inside them (waiting included)."""

    allreduce_calls: int = 0
    allreduce_bytes: int = 0
    allreduce_seconds: float = 0.0
    broadcast_calls: int = 0
    broadcast_bytes: int = 0


def plan_buckets(arrays, bucket_bytes) -> list[list[int]]:
    """Group the indices of ``arrays`` into buckets to be sent as one buffer each.

    A bucket holds arrays of one dtype, in their order, of at most ``bucket_bytes``
    together; an array larger than that has a bucket of its own.

    Example:
        >>> plan_buckets([np.zeros(3, np.float32), np.zeros(1, np.float64), np.zeros(2, np.float32)], 32)
        [[0, 2], [1]]
    """
    buckets, filling = [], {}  # dtype -> (indices, bytes) of the bucket being filled
    for i, a in enumerate(arrays):
        indices, size = filling.get(a.dtype, (None, 0))
        if indices is None or size + a.nbytes > bucket_bytes:
            indices, size = [], 0
            buckets.append(indices)
        indices.append(i)
        filling[a.dtype] = (indices, size + a.nbytes)
    return buckets


class Communicator:
    """The ranks of an MPI communicator and the collectives data-parallel training needs.

    Args:
        comm: an ``mpi4py`` communicator (default ``MPI.COMM_WORLD``).
        timeout: seconds one collective may wait for the other ranks; then this rank
            prints what it waited for and stops the whole job (``MPI_Abort``).
        bucket_bytes: largest buffer of one allreduce; gradients are packed into as few
            buffers as this allows.

    Attributes:
        rank: this process's number, from 0; rank 0 writes files and prints.
        size: number of ranks.
        traffic: :class:`Traffic` counters (calls, bytes, seconds).

    Example (under ``mpirun -n 2``)::

        comm = Communicator(timeout=60)
        model.fit(x, y, batch_size=64, distributed=comm)   # 32 samples per rank and step
    """

    def __init__(self, comm=None, *, timeout=DEFAULT_TIMEOUT, bucket_bytes=DEFAULT_BUCKET_BYTES):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"The `timeout` argument must be a number of seconds > 0. Received: timeout={_short(timeout)}")
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or bucket_bytes < 1:
            raise ValueError(f"The `bucket_bytes` argument must be an int >= 1. Received: bucket_bytes={_short(bucket_bytes)}")
        self.comm = mpi().COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout, self.bucket_bytes = float(timeout), bucket_bytes
        self.traffic = Traffic()
        self.shared_error = None  # the last error every rank raised together (see together())
        self.startup_warnings = None  # what check_startup() found, once it ran (rank 0's list; [] elsewhere)
        self.root_failed = False
        self.context = None  # where training is, e.g. "epoch 2, step 7", for the timeout message
        self._waiting = None  # (deadline, what) while inside a collective
        self._watchdog = None
        self._aborting = False

    def __repr__(self):
        return f"<Communicator rank {self.rank} of {self.size}, timeout {self.timeout:g} s>"

    # -- the watchdog ---------------------------------------------------------------
    @contextlib.contextmanager
    def _collective(self, what):
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=_watch, args=(weakref.ref(self), min(0.5, self.timeout / 4)),
                                              name="numcnn-mpi-watchdog", daemon=True)
            self._watchdog.start()
        self._waiting = (time.monotonic() + self.timeout, what if self.context is None else f"{what} ({self.context})")
        try:
            yield
        finally:
            self._waiting = None

    def _check_deadline(self):
        waiting = self._waiting
        if waiting is not None and time.monotonic() > waiting[0]:
            print(f"numcnn: rank {self.rank} of {self.size} waited {self.timeout:g} s for the other ranks while "
                  f"{waiting[1]}: a rank has died or hangs. Stopping every rank (MPI_Abort, exit code "
                  f"{EXIT_ABORTED}); a slow but healthy job needs a longer timeout (--mpi-timeout).",
                  file=sys.stderr, flush=True)
            self._abort()

    def _abort(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(EXIT_ABORTED)

    def abort_at_exit(self) -> None:
        """End this process with ``MPI_Abort`` (stopping every rank) instead of a normal exit.

        For an error only this rank saw: the others may be waiting for it in a collective,
        and a normal exit would wait for them in ``MPI_Finalize``.
        """
        if not self._aborting:
            self._aborting = True
            atexit.register(self._abort)

    # -- collectives ----------------------------------------------------------------
    def shard(self, n) -> slice:
        """This rank's contiguous share of ``n`` items; shares differ by at most one item.

        Example:
            with 3 ranks, ``n = 10`` is cut into ``[0:4]``, ``[4:7]``, ``[7:10]``.
        """
        base, extra = divmod(int(n), self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def allreduce_sum(self, arrays, weights=None, what="summing arrays over the ranks") -> list[np.ndarray]:
        """The sum over all ranks of each array (times its weight), bucketed.

        Args:
            arrays: NumPy arrays, the same shapes and dtypes on every rank.
            weights: one factor per array, applied while packing (default 1).
            what: what the ranks are doing, for the timeout message.

        Returns:
            New arrays shaped like ``arrays`` (views into the reduced buffers); the inputs
            are not changed.
        """
        results = [None] * len(arrays)
        for bucket in plan_buckets(arrays, self.bucket_bytes):
            send = np.empty(sum(arrays[i].size for i in bucket), arrays[bucket[0]].dtype)
            offset = 0
            for i in bucket:
                part = send[offset:offset + arrays[i].size]
                if weights is None or weights[i] == 1:
                    part[...] = arrays[i].reshape(-1)
                else:
                    np.multiply(arrays[i].reshape(-1), weights[i], out=part)
                offset += arrays[i].size
            received = np.empty_like(send)
            started = time.perf_counter()
            with self._collective(what):
                self.comm.Allreduce(send, received)
            self.traffic.allreduce_seconds += time.perf_counter() - started
            self.traffic.allreduce_calls += 1
            self.traffic.allreduce_bytes += send.nbytes
            offset = 0
            for i in bucket:
                results[i] = received[offset:offset + arrays[i].size].reshape(arrays[i].shape)
                offset += arrays[i].size
        return results

    def broadcast(self, arrays, what="sharing rank 0's arrays", root=0) -> None:
        """Overwrite each array on every rank with rank ``root``'s, in place, bucketed (same shapes everywhere)."""
        for bucket in plan_buckets(arrays, self.bucket_bytes):
            buffer = np.concatenate([arrays[i].reshape(-1) for i in bucket])
            with self._collective(what):
                self.comm.Bcast(buffer, root=root)
            self.traffic.broadcast_calls += 1
            self.traffic.broadcast_bytes += buffer.nbytes
            if self.rank != root:
                offset = 0
                for i in bucket:
                    arrays[i][...] = buffer[offset:offset + arrays[i].size].reshape(arrays[i].shape)
                    offset += arrays[i].size

    def broadcast_json(self, value=None, what="sharing rank 0's settings", root=0):
        """Rank ``root``'s ``value`` (anything JSON can hold) on every rank; the others' ``value`` is ignored."""
        data = json.dumps(value).encode() if self.rank == root else b""
        length = np.array([len(data)], np.int64)
        with self._collective(what):
            self.comm.Bcast(length, root=root)
            buffer = np.frombuffer(data, np.uint8).copy() if self.rank == root else np.empty(int(length[0]), np.uint8)
            self.comm.Bcast(buffer, root=root)
        self.traffic.broadcast_calls += 2
        self.traffic.broadcast_bytes += length.nbytes + buffer.nbytes
        return json.loads(buffer.tobytes().decode())

    def any(self, flag, what="agreeing whether to stop") -> bool:
        """True on every rank if ``flag`` is true on any rank."""
        return bool(self.allreduce_sum([np.array([bool(flag)], np.int64)], what=what)[0][0])

    @contextlib.contextmanager
    def together(self, what):
        """Run a block on every rank and agree on how it ended.

        If the block raised on some rank, it raises on every rank: a failing rank raises
        its own exception, the others :class:`RankFailed`; each is kept as
        ``shared_error``. So an error that only rank 0 can see (a run directory that
        exists already) stops every rank cleanly instead of leaving them waiting.
        """
        error = None
        try:
            yield
        except Exception as e:  # noqa: BLE001 - re-raised below on this rank, reported to the others
            error = e
        failed = np.zeros(self.size, np.int64)
        failed[self.rank] = error is not None
        failed = self.allreduce_sum([failed], what=what)[0]
        self.root_failed = bool(failed[0])
        if error is None and failed.any():
            first = int(np.flatnonzero(failed)[0])
            error = RankFailed(f"rank {first} of {self.size} failed while {what}; its own message says why. "
                               f"Received: failures on ranks {np.flatnonzero(failed).tolist()}")
        if error is not None:
            self.shared_error = error
            raise error

    def should_report(self, error) -> bool:
        """Whether this rank prints ``error``: rank 0 always; another rank only for an error of its own
        that rank 0 did not share (so one failure shared by all ranks is printed once)."""
        if error is not self.shared_error or self.rank == 0:
            return True
        return not isinstance(error, RankFailed) and not self.root_failed

    def check_startup(self) -> list[str]:
        """Check, once per communicator, how the ranks sit on cores and how fast rank 0 reaches each rank;
        rank 0 prints a one-line warning (stderr) for each problem. A collective: every rank calls it
        (``fit(distributed=...)`` does, before its first step). Warnings only, it never raises.

        - ranks on one machine (the same ``/proc/sys/kernel/random/boot_id``) bound to the same single
          core: they take turns on it, every message waits for the scheduler (:func:`placement_warnings`);
        - a rank that its launcher bound to 1 core while its host has cores to spare: it trains on 1 thread;
        - an 8-byte round trip from rank 0 to some rank (median of up to 20, 0.25 s in all) slower than
          :data:`SLOW_ROUND_TRIP` (:func:`link_warning`).

        Returns:
            On rank 0 the warnings (also kept as ``startup_warnings``), on the others an empty list.
        """
        if self.startup_warnings is not None:
            return self.startup_warnings
        found = []
        if self.size > 1:
            places = np.zeros((self.size, 6), np.int64)
            places[self.rank] = _this_place()
            with self._collective("checking where MPI placed the ranks and how fast they answer"):
                self.comm.Allreduce(mpi().IN_PLACE, places)
                round_trips = self._ping_ranks()
            if self.rank == 0:
                found = placement_warnings(places) + [w for w in [link_warning(round_trips)] if w]
                for warning in found:
                    print(f"numcnn: warning: {warning}", file=sys.stderr, flush=True)
        self.startup_warnings = found
        return found

    def _ping_ranks(self, rounds=20, warmup=2, budget=0.25) -> dict:
        """Rank 0: ``{rank: [seconds of each 8-byte round trip]}`` for every other rank, at most ``rounds``
        each (at least 3, then within ``budget`` seconds in all); the others answer and return {}."""
        message = np.zeros(1, np.int64)
        if self.rank != 0:
            while True:
                self.comm.Recv(message, source=0, tag=_PING_TAG)
                if message[0] == 0:
                    return {}
                self.comm.Send(message, dest=0, tag=_PING_TAG)
        found = {}
        for peer in range(1, self.size):
            seconds, deadline = [], time.perf_counter() + budget / (self.size - 1)
            for i in range(warmup + rounds):
                message[0] = 1
                started = time.perf_counter()
                self.comm.Send(message, dest=peer, tag=_PING_TAG)
                self.comm.Recv(message, source=peer, tag=_PING_TAG)
                if i >= warmup:  # the first messages also open the connection
                    seconds.append(time.perf_counter() - started)
                if len(seconds) >= 3 and time.perf_counter() > deadline:
                    break
            message[0] = 0
            self.comm.Send(message, dest=peer, tag=_PING_TAG)
            found[peer] = seconds
        return found

    def share_cores(self):
        """Give this rank its share of the host's cores: ``cores it may use // ranks on its host``
        BLAS, OpenMP and numcnn threads (ranks that each use every core slow each other down).

        Returns the thread count, or None when ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
        ``MKL_NUM_THREADS`` or ``NUMCNN_NUM_THREADS`` is set (the user chose). A collective:
        every rank calls it.

        Raises:
            ValueError: MPI took ranks of different hosts for ranks of one host, which Open MPI
                does when two hosts share a hostname; its messages between them then fail, hang
                or deliver wrong data (measured on the test bed of ``tests/distributed``), so
                no fallback can train correctly.
        """
        MPI = mpi()
        started_here = os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE", "")  # what Open MPI's launcher started here
        mixed_up = np.zeros(self.size, np.int64)
        with self._collective("counting the ranks on each host (hosts need distinct hostnames)"):
            try:
                local = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
                ranks_here = local.Get_size()
                local.Free()
                mixed_up[self.rank] = started_here.isdigit() and ranks_here > int(started_here)
                self.comm.Allreduce(MPI.IN_PLACE, mixed_up)  # a rank may see it alone: all stop together
            except MPI.Exception as e:
                raise _hostname_clash(f"MPI could not group the ranks by host ({e.Get_error_string()})",
                                      self.rank) from None
        if mixed_up.any():
            self.shared_error = _hostname_clash(f"MPI takes ranks of different hosts for ranks of one host (ranks "
                                                f"{np.flatnonzero(mixed_up).tolist()} see more ranks on their host "
                                                "than mpirun started there)", self.rank)
            self.root_failed = True  # so that rank 0 alone reports it
            raise self.shared_error
        if any(os.environ.get(name) for name in THREAD_VARIABLES):
            return None
        from threadpoolctl import threadpool_limits  # the mpi extra installs it with mpi4py

        threads = max(1, len(os.sched_getaffinity(0)) // ranks_here)
        set_num_threads(threads)
        threadpool_limits(threads)  # BLAS and OpenMP
        return threads


def _hostname_clash(what, rank) -> ValueError:
    """The error of share_cores() when MPI mixes up hosts."""
    return ValueError(f"{what}. Open MPI tells hosts apart by hostname, and when two hosts share one its messages "
                      "between them fail, hang or carry wrong data: give every host its own hostname (hostnamectl "
                      f"set-hostname NAME). Received: hostname {mpi().Get_processor_name()!r} on rank {rank}")


def _watch(communicator_ref, period):
    """The watchdog thread: checks the deadline of the current collective until the communicator is gone."""
    while True:
        time.sleep(period)
        communicator = communicator_ref()
        if communicator is None:
            return
        communicator._check_deadline()
        del communicator  # hold no reference while sleeping
