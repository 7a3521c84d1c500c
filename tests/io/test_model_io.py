"""save_weights / load_weights and save_model / load_model: exact round trips and clear mismatch errors."""

import numpy as np
import pytest

import numcnn
from numcnn import Model, Sequential
from numcnn.io import FileFormatError, load_arrays, load_model, load_weights, model_arrays, save_model, save_weights
from numcnn.layers import (
    Add,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    MaxPooling2D,
    ReLU,
)
from numcnn.losses import SparseCategoricalCrossentropy


def sequential(seed=0, units=10, dtype=None):
    return Sequential([
        Conv2D(3, 3, padding="same", input_shape=(6, 6, 2), dtype=dtype),
        BatchNormalization(momentum=0.5),
        ReLU(),
        MaxPooling2D(2),
        Flatten(),
        Dropout(0.3),
        Dense(units),
    ], seed=seed)


class Residual(Model):
    """A subclassed model: a residual Add and batch norm."""

    def __init__(self, seed=0, width=3):
        super().__init__(seed=seed)
        self.stem = Conv2D(width, 3, padding="same")
        self.norm = BatchNormalization(momentum=0.5)
        self.branch = Conv2D(width, 3, padding="same", activation="relu")
        self.add = Add()
        self.pool = GlobalAveragePooling2D()
        self.head = Dense(4)

    def call(self, x, training=False):
        h = self.norm(self.stem(x), training=training)
        return self.head(self.pool(self.add([h, self.branch(h)])))


def _x(rng, n=5):
    return rng.standard_normal((n, 6, 6, 2)).astype(np.float32)


def _train_a_little(model, rng):
    """Make every array, moving statistics included, differ from its initial value."""
    x = _x(rng, 12)
    model.compile("adam", SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, rng.integers(0, 4, 12), epochs=2, batch_size=4, verbose=0, seed=0)
    return model


def _arrays(model):
    return {k: v.copy() for k, v in model_arrays(model).items()}


def _assert_same_arrays(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("make", [sequential, Residual], ids=["sequential", "subclassed"])
def test_save_weights_load_weights_round_trip(tmp_path, rng, make):
    model = make(seed=0)
    x = _x(rng)
    model(x)  # built
    _train_a_little(model, rng)
    path = tmp_path / "weights.safetensors"
    model.save_weights(path)

    other = make(seed=1)
    other(x)
    assert any(not np.array_equal(a, b) for a, b in zip(_arrays(other).values(), _arrays(model).values()))
    other.load_weights(path)
    _assert_same_arrays(_arrays(other), _arrays(model))
    np.testing.assert_array_equal(other(x), model(x))
    assert "batch_normalization/moving_mean" in _arrays(other) or "norm/moving_mean" in _arrays(other)


def test_save_weights_keeps_float64(tmp_path):
    model = sequential(dtype="float64")
    model.build((None, 6, 6, 2))
    save_weights(model, tmp_path / "w.safetensors")
    arrays, meta = load_arrays(tmp_path / "w.safetensors")
    assert arrays["conv2d/kernel"].dtype == np.float64
    assert meta["format"] == "numcnn.weights" and meta["format_version"] == 1
    assert meta["numcnn_version"] == numcnn.__version__ and meta["input_shape"] == [6, 6, 2]


def test_save_model_load_model_round_trip(tmp_path, rng):
    model = _train_a_little(sequential(), rng)
    x = _x(rng, 9)
    path = tmp_path / "model.safetensors"
    save_model(model, path)
    loaded = load_model(path)
    assert type(loaded) is Sequential
    assert loaded.get_config() == model.get_config()
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    _assert_same_arrays(_arrays(loaded), _arrays(model))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))
    # a model file also holds plain weights
    fresh = sequential(seed=3)
    load_weights(fresh, path)
    _assert_same_arrays(_arrays(fresh), _arrays(model))


def test_load_model_needs_a_model_file(tmp_path):
    model = sequential()
    model.build((None, 6, 6, 2))
    save_weights(model, tmp_path / "w.safetensors")
    with pytest.raises(FileFormatError, match=r"w\.safetensors: expected a 'numcnn.model' file. "
                                              r"Received: format='numcnn.weights'"):
        load_model(tmp_path / "w.safetensors")


def test_save_model_of_a_subclassed_model_is_a_type_error(tmp_path, rng):
    model = Residual()
    model(_x(rng))
    with pytest.raises(TypeError, match="save_weights.*Received"):
        save_model(model, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_load_weights_into_another_architecture_names_the_arrays(tmp_path):
    model = sequential()
    model.build((None, 6, 6, 2))
    path = tmp_path / "w.safetensors"
    save_weights(model, path)
    other = Sequential([Flatten(input_shape=(6, 6, 2)), Dense(10), Dense(10)], seed=0)
    other.build((None, 6, 6, 2))
    before = _arrays(other)
    with pytest.raises(FileFormatError) as info:
        load_weights(other, path)
    message = str(info.value)
    assert message.startswith(f"{path}: the arrays do not match model")
    assert "missing ['dense_1/bias', 'dense_1/kernel']" in message
    assert "unexpected ['batch_normalization/beta', 'batch_normalization/gamma'" in message
    assert "Received: 8 arrays for a model with 4" in message
    _assert_same_arrays(_arrays(other), before)  # nothing was half-loaded


def test_load_weights_shape_mismatch_names_the_array(tmp_path):
    model = sequential(units=10)
    model.build((None, 6, 6, 2))
    path = tmp_path / "w.safetensors"
    save_weights(model, path)
    other = sequential(units=7)
    other.build((None, 6, 6, 2))
    before = _arrays(other)
    with pytest.raises(FileFormatError, match=r"array 'dense/(kernel|bias)' must be float with shape \((27, )?7,?\). "
                                              r"Received: float32 with shape \((27, )?10,?\)"):
        load_weights(other, path)
    _assert_same_arrays(_arrays(other), before)


def test_load_weights_refuses_integer_arrays(tmp_path):
    from numcnn.io import save_arrays

    model = sequential()
    model.build((None, 6, 6, 2))
    arrays = _arrays(model)
    arrays["dense/bias"] = np.arange(10, dtype=np.int32)
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays, {"format": "numcnn.weights", "format_version": 1})
    with pytest.raises(FileFormatError, match="'dense/bias' must be float.*Received: int32"):
        load_weights(model, path)


def test_weights_of_an_unbuilt_subclassed_model(tmp_path):
    with pytest.raises(ValueError, match="no weights yet.*Received"):
        save_weights(Residual(), tmp_path / "w.safetensors")
    assert list(tmp_path.iterdir()) == []
