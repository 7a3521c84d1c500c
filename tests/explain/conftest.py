"""Fixtures of the explain server's tests: a digits run trained by `numcnn train` (2 epochs), shared by a module."""

import pytest

from numcnn.app.cli import main


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", "--out", str(out), "--progress", "quiet", "--epochs", "2"]) == 0
    return out
