"""Fixtures of the tests of numcnn.viz."""

import sys

import matplotlib
import pytest
from matplotlib.figure import Figure


@pytest.fixture
def leaves_matplotlib_alone():
    """After the test: matplotlib's global backend is unchanged and pyplot was not imported by numcnn."""
    backend = matplotlib.rcParams._get("backend")
    pyplot = sys.modules.get("matplotlib.pyplot")
    yield
    assert matplotlib.rcParams._get("backend") is backend
    assert sys.modules.get("matplotlib.pyplot") is pyplot


@pytest.fixture
def drawn(monkeypatch):
    """The figures saved during the test, in order (savefig still runs)."""
    figures = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return figures
