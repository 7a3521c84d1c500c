"""The ``numcnn`` command: demo output, help, and argument errors."""

import subprocess
import sys

import numpy as np
import pytest

from numcnn import functional as F
from numcnn.cli import main, simple_convnet


def test_demo_prints_summary_loss_and_a_lower_loss_after_one_step(capsys):
    assert main(["demo", "--seed", "3", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    # seed 002's SimpleConvNet on 28x28x1: conv 5*5*1*30+30 = 780, dense 12*12*30*100+100 = 432,100
    assert "(None, 24, 24, 30)" in out and "780" in out and "432,100" in out and "Total params: 433,890" in out
    before, after = (float(v) for v in out.split("loss ")[-1].split(" -> "))
    assert after < before
    assert abs(float(out.split("softmax cross-entropy: ")[1].split()[0]) - np.log(10)) < 0.2


def test_demo_loss_matches_a_direct_computation(capsys):
    main(["demo", "--seed", "1", "--batch-size", "4"])
    printed = float(capsys.readouterr().out.split("softmax cross-entropy: ")[1].split()[0])
    rng = np.random.default_rng(1)
    x = rng.random((4, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 4)
    expected = F.softmax_cross_entropy(labels, simple_convnet(seed=1)(x))
    assert printed == pytest.approx(expected, abs=1e-4)


def test_demo_rejects_a_bad_batch_size(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--batch-size", "0"])
    assert info.value.code == 2
    assert "--batch-size" in capsys.readouterr().err


def test_console_help_lists_the_demo():
    result = subprocess.run([sys.executable, "-m", "numcnn", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in result.stdout
