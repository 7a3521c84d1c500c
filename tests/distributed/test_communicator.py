"""numcnn.distributed in this process, with stand-in communicators: no MPI needed.

The stand-ins implement the five mpi4py methods the Communicator calls (Get_rank,
Get_size, Allreduce, Bcast, Abort); what other ranks would send is scripted.
"""

import sys
import threading
import time

import _mpi_cases as cases
import numpy as np
import pytest

from numcnn.app.cli import main
from numcnn.distributed import EXIT_ABORTED, Communicator, MPIStrategy, RankFailed, plan_buckets


class FakeComm:
    """Rank ``rank`` of ``size``; an allreduce adds ``others(sent)`` (what the other ranks would add, default 0)."""

    def __init__(self, rank=0, size=1, others=None):
        self.rank, self.size, self.others = rank, size, others
        self.allreduces, self.aborted = [], None

    def Get_rank(self):  # noqa: N802 - mpi4py's names
        return self.rank

    def Get_size(self):  # noqa: N802
        return self.size

    def Allreduce(self, send, received):  # noqa: N802
        self.allreduces.append(send.nbytes)
        received[...] = send if self.others is None else send + self.others(send)

    def Bcast(self, buffer, root=0):  # noqa: N802
        pass

    def Abort(self, code):  # noqa: N802
        self.aborted = code


def test_plan_buckets_groups_consecutive_arrays_of_one_dtype_up_to_the_size():
    arrays = [np.zeros(n, dtype) for n, dtype in [(10, np.float32), (20, np.float32), (5, np.float64),
                                                 (100, np.float32), (3, np.float32)]]
    assert plan_buckets(arrays, 1 << 20) == [[0, 1, 3, 4], [2]]
    assert plan_buckets(arrays, 120) == [[0, 1], [2], [3], [4]]  # 400 bytes alone; 3 floats start anew
    assert plan_buckets(arrays, 1) == [[0], [1], [2], [3], [4]]
    assert plan_buckets([], 100) == []


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_shards_cover_every_item_once_in_order_and_differ_by_at_most_one(size):
    for n in range(0, 13):
        shards = [Communicator(FakeComm(rank, size)).shard(n) for rank in range(size)]
        items = [i for s in shards for i in range(n)[s]]
        assert items == list(range(n))
        lengths = [len(range(n)[s]) for s in shards]
        assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)
    assert [Communicator(FakeComm(r, 3)).shard(10) for r in range(3)] == [slice(0, 4), slice(4, 7), slice(7, 10)]


def test_allreduce_sum_weights_each_array_and_leaves_the_inputs_alone():
    comm = Communicator(FakeComm(others=lambda sent: 2 * sent))  # two other ranks that send the same
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1.0, -1.0], np.float32)
    summed = comm.allreduce_sum([a, b], [0.5, 1])
    np.testing.assert_array_equal(summed[0], 3 * 0.5 * a)
    np.testing.assert_array_equal(summed[1], 3 * b)
    assert summed[0].shape == (2, 3) and summed[0].dtype == np.float32
    np.testing.assert_array_equal(a, np.arange(6).reshape(2, 3))
    assert comm.traffic.allreduce_calls == 1 and comm.traffic.allreduce_bytes == 32


def test_fit_through_a_one_rank_communicator_equals_plain_fit():
    plain, history = cases.train(seed=0)
    fake = FakeComm()
    through, history_through = cases.train(seed=0, distributed=Communicator(fake))
    for name, value in plain.params.items():
        np.testing.assert_array_equal(through.params[name], value, err_msg=name)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history_through[key], history[key], rtol=1e-6, err_msg=key)
    steps = cases.EPOCHS * 4
    assert len(fake.allreduces) == 2 * steps + 2 * cases.EPOCHS  # gradients + stop flag per step; per epoch 2


def test_fit_rejects_a_distributed_argument_of_another_kind():
    x, y, _, _ = cases.data()
    with pytest.raises(TypeError, match="The `distributed` argument must be None, False, True .* Received: distributed='yes'"):
        cases.model(0).fit(x, y, distributed="yes", verbose=0)


def test_communicator_validates_its_arguments():
    with pytest.raises(ValueError, match=r"`timeout` argument must be a number of seconds > 0\. Received: timeout=0"):
        Communicator(FakeComm(), timeout=0)
    with pytest.raises(ValueError, match=r"`bucket_bytes` argument must be an int >= 1\. Received: bucket_bytes=0.5"):
        Communicator(FakeComm(), bucket_bytes=0.5)


def test_together_raises_this_rank_s_error_on_it_and_rank_failed_on_the_others():
    comm = Communicator(FakeComm(rank=0, size=2, others=lambda sent: np.array([0, 1])))  # rank 1 fails
    with pytest.raises(RankFailed, match=r"rank 1 of 2 failed while loading; its own message says why"):
        with comm.together("loading"):
            pass
    assert comm.should_report(comm.shared_error)  # rank 0 says which rank failed

    rank1 = Communicator(FakeComm(rank=1, size=2, others=lambda sent: np.array([1, 0])))  # rank 0 fails too
    with pytest.raises(KeyError) as raised:
        with rank1.together("loading"):
            raise KeyError("own")
    assert raised.value is rank1.shared_error
    assert not rank1.should_report(raised.value)  # rank 0 reports the shared failure

    alone = Communicator(FakeComm(rank=1, size=2, others=lambda sent: np.array([0, 0])))
    with pytest.raises(KeyError) as raised:
        with alone.together("loading"):
            raise KeyError("only here")
    assert alone.should_report(raised.value)  # rank 0 did not fail: this rank's message is the only one

    with alone.together("loading"):  # nobody failed
        pass


def test_own_random_streams_jump_each_rank_s_generators_ahead():
    draws = []
    for rank in (0, 1, 2):
        net = cases.model(0)
        net.build((None, 8, 8, 1))
        MPIStrategy(Communicator(FakeComm(rank, 3))).own_random_streams(net)
        draws.append(net.layers[0].rng.random(3))
    reference = cases.model(0)
    reference.build((None, 8, 8, 1))
    bit_generator = reference.layers[0].rng.bit_generator
    np.testing.assert_array_equal(draws[1], np.random.Generator(bit_generator.jumped(1)).random(3))
    np.testing.assert_array_equal(draws[2], np.random.Generator(bit_generator.jumped(2)).random(3))
    np.testing.assert_array_equal(draws[0], reference.layers[0].rng.random(3))  # rank 0 keeps its own
    assert not np.array_equal(draws[0], draws[1])


def test_a_collective_that_waits_too_long_aborts_the_job_with_a_message(capsys):
    released = threading.Event()

    class Stuck(FakeComm):
        def Allreduce(self, send, received):  # noqa: N802 - never answered, until the abort
            released.wait(10)
            received[...] = send

        def Abort(self, code):  # noqa: N802 - the real one ends the process; this one records the code
            self.aborted = code
            released.set()

    stuck = Stuck(0, 2)
    comm = Communicator(stuck, timeout=0.2)
    comm.context = "epoch 2, step 7"  # fit says where it is
    started = time.monotonic()
    comm.any(True, what="agreeing whether to stop")
    assert 0.2 <= time.monotonic() - started < 5
    assert stuck.aborted == EXIT_ABORTED
    assert ("numcnn: rank 0 of 2 waited 0.2 s for the other ranks while agreeing whether to stop (epoch 2, step 7): "
            "a rank has died or hangs") in capsys.readouterr().err


def test_without_mpi4py_the_error_names_the_extra_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r'Distributed training needs mpi4py .*pip install "numcnn\[mpi\]"'):
        Communicator()
    x, y, _, _ = cases.data()
    with pytest.raises(ImportError, match=r'pip install "numcnn\[mpi\]"'):
        cases.model(0).fit(x, y, verbose=0, distributed=True)
    assert main(["train", "--distributed", "--out", str(tmp_path / "run")]) == 2
    assert 'numcnn train: error: --distributed: Distributed training needs mpi4py' in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
