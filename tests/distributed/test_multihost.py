"""``numcnn train --distributed`` across hosts: namespaced hosts on one machine (``testbed.py``).

The ranks run on 2 or 3 "hosts" with their own hostnames, addresses and network links,
started by ``mpirun`` through the bed's rsh agent as over ssh. The runs are those of
``test_mpi_training.py`` (the embedded digits, momentum SGD, 1 thread per rank): each
mpirun costs a few seconds. The bed's own behaviour (hostnames, links, bandwidth limits,
cleanup after SIGKILL) is tested first.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import _mpi_cases as cases
import pytest
import testbed
from test_mpi_training import assert_weights_close

from numcnn.app.cli import main
from numcnn.distributed import EXIT_ABORTED, Communicator
from numcnn.io import load_model
from numcnn.training import load_checkpoint, mpi

slow = pytest.mark.slow
TRAIN = ["-m", "numcnn", "train", "--distributed", "--progress", "lines", "--optimizer", "momentum", "--lr", "0.02"]


def bed_env(threads=1):
    """This process's environment with ``threads`` threads per rank (None: numcnn's choice)."""
    env = {k: v for k, v in os.environ.items() if k not in cases.THREAD_VARIABLES}
    if threads is not None:
        env.update({name: str(threads) for name in cases.THREAD_VARIABLES})
    return env


def train_args(bed, mpirun, hosts, *flags):
    return bed.mpirun(mpirun, [sys.executable, *TRAIN, *flags], hosts=hosts)


def train_on(bed, mpirun, hosts, cwd, *flags, threads=1):
    return bed.run(train_args(bed, mpirun, hosts, *flags), cwd=cwd, env=bed_env(threads), timeout=240)


def start_training(bed, mpirun, tmp_path, *flags):
    """A long run on hosts 1 and 2 in the background, its output in files; returns (process, read_output)."""
    with open(tmp_path / "stdout", "w") as out, open(tmp_path / "stderr", "w") as err:
        process = bed.popen(train_args(bed, mpirun, 2, "--epochs", "100", *flags), cwd=tmp_path, env=bed_env(),
                            stdout=out, stderr=err)
    return process, lambda: ((tmp_path / "stdout").read_text(), (tmp_path / "stderr").read_text())


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {seconds} s")
        time.sleep(0.05)


def ranks_on(bed, host):
    """The PIDs of numcnn's ranks on a host (not mpirun, whose command line names numcnn too)."""
    found = []
    for pid in bed.processes(host):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if argv[:3] == [sys.executable.encode(), b"-m", b"numcnn"]:
                found.append(pid)
        except OSError:  # gone meanwhile
            pass
    return found


# -- the bed ------------------------------------------------------------------------------
@slow
def test_the_hosts_have_their_own_hostnames_and_addresses_and_reach_each_other(bed, mpirun, tmp_path):
    result = bed.run(bed.mpirun(mpirun, ["sh", "-c", "echo $(hostname) $(hostname -i) "
                                                  "$(ip -o -4 addr show dev eth0 | grep -o 'inet [^ ]*')"]),
                     cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = sorted(line.split() for line in result.stdout.splitlines() if line.startswith(testbed.PREFIX))
    assert [line[:2] for line in lines] == [["ncbed1", "10.0.0.1"], ["ncbed2", "10.0.0.2"], ["ncbed3", "10.0.0.3"]]
    assert lines[2][2:] == ["inet", "10.0.0.3/24"]
    # each host has its own /dev/shm, as Open MPI's shared memory expects of another machine
    probe = f"/dev/shm/ncbed-probe-{os.getpid()}"
    assert bed.run(["sh", "-c", f"touch {probe} && ls {probe}"], host=2, timeout=30).stdout.strip() == probe
    assert not Path(probe).exists() and bed.run(["ls", probe], host=1, timeout=30).returncode != 0


@slow
def test_a_pulled_cable_cuts_one_host_off_until_plugged_back(bed):
    ping = [sys.executable, "-c", "import socket; socket.create_connection(('10.0.0.3', 9), timeout=1)"]
    refused = bed.run(ping, host=0, timeout=30)
    assert "ConnectionRefusedError" in refused.stderr  # host 3 answers: nothing listens on port 9
    bed.set_link(2, False)
    try:
        cut = bed.run(ping, host=0, timeout=30)
        assert "TimeoutError" in cut.stderr or "timed out" in cut.stderr, cut.stderr
    finally:
        bed.set_link(2, True)
    assert "ConnectionRefusedError" in bed.run(ping, host=0, timeout=30).stderr


@slow
def test_a_bandwidth_limit_slows_each_link_to_its_rate(tmp_path):
    """2 MB at 20 Mbit/s take at least 0.8 s (a lower bound: a busy machine only makes it slower)."""
    if testbed.unavailable() is not None or shutil.which("tc") is None:
        pytest.skip(testbed.unavailable() or "the bandwidth limit needs tc (iproute2)")
    receive = ("import socket, time\ns = socket.create_server(('', 5000)); c, _ = s.accept(); n = len(c.recv(65536))\n"
               "t = time.perf_counter()\nwhile (b := c.recv(65536)): n += len(b)\nprint(n, time.perf_counter() - t)")
    send = ("import socket, time\nfor _ in range(200):\n"
            "    try: c = socket.create_connection(('10.0.0.2', 5000)); break\n"
            "    except OSError: time.sleep(0.05)\nc.sendall(bytes(2_000_000)); c.close()")
    with testbed.HostBed(2, bandwidth="20mbit") as limited:
        for host in (0, 1):
            qdiscs = limited.run(["tc", "qdisc", "show", "dev", "eth0"], host=host, timeout=30).stdout
            assert "tbf" in qdiscs and "rate 20Mbit" in qdiscs, qdiscs
        receiver = limited.popen([sys.executable, "-c", receive], host=1, stdout=subprocess.PIPE, text=True)
        sender = limited.run([sys.executable, "-c", send], host=0, timeout=60)
        assert sender.returncode == 0, sender.stderr
        received, seconds = receiver.communicate(timeout=60)[0].split()
    assert received == "2000000"
    assert float(seconds) > 0.8 * (2_000_000 - 256 * 1024) * 8 / 20e6  # what the 256 KiB burst leaves to the rate


@slow
def test_the_kernel_removes_the_whole_bed_when_its_controller_is_killed(tmp_path):
    if testbed.unavailable() is not None:
        pytest.skip(testbed.unavailable())
    controller = subprocess.Popen([sys.executable, testbed.__file__, "up", "--hosts", "2"], stdout=subprocess.PIPE,
                                  text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            lines.append(controller.stdout.readline())
            assert lines[-1], "".join(lines)
        state = re.search(r"test bed in (\S+),", lines[0]).group(1)
        assert len(re.findall(r"host \d: ncbed\d 10\.0\.0\.\d, pid \d+", "".join(lines))) == 2
        assert len(processes_naming(state)) == 2 + 2 * 2  # the switch and its unshare, each host and its unshare
    finally:
        controller.send_signal(signal.SIGKILL)
        controller.wait()
        controller.stdout.close()
    wait_for(lambda: not processes_naming(state), 10, "end of the bed's processes")
    swept = testbed.sweep()  # the next bed removes the dead one's directory (or another pytest worker's did)
    assert state in swept or not Path(state).exists()
    assert not Path(state).exists()


def processes_naming(text):
    """The live processes whose command line holds ``text``."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            pass
    return found


# -- training across hosts ----------------------------------------------------------------
@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The weights of one process after 1 and after 2 epochs (resumed: bit-identical to 2 in a row)."""
    run = tmp_path_factory.mktemp("single") / "run"
    flags = ["--progress", "quiet", "--optimizer", "momentum", "--lr", "0.02"]
    weights = {}
    assert main(["train", "--out", str(run), "--epochs", "1", *flags]) == 0
    weights[1] = load_model(run / "model.safetensors").params
    assert main(["train", "--resume", str(run), "--epochs", "2", "--progress", "quiet"]) == 0
    weights[2] = load_model(run / "model.safetensors").params
    return weights


@slow
def test_two_hosts_train_like_one_process_each_rank_with_its_host_s_cores(bed, mpirun, tmp_path, one_process):
    result = train_on(bed, mpirun, 2, tmp_path, "--epochs", "2", "--out", "two", threads=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "training simple on digits on 2 ranks" in result.stdout
    cores = len(os.sched_getaffinity(0))  # one rank per host: each takes all of its host's cores
    assert f"each rank uses {cores} thread{'s' * (cores > 1)}: its share of its host's cores" in result.stdout
    assert_weights_close(load_model(tmp_path / "two" / "model.safetensors").params, one_process[2], rtol=1e-4)


@slow
def test_three_hosts_train_like_one_process_and_the_run_resumes_on_two(bed, mpirun, tmp_path, one_process):
    result = train_on(bed, mpirun, 3, tmp_path, "--epochs", "1", "--out", "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "training simple on digits on 3 ranks" in result.stdout
    assert_weights_close(load_model(tmp_path / "run" / "model.safetensors").params, one_process[1], rtol=1e-4)
    first = (tmp_path / "run" / "history.csv").read_text().splitlines()

    result = train_on(bed, mpirun, 2, tmp_path, "--resume", "run", "--epochs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "on 2 ranks" in result.stdout and "Resuming after epoch 1" in result.stdout
    assert_weights_close(load_model(tmp_path / "run" / "model.safetensors").params, one_process[2], rtol=1e-4)
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 3 and history[:2] == first  # the header and epoch 1, as the 3 hosts wrote them


# -- failures -----------------------------------------------------------------------------
@slow
def test_a_rank_killed_on_one_host_stops_every_rank_with_a_message_within_the_timeout(bed, mpirun, tmp_path):
    timeout = 5
    process, output = start_training(bed, mpirun, tmp_path, "--mpi-timeout", str(timeout))
    try:
        wait_for(lambda: "Epoch 1/100" in output()[0], 120, "first epoch")
        (rank,) = ranks_on(bed, 1)
        os.kill(rank, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: not ranks_on(bed, 0), timeout + 5, "end of rank 0")
        stopped = time.monotonic() - killed
        process.wait(30)
    finally:
        bed.kill_processes(0), bed.kill_processes(1)
        process.wait()
    stdout, stderr = output()
    assert process.returncode != 0
    assert stopped < timeout
    # Open MPI sees the closed connection, or prted the death, before the watchdog's timeout; it names the host
    # and rank, except in its "Socket closed" message, which names neither (seen in about 1 run in 10)
    assert re.search(r"peer process has unexpectedly disconnected.*Peer host:\s+ncbed2"
                     r"|rank 1 with PID \d+ on node ncbed2 exited on\s+signal 9|peer: ncbed2 .*writev failed"
                     r"|An error occurred in Socket closed", stderr, re.S), stderr
    assert "Traceback" not in stdout + stderr and "Epoch 100/100" not in stdout


@slow
def test_a_pulled_cable_stops_the_ranks_naming_the_exchange_and_keeps_the_last_checkpoint(bed, mpirun, tmp_path):
    timeout = 4
    process, output = start_training(bed, mpirun, tmp_path, "--mpi-timeout", str(timeout), "--out", "run")
    message = re.compile(rf"numcnn: rank 0 of 2 waited {timeout} s for the other ranks while (.+?) "
                         r"\((end of )?epoch (\d+)(, step \d+)?\): a rank has died or hangs")
    try:
        wait_for(lambda: "Epoch 2/100" in output()[0], 120, "second epoch")
        bed.set_link(1, False)
        pulled = time.monotonic()
        wait_for(lambda: message.search(output()[1]), timeout + 20, "watchdog message")
        # both ranks stop though mpirun cannot reach host 2 (it can end the job once the cable is back)
        wait_for(lambda: not ranks_on(bed, 0) and not ranks_on(bed, 1), 20, "end of the ranks")
        assert time.monotonic() - pulled < timeout + 20
        bed.set_link(1, True)
        process.wait(60)
    finally:
        bed.set_link(1, True)
        bed.kill_processes(0), bed.kill_processes(1)
        process.wait()
    stdout, stderr = output()
    assert process.returncode == EXIT_ABORTED, stderr
    exchange, end_of, epoch, step = message.search(stderr).groups()
    assert exchange in ("averaging the gradients", "agreeing whether to stop", "validating"), exchange
    completed = len(re.findall(r"^Epoch \d+/100", stdout, re.M))
    assert completed >= 2 and completed in ((int(epoch) - 1, int(epoch)) if end_of else (int(epoch) - 1,))
    _, meta = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert meta["epoch"] == completed and len(meta["history"]["loss"]) == completed
    # the checkpoint continues on one process
    resumed = ["train", "--resume", str(tmp_path / "run"), "--epochs", str(completed + 1), "--progress", "quiet"]
    assert main(resumed) == 0
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == completed + 2


# -- hosts that share a hostname ----------------------------------------------------------
@slow
def test_hosts_that_share_a_hostname_stop_with_a_clear_error_not_a_traceback(twin_bed, mpirun, tmp_path):
    started = time.monotonic()
    result = twin_bed.run(train_args(twin_bed, mpirun, 2, "--epochs", "1", "--mpi-timeout", "10"), cwd=tmp_path,
                          env=bed_env(), timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output, output
    # Open MPI takes the two hosts for one: the count of ranks per host fails on one rank (MPI_ERR_TRUNCATE) or hangs
    assert ("numcnn train: error: MPI could not group the ranks by host" in output
            or "while counting the ranks on each host (hosts need distinct hostnames)" in output), output
    assert "give every host its own hostname" in output or "hosts need distinct hostnames" in output
    assert time.monotonic() - started < 60
    assert not (tmp_path / "runs").exists()  # no training started


class FakeMPI:
    """What share_cores() uses of mpi4py's MPI module."""

    COMM_TYPE_SHARED, IN_PLACE = 1, object()

    class Exception(Exception):  # noqa: A001, N818 - mpi4py's name
        def Get_error_string(self):  # noqa: N802
            return "MPI_ERR_TRUNCATE: message truncated"

    @staticmethod
    def Get_processor_name():  # noqa: N802
        return "twin"


class SplitComm:
    """Rank 1 of 2, whose Split_type counts ``local_size`` ranks on its host (None: raises) and whose
    Allreduce adds rank 0's flag ``rank0_mixed_up`` (None: raises)."""

    def __init__(self, local_size, rank0_mixed_up=0):
        self.local_size, self.rank0_mixed_up = local_size, rank0_mixed_up

    def Get_rank(self):  # noqa: N802
        return 1

    def Get_size(self):  # noqa: N802
        return 2

    def Split_type(self, kind):  # noqa: N802
        assert kind == FakeMPI.COMM_TYPE_SHARED
        if self.local_size is None:
            raise FakeMPI.Exception()
        return SimpleNamespace(Get_size=lambda: self.local_size, Free=lambda: None)

    def Allreduce(self, send, received):  # noqa: N802
        assert send is FakeMPI.IN_PLACE
        if self.rank0_mixed_up is None:
            raise FakeMPI.Exception()
        received[0] += self.rank0_mixed_up


def test_share_cores_stops_every_rank_with_a_clear_error_when_mpi_mixes_up_hosts(monkeypatch):
    monkeypatch.setattr(mpi, "mpi", lambda: FakeMPI)
    monkeypatch.setenv("NUMCNN_NUM_THREADS", "1")  # leaves this process's threads alone
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "1")  # mpirun started one rank on this host
    for failing in (SplitComm(None), SplitComm(1, rank0_mixed_up=None)):
        with pytest.raises(ValueError, match=r"^MPI could not group the ranks by host \(MPI_ERR_TRUNCATE: message "
                                             r"truncated\)\. Open MPI tells hosts apart by hostname.*Received: "
                                             r"hostname 'twin' on rank 1$"):
            Communicator(failing).share_cores()
    for sees, ranks in ((SplitComm(2), [1]), (SplitComm(1, rank0_mixed_up=1), [0]), (SplitComm(3, 1), [0, 1])):
        comm = Communicator(sees)
        with pytest.raises(ValueError, match=rf"^MPI takes ranks of different hosts for ranks of one host \(ranks "
                                             rf"{re.escape(str(ranks))} see more ranks on their host than mpirun "
                                             r"started there\)\. .*give every host its own hostname"):
            comm.share_cores()
        assert comm.shared_error is not None and not comm.should_report(comm.shared_error)  # rank 0 reports it
    assert Communicator(SplitComm(1)).share_cores() is None  # agreed: the thread variable decides
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2")
    assert Communicator(SplitComm(2)).share_cores() is None
    monkeypatch.delenv("OMPI_COMM_WORLD_LOCAL_SIZE")  # another MPI's launcher: MPI's count is all there is
    assert Communicator(SplitComm(2)).share_cores() is None
