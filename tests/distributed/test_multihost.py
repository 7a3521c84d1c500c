"""``numcnn train --distributed`` across hosts: namespaced hosts on one machine (``testbed.py``).

The ranks run on 2 or 3 "hosts" with their own hostnames, addresses and network links,
started by ``mpirun`` through the bed's rsh agent as over ssh. The runs are those of
``test_mpi_training.py`` (the embedded digits, momentum SGD, 1 thread per rank): each
mpirun costs a few seconds. The bed's own behaviour (hostnames, links, cores, MTU,
bandwidth limits, cleanup after SIGKILL) is tested first, numcnn's start-up warnings
about the launcher's core binding and slow links last.
"""

import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import _mpi_cases as cases
import numpy as np
import pytest
import testbed
from test_mpi_training import assert_weights_close

from numcnn.app.cli import main
from numcnn.distributed import EXIT_ABORTED, Communicator
from numcnn.io import load_model
from numcnn.training import load_checkpoint, mpi
from numcnn.training.mpi_checks import SLOW_ROUND_TRIP, link_warning, placement_warnings

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


def cpu_list(text) -> list[int]:
    """The cores of a Linux CPU list such as ``0-2,5``."""
    cores = []
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        cores += range(int(first), int(last or first) + 1)
    return cores


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
def test_each_host_runs_on_cores_of_its_own_and_its_link_takes_the_mtu(mpirun, tmp_path):
    if testbed.unavailable() is not None:
        pytest.skip(testbed.unavailable())
    available = sorted(os.sched_getaffinity(0))
    each = len(available) // 2
    # with 1 core the hosts share it; else host i takes its share, and everything on it (mpirun, prted, ranks) too
    expected = [available, available] if each == 0 else [available[:each], available[each:2 * each]]
    probe = ["sh", "-c", "echo $(hostname) $(grep Cpus_allowed_list /proc/self/status | cut -f2) "
                         "$(ip -o link show eth0 | grep -o 'mtu [0-9]*')"]
    with testbed.HostBed(2, mtu=9000) as pair:
        assert [h.cores for h in pair.hosts] == ([None, None] if each == 0 else [tuple(c) for c in expected])
        launch = pair.mpirun(mpirun, probe)
        assert " --bind-to none --mca mpi_yield_when_idle 1 -n 2 sh " in " ".join(launch)  # the bed's default
        result = pair.run(launch, cwd=tmp_path, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        lines = sorted(line.split() for line in result.stdout.splitlines() if line.startswith(testbed.PREFIX))
        assert [(line[0], cpu_list(line[1]), line[2:]) for line in lines] == [
            ("ncbed1", expected[0], ["mtu", "9000"]), ("ncbed2", expected[1], ["mtu", "9000"])]


def test_the_bed_checks_its_arguments():
    for kwargs, message in (({"mtu": 40}, r"The `mtu` argument must be an int in \[68, 65535\]. Received: mtu=40"),
                            ({"cores": "own"}, r"The `cores` argument must be 'auto' or 'shared'. Received: "
                                               r"cores='own'")):
        with pytest.raises(ValueError, match=message):
            testbed.HostBed(2, **kwargs)
    with pytest.raises(ValueError, match=r"The `binding` argument must be one of \['default', 'none'\]. "
                                         r"Received: binding='core'"):
        testbed.HostBed(2).mpirun("mpirun", ["hostname"], binding="core")


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
    cores = len(bed.hosts[0].cores or os.sched_getaffinity(0))  # one rank per host: each takes all of its host's cores
    assert f"each rank uses {cores} thread{'s' * (cores > 1)}: its share of its host's cores" in result.stdout
    assert not PLACEMENT_WARNING.search(result.stderr), result.stderr  # the bed's mpirun binds no rank to a core
    assert_weights_close(load_model(tmp_path / "two" / "model.safetensors").params, one_process[2], rtol=1e-4)


@slow
def test_three_hosts_train_like_one_process_and_the_run_resumes_on_two(bed, mpirun, tmp_path, one_process):
    result = train_on(bed, mpirun, 3, tmp_path, "--epochs", "1", "--out", "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "training simple on digits on 3 ranks" in result.stdout
    assert not PLACEMENT_WARNING.search(result.stderr), result.stderr
    assert_weights_close(load_model(tmp_path / "run" / "model.safetensors").params, one_process[1], rtol=1e-4)
    first = (tmp_path / "run" / "history.csv").read_text().splitlines()

    result = train_on(bed, mpirun, 2, tmp_path, "--resume", "run", "--epochs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "on 2 ranks" in result.stdout and "Resuming after epoch 1" in result.stdout
    assert_weights_close(load_model(tmp_path / "run" / "model.safetensors").params, one_process[2], rtol=1e-4)
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 3 and history[:2] == first  # the header and epoch 1, as the 3 hosts wrote them


# -- start-up warnings: how the launcher placed the ranks, how fast the link is -------------
SAME_CORE = re.compile(r"^numcnn: warning: ranks 0, 1 are bound to the same single core \(core (\d+)\) of one "
                       r"machine: .*Start mpirun with --bind-to none \(see docs/mpi\.md, 'Latency between hosts'\)"
                       r"\.$", re.M)
ONE_THREAD = re.compile(r"^numcnn: warning: MPI bound ranks 0, 1 to 1 core each, where rank 0's host has (\d+) cores "
                        r"for 1 rank: each trains on 1 thread\. Start mpirun with --bind-to none, or "
                        r"--map-by ppr:N:node:PE=M .*\)\.$", re.M)
SLOW_LINK = re.compile(r"^numcnn: warning: an 8-byte round trip between rank 0 and rank 1 takes ([\d.]+) ms "
                       r"\(median of (\d+);.* See docs/mpi\.md, 'Latency between hosts' \(mpirun --bind-to none\)\.$",
                       re.M)
PLACEMENT_WARNING = re.compile(r"numcnn: warning: (ranks? .* bound to the same single core|MPI bound)")


@slow
def test_open_mpi_s_default_binding_draws_the_binding_warnings_and_the_bed_s_launch_none(shared_bed, mpirun,
                                                                                          tmp_path):
    """Issue 18's launch: Open MPI's default binding puts each host's first rank on core 0, here both ranks as
    the hosts share the cores, with mpi_yield_when_idle 0 as before numcnn set it. With --bind-to none no rank
    is bound to a core. (How slow the link then is depends on what else runs on the cores: see the next test.)"""
    train = [sys.executable, *TRAIN, "--epochs", "1"]
    issue_18 = shared_bed.mpirun(mpirun, [*train, "--out", "before"], binding="default", yield_when_idle=0)
    before = shared_bed.run(issue_18, cwd=tmp_path, env=bed_env(), timeout=240)
    assert before.returncode == 0, before.stdout + before.stderr
    assert "test accuracy" in before.stdout and "Traceback" not in before.stderr
    assert SAME_CORE.search(before.stderr) and int(ONE_THREAD.search(before.stderr).group(1)) == len(
        os.sched_getaffinity(0))
    assert len(PLACEMENT_WARNING.findall(before.stderr)) == 2, before.stderr  # rank 0 alone prints, once per run

    after = shared_bed.run(shared_bed.mpirun(mpirun, [*train, "--out", "after"]), cwd=tmp_path, env=bed_env(),
                           timeout=240)
    assert after.returncode == 0, after.stdout + after.stderr
    assert not PLACEMENT_WARNING.search(after.stderr), after.stderr


@slow
def test_a_slow_link_draws_the_link_warning(shared_bed, mpirun, tmp_path):
    """Host 2 sends at 256 kbit/s, each packet paced (htb without burst): a 3 ms round trip. (Ranks that wait
    for a core show the same warning, e.g. Open MPI's default binding on hosts that share cores: ~8 ms, but
    how long they wait depends on what else runs on the machine, so the bed times a link.)"""
    check = [sys.executable, "-c", "from numcnn.distributed import Communicator; Communicator().check_startup()"]
    fast = shared_bed.run(shared_bed.mpirun(mpirun, check), cwd=tmp_path, env=bed_env(), timeout=120)
    assert fast.returncode == 0 and fast.stdout == "", fast.stdout + fast.stderr
    pace = [["tc", "qdisc", "replace", "dev", "eth0", "root", "handle", "1:", "htb", "default", "1"],
            ["tc", "class", "add", "dev", "eth0", "parent", "1:", "classid", "1:1", "htb", "rate", "256kbit",
             "burst", "0", "cburst", "0"]]
    if shutil.which("tc") is None:
        pytest.skip("pacing host 2's link needs tc (iproute2)")
    try:
        for command in pace:
            done = shared_bed.run(command, host=1, timeout=30)
            assert done.returncode == 0, done.stderr
        slow = shared_bed.run(shared_bed.mpirun(mpirun, check), cwd=tmp_path, env=bed_env(), timeout=120)
    finally:
        shared_bed.run(["tc", "qdisc", "del", "dev", "eth0", "root"], host=1, timeout=30)
    assert slow.returncode == 0, slow.stdout + slow.stderr
    assert slow.stderr.count("numcnn: warning:") == 1, slow.stderr
    milliseconds, rounds = SLOW_LINK.search(slow.stderr).groups()
    assert float(milliseconds) > SLOW_ROUND_TRIP * 1e3 and 3 <= int(rounds) <= 20


def test_placement_warnings_name_ranks_that_share_a_core_and_ranks_bound_to_one_core_of_many():
    machine, other = (5, -6), (7, 8)  # boot ids
    # two namespaced hosts of one 2-core machine, both ranks on core 0 (Open MPI's default binding on the bed)
    assert placement_warnings([(*machine, 1, 0, 1, 2), (*machine, 2, 0, 1, 2)]) == [
        "ranks 0, 1 are bound to the same single core (core 0) of one machine: they take turns on it and each "
        "message waits for the scheduler (ms instead of us). Start mpirun with --bind-to none (see docs/mpi.md, "
        "'Latency between hosts').",
        "MPI bound ranks 0, 1 to 1 core each, where rank 0's host has 2 cores for 1 rank: each trains on 1 thread. "
        "Start mpirun with --bind-to none, or --map-by ppr:N:node:PE=M to give each of N ranks per host M cores "
        "(see docs/mpi.md, 'Latency between hosts')."]
    # core 0 of two machines is two cores; 2 ranks bound to one core each of a 64-core host
    (warning,) = placement_warnings([(*machine, 1, 0, 1, 64), (*machine, 1, 1, 1, 64), (*other, 3, 0, 1, 1)])
    assert warning.startswith("MPI bound ranks 0, 1 to 1 core each, where rank 0's host has 64 cores for 2 ranks:")
    assert placement_warnings([(*other, 3, 5, 1, 8)])[0].startswith("MPI bound rank 0 to 1 core, where its host has "
                                                                     "8 cores for 1 rank: it trains on 1 thread.")
    # right: one rank per core of a 2-core host; unbound ranks; ranks pinned with the whole host (taskset)
    assert placement_warnings([(*machine, 1, 0, 1, 2), (*machine, 1, 1, 1, 2)]) == []
    assert placement_warnings([(*machine, 1, -1, 2, 2), (*machine, 2, -1, 2, 2), (*other, 3, -1, 8, 8)]) == []
    assert placement_warnings([(*machine, 1, 0, 1, 1), (*machine, 2, 1, 1, 1)]) == []
    many = placement_warnings([(*machine, 1, 0, 1, 1)] * 10)
    assert many[0].startswith("ranks 0, 1, 2, 3, 4, 5, 6, 7 and 2 more are bound to the same single core (core 0)")


def test_link_warning_fires_when_the_median_round_trip_is_over_the_threshold():
    assert SLOW_ROUND_TRIP == 1e-3
    assert link_warning({}) is None and link_warning({1: []}) is None
    assert link_warning({1: [20e-6] * 20, 2: [0.9e-3] * 20}) is None
    assert link_warning({1: [1e-3] * 20}) is None  # at the threshold: not over it
    assert link_warning({1: [20e-6] * 11 + [8e-3] * 9}) is None  # the median: a few slow rounds are not a slow link
    assert link_warning({1: [20e-6] * 10, 2: [1.1e-3] * 5, 3: [4e-3, 8e-3, 8e-3]}) == (
        "an 8-byte round trip between rank 0 and rank 3 takes 8.00 ms (median of 3; a network does it in well under "
        "1 ms): every step waits for such messages. See docs/mpi.md, 'Latency between hosts' (mpirun --bind-to none).")
    assert "rank 2 takes 1.10 ms (median of 5;" in link_warning({1: [20e-6] * 10, 2: [1.1e-3] * 5})
    assert "takes 0.30 ms" in link_warning({1: [3e-4]}, threshold=1e-4)


class PingComm:
    """Rank ``rank`` of 2 for check_startup(): the other rank sits at ``other``; as rank 0's peer it echoes each
    message after ``delay`` seconds; as rank 1 it receives ``script`` from rank 0."""

    def __init__(self, rank, other, delay=0.0, script=()):
        self.rank, self.other, self.delay, self.script = rank, other, delay, list(script)
        self.sent, self.allreduces = [], 0

    def Get_rank(self):  # noqa: N802
        return self.rank

    def Get_size(self):  # noqa: N802
        return 2

    def Allreduce(self, send, received):  # noqa: N802
        assert send is FakeMPI.IN_PLACE
        self.allreduces += 1
        received[1 - self.rank] += self.other

    def Send(self, buffer, dest, tag):  # noqa: N802
        assert dest == 1 - self.rank
        self.sent.append(int(buffer[0]))

    def Recv(self, buffer, source, tag):  # noqa: N802
        assert source == 1 - self.rank
        if self.rank == 0:
            time.sleep(self.delay)
            buffer[0] = self.sent[-1]
        else:
            buffer[0] = self.script.pop(0)


def test_check_startup_warns_on_rank_0_once_and_counts_no_traffic(monkeypatch, capsys):
    monkeypatch.setattr(mpi, "mpi", lambda: FakeMPI)
    monkeypatch.setattr(mpi, "_this_place", lambda: np.array([5, -6, 1, 0, 1, 2]))
    comm = Communicator(PingComm(0, [5, -6, 2, 0, 1, 2], delay=2e-3))  # 2 ms per round trip: over 1 ms
    found = comm.check_startup()
    err = capsys.readouterr().err
    assert [line.removeprefix("numcnn: warning: ") for line in err.splitlines()] == found and len(found) == 3
    assert found[:2] == placement_warnings([[5, -6, 1, 0, 1, 2], [5, -6, 2, 0, 1, 2]])
    assert re.fullmatch(r"an 8-byte round trip between rank 0 and rank 1 takes 2\.\d\d ms \(median of 20; .*", found[2])
    assert comm.comm.sent == [1] * 22 + [0]  # 2 warm-up rounds, 20 timed, then "done"
    assert comm.check_startup() is found and comm.comm.allreduces == 1 and len(comm.comm.sent) == 23  # once
    assert capsys.readouterr().err == "" and comm.traffic.allreduce_calls == 0

    monkeypatch.setattr(mpi, "_this_place", lambda: np.array([5, -6, 1, -1, 2, 2]))
    fast = Communicator(PingComm(0, [9, 9, 2, -1, 2, 2]))  # unbound, on two machines: nothing to say
    assert fast.check_startup() == [] and capsys.readouterr().err == ""

    monkeypatch.setattr(mpi, "_this_place", lambda: np.array([5, -6, 2, 0, 1, 2]))
    rank1 = Communicator(PingComm(1, [5, -6, 1, 0, 1, 2], script=[1, 1, 1, 0]))
    assert rank1.check_startup() == [] and rank1.comm.sent == [1, 1, 1]  # answers rank 0's pings, prints nothing
    assert capsys.readouterr().err == ""


def test_mpi_lets_idle_ranks_yield_their_core_unless_the_user_chose():
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip('mpi4py is not installed (pip install "numcnn[mpi]")')
    show = ("import os; from numcnn.training.mpi import mpi; before = os.environ.get('OMPI_MCA_mpi_yield_when_idle'); "
            "mpi(); print(before, os.environ['OMPI_MCA_mpi_yield_when_idle'])")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "PRTE_"))}
    for given, expected in ((None, "None 1"), ("0", "0 0")):
        done = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True, timeout=120,
                              env=env if given is None else {**env, "OMPI_MCA_mpi_yield_when_idle": given})
        assert done.stdout.strip() == expected, done.stderr


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
def test_a_host_that_dies_whole_ends_rank_0_with_a_failure_status(bed, mpirun, tmp_path):
    """Host 2's daemon (prted) and rank killed together: Open MPI 5.0's mpirun says so in one of four ways and
    exits with status 0 (in every run seen; docs/mpi.md warns of it), but rank 0 does not train on: Open MPI
    ends it at once with a failure status of its own (kept by a shell around it, unless mpirun kills the shell
    too, which a busy machine sometimes shows)."""
    train = " ".join([sys.executable, *TRAIN, "--epochs", "100", "--mpi-timeout", "5", "--out", "run"])
    command = ["sh", "-c", f'{train}; echo $? > "status-$(hostname)"']
    with open(tmp_path / "stdout", "w") as out, open(tmp_path / "stderr", "w") as err:
        process = bed.popen(bed.mpirun(mpirun, ["sh", "-c", shlex.join(command)], hosts=2), cwd=tmp_path,
                            env=bed_env(), stdout=out, stderr=err)
    try:
        wait_for(lambda: "Epoch 1/100" in (tmp_path / "stdout").read_text(), 120, "first epoch")
        assert bed.kill_processes(1) >= 2  # prted, the shell, the rank
        # by its --mpi-timeout at the latest, plus the teardown, which took over 10 s once beside CI's other worker
        wait_for(lambda: not ranks_on(bed, 0), 5 + 25, "end of rank 0")
        process.wait(30)
    finally:
        bed.kill_processes(0)
        process.wait()
    status = (tmp_path / "status-ncbed1").read_text() if (tmp_path / "status-ncbed1").exists() else None
    assert status is None or int(status) != 0  # numcnn's rank 0 fails (with Open MPI 5.0: status 14)
    output = (tmp_path / "stdout").read_text() + (tmp_path / "stderr").read_text()
    assert "test accuracy" not in output
    # mpirun sees the lost daemon first, or rank 0 its closed connection
    assert re.search(r"A daemon failed to report back|PRTE has lost communication with a remote daemon"
                     r"|peer process has unexpectedly disconnected|MPI_ERRORS_ARE_FATAL", output), output
    assert not (tmp_path / "run" / "metrics.json").exists()  # written after the last epoch only
    _, meta = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert meta["epoch"] >= 1


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
