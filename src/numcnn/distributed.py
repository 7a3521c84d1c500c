"""``numcnn.distributed``: data-parallel training on MPI, from :mod:`numcnn.training.mpi` and
:mod:`numcnn.training.strategy`."""

from .training.mpi import (  # noqa: F401
    DEFAULT_BUCKET_BYTES,
    DEFAULT_TIMEOUT,
    EXIT_ABORTED,
    Communicator,
    RankFailed,
    Traffic,
    mpi,
    plan_buckets,
)
from .training.strategy import MPIStrategy, OneProcess, get_strategy  # noqa: F401
