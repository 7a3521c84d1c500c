"""The ``numcnn`` command: train, evaluate, predict, summary and demo, end to end on the embedded digits."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from numcnn import functional as F
from numcnn.app import runs
from numcnn.app.settings import RunSettings
from numcnn.app.cli import build_parser, main
from numcnn.models.zoo import simple_convnet
from numcnn.data import load_digits
from numcnn.data.images import load_image
from numcnn.data.preprocessing import DATASET_PREPROCESSING
from numcnn.io import load_arrays, load_model
from numcnn.training.live_log import read_live_log


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


# -- numcnn train / evaluate / predict / summary on the embedded digits ------------------------------
FILES = ("model.safetensors", "config.json", "history.csv", "metrics.json", "curves.png", "checkpoint.safetensors",
         "live.jsonl")


def _train(out, *flags):
    return main(["train", "--out", str(out), "--progress", "quiet", *flags])


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert _train(out, "--epochs", "3") == 0
    return out


def test_train_writes_every_file_of_the_run(digits_run):
    assert sorted(os.listdir(digits_run)) == sorted(FILES)  # no temporary files left behind
    metrics = json.loads((digits_run / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["dataset"] == "digits" and metrics["model"] == "simple"
    assert 0.5 < metrics["test_accuracy"] <= 1 and metrics["test_loss"] > 0 and metrics["seconds"] > 0
    config = json.loads((digits_run / "config.json").read_text())
    assert config["training"]["epochs"] == 3 and config["training"]["optimizer"] == "adam"
    assert config["dataset"]["input_shape"] == [8, 8, 1] and config["model"]["class_name"] == "Sequential"


def test_history_csv_and_curves_png_hold_the_epochs(digits_run):
    history = runs.read_history_csv(digits_run / "history.csv")
    assert history["epoch"] == [1.0, 2.0, 3.0]
    assert history["loss"][2] < history["loss"][0]  # it learned
    metrics = json.loads((digits_run / "metrics.json").read_text())
    assert history["val_accuracy"][-1] == pytest.approx(metrics["final_val_accuracy"])
    with Image.open(digits_run / "curves.png") as png:
        assert png.format == "PNG" and png.size == (900, 360)


def test_saved_model_reproduces_the_reported_test_metrics(digits_run):
    model = load_model(digits_run / "model.safetensors")
    data = load_digits()
    logits = model.predict(data.x_test)
    metrics = json.loads((digits_run / "metrics.json").read_text())
    assert np.mean(logits.argmax(1) == data.y_test) == pytest.approx(metrics["test_accuracy"])
    assert F.softmax_cross_entropy(data.y_test, logits) == pytest.approx(metrics["test_loss"], rel=1e-5)


def test_evaluate_prints_loss_accuracy_and_a_confusion_matrix(digits_run, capsys):
    assert main(["evaluate", str(digits_run)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((digits_run / "metrics.json").read_text())
    assert f"accuracy {metrics['test_accuracy']:.4f}" in out and f"loss {metrics['test_loss']:.4f}" in out
    rows = [line.split() for line in out.splitlines()[3:13]]
    matrix = np.array([[int(v) for v in row[1:]] for row in rows])
    data = load_digits()
    assert matrix.shape == (10, 10)
    assert np.array_equal(matrix.sum(axis=1), np.bincount(data.y_test, minlength=10))
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["test_accuracy"])


def test_evaluate_prints_scikit_learns_report_and_records_it(digits_run, capsys):
    sk = pytest.importorskip("sklearn.metrics")
    before = json.loads((digits_run / "metrics.json").read_text())
    assert main(["evaluate", str(digits_run)]) == 0
    out = capsys.readouterr().out
    data = load_digits()
    model = load_model(digits_run / "model.safetensors")
    predicted = model.predict(data.x_test).argmax(axis=1)
    names = [str(k) for k in range(10)]
    assert out.endswith(sk.classification_report(data.y_test, predicted, target_names=names, zero_division=0))
    after = json.loads((digits_run / "metrics.json").read_text())
    assert {k: v for k, v in after.items() if k != "evaluation"} == {
        k: v for k, v in before.items() if k != "evaluation"}  # the training metrics are kept
    recorded = after["evaluation"]["digits"]
    assert recorded["accuracy"] == pytest.approx(np.mean(predicted == data.y_test))
    assert recorded["report"]["7"]["support"] == int(np.sum(data.y_test == 7))
    assert np.array_equal(recorded["confusion_matrix"], sk.confusion_matrix(data.y_test, predicted))


def test_predict_prints_the_class_and_the_top3_of_each_image(digits_run, tmp_path, capsys):
    data = load_digits()
    paths = []
    for i in range(4):  # dark ink on white paper, 64x64: what a user would draw
        ink = (255 - data.x_test[i, ..., 0] * 255).astype(np.uint8)
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(ink).resize((64, 64), Image.Resampling.NEAREST).save(path)
        paths.append(str(path))
    assert main(["predict", str(digits_run), *paths]) == 0
    lines = capsys.readouterr().out.splitlines()
    model = load_model(digits_run / "model.safetensors")
    for path, line in zip(paths, lines):
        probs = F.softmax(model(DATASET_PREPROCESSING["digits"].image_to_sample(load_image(path))[None]))[0]
        best = int(np.argmax(probs))
        assert line.startswith(f"{path}: {best}  (top 3: {best} {probs[best]:.3f}, ")
        assert len(line.split("top 3: ")[1].split(", ")) == 3


def test_predict_save_input_writes_what_the_model_saw(digits_run, tmp_path, capsys):
    data = load_digits()
    big = Image.fromarray((255 - data.x_test[0, ..., 0] * 255).astype(np.uint8)).resize((80, 80))
    paths = [tmp_path / "a" / "seven.png", tmp_path / "b" / "seven.png"]
    for path in paths:
        path.parent.mkdir()
        big.save(path)
    out = tmp_path / "seen"
    assert main(["predict", str(digits_run), *map(str, paths), "--save-input", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["seven-2.png", "seven.png"]  # a repeated name is numbered
    seen = np.asarray(Image.open(out / "seven.png"), np.float32) / 255
    expected = DATASET_PREPROCESSING["digits"].frame(load_image(paths[0]))[..., 0]
    np.testing.assert_allclose(seen, expected, atol=0.5 / 255)  # 8x8, light on dark, 17 levels
    assert seen.shape == (8, 8) and seen.mean() < 0.5


def test_predict_no_preprocess_takes_images_in_the_models_format(digits_run, tmp_path, capsys):
    data = load_digits()
    path = tmp_path / "raw.png"
    Image.fromarray((data.x_test[3, ..., 0] * 255 + 0.5).astype(np.uint8)).save(path)
    capsys.readouterr()
    assert main(["predict", str(digits_run), str(path), "--no-preprocess"]) == 0
    model = load_model(digits_run / "model.safetensors")
    x = np.round(data.x_test[3:4] * 255) / 255  # the PNG's bytes
    probs = F.softmax(model(x.astype(np.float32)))[0]
    assert f": {int(np.argmax(probs))}  (top 3: {int(np.argmax(probs))} {probs.max():.3f}" in capsys.readouterr().out
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "big.png")
    assert main(["predict", str(digits_run), str(tmp_path / "big.png"), "--no-preprocess"]) == 2
    err = capsys.readouterr().err
    assert "--no-preprocess" in err and "8x8" in err and "16x16" in err


def test_predict_warns_on_blank_tiny_and_unsure_images(digits_run, tmp_path, capsys):
    Image.fromarray(np.full((40, 40), 230, np.uint8)).save(tmp_path / "blank.png")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "dot.png")
    capsys.readouterr()
    assert main(["predict", str(digits_run), str(tmp_path / "blank.png"), str(tmp_path / "dot.png")]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2  # still answered
    err = captured.err
    assert f"warning: {tmp_path / 'blank.png'}: the image looks blank" in err
    assert f"warning: {tmp_path / 'dot.png'}: the image is 1x1 pixels, under half the model's 8x8" in err
    assert "the model is unsure: its top probability is" in err  # a blank frame has no clear class


def test_a_run_without_recorded_preprocessing_uses_its_data_sets(digits_run, tmp_path, capsys):
    """Runs written before the preprocessing object existed predict as the data set's rule says."""
    import shutil
    old = tmp_path / "old"
    shutil.copytree(digits_run, old)
    config = json.loads((old / "config.json").read_text())
    del config["preprocessing"]
    (old / "config.json").write_text(json.dumps(config))
    path = tmp_path / "d.png"
    Image.fromarray((255 - load_digits().x_test[5, ..., 0] * 255).astype(np.uint8)).resize((64, 64)).save(path)
    capsys.readouterr()
    assert main(["predict", str(digits_run), str(path)]) == 0
    new = capsys.readouterr().out
    assert main(["predict", str(old), str(path)]) == 0
    assert capsys.readouterr().out == new


def test_summary_prints_the_model_table_settings_and_metrics(digits_run, capsys):
    assert main(["summary", str(digits_run)]) == 0
    out = capsys.readouterr().out
    # conv 5*5*1*30+30 = 780 on 8x8 'same', dense 4*4*30*100+100 = 48,100
    assert "(None, 8, 8, 30)" in out and "48,100" in out and "Total params: 49,890" in out
    assert "optimizer=adam" in out and "test accuracy" in out


def test_train_twice_with_one_seed_gives_identical_weights(tmp_path):
    for name in ("a", "b"):
        assert _train(tmp_path / name, "--epochs", "2", "--seed", "5") == 0
    a, _ = load_arrays(tmp_path / "a" / "model.safetensors")
    b, _ = load_arrays(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert _train(tmp_path / "c", "--epochs", "2", "--seed", "6") == 0
    c, _ = load_arrays(tmp_path / "c" / "model.safetensors")
    assert not np.array_equal(a["conv2d/kernel"], c["conv2d/kernel"])


@pytest.mark.parametrize("flags", [(), ("--schedule", "constant", "--model", "deep", "--batch-size", "128")])
def test_two_epochs_and_a_resume_to_four_equal_four_epochs(tmp_path, flags):
    assert _train(tmp_path / "resumed", "--epochs", "2", *flags) == 0
    assert main(["train", "--resume", str(tmp_path / "resumed"), "--epochs", "4", "--progress", "quiet"]) == 0
    assert _train(tmp_path / "straight", "--epochs", "4", *flags) == 0
    a, _ = load_arrays(tmp_path / "resumed" / "model.safetensors")
    b, _ = load_arrays(tmp_path / "straight" / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    header = (tmp_path / "straight" / "history.csv").read_text().splitlines()[0]
    assert (tmp_path / "resumed" / "history.csv").read_text().splitlines()[0] == header  # same columns, same order
    assert header == "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds"
    assert main(["train", "--resume", str(tmp_path / "resumed"), "--epochs", "3", "--progress", "quiet"]) == 2
    ha = runs.read_history_csv(tmp_path / "resumed" / "history.csv")
    hb = runs.read_history_csv(tmp_path / "straight" / "history.csv")
    assert ha["epoch"] == [1.0, 2.0, 3.0, 4.0] and ha["loss"] == hb["loss"] and ha["val_loss"] == hb["val_loss"]


@pytest.mark.slow
def test_the_readme_command_reaches_98_percent_on_digits(tmp_path):
    assert _train(tmp_path / "default") == 0
    metrics = json.loads((tmp_path / "default" / "metrics.json").read_text())
    assert metrics["epochs"] == 40 and metrics["test_accuracy"] >= 0.98


def test_a_diverging_run_stops_naming_the_step_and_exits_3(tmp_path, capsys):
    assert _train(tmp_path / "nan", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "2") == 3
    err = capsys.readouterr().err
    assert "Training diverged: loss is 2.3" in err and "at epoch 1, step 1 (a weight changed by" in err
    assert "exploding" in err and "--lr" in err
    assert not (tmp_path / "nan" / "model.safetensors").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "0"], "--epochs: must be a positive int. Received: '0'"),
    (["train", "--lr", "-1"], "--lr: must be a positive number. Received: '-1'"),
    (["train", "--dataset", "cifar"], "--dataset: must be one of ['digits', 'mnist', 'fashion-mnist', 'cifar10'] or a folder with one subfolder of images per class. Received: 'cifar'"),
    (["train", "--validation-split", "0.5"], "--validation-split: must be a number in [0, 0.5). Received: '0.5'"),
    (["train", "--weight-decay", "-1"], "--weight-decay: must be a non-negative number. Received: '-1'"),
    (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
])
def test_train_rejects_bad_flags_with_their_name(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (("--warmup-epochs", "1"), "--warmup-epochs: needs --schedule cosine"),
    (("--model", "lenet5"), "lenet5 model needs images of at least 16x16"),
    (("--augment", "9"), "--augment: shifts are 0 to 4 pixels. Received: 9"),
])
def test_train_rejects_settings_that_do_not_fit_together(tmp_path, flags, message, capsys):
    if flags[0] == "--augment":  # refused by the parser itself
        with pytest.raises(SystemExit):
            _train(tmp_path / "bad", *flags)
    else:
        assert _train(tmp_path / "bad", *flags) == 2
    assert message in capsys.readouterr().err and "Received" in message + "Received"


def test_train_refuses_to_overwrite_a_run_and_resume_refuses_other_settings(digits_run, tmp_path, capsys):
    assert _train(digits_run) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(digits_run), "--lr", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "only --epochs may change" in err and "lr=0.1" in err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "config.json: not found" in capsys.readouterr().err


def test_evaluate_predict_summary_explain_a_directory_that_is_not_a_run(tmp_path, capsys):
    for command in (["evaluate", str(tmp_path)], ["summary", str(tmp_path)], ["predict", str(tmp_path), "x.png"]):
        assert main(command) == 2
        assert "config.json: not found" in capsys.readouterr().err


def test_predict_names_a_file_that_is_not_an_image(digits_run, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    assert main(["predict", str(digits_run), str(bad)]) == 2
    assert f"{bad}: not a readable image" in capsys.readouterr().err


def test_mnist_without_files_or_network_says_where_to_put_them(tmp_path, monkeypatch, capsys):
    import urllib.error
    import urllib.request

    import platformdirs

    monkeypatch.setenv("NUMCNN_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *a, **k: str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert _train(tmp_path / "mnist", "--dataset", "mnist", "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert "could not be downloaded" in err and "--data-dir" in err and "NUMCNN_DATA_DIR" in err


COMMANDS = ["train", "evaluate", "predict", "summary", "filter", "show", "export", "import", "explain", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_and_flag_has_help(command):
    result = subprocess.run([sys.executable, "-m", "numcnn", command, "--help"], capture_output=True, text=True,
                            check=True)
    assert result.stdout.startswith("usage: numcnn " + command)
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert subparsers.choices.keys() == set(COMMANDS)
    for action in subparsers.choices[command]._actions:
        assert action.help and len(action.help) > 10, action.dest
        for flag in action.option_strings:
            assert flag in result.stdout


def test_run_files_get_the_umask_mode_not_mkstemp_0600(digits_run):
    umask = os.umask(0)
    os.umask(umask)
    for name in FILES:
        assert (digits_run / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_default_run_directories_are_unique_even_within_one_second(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = RunSettings.resolve({"dataset": "digits"})
    first, second = runs.default_out_dir(settings), runs.default_out_dir(settings)
    assert first != second and os.path.isdir(first) and os.path.isdir(second)
    assert second.startswith(first[:len("runs/digits-simple-")])


def test_an_out_path_that_cannot_be_a_directory_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert _train(blocker / "run") == 2
    err = capsys.readouterr().err
    assert "cannot create the directory" in err and f"Received: --out {blocker / 'run'}" in err


# -- found as a new user would (each failed before this rewrite) -------------------------------------------------

def _fake_mnist(directory, monkeypatch, n_train=300, n_test=100):
    """Small IDX files in MNIST's format, and the checksum table made to accept them (the real digests stay in
    the code; the tests never download)."""
    import gzip
    import hashlib
    import struct

    from numcnn.data import datasets

    def idx_bytes(array):  # the IDX format: 0, 0, type 0x08 (unsigned byte), rank, big-endian sizes, data
        return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()

    rng = np.random.default_rng(0)
    labels = {"train": rng.integers(0, 10, n_train), "t10k": rng.integers(0, 10, n_test)}
    images = {k: (rng.random((len(v), 28, 28)) * 60 + v[:, None, None] * 19).astype(np.uint8) for k, v in labels.items()}
    directory.mkdir(exist_ok=True)
    checksums = {}
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        split = stem.split("-")[0]
        raw = idx_bytes(images[split] if "images" in stem else labels[split].astype(np.uint8))
        (directory / f"{stem}.gz").write_bytes(gzip.compress(raw))
        checksums[stem] = ("sha256", hashlib.sha256(raw).hexdigest())
    monkeypatch.setitem(datasets._SOURCES["mnist"], "checksums", checksums)
    monkeypatch.setitem(datasets._SOURCES["mnist"], "mirrors", ())  # nothing to download from
    monkeypatch.delenv("NUMCNN_DATA_DIR", raising=False)


def test_evaluate_and_show_find_the_data_where_training_did_and_need_only_the_test_files(
        tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    _fake_mnist(data, monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no user cache to fall back on
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--data-dir", "data", "--epochs", "1", "--out", str(run),
                 "--progress", "quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["dataset"]["data_dir"] == str(data)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (data / f"{stem}.gz").unlink()  # evaluate, show and predict read the test files alone
    monkeypatch.chdir(tmp_path / "run")  # another directory, no --data-dir
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0, capsys.readouterr().err
    assert "mnist test set, 100 images" in capsys.readouterr().out
    assert main(["show", str(run), "--what", "confusion", "--out", str(tmp_path / "c.png")]) == 0
    assert main(["show", str(run), "--what", "feature-maps", "--index", "3", "--out", str(tmp_path / "f.png")]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", str(run), "--data-dir", str(empty)]) == 2  # a flag still overrides the run's directory
    assert "t10k-images-idx3-ubyte.gz is not on this machine" in capsys.readouterr().err


def test_ctrl_c_in_epoch_1_leaves_a_run_that_resume_continues(tmp_path, monkeypatch, capsys):
    from numcnn.app.augment import Augmentation

    calls = {"n": 0}
    shift = Augmentation.__call__

    def interrupted(self, x, rng):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return shift(self, x, rng)

    monkeypatch.setattr(Augmentation, "__call__", interrupted)
    run = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--out", str(run), "--progress", "quiet"]) == 130
    assert "continues with --resume" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "live.jsonl"]
    assert read_live_log(run / "live.jsonl").status == "interrupted"
    monkeypatch.setattr(Augmentation, "__call__", shift)
    assert main(["train", "--resume", str(run), "--progress", "quiet"]) == 0, capsys.readouterr().err
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2


def test_help_texts_show_their_percent_signs_once(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "%%" not in out and "98-99% test accuracy" in out


def test_numcnn_load_takes_a_run_directory(digits_run):
    import numcnn

    model = numcnn.load(digits_run)
    x = load_digits().x_test[:20]
    np.testing.assert_array_equal(model.predict(x), load_model(digits_run / "model.safetensors").predict(x))


def test_predict_refuses_an_image_too_large_to_open_in_one_line(digits_run, tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)
    assert main(["predict", str(digits_run), str(bomb)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bomb.png: too large to open" in err


@pytest.mark.parametrize("what, name", [("confusion", "c.jpg"), ("curves", "curves")])
def test_show_writes_png_files_only(digits_run, tmp_path, capsys, what, name):
    assert main(["show", str(digits_run), "--what", what, "--out", str(tmp_path / name)]) == 2
    assert "--out must name a new .png file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
