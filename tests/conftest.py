"""Shared test setup: Keras backend, hypothesis profiles, a seeded RNG, a trained digits run.

Hypothesis profiles (choose with ``HYPOTHESIS_PROFILE=fuzz pytest ...``):

* ``ci`` (default): few examples, derandomized, no deadline — reproducible and fast;
* ``fuzz``: many random examples, for hunting bugs locally.
"""

import os

# Keras picks its backend when first imported; tests import it lazily, after this.
os.environ["KERAS_BACKEND"] = "torch"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    """A fresh, fixed-seed generator per test (never the global NumPy RNG)."""
    return np.random.default_rng(20240611)


@pytest.fixture(scope="session")
def one_epoch_run(tmp_path_factory):
    """The run directory of ``numcnn train --epochs 1`` on the digits, shared by every test that only reads it."""
    from numcnn.app.cli import main

    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", "--out", str(out), "--progress", "quiet", "--epochs", "1"]) == 0
    return out


def pytest_configure(config):
    """Turn off torch's oneDNN CPU backend for every parity test.

    torch 2.13's oneDNN path sometimes returns wrong kernel gradients for a 1x1,
    stride-2 convolution with few channels (and once aborted the process); the
    plain CPU kernels are right. An oracle must be trustworthy, so all tests use those.
    """
    try:
        import torch
    except ImportError:  # the parity tests skip themselves then
        return
    torch.backends.mkldnn.enabled = False
