"""Acceptance: test images saved as files score through `numcnn predict` as the arrays score through
`numcnn evaluate` (within 1 point): as 8-bit PNGs in the data's own polarity and size, and as
enlarged, inverted (dark ink on light paper) JPEGs. Digits with the default run; MNIST (slow) with a
1-epoch run of the simple model."""

import io
import json
import re

import numpy as np
import pytest
from _mnist_files import mnist_dir
from PIL import Image

from numcnn.app.cli import main
from numcnn.data import load_dataset


def save_test_images(x, directory, kind, enlarge):
    """Each image of ``x`` ((N, H, W, 1) in [0, 1], light ink on black) as a file; their paths."""
    directory.mkdir()
    paths = []
    for i, image in enumerate(x[..., 0]):
        pixels = (image * 255 + 0.5).astype(np.uint8)
        path = directory / f"{i:05d}.{kind}"
        if kind == "png":
            Image.fromarray(pixels).save(path)
        else:  # dark ink on light paper, enlarged as a scanner or a screenshot would
            h, w = pixels.shape
            Image.fromarray(255 - pixels).resize((w * enlarge, h * enlarge), Image.Resampling.BICUBIC).save(
                path, quality=90)
        paths.append(str(path))
    return paths


def predicted_classes(run, paths, capsys):
    capsys.readouterr()
    assert main(["predict", str(run), *paths]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(paths)
    return np.array([int(re.match(r".*: (\d+)  \(top 3", line).group(1)) for line in lines])


def evaluated_accuracy(run, capsys, *extra):
    capsys.readouterr()
    assert main(["evaluate", str(run), *extra]) == 0
    return float(re.search(r"accuracy (\d\.\d+)", capsys.readouterr().out).group(1))


def check_files_score_as_arrays(run, dataset, tmp_path, capsys, enlarge, *extra):
    arrays = evaluated_accuracy(run, capsys, *extra)
    for kind in ("png", "jpg"):
        paths = save_test_images(dataset.x_test, tmp_path / kind, kind, enlarge)
        files = float(np.mean(predicted_classes(run, paths, capsys) == dataset.y_test))
        assert abs(files - arrays) <= 0.01, (kind, files, arrays)


def test_digits_test_images_as_files_score_as_the_arrays(tmp_path, capsys):
    run = tmp_path / "digits"
    assert main(["train", "--out", str(run), "--progress", "quiet"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["preprocessing"]["fit"] == "ink" and config["preprocessing"]["levels"] == 17
    check_files_score_as_arrays(run, load_dataset("digits"), tmp_path, capsys, 8)


@pytest.mark.slow
def test_mnist_test_images_as_files_score_as_the_arrays(tmp_path, capsys):
    data_dir = str(mnist_dir())
    run = tmp_path / "mnist"
    assert main(["train", "--dataset", "mnist", "--model", "simple", "--epochs", "1", "--data-dir", data_dir,
                 "--out", str(run), "--progress", "quiet"]) == 0
    dataset = load_dataset("mnist", data_dir, splits=("test",))
    check_files_score_as_arrays(run, dataset, tmp_path, capsys, 4)
