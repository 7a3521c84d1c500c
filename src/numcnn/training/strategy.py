"""Distribution strategies: how a fit shares its work between processes.

:class:`OneProcess` (the default) trains alone and shares nothing. :class:`MPIStrategy`
trains data-parallel on the ranks of an MPI job (``mpirun -n K``): every rank holds the
whole model and the whole data set; every step, all ranks draw the same shuffled global
batch from the same seed, rank ``r`` runs the forward and backward pass on its contiguous
share of it, and the gradients are averaged over the ranks before the optimizer step, so
every rank applies the same update and the weights stay identical everywhere (the approach
of ChainerMN and Horovod)::

    mpirun -n 4 numcnn train --dataset mnist --distributed
    mpirun -n 4 python -m mpi4py my_script.py      # with model.fit(..., distributed=True)

Averaging: the loss is a mean over a rank's own samples, so rank ``r`` weights its gradient
by ``n_r / N`` (its share of the global batch of ``N``) and the ranks sum: the result is the
gradient of the mean over the global batch, also when the shares differ (a short last
batch). So ``K`` processes with a global batch ``N`` compute what one process computes with
batch ``N``, up to the order of float32 additions.

The training loop calls the same methods whatever the strategy; :class:`OneProcess`'s do
nothing, so the loop has no branch on the number of processes.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..utils.validation import _short
from .checkpoint import rng_states, set_rng_states
from .mpi import Communicator
from .state import STAGES, ResumePoint


class OneProcess:
    """Training in this process alone: every method shares nothing.

    Attributes:
        rank: this process's number (0); size: the number of processes (1).
    """

    rank, size = 0, 1

    @property
    def is_root(self) -> bool:
        """Whether this process writes files, prints and runs callbacks (rank 0)."""
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This process's share of ``n`` samples: all of them."""
        return slice(0, n)

    def at(self, where) -> None:
        """Where training is (``"epoch 2, step 7"``, or None), for messages about waiting ranks."""

    def begin(self, model, optimizer, state) -> None:
        """Before the first epoch: make every process start from the same training state."""

    def end(self, model, optimizer, state) -> None:
        """After the last epoch: make every process end with the same training state."""

    def combine(self, model, grads, logs, failed, share, keys):
        """The step's gradients and logs over the global batch, and the first non-finite stage of any
        process (``failed``); ``share`` is this process's fraction of the batch, ``keys`` the logs'."""
        return grads, logs, failed

    def any(self, flag, what="agreeing whether to stop") -> bool:
        """True on every process if ``flag`` is true on any."""
        return bool(flag)

    def sum(self, values: np.ndarray, what: str) -> np.ndarray:
        """``values`` summed over the processes."""
        return values

    def broadcast_json(self, value, what="sharing rank 0's settings"):
        """Rank 0's ``value`` (anything JSON can hold) on every process."""
        return value

    def together(self, what):
        """A block every process runs and whose failure stops them all (see Communicator.together)."""
        return contextlib.nullcontext()


class MPIStrategy(OneProcess):
    """Data-parallel training on the ranks of an MPI job (module docstring).

    Args:
        communicator: a :class:`~numcnn.training.mpi.Communicator` (default: all ranks of ``mpirun``).

    Rank 0 alone writes files, prints and runs callbacks; its decisions to stop are shared.
    """

    def __init__(self, communicator: Communicator | None = None):
        self.communicator = Communicator() if communicator is None else communicator
        self.rank, self.size = self.communicator.rank, self.communicator.size

    def __repr__(self):
        return f"<MPIStrategy rank {self.rank} of {self.size}>"

    def shard(self, n):
        return self.communicator.shard(n)

    def at(self, where):
        self.communicator.context = where

    def begin(self, model, optimizer, state):
        self.communicator.check_startup()  # once: rank 0 warns of ranks that share a core or a slow link
        self.share_training_state(model, optimizer, state)
        self.own_random_streams(model)

    def end(self, model, optimizer, state):
        self.communicator.context = None
        self.share_training_state(model, optimizer, state)  # e.g. restore_best_weights ran on rank 0 alone

    def combine(self, model, grads, logs, failed, share, keys):
        """One bucketed allreduce carries each rank's gradients and logs weighted by ``share`` (its
        samples / the global batch) and a flag per non-finite stage, so every rank takes the same
        decision. A rank without gradients (no sample, or a non-finite stage) adds zeros, and so
        does a weight its batch share did not reach: every rank sends every weight's."""
        params = model.params
        grads = grads or {}
        arrays = [grads[k] if k in grads else np.zeros_like(p) for k, p in params.items()]
        extras = np.zeros(len(keys) + len(STAGES), arrays[0].dtype if arrays else np.float64)
        if logs is not None:
            extras[:len(keys)] = [logs[k] * share for k in keys]
        if failed is not None:
            extras[len(keys) + STAGES.index(failed)] = 1
        *summed, extras = self.communicator.allreduce_sum([*arrays, extras], [share] * len(arrays) + [1],
                                                          what="averaging the gradients")
        flags = extras[len(keys):]
        if flags.any():
            return None, None, STAGES[int(np.flatnonzero(flags)[0])]
        return dict(zip(params, summed)), {k: float(v) for k, v in zip(keys, extras)}, None

    def any(self, flag, what="agreeing whether to stop"):
        return self.communicator.any(flag, what)

    def sum(self, values, what):
        return self.communicator.allreduce_sum([values], what=what)[0]

    def broadcast_json(self, value, what="sharing rank 0's settings"):
        return self.communicator.broadcast_json(value, what)

    def together(self, what):
        return self.communicator.together(what)

    def share_training_state(self, model, optimizer, state=None) -> None:
        """Give every rank rank 0's training state: weights, moving statistics (batch norm), optimizer
        slots and step count, every random generator, and, with a fit's ``state``, its data generator
        and where a restored checkpoint resumes. A collective: every rank calls it."""
        comm = self.communicator
        meta = None
        if comm.rank == 0:
            slots, opt_state = optimizer.get_state()
            meta = {"slots": {k: [list(v.shape), v.dtype.str] for k, v in slots.items()}, "optimizer": opt_state,
                    "rngs": rng_states(model),
                    "data_rng": None if state is None else state.data_rng.bit_generator.state,
                    "resume": None if state is None or state.resume is None else [state.resume.epoch,
                                                                                   state.resume.history]}
        meta = comm.broadcast_json(meta, "sharing rank 0's training state")
        if comm.rank != 0:
            slots = {k: np.empty(shape, dtype) for k, (shape, dtype) in meta["slots"].items()}
        comm.broadcast([*model.params.values(), *model.state.values(), *slots.values()],
                       "sharing rank 0's weights and optimizer state")
        if comm.rank != 0:
            optimizer.set_state(slots, meta["optimizer"])
            set_rng_states(model, meta["rngs"], "rank 0's generators")
            if state is not None:
                state.data_rng.bit_generator.state = meta["data_rng"]
            if state is not None and meta["resume"] is not None:
                state.resume = ResumePoint(*meta["resume"])

    def own_random_streams(self, model) -> None:
        """Give this rank's layers (dropout) streams of their own: rank ``r`` jumps each generator
        ``r`` times 2**127 steps ahead (``bit_generator.jumped``), streams that never overlap.

        Rank 0 keeps its generators, which its checkpoints save; a resumed run derives the other
        ranks' streams from them again.
        """
        if self.rank == 0:
            return
        generators = model.random_generators()
        # augmentation layers draw for the whole global batch and keep their share: the same stream everywhere
        shared = {id(layer.rng) for _, layer in model.flat_layers()
                  if getattr(type(layer), "same_on_every_rank", False)}
        for path, rng in generators.items():
            if id(rng) in shared:
                continue
            if not hasattr(rng.bit_generator, "jumped"):
                raise TypeError(f"Distributed training derives each rank's random stream with "
                                f"bit_generator.jumped(); '{path or model.name}' has a "
                                f"{type(rng.bit_generator).__name__}, which cannot jump: use PCG64 (numpy's "
                                f"default). Received: {type(rng.bit_generator).__name__}")
            rng.bit_generator.state = rng.bit_generator.jumped(self.rank).state


def get_strategy(distributed) -> OneProcess:
    """The strategy for ``fit(distributed=...)``: None or False (one process), True (all ranks of
    ``mpirun``), a :class:`Communicator`, or a strategy as is."""
    if distributed is None or distributed is False:
        return OneProcess()
    if distributed is True:
        return MPIStrategy()
    if isinstance(distributed, Communicator):
        return MPIStrategy(distributed)
    if isinstance(distributed, OneProcess):
        return distributed
    raise TypeError("The `distributed` argument must be None, False, True (all ranks of mpirun), a "
                    f"numcnn.distributed.Communicator or a strategy. Received: distributed={_short(distributed)}")
