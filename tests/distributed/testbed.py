"""A multi-host test bed on one machine: Linux namespaces as hosts, for ``mpirun`` across "hosts".

Each host is a process that holds its own network, hostname (UTS) and mount namespaces:
its own ``eth0`` with address ``10.0.0.N/24``, its own hostname (``ncbed1``, ``ncbed2``,
...), its own ``/etc/hosts``, ``/dev/shm`` and ``TMPDIR`` (where Open MPI keeps its session
files), and the machine's files otherwise. A bridge in one more network namespace, the
*switch*, joins the hosts; ``--bandwidth`` limits each host's link both ways with
``tc ... tbf`` (netem is not needed); ``--mtu`` sets the links' MTU (1500, plain Ethernet's, by
default). ``mpirun`` runs on host 1 and starts its daemons on the others through an rsh agent
(``--prtemca plm_ssh_agent AGENT``) that runs the command in the target host's namespaces with
``nsenter``, as ssh would on a real host. ``--host`` names the hosts by address, so the agent
knows the host even when two share a hostname.

Cores: when the machine has at least as many cores as the bed has hosts, each host gets its
own (everything on it runs under ``taskset``), as real hosts have; otherwise (or with
``--shared-cores``) the hosts share all of them. The bed's ``mpirun`` line does not let Open
MPI bind ranks to cores (``--bind-to none``) and lets idle ranks yield the core
(``mpi_yield_when_idle 1``): Open MPI's default binding puts the first rank of every host on
core 0, so on hosts that share cores two ranks busy-poll one core and each message waits for
the scheduler's next tick, 4 ms (docs/mpi.md, "Latency between hosts"). ``taskset`` is no
fence against that: Open MPI's binding moves a host's rank out of its cores onto core 0.
``--mpi-binding default`` restores Open MPI's own choice, to show that.

    python tests/distributed/testbed.py up --hosts 3 --bandwidth 1gbit --mtu 9000    # until Ctrl-C
    python tests/distributed/testbed.py mpirun --hosts 2 -- numcnn train --distributed
    python tests/distributed/testbed.py run --hosts 2 -- sh -c '$NCBED_MPIRUN hostname'
    python tests/distributed/testbed.py sweep                                # leftovers of old beds

The switch is PID 1 of a PID namespace that all hosts share (so the agent can enter any
host, and PIDs are unique on the bed). The switch dies when the controller does, even by
SIGKILL (``PR_SET_PDEATHSIG``, ``unshare --kill-child``), and the kernel then kills
everything in its PID namespace and removes every namespace and link of the bed::

    controller (pytest, or this script)
      unshare --net --pid --mount-proc --kill-child  python testbed.py _switch   bridge ncbedbr, PID 1
        unshare --net --uts --mount --kill-child  python testbed.py _host        one per host
        whatever runs on the hosts (mpirun, prted, the ranks)

Needs Linux, root, and ``ip``, ``unshare``, ``nsenter``, ``mount`` (util-linux, iproute2);
``tc`` for ``--bandwidth``, ``taskset`` for hosts with cores of their own. Nothing is created
outside the bed's own namespaces except a state directory ``$TMPDIR/ncbed-<pid>-*`` (the
agent, each host's files).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "ncbed"
BRIDGE = f"{PREFIX}br"
NETWORK = "10.0.0"  # host i (from 1) is 10.0.0.i/24
TOOLS = ("ip", "unshare", "nsenter", "mount")
ALLOW_ROOT = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
#: the bed's mpirun options per ``binding``: "none" (the default) lets ranks run on any core of their host;
#: "default" adds nothing (Open MPI binds ranks to cores, host by host, from core 0)
BINDINGS = {"none": ["--bind-to", "none"], "default": []}
#: mpi_yield_when_idle per binding (None: not set, Open MPI's 0 unless numcnn sets it)
YIELD_WHEN_IDLE = {"none": 1, "default": None}
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """A preexec_fn: SIGKILL the child when the thread that started it dies (it is kept across exec)."""
    parent = os.getpid()

    def preexec():
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(1)

    return preexec


def _check(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def unavailable() -> str | None:
    """Why no bed can be built here (a reason to skip), or None."""
    if not sys.platform.startswith("linux"):
        return f"the multi-host test bed needs Linux namespaces. Received: platform {sys.platform}"
    if os.geteuid() != 0:
        return "the multi-host test bed needs root (network namespaces, bridges, mounts)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"the multi-host test bed needs {', '.join(TOOLS)}. Received: no {', '.join(missing)}"
    probe = subprocess.run(["unshare", "--net", "--uts", "--pid", "--mount-proc", "--kill-child", "true"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"cannot create namespaces here (unshare: {probe.stderr.strip()})"
    return None


@dataclass
class Host:
    """One namespaced host: its hostname, address, holder's PID (as the machine sees it, and on the bed), TMPDIR,
    the PIDs that hold its namespaces (the holder and its ``unshare``), and its cores (None: all, shared)."""

    name: str
    address: str
    pid: int
    bed_pid: int
    tmpdir: Path
    holders: tuple
    cores: tuple | None = None

    def pinned(self, args) -> list[str]:
        """``args`` restricted to this host's cores."""
        return ["taskset", "-c", ",".join(map(str, self.cores)), *args] if self.cores else list(args)


class HostBed:
    """2 or more hosts in namespaces, joined by a bridge; a context manager (``with HostBed(3) as bed:``).

    Args:
        hosts: number of hosts (1 to 250).
        bandwidth: a ``tc`` rate (``"1gbit"``, ``"100mbit"``) for each host's link, both ways; None: no limit.
        hostnames: one name per host (default ``ncbed1``, ``ncbed2``, ...); may repeat a name.
        mtu: the links' MTU in bytes (68 to 65535; 1500 as plain Ethernet, 9000 as a cluster's jumbo frames).
        cores: ``"auto"``: each host its own ``cores // hosts`` of this process's cores when there are at least
            as many cores as hosts, else all hosts share them; ``"shared"``: all hosts share them.

    Example::

        with HostBed(2) as bed:
            bed.run(bed.mpirun(mpirun_path, ["hostname"]), timeout=60)
    """

    def __init__(self, hosts=2, *, bandwidth=None, hostnames=None, mtu=1500, cores="auto"):
        if isinstance(hosts, bool) or not isinstance(hosts, int) or not 1 <= hosts <= 250:
            raise ValueError(f"The `hosts` argument must be an int in [1, 250]. Received: hosts={hosts!r}")
        if bandwidth is not None and not re.fullmatch(r"\d+(\.\d+)?[kmg]?(bit|bps)", str(bandwidth)):
            raise ValueError(f"The `bandwidth` argument must be a tc rate such as 1gbit or 100mbit. "
                             f"Received: bandwidth={bandwidth!r}")
        hostnames = [f"{PREFIX}{i + 1}" for i in range(hosts)] if hostnames is None else list(hostnames)
        if len(hostnames) != hosts or not all(re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,62}", n) for n in hostnames):
            raise ValueError(f"The `hostnames` argument must hold {hosts} hostnames (a-z, 0-9, '.', '-'). "
                             f"Received: hostnames={hostnames!r}")
        if isinstance(mtu, bool) or not isinstance(mtu, int) or not 68 <= mtu <= 65535:
            raise ValueError(f"The `mtu` argument must be an int in [68, 65535]. Received: mtu={mtu!r}")
        if cores not in ("auto", "shared"):
            raise ValueError(f"The `cores` argument must be 'auto' or 'shared'. Received: cores={cores!r}")
        self.names, self.bandwidth, self.mtu, self.cores = hostnames, bandwidth, mtu, cores
        self.hosts: list[Host] = []
        self.state = None  # the bed's directory
        self.agent = None  # the rsh agent for mpirun
        self._switch = None

    # -- up and down ------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        reason = unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        if self.bandwidth is not None and shutil.which("tc") is None:
            raise RuntimeError("--bandwidth needs tc (iproute2)")
        sweep()
        self.state = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{os.getpid()}-"))
        addresses = [f"{NETWORK}.{i + 1}" for i in range(len(self.names))]
        for i, (name, address) in enumerate(zip(self.names, addresses)):
            (self.state / f"h{i + 1}-tmp").mkdir()
            others = [f"{a} {n}" for a, n in zip(addresses, self.names) if n != name]
            (self.state / f"h{i + 1}-hosts").write_text("\n".join(["127.0.0.1 localhost", f"{address} {name}",
                                                                   *others]) + "\n")
        spec = {"names": self.names, "addresses": addresses, "bandwidth": self.bandwidth, "mtu": self.mtu,
                "state": str(self.state)}
        self._switch = subprocess.Popen(
            ["unshare", "--net", "--pid", "--mount-proc", "--kill-child=SIGKILL", "--", sys.executable, __file__,
             "_switch", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent(),
            start_new_session=True)  # Ctrl-C reaches the controller only, which tears down
        (self.state / "pids").write_text(str(self._switch.pid))
        try:
            line = self._switch.stdout.readline()
            report = json.loads(line) if line.startswith("{") else {"error": f"the switch exited ({line.strip()})"}
            if "error" in report:
                raise RuntimeError(f"building the test bed failed: {report['error']}")
            machine = _machine_pids(self._switch.pid)
            cores = self._split_cores()
            self.hosts = [Host(n, a, machine[p], p, self.state / f"h{i + 1}-tmp", (machine[p], _parent(machine[p])),
                               cores[i]) for i, (n, a, p) in enumerate(zip(self.names, addresses, report["pids"]))]
            self.agent = self.state / "agent"
            self.agent.write_text(self._agent_script())
            self.agent.chmod(0o755)
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        """Kill everything on the hosts, then the switch and the hosts; remove the state directory."""
        if self._switch is not None:
            for i in range(len(self.hosts)):
                self.kill_processes(i)
            self._switch.stdin.close()  # the switch exits, its hosts die with it
            try:
                self._switch.wait(10)
            except subprocess.TimeoutExpired:
                self._switch.kill()
                self._switch.wait()
            self._switch.stdout.close()
            self._switch = None
            for host in self.hosts:  # the kernel kills the bed's processes after its PID 1: wait for it
                deadline = time.monotonic() + 10
                while _alive(host.pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
        if self.state is not None:
            shutil.rmtree(self.state, ignore_errors=True)
            self.state = None
        self.hosts = []

    def _split_cores(self) -> list:
        """Each host's cores, or None for all (shared)."""
        available = sorted(os.sched_getaffinity(0))
        if self.cores == "shared" or len(available) < len(self.names) or shutil.which("taskset") is None:
            return [None] * len(self.names)
        each = len(available) // len(self.names)
        return [tuple(available[i * each:(i + 1) * each]) for i in range(len(self.names))]

    def _agent_script(self):
        cases = "\n".join(f"  {h.address}|{h.name}) pid={h.bed_pid}; tmp={h.tmpdir}; "
                          f"cores={','.join(map(str, h.cores or ()))} ;;" for h in self.hosts)
        known = " ".join(f"{h.address} ({h.name})" for h in self.hosts)
        return f"""#!/bin/sh
# rsh agent of the test bed in {self.state}: `agent [ssh options] HOST COMMAND...` runs COMMAND on HOST
while [ $# -gt 0 ]; do
  case "$1" in
    -[bcDEeFIiJLlmOopQRSWw]) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
host=$1; shift
case "$host" in
{cases}
  *) echo "{PREFIX} agent: no host $host on this bed; it has {known}" >&2; exit 255 ;;
esac
exec nsenter --target=$pid --net --uts --mount --wd="$PWD" -- ${{cores:+taskset -c $cores}} env TMPDIR="$tmp" \
  /bin/sh -c "$*"
"""

    # -- running things on the hosts --------------------------------------------------
    def command(self, args, host=0, cwd=None) -> list[str]:
        """``args`` as a command that runs on host ``host`` (from 0) and its cores, in ``cwd`` (default the
        current directory)."""
        h = self.hosts[host]
        return ["nsenter", f"--target={h.pid}", "--net", "--uts", "--mount", "--pid", f"--wd={cwd or os.getcwd()}",
                "--", *h.pinned(["env", f"TMPDIR={h.tmpdir}", *map(str, args)])]

    def mpirun(self, mpirun, args, hosts=None, ranks_per_host=1, binding="none", yield_when_idle=None) -> list[str]:
        """``mpirun`` over the first ``hosts`` hosts (default all), ``ranks_per_host`` ranks each, running ``args``;
        ``binding`` picks the options of :data:`BINDINGS` ("none", or "default": Open MPI's own), and
        ``yield_when_idle`` (0 or 1) overrides its ``mpi_yield_when_idle`` (:data:`YIELD_WHEN_IDLE`)."""
        if binding not in BINDINGS:
            raise ValueError(f"The `binding` argument must be one of {sorted(BINDINGS)}. Received: binding={binding!r}")
        if yield_when_idle not in (None, 0, 1):
            raise ValueError(f"The `yield_when_idle` argument must be None, 0 or 1. Received: "
                             f"yield_when_idle={yield_when_idle!r}")
        options = list(BINDINGS[binding])
        yield_when_idle = YIELD_WHEN_IDLE[binding] if yield_when_idle is None else yield_when_idle
        if yield_when_idle is not None:
            options += ["--mca", "mpi_yield_when_idle", str(yield_when_idle)]
        chosen = self.hosts[:hosts or len(self.hosts)]
        listed = ",".join(f"{h.address}:{ranks_per_host}" for h in chosen)
        return [mpirun, "--allow-run-as-root", "--prtemca", "plm_ssh_agent", str(self.agent), "--host", listed,
                *options, "-n", str(len(chosen) * ranks_per_host), *map(str, args)]

    def popen(self, args, host=0, cwd=None, env=None, **kwargs) -> subprocess.Popen:
        """Start ``args`` on a host with environment ``env`` (default this process's), in which Open MPI may
        run as root; it goes on to the ranks on every host. The process dies if the caller does."""
        env = {**(os.environ if env is None else env), **ALLOW_ROOT}
        return subprocess.Popen(self.command(args, host, cwd), env=env, preexec_fn=_die_with_parent(), **kwargs)

    def run(self, args, host=0, cwd=None, env=None, timeout=120) -> subprocess.CompletedProcess:
        """Run ``args`` on a host and capture its output; on a timeout, kill everything on the bed and raise."""
        process = self.popen(args, host, cwd, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for i in range(len(self.hosts)):
                self.kill_processes(i)
            process.kill()
            process.communicate()
            raise
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def processes(self, host) -> list[int]:
        """The PIDs (as the machine sees them) of everything running on a host but its holders."""
        h = self.hosts[host]
        try:
            own = os.readlink(f"/proc/{h.pid}/ns/net")
        except FileNotFoundError:  # the host is down
            return []
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in h.holders:
                with contextlib.suppress(OSError):  # gone meanwhile
                    if os.readlink(f"/proc/{entry}/ns/net") == own:
                        found.append(int(entry))
        return found

    def kill_processes(self, host) -> int:
        """SIGKILL everything running on a host (as if it crashed, but it stays up); returns how many."""
        pids = self.processes(host)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def set_link(self, host, up: bool) -> None:
        """Plug (``up=True``) or pull a host's cable at the switch."""
        _check(["nsenter", f"--target={self._switch.pid}", "--net", "ip", "link", "set", f"{PREFIX}{host + 1}",
                "up" if up else "down"])

    def describe(self) -> str:
        lines = [f"{PREFIX} test bed in {self.state}, bandwidth {self.bandwidth or 'unlimited'}, MTU {self.mtu}:"]
        lines += [f"  host {i + 1}: {h.name} {h.address}, pid {h.pid}, "
                  f"{'cores ' + ','.join(map(str, h.cores)) if h.cores else 'all cores (shared)'}"
                  for i, h in enumerate(self.hosts)]
        lines += [f"  rsh agent: {self.agent}", f"  a shell on host 1: {' '.join(self.command(['sh']))}"]
        return "\n".join(lines)


def _alive(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _parent(pid) -> int:
    return int(re.search(r"^PPid:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


def _machine_pids(pid) -> dict:
    """``{PID on the bed: PID on the machine}`` for the processes in the PID namespace whose PID 1 is ``pid``."""
    bed, found = os.readlink(f"/proc/{pid}/ns/pid_for_children"), {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to see (the machine's init)
            if os.readlink(f"/proc/{entry}/ns/pid") == bed:
                nspid = re.search(r"^NSpid:\s+(.*)$", Path(f"/proc/{entry}/status").read_text(), re.M).group(1).split()
                found[int(nspid[-1])] = int(entry)
    return found


def sweep() -> list[str]:
    """Remove what beds of dead controllers left: their state directories, and any ``ncbed*`` named
    network namespace or link of the machine (the bed makes none, so these are older tools' leftovers).
    Beds of live controllers (another pytest worker) are left alone. Returns what was removed."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}-*-*"):
        owner = path.name.split("-")[1]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        pids = (path / "pids").read_text().split() if (path / "pids").exists() else []
        for pid in map(int, pids):  # kill a leftover only if it is one of this bed's processes
            with contextlib.suppress(OSError):
                if str(path) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    if shutil.which("ip"):
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout.split()
        for name in [n for n in names if n.startswith(PREFIX)]:
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
            removed.append(f"netns {name}")
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
        for name in re.findall(r"^\d+: ([^:@\s]+)", links, re.M):
            if name.startswith(PREFIX):
                subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
                removed.append(f"link {name}")
    return removed


# -- inside the bed ------------------------------------------------------------------------
def _switch_main(spec):
    """The switch: a bridge, and one host per name, each plugged into it by a veth pair."""
    pids = []
    try:
        state = spec["state"]
        for args in (["link", "set", "lo", "up"], ["link", "add", BRIDGE, "mtu", str(spec["mtu"]), "type", "bridge"],
                     ["link", "set", BRIDGE, "up"]):
            _check(["ip", *args])
        for i, name in enumerate(spec["names"]):
            holder = subprocess.Popen(
                ["unshare", "--net", "--uts", "--mount", "--kill-child=SIGKILL", "--propagation", "private", "--",
                 sys.executable, __file__, "_host", name, f"{state}/h{i + 1}-hosts"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent())
            if holder.stdout.readline().strip() != "ready":
                raise RuntimeError(f"host {name} did not start (exit code {holder.wait()})")
            pids.append(_child_of(holder.pid))
        for i, pid in enumerate(pids):
            link, address = f"{PREFIX}{i + 1}", spec["addresses"][i]
            _check(["ip", "link", "add", link, "mtu", str(spec["mtu"]), "type", "veth", "peer", "name", "eth0",
                    "mtu", str(spec["mtu"]), "netns", str(pid)])
            _check(["ip", "link", "set", link, "master", BRIDGE, "up"])
            inside = ["nsenter", f"--target={pid}", "--net"]
            _check([*inside, "ip", "link", "set", "lo", "up"])
            _check([*inside, "ip", "addr", "add", f"{address}/24", "dev", "eth0"])
            _check([*inside, "ip", "link", "set", "eth0", "up"])
            if spec["bandwidth"]:  # tbf on both ends: the host's uploads, and the switch's sends to it
                for tc, device in ([*inside, "tc"], "eth0"), (["tc"], link):
                    _check([*tc, "qdisc", "replace", "dev", device, "root", "tbf", "rate", spec["bandwidth"],
                            "burst", "256kb", "latency", "100ms"])
        print(json.dumps({"pids": pids}), flush=True)
    except Exception as e:  # noqa: BLE001 - reported to the controller, which raises it
        print(json.dumps({"error": str(e)}), flush=True)
        return 1
    signal.signal(signal.SIGCHLD, _reap)  # PID 1 of the bed: orphans of every host end up here
    sys.stdin.read()  # until the controller closes it or dies; everything on the bed dies with this process
    return 0


def _reap(*_):
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _child_of(pid) -> int:
    """The one child of ``pid`` (``unshare --fork``'s, the host's PID 1)."""
    for _ in range(200):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise RuntimeError(f"unshare {pid} has no child")


def _host_main(name, hosts_file):
    """The holder of a host's namespaces: its hostname and files, then sleep until killed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    socket.sethostname(name)
    _check(["mount", "--bind", hosts_file, "/etc/hosts"])
    _check(["mount", "-t", "tmpfs", "-o", "size=1g", f"{PREFIX}-shm", "/dev/shm"])
    print("ready", flush=True)
    os.close(1)
    while True:
        signal.pause()


# -- the command line ----------------------------------------------------------------------
def _mpirun_path():
    here = Path(sys.executable).with_name("mpirun")
    found = str(here) if here.exists() else shutil.which("mpirun")
    if found is None:
        raise SystemExit('no mpirun next to this Python or on PATH (pip install "numcnn[mpi]")')
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("up", "build a bed, print how to use it, keep it until Ctrl-C"),
                       ("run", "run a command on host 1 (with NCBED_MPIRUN, NCBED_AGENT, NCBED_HOSTS set), "
                               "then tear down"),
                       ("mpirun", "run `mpirun <the bed's options> COMMAND` on host 1, then tear down")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--hosts", type=int, default=2, help="number of hosts (default 2)")
        command.add_argument("--bandwidth", help="each host's link speed both ways, a tc rate: 1gbit, 100mbit")
        command.add_argument("--same-hostname", action="store_true", help="hosts 1 and 2 share the hostname ncbed1")
        command.add_argument("--mtu", type=int, default=1500, help="the links' MTU (default 1500, as plain Ethernet; "
                                                                   "9000: a cluster's jumbo frames)")
        command.add_argument("--shared-cores", action="store_true",
                             help="all hosts share the machine's cores (default: each its own, if there are enough)")
        command.add_argument("--mpi-binding", choices=sorted(BINDINGS), default="none",
                             help="none (default): mpirun --bind-to none, idle ranks yield; default: Open MPI's "
                                  "binding, every host's first rank on core 0")
        if name != "up":
            command.add_argument("--ranks-per-host", type=int, default=1, help="ranks on each host (default 1)")
            command.add_argument("args", nargs=argparse.REMAINDER, help="the command, after --")
    commands.add_parser("sweep", help="remove what beds of dead controllers left")
    args = parser.parse_args(argv)
    if getattr(args, "same_hostname", False) and args.hosts < 2:
        parser.error(f"--same-hostname needs 2 hosts or more. Received: --hosts {args.hosts}")
    if args.command == "sweep":
        print("\n".join(sweep()) or "nothing to sweep")
        return 0
    reason = unavailable()
    if reason is not None:
        print(f"testbed: {reason}", file=sys.stderr)
        return 2
    names = [f"{PREFIX}{i + 1}" for i in range(args.hosts)]
    if args.same_hostname:
        names[1] = names[0]
    try:
        built = HostBed(args.hosts, bandwidth=args.bandwidth, hostnames=names, mtu=args.mtu,
                        cores="shared" if args.shared_cores else "auto")
    except ValueError as e:
        parser.error(str(e))
    with built as bed:
        if args.command == "up":
            print(bed.describe())
            line = bed.command(bed.mpirun(_mpirun_path(), ["hostname"], binding=args.mpi_binding))
            print(f"  mpirun on it: {' '.join(line)}")
            print("Ctrl-C tears it down.", flush=True)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
            return 0
        command = args.args[1:] if args.args[:1] == ["--"] else args.args
        if not command:
            parser.error("give the command after --")
        mpirun = bed.mpirun(_mpirun_path(), [], ranks_per_host=args.ranks_per_host, binding=args.mpi_binding)
        if args.command == "mpirun":
            command = mpirun + command
        env = {**os.environ, "NCBED_MPIRUN": " ".join(mpirun), "NCBED_AGENT": str(bed.agent),
               "NCBED_HOSTS": ",".join(f"{h.address}:{args.ranks_per_host}" for h in bed.hosts)}
        process = bed.popen(command, env=env)
        try:
            return process.wait()
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    if sys.argv[1:2] == ["_switch"]:
        sys.exit(_switch_main(json.loads(sys.argv[2])))
    elif sys.argv[1:2] == ["_host"]:
        _host_main(*sys.argv[2:4])
    else:
        sys.exit(main())
