"""`numcnn train --augment LIST`: parsing, what each item does, the integer of older runs, and runs that
repeat and resume exactly."""

import numpy as np
import pytest

from numcnn.app.augment import Augmentation, parse_augment
from numcnn.app.cli import main
from numcnn.app.settings import RunError
from numcnn.data.batching import random_shift
from numcnn.io import load_arrays
from numcnn.layers import RandomFlip, RandomRotation


def test_lists_and_integers_parse():
    assert parse_augment("flip,rotate:10,zoom:0.1") == [("flip", ""), ("rotate", "10"), ("zoom", "0.1")]
    assert parse_augment(2) == parse_augment("2") == [("shift", "2")]
    assert parse_augment(0) == parse_augment("none") == parse_augment("") == []
    assert parse_augment("flip:both, contrast:0.2 ,shift:1") == [("flip", "both"), ("contrast", "0.2"), ("shift", "1")]


@pytest.mark.parametrize("spec, message", [
    ("blur", "'blur' is not an augmentation"), ("rotate", "rotate takes degrees"), ("rotate:x", "rotate takes"),
    ("rotate:0", "rotate takes"), ("zoom:1.5", "zoom takes a fraction"), ("flip:diagonal", "flip takes"),
    ("shift:9", "shift takes pixels"), ("flip,flip", "flip is given twice"), (7, "0 to 4 pixels"), (1.5, "a list"),
])
def test_bad_lists_name_the_item(spec, message):
    with pytest.raises(RunError, match=message) as info:
        parse_augment(spec)
    assert "Received" in str(info.value)


def test_each_item_is_its_layer_drawn_from_the_data_generator():
    x = np.random.default_rng(0).uniform(0, 1, (6, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(Augmentation("shift:2")(x, np.random.default_rng(5)),
                                  random_shift(x, 2, np.random.default_rng(5)))  # the integer's old meaning
    flipped = Augmentation("flip:vertical")(x, np.random.default_rng(5))
    expected = RandomFlip("vertical", seed=np.random.default_rng(5))(x, training=True)
    np.testing.assert_array_equal(flipped, expected)
    assert not np.array_equal(flipped, x)
    both = Augmentation("rotate:90,flip")
    rng = np.random.default_rng(1)
    out = both(x, rng)
    rng = np.random.default_rng(1)
    step = RandomRotation(0.25, seed=rng)(x, training=True)
    np.testing.assert_array_equal(out, RandomFlip("horizontal", seed=rng)(step, training=True))


def _weights(run):
    return load_arrays(run / "model.safetensors")[0]


def test_a_list_repeats_with_its_seed_and_resumes_exactly(tmp_path):
    flags = ["--augment", "flip,rotate:15,zoom:0.1,brightness:0.2", "--progress", "quiet", "--seed", "3"]
    assert main(["train", "--epochs", "3", "--out", str(tmp_path / "a"), *flags]) == 0
    assert main(["train", "--epochs", "3", "--out", str(tmp_path / "b"), *flags]) == 0
    assert main(["train", "--epochs", "2", "--out", str(tmp_path / "c"), *flags]) == 0
    assert main(["train", "--resume", str(tmp_path / "c"), "--epochs", "3", "--progress", "quiet"]) == 0
    plain = tmp_path / "plain"
    assert main(["train", "--epochs", "3", "--out", str(plain), "--progress", "quiet", "--seed", "3",
                 "--augment", "0"]) == 0
    a = _weights(tmp_path / "a")
    for other in ("b", "c"):
        for key, value in _weights(tmp_path / other).items():
            np.testing.assert_array_equal(value, a[key])
    assert any(not np.array_equal(v, a[k]) for k, v in _weights(plain).items())  # the list did something


def test_a_run_written_with_the_integer_resumes(tmp_path):
    assert main(["train", "--epochs", "1", "--augment", "2", "--out", str(tmp_path / "old"), "--progress",
                 "quiet"]) == 0
    config = (tmp_path / "old" / "config.json").read_text()
    assert '"augment": 2' in config
    assert main(["train", "--resume", str(tmp_path / "old"), "--epochs", "2", "--progress", "quiet"]) == 0
    assert main(["train", "--epochs", "2", "--augment", "shift:2", "--out", str(tmp_path / "new"), "--progress",
                 "quiet"]) == 0
    old, new = _weights(tmp_path / "old"), _weights(tmp_path / "new")
    for key, value in new.items():
        np.testing.assert_array_equal(old[key], value)  # the integer and shift:N are one augmentation


def test_bad_augment_flag_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--augment", "rotate:500"])
    assert info.value.code == 2 and "rotate takes degrees in (0, 180]. Received: 'rotate:500'" in capsys.readouterr().err
