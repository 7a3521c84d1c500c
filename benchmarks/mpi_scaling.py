"""Data-parallel training on 1 and 2 processes: samples per second and the share of time in communication.

Run (needs the mpi extra, or the test extra, for mpi4py and mpiexec; MNIST IDX files or --synthetic):

    python benchmarks/mpi_scaling.py --data-dir ../shared/datasets/mnist [--steps 100] [--repeats 3] [--json out.json]

Trains seed 002's SimpleConvNet (433,890 float32 weights) with Adam on MNIST with a
global batch of 100 for ``--steps`` steps, after a few warm-up steps, in three setups:

* 1 process, 2 BLAS / numcnn threads (plain ``fit``, no MPI);
* 1 process, 1 thread (plain ``fit``);
* 2 processes under ``mpiexec -n 2``, 1 thread each (``fit(distributed=...)``), 50 samples
  per rank and step.

Printed per setup: samples per second (global), milliseconds per step, the time spent
inside the allreduce calls per step and its share of the step (this includes waiting for
the slower rank), the bytes each rank hands to the allreduce per step, and the time of
the same allreduce alone, measured after a barrier (the transfer cost without the wait).
With ``--repeats R`` the three setups run R times in turn and each keeps its fastest run
(other work on the machine only ever slows a run down). Never run as a timed test.

How this scales to many hosts: each step every rank sends its gradients, 1.74 MB here,
whatever the number of ranks ``K``. A ring allreduce moves ``2 (K - 1) / K`` times that
through each rank's link (under 3.5 MB): about 2.8 ms at 10 Gb/s and 0.28 ms at 100 Gb/s,
plus ``2 (K - 1)`` message latencies (some 5-50 us each over TCP, 1-2 us over InfiniBand),
against a step time that shrinks as ``1 / K`` at a fixed global batch. docs/benchmarks.md gives the
numbers measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BATCH, LR, WARMUP = 100, 0.001, 5


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
                      allreduce_alone_ms=1000 * _alone(comm, gradient_bytes))
        if comm.rank != 0:
            return
    print(json.dumps(result))


def _run(args, processes, threads):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "NUMCNN_NUM_THREADS": str(threads),
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    command = [sys.executable, __file__, "--worker", "--threads", str(threads), "--steps", str(args.steps)]
    command += ["--synthetic"] if args.synthetic else ["--data-dir", args.data_dir] if args.data_dir else []
    if processes > 1:
        here = Path(sys.executable).with_name("mpiexec")
        mpiexec = str(here) if here.exists() else "mpiexec"
        command = [mpiexec, "--bind-to", "none", "-n", str(processes), *command, "--distributed"]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{processes} process(es), {threads} thread(s) failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NUMCNN_DATA_DIR"), help="directory with the MNIST IDX files")
    parser.add_argument("--synthetic", action="store_true", help="random images instead of MNIST")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per setup (default 100)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setup, the fastest kept (default 1)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args)

    setups = [(1, 2), (1, 1), (2, 1)]
    runs = [[_run(args, *setup) for setup in setups] for _ in range(args.repeats)]
    results = [max((r[i] for r in runs), key=lambda r: r["samples_per_second"]) for i in range(len(setups))]
    print(f"SimpleConvNet, {'synthetic data' if args.synthetic else 'MNIST'}, global batch {BATCH}, Adam, "
          f"{args.steps} steps, fastest of {args.repeats}")
    print(f"{'setup':<22}{'samples/s':>10}{'ms/step':>9}{'allreduce ms/step':>19}{'comm share':>12}"
          f"{'MB/step':>9}{'allreduce alone ms':>20}")
    for r in results:
        setup = f"{r['processes']} process{'es' if r['processes'] > 1 else ''} x {r['threads']} thread{'s' * (r['threads'] > 1)}"
        comm = (f"{r['allreduce_ms_per_step']:>19.2f}{r['comm_share']:>12.1%}{r['bytes_per_step'] / 1e6:>9.3f}"
                f"{r['allreduce_alone_ms']:>20.2f}") if "comm_share" in r else f"{'-':>19}{'-':>12}{'-':>9}{'-':>20}"
        print(f"{setup:<22}{r['samples_per_second']:>10.0f}{r['ms_per_step']:>9.1f}{comm}")
    two, one = results[2]["samples_per_second"], results[1]["samples_per_second"]
    print(f"speed-up of 2 processes: {two / one:.2f} over 1 process x 1 thread, "
          f"{two / results[0]['samples_per_second']:.2f} over 1 process x 2 threads")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
