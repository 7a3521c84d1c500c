"""Folder data sets: scanning class subfolders, every image format and mode, unreadable files skipped
and named, clear errors, splits, lazy decoding that trains exactly as arrays do, and the CLI."""

import json
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import numcnn
from numcnn.app.cli import main
from numcnn.data.folders import (
    FolderError,
    ImageFiles,
    image_dataset_from_directory,
    load_folder_dataset,
    scan_directory,
)
from numcnn.layers import Dense, Flatten

COLOURS = {"blue": (20, 40, 230), "green": (30, 200, 60), "red": (220, 30, 30)}


def make_folder(root, per_class=6, size=(12, 10), formats=("png", "jpg", "bmp", "webp", "gif")):
    """A folder of solid-colour images, one class per colour, in several formats and sizes."""
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = Image.new("RGB", (size[1] + i, size[0] + 2 * i), colour)
            image.save(root / name / f"{i:02d}.{formats[i % len(formats)]}", quality=95)
    return root


def bomb_png(path, side=100_000):
    """A valid PNG header saying side x side pixels: Pillow refuses it at open, before any decoding."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))
                     + chunk(b"IEND", b""))


# -- scanning ---------------------------------------------------------------------------------------

def test_classes_are_the_sorted_subfolders_and_files_are_found_at_any_depth(tmp_path):
    root = make_folder(tmp_path / "data")
    (root / "red" / "deeper").mkdir()
    Image.new("RGB", (5, 5), COLOURS["red"]).save(root / "red" / "deeper" / "x.png")
    Image.new("RGB", (5, 5)).save(root / "red" / ".hidden.png")
    (root / "blue" / "readme.txt").write_text("not an image")
    scan = scan_directory(root)
    assert scan.class_names == ("blue", "green", "red")
    assert np.bincount(scan.labels).tolist() == [6, 6, 7]
    assert all(os.path.basename(os.path.dirname(p)) in (COLOURS[scan.class_names[k]] and scan.class_names[k], "deeper")
               for p, k in zip(scan.paths, scan.labels))
    assert scan.ignored == (str(root / "blue" / "readme.txt"),)
    assert "19 images in 3 classes (blue: 6, green: 6, red: 7)" in scan.summary()
    assert "ignored 1 files that are not images" in scan.summary()


def test_unreadable_files_are_skipped_with_a_warning_naming_each(tmp_path):
    root = make_folder(tmp_path / "data")
    (root / "red" / "empty.png").write_bytes(b"")
    (root / "red" / "text.jpg").write_text("this is no JPEG")
    bomb_png(root / "green" / "bomb.png")
    (root / "blue" / "loop.png").symlink_to(root / "blue" / "loop.png")
    with pytest.warns(UserWarning) as caught:
        scan = scan_directory(root)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 4 and len(scan.paths) == 18
    assert any(m.startswith(f"{root / 'green' / 'bomb.png'}: skipped, too large to open") for m in messages)
    assert any(m.startswith(f"{root / 'red' / 'empty.png'}: skipped, not an image") for m in messages)
    assert any(m.startswith(f"{root / 'red' / 'text.jpg'}: skipped, not an image") for m in messages)
    assert any(m.startswith(f"{root / 'blue' / 'loop.png'}: skipped, cannot be opened") for m in messages)
    assert "skipped 4 unreadable" in scan.summary()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_a_file_without_read_permission_is_skipped(tmp_path):
    root = make_folder(tmp_path / "data")
    locked = root / "red" / "00.png"
    locked.chmod(0)
    with pytest.warns(UserWarning, match="00.png: skipped, cannot be opened"):
        scan = scan_directory(root)
    assert str(locked) not in scan.paths


def test_a_linked_folder_loop_ends_when_links_are_followed(tmp_path):
    root = make_folder(tmp_path / "data")
    (root / "red" / "again").symlink_to(root / "red")
    assert len(scan_directory(root).paths) == 18  # links not followed (Keras' default)
    assert len(scan_directory(root, follow_links=True).paths) == 18  # followed once, the loop cut


@pytest.mark.parametrize("make, message", [
    (lambda root: root.write_text("x"), "not a folder"),
    (lambda root: root.mkdir(), "no class subfolders"),
    (lambda root: (root / "only").mkdir(parents=True), "one class subfolder ('only')"),
    (lambda root: [(root / c).mkdir(parents=True) for c in ("a", "b")], "['a', 'b'] hold no readable images"),
])
def test_folders_that_cannot_train_get_a_clear_error(tmp_path, make, message):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(FolderError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")) as info:
        scan_directory(root)
    assert "Received" in str(info.value)


def test_an_empty_class_among_full_ones_is_named(tmp_path):
    root = make_folder(tmp_path / "data")
    (root / "zebra").mkdir()
    (root / "zebra" / "broken.png").write_bytes(b"\x89PNG")
    with pytest.raises(FolderError, match=r"\['zebra'\] hold no readable images"), pytest.warns(UserWarning):
        scan_directory(root)


# -- formats and modes ------------------------------------------------------------------------------

def test_every_format_and_mode_gives_the_colour_it_holds(tmp_path):
    root = tmp_path / "modes"
    colour = (200, 100, 50)
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    rgb = Image.new("RGB", (7, 9), colour)
    rgb.save(root / "a" / "rgb.png")
    rgb.convert("P", palette=Image.Palette.ADAPTIVE).save(root / "a" / "palette.png")
    rgb.convert("RGBA").save(root / "a" / "rgba.png")
    rgb.save(root / "a" / "plain.bmp")
    rgb.save(root / "a" / "lossless.webp", lossless=True)
    rgb.save(root / "a" / "anim.gif", save_all=True, append_images=[Image.new("RGB", (7, 9), (0, 0, 0))])
    rgb.save(root / "a" / "photo.tiff")
    grey16 = Image.fromarray(np.full((9, 7), 30000, np.uint16))
    grey16.save(root / "b" / "deep.png")
    data = image_dataset_from_directory(root, image_size=(4, 4), shuffle=False, verbose=False)
    assert data.x.shape == (8, 4, 4, 3) and data.y.tolist() == [0] * 7 + [1]
    for sample in data.x[:7]:
        np.testing.assert_allclose(sample, np.broadcast_to(np.array(colour) / 255, (4, 4, 3)), atol=2 / 255)
    np.testing.assert_allclose(data.x[7], 30000 / 65535, atol=1e-3)  # 16-bit, not clipped at 255
    grey = image_dataset_from_directory(root, image_size=(4, 4), color_mode="grayscale", shuffle=False,
                                        verbose=False)
    assert grey.x.shape == (8, 4, 4, 1)
    np.testing.assert_allclose(grey.x[0], (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255, atol=1 / 255)


# -- splits and lazy decoding -----------------------------------------------------------------------

def test_validation_split_gives_disjoint_reproducible_subsets(tmp_path):
    root = make_folder(tmp_path / "data", per_class=10)
    train, val = image_dataset_from_directory(root, image_size=(6, 6), validation_split=0.2, subset="both", seed=4,
                                              verbose=False)
    assert len(train.y) == 24 and len(val.y) == 6 and train.class_names == ("blue", "green", "red")
    again = image_dataset_from_directory(root, image_size=(6, 6), validation_split=0.2, subset="validation",
                                         seed=4, verbose=False)
    np.testing.assert_array_equal(again.x, val.x)
    whole = image_dataset_from_directory(root, image_size=(6, 6), seed=4, verbose=False)
    np.testing.assert_array_equal(np.concatenate([train.x, val.x]), whole.x)  # the same shuffle, cut
    colours = np.array(list(COLOURS.values())) / 255  # each sample's colour names its label
    for x, y in (train, val):
        np.testing.assert_allclose(x[:, 0, 0], colours[y], atol=3 / 255)


@pytest.mark.parametrize("kwargs, message", [
    (dict(validation_split=0.2), "subset"), (dict(subset="training"), "validation_split"),
    (dict(validation_split=1.5, subset="both"), "validation_split"), (dict(color_mode="rgba"), "color_mode"),
    (dict(image_size=(0, 4)), "image_size"), (dict(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "Only one"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    root = make_folder(tmp_path / "data")
    with pytest.raises(ValueError, match=message):
        image_dataset_from_directory(root, verbose=False, **kwargs)


def test_image_files_decode_lazily_and_train_exactly_as_the_arrays(tmp_path):
    root = make_folder(tmp_path / "data", per_class=8)
    eager = image_dataset_from_directory(root, image_size=(6, 6), seed=1, verbose=False)
    lazy = image_dataset_from_directory(root, image_size=(6, 6), seed=1, in_memory=False, verbose=False)
    assert isinstance(lazy.x, ImageFiles) and lazy.x.shape == eager.x.shape == (24, 6, 6, 3)
    assert isinstance(lazy.x[2:9], ImageFiles) and len(lazy.x[2:9]) == 7
    np.testing.assert_array_equal(lazy.x[np.array([5, 0, 5])], eager.x[[5, 0, 5]])
    np.testing.assert_array_equal(np.asarray(lazy.x), eager.x)
    weights = []
    for data in (eager, lazy):
        model = numcnn.Sequential([Flatten(input_shape=(6, 6, 3)), Dense(3, activation="softmax")], seed=0)
        model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        model.fit(data.x, data.y, epochs=2, batch_size=5, validation_split=0.2, verbose=0, seed=2)
        weights.append(model.get_weights())
        np.testing.assert_array_equal(model.predict(data.x), model.predict(eager.x))
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_file_broken_after_the_scan_is_named_when_its_batch_comes(tmp_path):
    root = make_folder(tmp_path / "data")
    data = image_dataset_from_directory(root, image_size=(6, 6), shuffle=False, in_memory=False, verbose=False)
    (root / "blue" / "00.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(FolderError, match="00.png"):
        data.x[np.arange(3)]


def test_train_and_test_folders_or_a_test_split(tmp_path):
    root = tmp_path / "data"
    make_folder(root / "train", per_class=5)
    make_folder(root / "test", per_class=2)
    data = load_folder_dataset(root, (5, 5), "rgb", None, progress=False)
    assert len(data.y_train) == 15 and len(data.y_test) == 6 and data.class_names == ("blue", "green", "red")
    with pytest.raises(FolderError, match="drop --test-split"):
        load_folder_dataset(root, (5, 5), "rgb", 0.2, progress=False)
    (root / "test" / "purple").mkdir()
    Image.new("RGB", (4, 4)).save(root / "test" / "purple" / "p.png")
    with pytest.raises(FolderError, match="same class folders"):
        load_folder_dataset(root, (5, 5), "rgb", None, progress=False)
    flat = make_folder(tmp_path / "flat", per_class=10)
    split = load_folder_dataset(flat, (5, 5), "rgb", 0.2, progress=False)
    assert (len(split.y_train), len(split.y_test)) == (24, 6)
    again = load_folder_dataset(flat, (5, 5), "rgb", 0.2, progress=False, splits=("test",))
    np.testing.assert_array_equal(again.x_test, split.x_test)  # the same test images whatever is loaded


# -- the command line -------------------------------------------------------------------------------

def test_numcnn_train_on_a_folder_then_predict_and_evaluate_by_class_name(tmp_path, capsys):
    root = make_folder(tmp_path / "colours", per_class=10)
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(root), "--image-size", "8", "8", "--epochs", "8", "--out", str(run),
                 "--progress", "quiet", "--validation-split", "0", "--batch-size", "8"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"]["class_names"] == ["blue", "green", "red"]
    assert config["dataset"]["input_shape"] == [8, 8, 3]
    assert config["preprocessing"]["size"] == [8, 8] and config["preprocessing"]["fit"] == "stretch"
    assert config["training"]["image_size"] == [8, 8] and config["training"]["dataset"] == str(root)
    probe = tmp_path / "probe.jpg"
    Image.new("RGB", (30, 20), COLOURS["green"]).save(probe)
    capsys.readouterr()
    assert main(["predict", str(run), str(probe)]) == 0
    assert capsys.readouterr().out.startswith(f"{probe}: green  (top 3: green ")
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "accuracy 1.0000" in out and "       green       1.00      1.00      1.00" in out
    assert main(["train", "--resume", str(run), "--epochs", "9", "--progress", "quiet"]) == 0


def test_numcnn_train_grayscale_and_clear_errors(tmp_path, capsys):
    root = make_folder(tmp_path / "colours", per_class=4)
    run = tmp_path / "grey"
    assert main(["train", "--dataset", str(root), "--image-size", "6", "6", "--color-mode", "grayscale",
                 "--epochs", "1", "--out", str(run), "--progress", "quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["dataset"]["input_shape"] == [6, 6, 1]
    with pytest.raises(SystemExit):
        main(["train", "--dataset", str(tmp_path / "nowhere")])
    assert "a folder with one subfolder of images per class" in capsys.readouterr().err
    assert main(["train", "--dataset", "digits", "--image-size", "8", "8", "--out", str(tmp_path / "x")]) == 2
    assert "--image-size: must be given for a folder data set only" in capsys.readouterr().err
    (tmp_path / "one" / "cls").mkdir(parents=True)
    assert main(["train", "--dataset", str(tmp_path / "one"), "--out", str(tmp_path / "y")]) == 2
    assert "a classifier needs at least two" in capsys.readouterr().err
