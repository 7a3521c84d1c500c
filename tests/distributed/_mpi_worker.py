"""Run by the MPI tests as ``mpiexec -n 2 python _mpi_worker.py SCENARIO OUT_DIR``; each rank writes its results.

Scenarios:

* ``fit``: the cases of ``_mpi_cases`` on 2 ranks (each rank starts from its own random
  weights, so only the broadcast of rank 0's can make them agree), once with the default
  bucket and once with 1 KiB buckets; the NaN case; the broadcast of a batch-norm model's
  moving statistics and optimizer slots. Writes ``rank<r>.npz`` and ``rank<r>.json``.
* ``hang``: rank 1 never joins; rank 0 must stop the job after its 1.5 s timeout.
* ``die``: rank 1 exits in the middle of an epoch; the job must end, not hang.
"""

import json
import os
import sys
import time

import _mpi_cases as cases
import numpy as np

import numcnn
from numcnn.distributed import Communicator, MPIStrategy
from numcnn.layers import BatchNormalization, Dense, Flatten
from numcnn.losses import SparseCategoricalCrossentropy


def fit_scenario(out_dir):
    comm = Communicator(timeout=60)
    rank = comm.rank
    arrays, report = {}, {}

    net, history = cases.train(seed=10 + rank, distributed=comm)
    arrays.update({f"default/{k}": v for k, v in net.params.items()})
    report["history"], report["traffic"] = history, dict(vars(comm.traffic))

    net, _ = cases.train(seed=10 + rank, distributed=comm, batch_size=10)  # the last batch of 1 leaves rank 1 none
    arrays.update({f"last1/{k}": v for k, v in net.params.items()})

    small = Communicator(timeout=60, bucket_bytes=1024)
    net, _ = cases.train(seed=10 + rank, distributed=small)
    arrays.update({f"small/{k}": v for k, v in net.params.items()})
    report["small_traffic"] = dict(vars(small.traffic))

    net, history = cases.train_into_nan(distributed=comm)
    arrays.update({f"nan/{k}": v for k, v in net.params.items()})
    report["nan_stop_reason"], report["nan_history"] = net.stop_reason, history

    bn = numcnn.Sequential([Flatten(input_shape=(8, 8, 1)), Dense(6), BatchNormalization(), Dense(10)], seed=rank)
    bn.compile("adam", SparseCategoricalCrossentropy(from_logits=True))
    x, y, _, _ = cases.data()
    bn.train_on_batch(x[rank * 8:(rank + 1) * 8], y[rank * 8:(rank + 1) * 8])  # rank-specific slots and statistics
    arrays.update({f"bn_before/{k}": v.copy() for k, v in {**bn.params, **bn.state}.items()})
    MPIStrategy(comm).share_training_state(bn, bn.optimizer)
    arrays.update({f"bn/{k}": v for k, v in {**bn.params, **bn.state}.items()})
    arrays.update({f"bn_slots/{k}": v for k, v in bn.optimizer.get_state()[0].items()})
    report["bn_iterations"] = bn.optimizer.iterations

    np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **arrays)
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(report, f)


def hang_scenario():
    comm = Communicator(timeout=1.5)
    if comm.rank == 1:
        time.sleep(120)  # alive but never answering, as a deadlocked or stopped process
    cases.train(distributed=comm)


def die_scenario():
    comm = Communicator(timeout=60)

    def augment(x, rng):
        if comm.rank == 1 and augment.calls == 2:
            os._exit(3)  # noqa: SLF001 - a crash, without any cleanup
        augment.calls += 1
        return x

    augment.calls = 0
    x, y, _, _ = cases.data()
    cases.model(0).fit(x, y, batch_size=8, epochs=3, augment=augment, verbose=0, distributed=comm)


if __name__ == "__main__":
    scenario, out = sys.argv[1], sys.argv[2]
    if scenario == "fit":
        fit_scenario(out)
    elif scenario == "hang":
        hang_scenario()
    elif scenario == "die":
        die_scenario()
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
