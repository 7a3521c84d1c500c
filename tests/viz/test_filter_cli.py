"""``numcnn filter``, in-process: the saved picture, the raw result and the sliding-window steps."""

import os

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

import numcnn.viz
from numcnn.app.cli import main
from numcnn.data.images import load_image
from numcnn.filters import apply_kernel, get_kernel, load_kernel, to_display
from numcnn.viz import cell_texts


@pytest.fixture
def gray_png(tmp_path, rng):
    """A 20x30 (H x W) grayscale PNG."""
    path = tmp_path / "gray.png"
    Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def rgb_png(tmp_path, rng):
    """A 12x16 colour PNG whose channels differ."""
    path = tmp_path / "rgb.png"
    Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(path)
    return path


def _pixels(path):
    with Image.open(path) as png:
        assert png.format == "PNG"
        return np.asarray(png)


def assert_pixels(pixels, filtered, kernel, normalize="auto"):
    """``pixels == round(to_display(filtered) * 255)``: within half a level everywhere (a float32 tie such as
    135.5 may go either way), equal to the float64 rounding almost everywhere, and never truncated."""
    exact = to_display(filtered, kernel, normalize).astype(np.float64) * 255
    assert pixels.shape == exact.shape and pixels.dtype == np.uint8
    assert np.all(np.abs(pixels - exact) <= 0.5 + 1e-3)
    assert np.mean(pixels == np.floor(exact + 0.5)) > 0.95


@pytest.mark.parametrize("padding,stride,shape", [
    ("same", 1, (20, 30)), ("same", 2, (10, 15)), ("valid", 1, (18, 28)), ("valid", 2, (9, 14)),
])
def test_filter_writes_the_picture_the_raw_result_and_the_steps(gray_png, tmp_path, capsys, padding, stride, shape):
    out, raw, steps = tmp_path / "out" / "blurred.png", tmp_path / "raw.npy", tmp_path / "steps.png"
    code = main(["filter", str(gray_png), "--kernel", "blur", "--out", str(out), "--raw", str(raw),
                 "--show-steps", str(steps), "--padding", padding, "--stride", str(stride)])
    assert code == 0
    blur = get_kernel("blur")
    expected = apply_kernel(load_image(gray_png), blur, stride, padding)
    filtered = np.load(raw, allow_pickle=False)
    assert filtered.shape == shape and filtered.dtype == np.float32
    assert np.array_equal(filtered, expected)
    pixels = _pixels(out)
    assert pixels.shape == shape  # mode L: one channel
    assert_pixels(pixels, filtered, blur)
    with Image.open(steps) as png:  # a region of the image: the image, the kernel, the output; 4 steps below
        assert png.format == "PNG" and png.size == (1520, 820)
    printed = capsys.readouterr().out
    assert f"(20, 30) -> {shape} with a 3x3 kernel, stride {stride}, padding {padding}" in printed
    assert f"of {gray_png} saved to {steps}" in printed
    assert sorted(os.listdir(tmp_path)) == ["gray.png", "out", "raw.npy", "steps.png"]  # no temp files
    assert os.listdir(tmp_path / "out") == ["blurred.png"]


@pytest.fixture
def steps_drawn(monkeypatch):
    """``numcnn.viz.plot_sliding_window`` wrapped: ([(args, kwargs, result)], [the Figures it saved])."""
    calls, figures = [], []
    original, savefig = numcnn.viz.plot_sliding_window, Figure.savefig

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append((args, kwargs, result))
        return result

    def saving(self, *args, **kwargs):
        figures.append(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(numcnn.viz, "plot_sliding_window", wrapper)
    monkeypatch.setattr(Figure, "savefig", saving)
    return calls, figures


def test_show_steps_slides_over_the_users_own_image(tmp_path, capsys, steps_drawn):
    image = np.full((24, 32), 30, np.uint8)
    image[:, 20:] = 220  # a vertical edge at column 20
    path = tmp_path / "edge.png"
    Image.fromarray(image).save(path)
    steps, raw = tmp_path / "steps.png", tmp_path / "r.npy"
    assert main(["filter", str(path), "--kernel", "sobel-x", "--out", str(tmp_path / "o.png"), "--raw", str(raw),
                 "--show-steps", str(steps)]) == 0
    (args, kwargs, drawn), = steps_drawn[0]
    pixels = load_image(path)
    np.testing.assert_array_equal(args[0], pixels)  # the user's image, not note 000's 7x7
    np.testing.assert_array_equal(drawn.output, np.load(raw))
    rows, cols = drawn.region
    assert 14 <= cols.start <= 20 < cols.stop  # the picture zooms in on the edge the kernel finds
    top, left = drawn.origin
    padded = np.pad(pixels, 1)  # "same" with a 3x3 kernel: one pixel of zeros around
    np.testing.assert_array_equal(drawn.crop, padded[top + 1:top + 9, left + 1:left + 9])
    sobel = get_kernel("sobel-x")
    for (i, j), window in zip(drawn.cells, drawn.windows):
        np.testing.assert_array_equal(window, padded[i:i + 3, j:j + 3])
        assert np.sum(window * sobel) == pytest.approx(np.load(raw)[i, j], rel=1e-5, abs=1e-6)
    figure, = steps_drawn[1][-1:]  # the steps picture is saved last
    step_axes = [ax for ax in figure.axes if ax.get_title().startswith("step ")]
    assert len(step_axes) == 4
    written = [t.get_text() for t in step_axes[0].texts]
    assert written == list(cell_texts(drawn.crop).ravel())
    assert "0.86" in written and "0.12" in written  # 220 / 255 and 30 / 255, the image's own numbers
    assert figure._suptitle.get_text().startswith("edge.png (24x32): a 3x3 kernel, stride 1, padding same")
    assert (f"the kernel sliding over output rows {rows.start}-{rows.stop - 1}, columns {cols.start}-"
            f"{cols.stop - 1} of {path} saved to {steps}") in capsys.readouterr().out


def test_show_steps_at_a_chosen_cell_of_a_colour_image_uses_its_red_channel(rgb_png, tmp_path, capsys, steps_drawn):
    steps = tmp_path / "steps.png"
    assert main(["filter", str(rgb_png), "--kernel", "blur", "--out", str(tmp_path / "o.png"), "--show-steps",
                 str(steps), "--steps-at", "3", "5"]) == 0
    (args, kwargs, drawn), = steps_drawn[0]
    red = load_image(rgb_png, grayscale=False)[..., 0]
    np.testing.assert_array_equal(args[0], red)
    assert kwargs["start"] == (3, 5) and drawn.cells == ((3, 5), (3, 6), (3, 7), (3, 8))
    np.testing.assert_array_equal(drawn.windows[0], red[2:5, 4:7])  # out[3, 5]'s window, inside the image
    assert ", red channel): a 3x3 kernel" in steps_drawn[1][-1]._suptitle.get_text()
    assert f"of {rgb_png}, red channel saved to {steps}" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--show-steps", "s.png", "--steps-at", "20", "0"],
     "--steps-at must be an output cell ROW COL of the 20x30 output (from 0). Received: --steps-at 20 0"),
    (["--steps-at", "1", "1"], "--steps-at says where --show-steps starts; give --show-steps STEPS.png too. "
                               "Received: --steps-at 1 1 without --show-steps"),
])
def test_a_bad_steps_at_is_exit_2_and_writes_nothing(gray_png, tmp_path, capsys, flags, message):
    flags = [str(tmp_path / f) if f.endswith(".png") else f for f in flags]
    assert main(["filter", str(gray_png), "--kernel", "blur", "--out", str(tmp_path / "o.png"), *flags]) == 2
    assert f"numcnn filter: error: {message}" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["gray.png"]


def test_an_edge_kernel_is_shown_as_abs_over_max(gray_png, tmp_path):
    out, raw = tmp_path / "edges.png", tmp_path / "edges.npy"
    assert main(["filter", str(gray_png), "--kernel", "sobel-x", "--out", str(out), "--raw", str(raw)]) == 0
    filtered = np.load(raw)
    assert filtered.min() < 0  # there is something for abs to fold
    assert_pixels(_pixels(out), filtered, get_kernel("sobel-x"), "abs")
    assert _pixels(out).max() == 255


@pytest.mark.parametrize("normalize", ["clip", "minmax", "abs"])
def test_normalize_flag(gray_png, tmp_path, normalize):
    out, raw = tmp_path / "o.png", tmp_path / "o.npy"
    assert main(["filter", str(gray_png), "--kernel", "sharpen", "--normalize", normalize,
                 "--out", str(out), "--raw", str(raw)]) == 0
    assert_pixels(_pixels(out), np.load(raw), get_kernel("sharpen"), normalize)


def test_a_colour_image_is_filtered_per_channel(rgb_png, tmp_path):
    out, raw = tmp_path / "o.png", tmp_path / "o.npy"
    assert main(["filter", str(rgb_png), "--kernel", "gaussian", "--out", str(out), "--raw", str(raw)]) == 0
    image = load_image(rgb_png, grayscale=False)
    filtered = np.load(raw)
    assert filtered.shape == (12, 16, 3)
    assert np.array_equal(filtered, apply_kernel(image, get_kernel("gaussian")))
    for c in range(3):
        alone = apply_kernel(image[..., c], get_kernel("gaussian"))
        np.testing.assert_allclose(filtered[..., c], alone, rtol=1e-6, atol=1e-6)
    with Image.open(out) as png:
        assert png.mode == "RGB"
    assert_pixels(_pixels(out), filtered, get_kernel("gaussian"))


def test_mode_gray_on_a_colour_image_gives_one_channel(rgb_png, tmp_path):
    out, raw = tmp_path / "o.png", tmp_path / "o.npy"
    assert main(["filter", str(rgb_png), "--kernel", "blur", "--mode", "gray", "--padding", "valid",
                 "--out", str(out), "--raw", str(raw)]) == 0
    filtered = np.load(raw)
    assert filtered.shape == (10, 14)
    assert np.array_equal(filtered, apply_kernel(load_image(rgb_png, grayscale=True), get_kernel("blur"), 1, "valid"))
    assert _pixels(out).shape == (10, 14)


def test_mode_rgb_on_a_gray_image_gives_three_equal_channels(gray_png, tmp_path):
    raw = tmp_path / "o.npy"
    assert main(["filter", str(gray_png), "--kernel", "blur", "--mode", "rgb", "--out", str(tmp_path / "o.png"),
                 "--raw", str(raw)]) == 0
    filtered = np.load(raw)
    assert filtered.shape == (20, 30, 3)
    gray = apply_kernel(load_image(gray_png), get_kernel("blur"))
    for c in range(3):  # 3 channels run the depthwise path, 1 channel a GEMM: equal up to float32 rounding
        np.testing.assert_allclose(filtered[..., c], gray, rtol=1e-6, atol=1e-7)


def test_auto_mode_keeps_a_gray_picture_stored_as_rgb_one_channel(tmp_path, rng):
    path = tmp_path / "grey_rgb.png"
    Image.fromarray(np.repeat(rng.integers(0, 256, (9, 9, 1), dtype=np.uint8), 3, axis=2)).save(path)
    raw = tmp_path / "o.npy"
    assert main(["filter", str(path), "--kernel", "edge", "--out", str(tmp_path / "o.png"), "--raw", str(raw)]) == 0
    filtered = np.load(raw)
    assert filtered.shape == (9, 9)
    assert np.array_equal(filtered, apply_kernel(load_image(path), get_kernel("edge")))


@pytest.mark.parametrize("suffix", [".txt", ".npy"])
def test_a_kernel_file_of_your_own(gray_png, tmp_path, suffix):
    shift = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]], float)  # out[i, j] = image[i, j + 1]
    kernel_file = tmp_path / f"shift{suffix}"
    if suffix == ".npy":
        np.save(kernel_file, shift)
    else:
        kernel_file.write_text("0 0 0\n0 0 1\n0 0 0\n")
    raw = tmp_path / "o.npy"
    assert main(["filter", str(gray_png), "--kernel-file", str(kernel_file), "--out", str(tmp_path / "o.png"),
                 "--raw", str(raw)]) == 0
    filtered, image = np.load(raw), load_image(gray_png)
    assert np.array_equal(filtered, apply_kernel(image, load_kernel(kernel_file)))
    np.testing.assert_array_equal(filtered[:, :-1], image[:, 1:])
    np.testing.assert_array_equal(filtered[:, -1], 0)


def test_a_jpeg_out_file_is_a_jpeg(gray_png, tmp_path):
    out = tmp_path / "o.JPG"
    assert main(["filter", str(gray_png), "--kernel", "blur", "--out", str(out)]) == 0
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.size == (30, 20)


@pytest.mark.parametrize("flags", [[], ["--kernel", "blur", "--kernel-file", "k.txt"]])
def test_exactly_one_of_kernel_and_kernel_file(gray_png, tmp_path, capsys, flags):
    out = tmp_path / "o.png"
    assert main(["filter", str(gray_png), *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "numcnn filter: error: Give exactly one of --kernel NAME and --kernel-file FILE. Received: --kernel" in err
    assert not out.exists()


def test_an_input_that_is_not_an_image_names_the_file(tmp_path, capsys):
    fake = tmp_path / "notes.png"
    fake.write_text("this is not a picture")
    out = tmp_path / "o.png"
    assert main(["filter", str(fake), "--kernel", "blur", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {fake}: not a readable image" in err and "Received" in err
    assert main(["filter", str(tmp_path / "missing.png"), "--kernel", "blur", "--out", str(out)]) == 2
    assert f"{tmp_path / 'missing.png'}: no such image file" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["notes.png"]


def test_a_bad_kernel_file_names_the_file(gray_png, tmp_path, capsys):
    bad = tmp_path / "k.txt"
    bad.write_text("1 2\n3\n")
    assert main(["filter", str(gray_png), "--kernel-file", str(bad), "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert f"error: {bad}: cannot read a kernel" in err and "Received" in err


def test_a_kernel_larger_than_the_image_with_valid_padding_is_exit_2(gray_png, tmp_path, capsys):
    big = tmp_path / "big.npy"
    np.save(big, np.ones((21, 3)))
    assert main(["filter", str(gray_png), "--kernel-file", str(big), "--padding", "valid",
                 "--out", str(tmp_path / "o.png")]) == 2
    assert "Received" in capsys.readouterr().err


@pytest.mark.parametrize("flags,message", [
    (["--kernel", "sobel"], "invalid choice: 'sobel'"),
    (["--kernel", "blur", "--stride", "0"], "--stride: must be a positive int. Received: '0'"),
    (["--kernel", "blur", "--padding", "full"], "invalid choice: 'full'"),
    (["--kernel", "blur", "--steps-at", "-1", "0"], "--steps-at: must be a non-negative int"),
    (["--kernel", "blur", "--steps-at", "1"], "--steps-at: expected 2 arguments"),
])
def test_argparse_rejects_bad_flags(gray_png, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as info:
        main(["filter", str(gray_png), *flags, "--out", str(tmp_path / "o.png")])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_out_is_required(gray_png, capsys):
    with pytest.raises(SystemExit) as info:
        main(["filter", str(gray_png), "--kernel", "blur"])
    assert info.value.code == 2 and "--out" in capsys.readouterr().err


@pytest.mark.parametrize("flag, name", [("--out", "f.txt"), ("--out", "f"), ("--raw", "r.txt"), ("--show-steps", "s.jpg")])
def test_a_suffix_numcnn_does_not_write_is_refused_and_nothing_is_written(gray_png, tmp_path, capsys, flag, name):
    args = ["filter", str(gray_png), "--kernel", "blur", "--out", str(tmp_path / "f.png")]
    args += [flag, str(tmp_path / name)] if flag != "--out" else []
    if flag == "--out":
        args[-1] = str(tmp_path / name)
    assert main(args) == 2
    assert f"{flag} must name a new" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [gray_png.name]


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8"), (".bmp", b"BM"),
                                           (".webp", b"RIFF")])
def test_the_suffix_names_the_format_written(gray_png, tmp_path, suffix, magic):
    out = tmp_path / f"f{suffix.upper()}"
    assert main(["filter", str(gray_png), "--kernel", "blur", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(magic)


def test_an_image_too_large_to_open_is_one_clear_line(tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 48 KB of PNG, 400 million pixels
    assert main(["filter", str(bomb), "--kernel", "blur", "--out", str(tmp_path / "f.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "too large to open" in err and "Traceback" not in err
