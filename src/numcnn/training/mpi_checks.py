"""The start-up check of :meth:`numcnn.training.mpi.Communicator.check_startup`, as pure functions:
where the launcher put the ranks, and whether the link between them is slow (docs/mpi.md,
"Latency between hosts")."""

from __future__ import annotations

import hashlib
import os
import socket
import uuid

import numpy as np

#: a median 8-byte round trip between two ranks slower than this (seconds) is reported as a slow link;
#: over TCP between hosts it takes 20-100 us, between namespaces on one machine 20-40 us
SLOW_ROUND_TRIP = 1e-3
#: where the start-up warnings send the user
LATENCY_DOCS = "docs/mpi.md, 'Latency between hosts'"


def _this_place() -> np.ndarray:
    """This process's place as 6 int64: its machine (boot id, 2 numbers), host (hostname hash), its core if
    it may use one only (else -1), how many cores it may use, and how many its launcher (parent) may use."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            machine = np.frombuffer(uuid.UUID(f.read().strip()).bytes, np.int64)
    except (OSError, ValueError):  # no boot id: every process is a machine of its own
        machine = np.array([os.getpid(), -1], np.int64)
    host = np.frombuffer(hashlib.blake2b(socket.gethostname().encode(), digest_size=8).digest(), np.int64)
    if hasattr(os, "sched_getaffinity"):
        cores = os.sched_getaffinity(0)
        try:
            launcher = len(os.sched_getaffinity(os.getppid()))
        except OSError:
            launcher = len(cores)
    else:  # macOS: no affinity
        cores, launcher = set(range(os.cpu_count() or 1)), os.cpu_count() or 1
    core = next(iter(cores)) if len(cores) == 1 else -1
    return np.concatenate([machine, host, np.array([core, len(cores), launcher], np.int64)])


def _ranks(ranks) -> str:
    ranks = [int(r) for r in ranks]
    shown = ", ".join(map(str, ranks[:8])) + (f" and {len(ranks) - 8} more" if len(ranks) > 8 else "")
    return f"rank{'s' * (len(ranks) > 1)} {shown}"


def placement_warnings(places) -> list[str]:
    """What is wrong with where the launcher put the ranks (:meth:`Communicator.check_startup`).

    Args:
        places: one row per rank, ``(machine, machine, host, core, cores, launcher_cores)``: the machine
            (two numbers of its boot id), the host (hostname hash), its one core or -1, how many cores it
            may use and how many the process that started it may use.

    Returns:
        Up to two one-line warnings: ranks of one machine bound to the same single core; ranks bound to
        1 core where their host has cores to spare (more than its ranks).

    Example:
        >>> [w[:46] for w in placement_warnings([(7, 7, 1, 0, 1, 2), (7, 7, 2, 0, 1, 2)])]
        ['ranks 0, 1 are bound to the same single core (', 'MPI bound ranks 0, 1 to 1 core each, where ran']
    """
    places = np.asarray(places, np.int64).reshape(-1, 6)
    warnings = []
    single = places[:, 3] >= 0
    keys = [tuple(row[[0, 1, 3]]) for row in places]
    shared = [r for r in np.flatnonzero(single) if sum(k == keys[r] for k in keys) > 1]
    if shared:
        warnings.append(f"{_ranks(shared)} are bound to the same single core (core {places[shared[0], 3]}) of one "
                        "machine: they take turns on it and each message waits for the scheduler (ms instead of "
                        f"us). Start mpirun with --bind-to none (see {LATENCY_DOCS}).")
    hosts = [tuple(row[:3]) for row in places]
    narrowed = [r for r in np.flatnonzero(single & (places[:, 5] > 1))
                if places[r, 5] > sum(h == hosts[r] for h in hosts)]
    if narrowed:
        r = narrowed[0]
        there = sum(h == hosts[r] for h in hosts)
        whose = "its host" if len(narrowed) == 1 else f"rank {r}'s host"
        warnings.append(f"MPI bound {_ranks(narrowed)} to 1 core{' each' * (len(narrowed) > 1)}, where {whose} has "
                        f"{places[r, 5]} cores for {there} rank{'s' * (there > 1)}: "
                        f"{'it trains' if len(narrowed) == 1 else 'each trains'} on 1 thread. Start mpirun with "
                        "--bind-to none, or --map-by ppr:N:node:PE=M to give each of N ranks per host M cores "
                        f"(see {LATENCY_DOCS}).")
    return warnings


def link_warning(round_trips, threshold=SLOW_ROUND_TRIP) -> str | None:
    """A one-line warning if the median 8-byte round trip from rank 0 to some rank exceeds ``threshold``
    seconds, naming the slowest; None if every link is fast enough.

    Args:
        round_trips: ``{rank: [seconds of each round trip]}``, as rank 0 measured them.

    Example:
        >>> link_warning({1: [20e-6, 30e-6, 25e-6]}) is None
        True
    """
    medians = {rank: float(np.median(seconds)) for rank, seconds in round_trips.items() if len(seconds)}
    if not medians:
        return None
    slowest = max(medians, key=medians.get)
    if medians[slowest] <= threshold:
        return None
    return (f"an 8-byte round trip between rank 0 and rank {slowest} takes {medians[slowest] * 1e3:.2f} ms "
            f"(median of {len(round_trips[slowest])}; a network does it in well under {threshold * 1e3:g} ms): "
            f"every step waits for such messages. See {LATENCY_DOCS} (mpirun --bind-to none).")
