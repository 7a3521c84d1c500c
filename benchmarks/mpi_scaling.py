"""Data-parallel training on 1 process, 2 ranks of one host, and N hosts: samples per second and communication.

Run (needs the mpi extra, or the test extra, for mpi4py and mpiexec; MNIST IDX files or --synthetic):

    python benchmarks/mpi_scaling.py --data-dir ../shared/datasets/mnist [--steps 100] [--repeats 3] [--json out.json]
    python benchmarks/mpi_scaling.py --data-dir DIR --hosts 2 [--bandwidth 1gbit] [--mtu 9000]       # as root
    python benchmarks/mpi_scaling.py --data-dir DIR --hosts 2 --shared-cores --mpi-binding default  # issue 18's launch

Trains seed 002's SimpleConvNet (433,890 float32 weights) with Adam on MNIST with a
global batch of 100 for ``--steps`` steps, after a few warm-up steps, in these setups:

* 1 process, 2 BLAS / numcnn threads, and 1 process, 1 thread (plain ``fit``, no MPI);
* 2 ranks on this host under ``mpiexec -n 2``, 1 thread each (``fit(distributed=...)``), 50
  samples per rank and step;
* with ``--hosts N``: N ranks, one on each of N hosts of the multi-host test bed
  (``tests/distributed/testbed.py``: network namespaces on this machine, linked through a
  bridge, ``--bandwidth`` a ``tc`` limit of each link), 1 thread each. The hosts get cores
  of their own when the machine has enough (else, or with ``--shared-cores``, they share
  them): compare communication, not compute, between hosts that share 2 cores.

``--mpi-binding none`` (the default) starts the ranks with ``--bind-to none`` and
``mpi_yield_when_idle 1``; ``--mpi-binding default`` with Open MPI's defaults (each host's
first rank bound to core 0, waiting ranks spinning), the launch of issue 18
(``--yield-when-idle 1`` adds the yield to it).

Printed per setup: samples per second (global), milliseconds per step, an epoch of 60,000
samples at that speed, the time spent inside the allreduce calls per step and its share of
the step (this includes waiting for the slower rank), the time of the same allreduce
(1.74 MB) alone after a barrier, and the one-way latency of 8 bytes and of 1 MB between
ranks 0 and 1 (ping-pong). With ``--repeats R`` the setups run R times in turn and each
number is the median over the runs. Never run as a timed test.

How this scales to many hosts: docs/benchmarks.md fits the ring-allreduce model
``t = 2 (K - 1) / K * S / B + 2 (K - 1) a`` to what the bed measures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BATCH, LR, WARMUP, EPOCH = 100, 0.001, 5, 60_000
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMCNN_NUM_THREADS")
TESTBED = Path(__file__).resolve().parents[1] / "tests" / "distributed" / "testbed.py"


def _data(args):
    if args.synthetic:
        rng = np.random.default_rng(0)
        n = (args.steps + WARMUP) * BATCH
        return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)
    from numcnn.data import load_dataset

    data = load_dataset("mnist", args.data_dir, download_missing=False, progress=False)
    return data.x_train, data.y_train


def _alone(comm, nbytes, repeats=20) -> float:
    """Seconds of one allreduce of ``nbytes`` after a barrier: the transfer without waiting for a slower rank."""
    buffer = np.ones(nbytes // 4, np.float32)
    out = np.empty_like(buffer)
    seconds = []
    for _ in range(repeats):
        comm.comm.Barrier()
        started = time.perf_counter()
        comm.comm.Allreduce(buffer, out)
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def _one_way(comm, nbytes, budget=0.2, repeats=5) -> float:
    """One-way seconds of ``nbytes`` between ranks 0 and 1 (half a ping-pong round trip), the median of
    ``repeats`` runs of as many round trips as fit in ``budget`` seconds; the other ranks wait."""
    buffer = np.zeros(nbytes, np.uint8)

    def rounds(n):
        comm.comm.Barrier()
        started = time.perf_counter()
        for _ in range(n):
            if comm.rank == 0:
                comm.comm.Send(buffer, 1)
                comm.comm.Recv(buffer, 1)
            elif comm.rank == 1:
                comm.comm.Recv(buffer, 0)
                comm.comm.Send(buffer, 0)
        return (time.perf_counter() - started) / n / 2

    rounds(5)  # opens the connection
    n = np.array([min(5000, max(10, int(budget / (2 * rounds(10)))))], np.int64)
    comm.comm.Bcast(n)  # rank 0's count
    return float(np.median([rounds(int(n[0])) for _ in range(repeats)]))


def _worker(args):
    from numcnn.losses import SparseCategoricalCrossentropy
    from numcnn.models.zoo import simple_convnet
    from numcnn.optimizers import Adam

    comm = None
    if args.distributed:
        from numcnn.distributed import Communicator

        comm = Communicator(timeout=300)
    x, y = _data(args)
    model = simple_convnet((28, 28, 1), 10, seed=0)
    model.compile(Adam(LR), SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:WARMUP * BATCH], y[:WARMUP * BATCH], batch_size=BATCH, epochs=1, seed=0, verbose=0, distributed=comm)
    before = None if comm is None else dict(vars(comm.traffic))
    timed = slice(WARMUP * BATCH, (WARMUP + args.steps) * BATCH)
    started = time.perf_counter()
    model.fit(x[timed], y[timed], batch_size=BATCH, epochs=1, seed=1, verbose=0, distributed=comm)
    seconds = time.perf_counter() - started
    result = {"processes": 1 if comm is None else comm.size, "threads": args.threads, "steps": args.steps,
              "samples_per_second": args.steps * BATCH / seconds, "ms_per_step": 1000 * seconds / args.steps}
    if comm is not None:
        calls = comm.traffic.allreduce_calls - before["allreduce_calls"]
        nbytes = comm.traffic.allreduce_bytes - before["allreduce_bytes"]
        inside = comm.traffic.allreduce_seconds - before["allreduce_seconds"]
        gradient_bytes = sum(p.nbytes for p in model.params.values())
        result.update(allreduce_calls_per_step=calls / args.steps, bytes_per_step=nbytes / args.steps,
                      allreduce_ms_per_step=1000 * inside / args.steps, comm_share=inside / seconds,
                      allreduce_alone_ms=1000 * _alone(comm, gradient_bytes),
                      latency_8B_us=1e6 * _one_way(comm, 8), latency_1MB_ms=1e3 * _one_way(comm, 2**20),
                      warnings=comm.startup_warnings)
        if comm.rank != 0:
            return
    print(json.dumps(result))


def _worker_command(args, threads, distributed):
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--threads", str(threads),
               "--steps", str(args.steps)]
    command += ["--synthetic"] if args.synthetic else ["--data-dir", str(Path(args.data_dir).resolve())]
    return command + ["--distributed"] * distributed


def _env(threads, yield_when_idle=None):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES and k != "OMPI_MCA_mpi_yield_when_idle"}
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
    if yield_when_idle is not None:
        env["OMPI_MCA_mpi_yield_when_idle"] = str(yield_when_idle)
    return env


def _result(done, what):
    if done.returncode != 0:
        sys.exit(f"{what} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _local(args, processes, threads):
    command = _worker_command(args, threads, processes > 1)
    if processes > 1:
        here = Path(sys.executable).with_name("mpiexec")
        binding = ["--bind-to", "none"] if args.mpi_binding == "none" else []
        command = [str(here) if here.exists() else "mpiexec", *binding, "-n", str(processes), *command]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(threads, _yield(args)), check=False)
    return _result(done, f"{processes} process(es) x {threads} thread(s)")


def _yield(args):
    """mpi_yield_when_idle for the ranks: as asked, else 1 with --bind-to none and Open MPI's 0 with its binding."""
    if args.yield_when_idle is not None:
        return args.yield_when_idle
    return 1 if args.mpi_binding == "none" else 0


def _on_bed(args, bed, mpirun):
    command = bed.mpirun(mpirun, _worker_command(args, 1, True), binding=args.mpi_binding,
                         yield_when_idle=_yield(args))
    done = bed.run(command, env=_env(1, _yield(args)), timeout=600 + 2 * args.steps)
    return {**_result(done, f"{len(bed.hosts)} hosts"), "hosts": len(bed.hosts)}


def _busy_cores(seconds=1.0) -> float:
    """Cores the machine kept busy over ``seconds`` (Linux /proc/stat; 0 elsewhere)."""
    def sample():
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return sum(fields) - fields[3] - fields[4], sum(fields)

    if not os.path.exists("/proc/stat"):
        return 0.0
    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0) * os.cpu_count()


def _wait_quiet(seconds, limit=0.3):
    """Wait up to ``seconds`` until other work keeps less than ``limit`` cores busy (a shared machine)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and _busy_cores() >= limit:
        pass


def _testbed():
    """tests/distributed/testbed.py, imported by path."""
    spec = importlib.util.spec_from_file_location("testbed", TESTBED)
    module = importlib.util.module_from_spec(spec)
    sys.modules["testbed"] = module
    spec.loader.exec_module(module)
    return module


def _setup_name(r):
    if r["processes"] == 1:
        return f"1 process x {r['threads']} thread{'s' * (r['threads'] > 1)}"
    if r.get("hosts", 1) == 1:
        return f"{r['processes']} ranks, 1 host"
    return f"{r['processes']} hosts, 1 rank each"


def _median(runs):
    """Each number the median over the runs of one setup."""
    merged = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            merged[key] = float(np.median([r[key] for r in runs]))
    return merged


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NUMCNN_DATA_DIR"), help="directory with the MNIST IDX files")
    parser.add_argument("--synthetic", action="store_true", help="random images instead of MNIST")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per setup (default 100; 600 = an epoch)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setup, medians reported (default 1)")
    parser.add_argument("--hosts", type=int, help="also run on this many hosts of the test bed (needs root)")
    parser.add_argument("--bandwidth", help="the bed's link speed, a tc rate: 1gbit, 100mbit (default: no limit)")
    parser.add_argument("--mtu", type=int, default=1500, help="the bed's MTU (default 1500)")
    parser.add_argument("--shared-cores", action="store_true", help="the bed's hosts share all cores")
    parser.add_argument("--mpi-binding", choices=("none", "default"), default="none",
                        help="none: --bind-to none (default); default: Open MPI's binding")
    parser.add_argument("--yield-when-idle", type=int, choices=(0, 1),
                        help="mpi_yield_when_idle (default 1 with --mpi-binding none, else Open MPI's 0)")
    parser.add_argument("--local", default="1x2,1x1,2x1",
                        help="setups on this host, PROCESSESxTHREADS, comma-separated (default 1x2,1x1,2x1; '' none)")
    parser.add_argument("--quiet-wait", type=float, default=0,
                        help="before each run, wait up to this many seconds for the machine to be idle (default 0)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args)
    if not args.synthetic and not args.data_dir:
        parser.error("give --data-dir DIR (the MNIST IDX files) or --synthetic")
    local = [tuple(map(int, s.split("x"))) for s in args.local.split(",") if s]
    runners = [lambda p=p, t=t: _local(args, p, t) for p, t in local]
    with_bed = args.hosts is not None
    if with_bed:
        testbed = _testbed()
        reason = testbed.unavailable()
        if reason is not None:
            sys.exit(f"--hosts: {reason}")
        here = Path(sys.executable).with_name("mpirun")
        mpirun = str(here) if here.exists() else "mpirun"
        bed = testbed.HostBed(args.hosts, bandwidth=args.bandwidth, mtu=args.mtu,
                              cores="shared" if args.shared_cores else "auto").start()
        cores = ", ".join(f"{h.name} {','.join(map(str, h.cores)) if h.cores else 'all'}" for h in bed.hosts)
        runners.append(lambda: _on_bed(args, bed, mpirun))
    runs = []
    try:
        for _ in range(args.repeats):
            runs.append([])
            for run in runners:
                _wait_quiet(args.quiet_wait)
                runs[-1].append(run())
    finally:
        if with_bed:
            bed.close()
    results = [_median([r[i] for r in runs]) for i in range(len(runners))]

    data = "synthetic data" if args.synthetic else "MNIST"
    launch = ("mpirun --bind-to none" if args.mpi_binding == "none" else "Open MPI's default binding") + \
        f", mpi_yield_when_idle {_yield(args)}"
    print(f"SimpleConvNet, {data}, global batch {BATCH}, Adam, {args.steps} steps, median of {args.repeats}; {launch}")
    if with_bed:
        print(f"test bed: {args.hosts} hosts, bandwidth {args.bandwidth or 'unlimited'}, MTU {args.mtu}, "
              f"cores: {cores}")
    print(f"{'setup':<22}{'samples/s':>10}{'ms/step':>9}{'epoch s':>9}{'allreduce ms/step':>19}{'comm share':>12}"
          f"{'allreduce alone ms':>20}{'8 B us':>9}{'1 MB ms':>9}")
    for r in results:
        comm = (f"{r['allreduce_ms_per_step']:>19.2f}{r['comm_share']:>12.1%}{r['allreduce_alone_ms']:>20.2f}"
                f"{r['latency_8B_us']:>9.1f}{r['latency_1MB_ms']:>9.2f}") if "comm_share" in r else \
            f"{'-':>19}{'-':>12}{'-':>20}{'-':>9}{'-':>9}"
        print(f"{_setup_name(r):<22}{r['samples_per_second']:>10.0f}{r['ms_per_step']:>9.1f}"
              f"{EPOCH / r['samples_per_second']:>9.1f}{comm}")
    for r in results:
        for warning in r.get("warnings") or []:
            print(f"  {_setup_name(r)}: numcnn: warning: {warning}")
    ranks = [r for r in results if r["processes"] == 2 and r.get("hosts", 1) == 1]
    hosts = [r for r in results if r.get("hosts", 1) > 1]
    if ranks and hosts:
        print(f"epoch on {hosts[0]['processes']} hosts / on 2 ranks of 1 host: "
              f"{ranks[0]['samples_per_second'] / hosts[0]['samples_per_second']:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
