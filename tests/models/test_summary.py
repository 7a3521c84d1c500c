"""model.summary(): output shapes, parameter counts and totals (Keras' table)."""

import re

import numpy as np

from numcnn import Model, Sequential
from numcnn.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    assert len(lines) == 1  # one call with the whole table
    return lines[0].splitlines()


def _row(lines, name):
    """(output shape, param count) of the row of layer ``name``."""
    for line in lines:
        if line.startswith(name + " "):
            match = re.fullmatch(r"\s+(\(.*\)|\? \(not called yet\))\s+([\d,]+)", line[len(name):])
            return match.group(1), match.group(2)
    raise AssertionError(f"no row for {name!r} in:\n" + "\n".join(lines))


def _totals(lines):
    text = "\n".join(lines)
    return tuple(re.search(rf"^{label} params: ([\d,]+)", text, re.M).group(1)
                 for label in ("Total", "Trainable", "Non-trainable"))


def test_seed001_sequential_summary():
    model = Sequential([Conv2D(10, 3, activation="relu", input_shape=(28, 28, 3)),
                        Conv2D(20, 3, activation="relu"), Conv2D(30, 3, activation="relu")], seed=0)
    lines = _summary(model)
    assert lines[0] == 'Model: "sequential"'
    assert _row(lines, "conv2d (Conv2D)") == ("(None, 26, 26, 10)", "280")
    assert _row(lines, "conv2d_1 (Conv2D)") == ("(None, 24, 24, 20)", "1,820")
    assert _row(lines, "conv2d_2 (Conv2D)") == ("(None, 22, 22, 30)", "5,430")
    assert _totals(lines) == ("7,530", "7,530", "0")
    assert "Total params: 7,530 (29.41 KB)" in lines  # 7530 float32 = 30120 bytes


def test_seed000_dense_summary():
    model = Sequential([Dense(49, input_shape=(49,))], name="fully_connected")
    lines = _summary(model)
    assert lines[0] == 'Model: "fully_connected"'
    assert _row(lines, "dense (Dense)") == ("(None, 49)", "2,450")
    assert _totals(lines) == ("2,450", "2,450", "0")


def test_summary_with_non_trainable_weights_after_a_call():
    model = Sequential([Conv2D(10, 3, activation="relu"), MaxPooling2D(), BatchNormalization(), Flatten(),
                        Dropout(0.5), Dense(4)], seed=0)
    model(np.zeros((2, 8, 8, 3), np.float32))
    lines = _summary(model)
    assert _row(lines, "conv2d (Conv2D)") == ("(None, 6, 6, 10)", "280")
    assert _row(lines, "max_pooling2d (MaxPooling2D)") == ("(None, 3, 3, 10)", "0")
    assert _row(lines, "batch_normalization (BatchNormalization)") == ("(None, 3, 3, 10)", "40")
    assert _row(lines, "flatten (Flatten)") == ("(None, 90)", "0")
    assert _row(lines, "dropout (Dropout)") == ("(None, 90)", "0")
    assert _row(lines, "dense (Dense)") == ("(None, 4)", "364")
    assert _totals(lines) == ("684", "664", "20")
    names = [line.split(" ")[0] for line in lines[4:10]]
    assert names == ["conv2d", "max_pooling2d", "batch_normalization", "flatten", "dropout", "dense"]


def test_summary_of_a_frozen_layer():
    model = Sequential([Dense(8, input_shape=(4,), trainable=False), Dense(2)])
    assert _totals(_summary(model)) == ("58", "18", "40")


def test_summary_before_building():
    model = Sequential([Conv2D(2, 3), Dense(1)])
    lines = _summary(model)
    assert _row(lines, "conv2d (Conv2D)") == ("? (not called yet)", "0")
    assert _totals(lines) == ("0", "0", "0")
    model.build((None, 5, 5, 1))
    lines = _summary(model)
    assert _row(lines, "conv2d (Conv2D)") == ("(None, 3, 3, 2)", "20")
    assert _row(lines, "dense (Dense)") == ("(None, 3, 3, 1)", "3")


def test_summary_of_a_subclassed_model_with_a_nested_sequential():
    class Net(Model):
        def __init__(self):
            super().__init__(seed=0, name="net")
            self.features = Sequential([Conv2D(4, 3), MaxPooling2D()])
            self.flatten = Flatten()
            self.head = Dense(3)

        def call(self, x):
            return self.head(self.flatten(self.features(x)))

    model = Net()
    model(np.zeros((1, 8, 8, 1), np.float32))
    lines = _summary(model)
    assert lines[0] == 'Model: "net"'
    assert _row(lines, "sequential (Sequential)") == ("(None, 3, 3, 4)", "40")
    assert _row(lines, "dense (Dense)") == ("(None, 3)", "111")
    assert _totals(lines) == ("151", "151", "0")


def test_summary_prints_by_default(capsys):
    Sequential([Dense(2, input_shape=(3,))]).summary()
    assert "Total params: 8" in capsys.readouterr().out
