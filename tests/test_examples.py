"""The examples in ``examples/`` run and print the numbers and shapes of the study notes they redo."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("seed*.py"))
NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run an example once per test module (same interpreter, an empty directory) and return its stdout."""
    outputs = {}

    def _run(name):
        if name not in outputs:
            result = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True,
                                    cwd=tmp_path_factory.mktemp("example"), timeout=300)
            assert result.returncode == 0, f"{name} failed:\n{result.stderr}"
            outputs[name] = result.stdout
        return outputs[name]

    return _run


def numbers_after(out, label, count):
    """The first ``count`` numbers printed after the first occurrence of ``label``."""
    assert label in out, f"{label!r} not in the output"
    found = NUMBER.findall(out[out.index(label) + len(label):])
    assert len(found) >= count, f"only {len(found)} numbers after {label!r}"
    return np.array([float(v) for v in found[:count]])


def test_there_are_five_examples_and_the_readme_lists_them():
    assert [name[:7] for name in SCRIPTS] == ["seed000", "seed001", "seed002", "seed003", "seed004"]
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in SCRIPTS:
        assert f"`python examples/{name}`" in readme


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_uses_no_global_rng(name):
    tree = ast.parse((EXAMPLES / name).read_text(encoding="utf-8"))
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "random" and isinstance(node.value.value, ast.Name) and node.value.value.id == "np"}
    assert used <= {"default_rng"}


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs_and_every_check_it_prints_holds(name, run):
    out = run(name)
    assert "False" not in out  # every "equals ...:" line the examples print is True
    assert out.count("== ") >= 4  # a lesson in sections


# -- seed 000 -----------------------------------------------------------------------------------

# the note's cv_nopadding_out and cv_padding_out, as printed (its filter was printed with 8 decimals)
SEED_000_NO_PADDING = [
    [13.57301426, 19.70401595, 25.83501764, 31.96601933, 38.09702102],
    [56.4900261, 62.62102779, 68.75202948, 74.88303118, 81.01403287],
    [99.40703794, 105.53803964, 111.66904133, 117.80004302, 123.93104471],
    [142.32404979, 148.45505148, 154.58605317, 160.71705486, 166.84805656],
    [185.24106163, 191.37206332, 197.50306502, 203.63406671, 209.7650684],
]
SEED_000_PADDING_1 = [
    [-3.26679945, -1.09594387, 0.71909802, 2.5341399, 4.34918179, 6.16422367, 1.42176907],
    [1.70931916, 13.57301426, 19.70401595, 25.83501764, 31.96601933, 38.09702102, 30.97410012],
    [20.32414147, 56.4900261, 62.62102779, 68.75202948, 74.88303118, 81.01403287, 67.19468586],
    [38.93896379, 99.40703794, 105.53803964, 111.66904133, 117.80004302, 123.93104471, 103.4152716],
    [57.55378611, 142.32404979, 148.45505148, 154.58605317, 160.71705486, 166.84805656, 139.63585733],
    [76.16860843, 185.24106163, 191.37206332, 197.50306502, 203.63406671, 209.7650684, 175.85644307],
    [124.96034932, 248.71747604, 255.25535938, 261.79324273, 268.33112608, 274.86900942, 234.30805797],
]
SEED_000_POOLED = [
    [[239, 239, 187], [211, 241, 191], [208, 217, 242]],
    [[222, 232, 245], [247, 250, 227], [184, 234, 142]],
    [[105, 232, 184], [253, 250, 219], [208, 222, 143]],
]


def test_seed000_parameter_counts(run):
    out = run("seed000_convolution_by_hand.py")
    assert "dense parameters: 2450" in out  # 7*7*7*7 + 7*7
    assert "conv parameters: 10" in out  # 3*3 + 1
    assert "fc_out.shape: (7, 7)" in out
    assert "Dense(49) equals the loop: True" in out


def test_seed000_convolutions_of_the_7x7_image(run):
    out = run("seed000_convolution_by_hand.py")
    assert "output size: 5" in out and "output size: 7" in out
    assert_allclose(numbers_after(out, "cv_nopadding_out:\n", 25).reshape(5, 5), SEED_000_NO_PADDING, rtol=1e-6)
    assert_allclose(numbers_after(out, "cv_padding_out:\n", 49).reshape(7, 7), SEED_000_PADDING_1,
                    rtol=1e-6, atol=1e-6)
    assert "same as the loops (conv2d_reference): True" in out


def test_seed000_blur(run):
    out = run("seed000_convolution_by_hand.py")
    assert_array_equal(numbers_after(out, "blur:\n", 25).reshape(5, 5),
                       [[8, 9, 10, 11, 12], [15, 16, 17, 18, 19], [22, 23, 24, 25, 26],
                        [29, 30, 31, 32, 33], [36, 37, 38, 39, 40]])


def test_seed000_max_pooling(run):
    out = run("seed000_convolution_by_hand.py")
    assert "window of output (0, 1, 2): [[85, 191], [97, 172]]" in out
    assert_array_equal(numbers_after(out, "pooled by loops:\n", 27).reshape(3, 3, 3), SEED_000_POOLED)
    assert "max_pool2d: (3, 3, 3) equals the loops: True" in out
    assert "pool2d_reference equals the loops: True" in out


# -- seed 001 -----------------------------------------------------------------------------------

SEED_001_SEQUENTIAL = """Input: (32, 28, 28, 3)
Output: (32, 22, 22, 30)
Weights: (3, 3, 3, 10), Biases: (10,)
Weights: (3, 3, 10, 20), Biases: (20,)
Weights: (3, 3, 20, 30), Biases: (30,)
"""
SEED_001_VARIABLES = """Shape: (3, 3, 3, 10)
Shape: (10,)
Shape: (3, 3, 10, 20)
Shape: (20,)
Shape: (3, 3, 20, 30)
Shape: (30,)
"""


def test_seed001_conv2d_shapes(run):
    out = run("seed001_keras_style_layers.py")
    assert "(1, 28, 28, 3)\n(3, 3, 3, 10)\n(10,)\n(1, 26, 26, 10)\n" in out  # Code 5-1-1
    assert "Input Image: (32, 28, 28, 3)\nW/B: (3, 3, 3, 5) / (5,)\nOutput Image: (32, 26, 26, 5)\n" in out
    assert "Y.shape: (1, 2, 2, 3)" in out  # Code 5-2-2
    assert "(4, 2, 3) same planes: True" in out  # np.transpose


def test_seed001_the_loop_equals_the_layer(run):
    out = run("seed001_keras_style_layers.py")
    differences = [float(v) for v in re.findall(r"max \|numcnn - manual\|: (\S+)", out)]
    assert len(differences) == 2
    assert max(differences) < 1e-5  # float32 layer against a float64 loop


def test_seed001_sequential_and_subclassed_models(run):
    out = run("seed001_keras_style_layers.py")
    assert SEED_001_SEQUENTIAL + "============================\n" + SEED_001_VARIABLES in out
    assert SEED_001_SEQUENTIAL + "========================\n" + SEED_001_VARIABLES in out
    # the subclass prints each conv's weights and output, as the note's __call__ does
    assert ("W/B: (3, 3, 3, 10)/(10,)\nX: (32, 26, 26, 10)\n\nW/B: (3, 3, 10, 20)/(20,)\nX: (32, 24, 24, 20)\n\n"
            "W/B: (3, 3, 20, 30)/(30,)\nX: (32, 22, 22, 30)\n") in out
    assert out.count("Output: (32, 22, 22, 30)") == 3
    assert "parameters: 7530" in out


# -- seed 002 -----------------------------------------------------------------------------------

SEED_002_TWO_CHANNEL_COL = [
    [0, 1, 3, 4, 9, 10, 12, 13],
    [1, 2, 4, 5, 10, 11, 13, 14],
    [3, 4, 6, 7, 12, 13, 15, 16],
    [4, 5, 7, 8, 13, 14, 16, 17],
]
SEED_002_TWO_IMAGES_COL = SEED_002_TWO_CHANNEL_COL + [
    [18, 19, 21, 22, 27, 28, 30, 31],
    [19, 20, 22, 23, 28, 29, 31, 32],
    [21, 22, 24, 25, 30, 31, 33, 34],
    [22, 23, 25, 26, 31, 32, 34, 35],
]


def test_seed002_im2col_shapes(run):
    out = run("seed002_im2col.py")
    assert "x1 (1, 3, 7, 7), 5x5: (9, 75)" in out
    assert "x2 (10, 3, 7, 7), 5x5: (90, 75)" in out
    assert "x3 (2, 4, 5, 5), 2x2: (32, 16)" in out
    assert "im2col shape: (282384, 75)" in out
    assert "im2col with pad=1: (16, 4)" in out


def test_seed002_convolution_by_im2col(run):
    out = run("seed002_im2col.py")
    assert_array_equal(numbers_after(out, "bias 3 ==\n(1, 1, 3, 3)\n", 9), [13, 17, 21, 29, 33, 37, 45, 49, 53])
    assert_array_equal(numbers_after(out, "col @ W + b ==\n(4, 4)\n", 16 + 2 + 4)[-4:], [11, 15, 23, 27])
    assert_array_equal(numbers_after(out, "col @ W + b ==\n(4, 4)\n", 16).reshape(4, 4),
                       [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    two = numbers_after(out, "== Two channels ==\n(4, 8)\n", 32 + 2 + 4)
    assert_array_equal(two[:32].reshape(4, 8), SEED_002_TWO_CHANNEL_COL)
    assert_array_equal(two[-4:], [55, 63, 79, 87])
    assert "(4, 8)\n(8, 3)\n(4, 3)\n(1, 3, 2, 2)\n" in out
    assert_array_equal(numbers_after(out, "(4, 3)\n(1, 3, 2, 2)\n", 12), [55, 63, 79, 87] * 3)
    assert_array_equal(numbers_after(out, "(no bias, as in the note) ==\n", 64).reshape(8, 8), SEED_002_TWO_IMAGES_COL)
    assert "(2, 3, 2, 2)\nimage 0, filter 0" in out
    assert out.count("F.conv2d gives the same: True") == 2


def test_seed002_convolution_tests_and_padding(run):
    out = run("seed002_im2col.py")
    tests = numbers_after(out, "then 3x3 with pad=1 ==\n", 4 + 9 + 16)
    assert_array_equal(tests[:4], [11, 15, 23, 27])
    assert_array_equal(tests[4:13], [13, 17, 21, 29, 33, 37, 45, 49, 53])
    assert_array_equal(tests[13:].reshape(4, 4), [[3, 4, 6, 5], [6, 11, 15, 10], [12, 23, 27, 16], [9, 16, 18, 11]])
    assert_array_equal(numbers_after(out, "before im2col ==\n", 25).reshape(5, 5)[1:4, 1:4], np.arange(9).reshape(3, 3))


def test_seed002_windows_and_col2im_round_trip(run):
    out = run("seed002_im2col.py")
    windows = numbers_after(out, "one im2col row per 2x2 window ==\n", 36).reshape(9, 4)
    assert_array_equal(windows[0], [0, 1, 4, 5])
    assert_array_equal(windows[8], [10, 11, 14, 15])
    x2 = numbers_after(out, "not an inverse ==\n", 16 + 16)[16:].reshape(4, 4)
    assert_array_equal(x2, [[0, 2, 4, 3], [8, 20, 24, 14], [16, 36, 40, 22], [12, 26, 28, 15]])
    assert "x2 / counts == x1: True" in out


def test_seed002_max_pooling_forward_and_backward(run):
    out = run("seed002_im2col.py")
    one = out[out.index("Max pooling by im2col: one channel"):]
    assert_array_equal(numbers_after(one, "col ", 16).reshape(4, 4),
                       [[7, 11, 3, 4], [13, 15, 2, 3], [1, 2, 1, 8], [15, 9, 3, 10]])
    assert "arg_max [1 1 3 0]" in one
    assert_array_equal(numbers_after(one, "out ", 4), [11, 15, 8, 15])
    assert_array_equal(numbers_after(one, "max_pool2d_forward:", 4), [11, 15, 8, 15])
    assert_array_equal(numbers_after(one, "dmax ", 16).reshape(4, 4),
                       [[0, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 3], [4, 0, 0, 0]])
    dx = [[0, 1, 0, 2], [0, 0, 0, 0], [0, 0, 4, 0], [0, 3, 0, 0]]
    assert_array_equal(numbers_after(one, "col2im(dmax):", 16).reshape(4, 4), dx)
    assert_array_equal(numbers_after(one, "max_pool2d_backward:", 16).reshape(4, 4), dx)

    two = out[out.index("Max pooling, two channels: forward"):]
    assert "arg_max [1 2 1 3 3 0 0 3]" in two
    assert_array_equal(numbers_after(two, "out ", 8), [11, 10, 15, 13, 8, 8, 15, 15])
    assert_array_equal(numbers_after(two, "(1, 2, 2, 2)\n", 8), [11, 15, 8, 15, 10, 13, 8, 15])
    assert_array_equal(numbers_after(two, "(1, 2, 4, 4)\n", 32).reshape(2, 4, 4), [
        [[0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]],
        [[0, 0, 0, 0], [2, 0, 0, 2], [2, 0, 0, 0], [0, 0, 0, 2]],
    ])


# -- seed 003 -----------------------------------------------------------------------------------

SEED_003_X = np.array([[0, 6, 8, 0, 9], [5, 6, 2, 2, 7], [1, 1, 3, 0, 7], [3, 5, 1, 1, 5], [6, 0, 7, 3, 8]])


def test_seed003_windows(run):
    out = run("seed003_windows_and_conv2d_shapes.py")
    for i in range(3):
        for j in range(3):
            window = numbers_after(out, f"rows {i}:{i + 3}, cols {j}:{j + 3}\n", 9).reshape(3, 3)
            assert_array_equal(window, SEED_003_X[i:i + 3, j:j + 3])
    # the note's first and last windows, as printed
    assert_array_equal(numbers_after(out, "rows 0:3, cols 0:3\n", 9), [0, 6, 8, 5, 6, 2, 1, 1, 3])
    assert_array_equal(numbers_after(out, "rows 2:5, cols 2:5\n", 9), [3, 0, 7, 1, 1, 5, 7, 3, 8])
    assert "im2col rows are these windows: (9, 9) True" in out


def test_seed003_conv2d_shapes(run):
    out = run("seed003_windows_and_conv2d_shapes.py")
    for case in [
        "input: (1, 5, 5, 1)\nW, B: (3, 3, 1, 1) (1,)\noutput: (1, 3, 3, 1)\nloop output, first image: (3, 3)\n",
        "input: (1, 5, 5, 1)\nW, B: (3, 3, 1, 7) (7,)\noutput: (1, 3, 3, 7)\nloop output, first image: (3, 3, 7)\n",
        "input: (1, 5, 5, 3)\nW, B: (3, 3, 3, 1) (1,)\noutput: (1, 3, 3, 1)\nloop output, first image: (3, 3)\n",
        "input: (1, 5, 5, 3)\nW, B: (3, 3, 3, 10) (10,)\noutput: (1, 3, 3, 10)\n",
        "input: (10, 5, 5, 3)\nW, B: (3, 3, 3, 10) (10,)\noutput: (10, 3, 3, 10)\n",
    ]:
        assert case in out
    assert out.count("layer == window loop: True") == 5
    assert "output_np: (3, 3) equals the layer: True" in out


# -- seed 004 -----------------------------------------------------------------------------------

def test_seed004_shapes_through_the_network(run):
    out = run("seed004_cnn_from_layers.py")
    assert "train: (1438, 8, 8, 1) test: (359, 8, 8, 1)" in out
    # conv 10@3x3 with pad 1 keeps 8x8 (the note's y_h formula forgot the padding: 6)
    assert "(8 + 2*1 - 3) // 1 + 1 = 8 (the note's y_h, without the padding: 6)" in out
    assert "cl_1: (8, 8, 8, 10)\npl_1: (8, 4, 4, 10)\nflatten: (8, 160)\nml_1: (8, 100)\nol_1: (8, 10)\n" in out
    assert "n_fc_in: 160" in out
    assert "batch size * dloss/dlogits == softmax(u) - t: True" in out
    assert "Total params: 17,210" in out  # 10*9+10 + 160*100+100 + 100*10+10


def test_seed004_training_learns_the_digits(run):
    out = run("seed004_cnn_from_layers.py")
    losses = [float(v) for v in re.findall(r"train loss (\S+)", out)]
    assert len(losses) >= 3 and losses[-1] < losses[0] / 3
    test_accuracy = float(re.search(r"^test accuracy: (\S+)$", out, re.M).group(1))
    assert test_accuracy > 0.9
    # the trained layers wrapped in a Sequential give the same predictions
    assert float(re.search(r"Sequential test accuracy: (\S+)", out).group(1)) == test_accuracy
    assert "simple_convnet parameters: 49890" in out
    assert float(re.search(r"simple_convnet test accuracy: (\S+)", out).group(1)) > 0.85
