"""numcnn.utils.memory: the numcnn command keeps freed memory for reuse instead of faulting fresh pages every step."""

import json
import os
import subprocess
import sys

import pytest

# Five 8 MiB arrays alive at once, then freed, as the activations of a training step: three such
# steps after two warm-up ones, and the page faults they cost.
PROBE = """
import ctypes, json, resource, sys
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: 4 KiB pages, whatever the kernel's huge-page policy
import numpy as np
from numcnn.utils.memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tune" else False
if sys.argv[1] == "fit":
    import numcnn
    model = numcnn.Sequential([numcnn.layers.Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse")
    model.fit(np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    model.predict(np.ones((2, 3), np.float32))
def step():
    arrays = [np.ones(2 << 20, np.float32) for _ in range(5)]
for _ in range(2):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _probe(mode, **env):
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    return json.loads(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_kept_memory_is_reused_without_page_faults():
    plain, tuned = _probe("plain"), _probe("tune")
    assert tuned["applied"] is True
    assert plain["faults"] >= 3 * 1024  # at least 4 MiB of fresh 4 KiB pages a step
    assert tuned["faults"] < 100


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_the_environment_variable_turns_it_off():
    off = _probe("tune", NUMCNN_KEEP_FREED_MEMORY="0")
    assert off["applied"] is False and off["faults"] >= 3 * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_glibcs_own_settings_stand():
    own = _probe("tune", MALLOC_MMAP_THRESHOLD_="131072")
    assert own["applied"] is False and own["faults"] >= 3 * 1024  # every array of 128 KiB or more mapped afresh


def test_the_command_asks_for_it(monkeypatch, tmp_path):
    from numcnn.app import cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(1) or True)
    assert cli.main(["train", "--epochs", "1", "--out", str(tmp_path / "run"), "--progress", "quiet"]) == 0
    assert calls == [1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_fit_and_predict_leave_the_process_allocator_alone():
    after_fit = _probe("fit")  # a library call changes nothing for the whole process
    assert after_fit["applied"] is False and after_fit["faults"] >= 3 * 1024
