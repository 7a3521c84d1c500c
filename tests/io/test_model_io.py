"""save_weights / load_weights and save_model / load_model: exact round trips and clear mismatch errors."""

import json
import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import numcnn
from numcnn import Model, Sequential
from numcnn.io import (
    FileFormatError,
    load_arrays,
    load_model,
    load_weights,
    save_arrays,
    save_model,
    save_weights,
)
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
    return {k: v.copy() for k, v in model.named_weights().items()}


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
    with pytest.raises(FileFormatError, match=r"w\.safetensors: holds the weights of a 'Sequential' model without "
                                              r"an architecture.*Received: model=None"):
        load_model(tmp_path / "w.safetensors")


def test_save_model_of_a_subclassed_model_is_a_type_error(tmp_path, rng):
    model = Residual()
    model(_x(rng))
    with pytest.raises(TypeError, match=r"numcnn\.save\(model, path\).*Received"):
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


# -- numcnn.save / numcnn.load: any model, one file; format versions read or refused by name --

def test_sequential_round_trip_rebuilds_the_model(tmp_path, rng):
    model = sequential()
    _train_a_little(model, rng)
    numcnn.save(model, tmp_path / "m.safetensors")
    loaded = numcnn.load(tmp_path / "m.safetensors")
    assert isinstance(loaded, numcnn.Sequential) and loaded is not model
    x = _x(rng)
    assert_array_equal(loaded.predict(x), model.predict(x))


def test_subclassed_model_loads_into_a_fresh_unbuilt_instance(tmp_path, rng):
    model = Residual()
    _train_a_little(model, rng)
    numcnn.save(model, tmp_path / "r.safetensors")
    fresh = Residual(seed=99)  # other initial weights: equal outputs mean the file's weights arrived
    assert not fresh.built
    assert numcnn.load(tmp_path / "r.safetensors", model=fresh) is fresh
    x = _x(rng)
    assert_array_equal(fresh.predict(x), model.predict(x))
    for name, value in model.named_weights().items():  # the moving statistics too
        assert_array_equal(fresh.named_weights()[name], value)


def test_subclassed_file_without_a_model_names_the_class(tmp_path, rng):
    model = Residual()
    model.build((None, 6, 6, 2))
    numcnn.save(model, tmp_path / "r.safetensors")
    with pytest.raises(FileFormatError, match=r"weights of a 'Residual' model without an architecture .*"
                                              r"load\(path, model=Residual\(\.\.\.\)\)\. Received: model=None"):
        numcnn.load(tmp_path / "r.safetensors")


def test_loading_into_a_model_with_other_layers_is_refused(tmp_path, rng):
    model = Residual()
    model.build((None, 6, 6, 2))
    numcnn.save(model, tmp_path / "r.safetensors")
    with pytest.raises(FileFormatError, match=r"array 'conv2d/kernel' must be float with shape \(3, 3, 2, 5\)\. "
                                              r"Received: float32 with shape \(3, 3, 2, 3\)"):
        numcnn.load(tmp_path / "r.safetensors", model=Residual(width=5))


def test_a_sequential_file_loads_into_a_given_model(tmp_path, rng):
    model = sequential()
    _train_a_little(model, rng)
    numcnn.save(model, tmp_path / "m.safetensors")
    other = sequential(seed=7)
    numcnn.load(tmp_path / "m.safetensors", model=other)
    x = _x(rng)
    assert_array_equal(other.predict(x), model.predict(x))


@pytest.mark.parametrize("bad", [None, "model", 3])
def test_save_refuses_what_is_not_a_model(bad, tmp_path):
    with pytest.raises(TypeError, match="The `model` argument must be a numcnn Model or Sequential"):
        numcnn.save(bad, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def _rewrite_meta(path, **changes):
    arrays, meta = load_arrays(path)
    meta.update(changes)
    meta = {k: v for k, v in meta.items() if v is not _DROP}
    save_arrays(path, {k: np.asarray(v) for k, v in arrays.items()}, meta)


_DROP = object()


def test_a_version_1_file_from_an_older_numcnn_loads(tmp_path, rng):
    """Files keep loading across numcnn releases while the format version is one this numcnn reads."""
    model = sequential()
    _train_a_little(model, rng)
    path = tmp_path / "old.safetensors"
    numcnn.save(model, path)
    _rewrite_meta(path, numcnn_version="0.0.1", format_version=1)
    x = _x(rng)
    assert_array_equal(numcnn.load(path).predict(x), model.predict(x))


@pytest.mark.parametrize("version, message", [
    (2, r"written by a newer numcnn \(format version 2\); this numcnn reads version 1 and older: upgrade numcnn"),
    (0, r"no valid format_version .* Received: format_version=0"),
    ("1", r"no valid format_version .* Received: format_version='1'"),
    (True, r"no valid format_version .* Received: format_version=True"),
    (_DROP, r"no valid format_version .* Received: format_version=None"),
])
def test_format_versions_this_numcnn_cannot_read_are_named(version, message, tmp_path):
    model = sequential()
    path = tmp_path / "m.safetensors"
    numcnn.save(model, path)
    _rewrite_meta(path, format_version=version)
    with pytest.raises(FileFormatError, match=message):
        numcnn.load(path)


def test_the_config_is_data_not_code(tmp_path):
    """A layer class name is looked up in numcnn's table, never evaluated."""
    path = tmp_path / "m.safetensors"
    numcnn.save(sequential(), path)
    arrays, meta = load_arrays(path)
    config = meta["model_config"]
    config["config"]["layers"][0]["class_name"] = "__import__('os').system('touch pwned')"
    save_arrays(path, {k: np.asarray(v) for k, v in arrays.items()}, meta)
    with pytest.raises(FileFormatError, match="invalid model config"):
        numcnn.load(path)
    assert not (tmp_path / "pwned").exists()
    assert json.dumps(meta)  # the metadata is plain JSON


def test_a_subclassed_file_without_input_shape_asks_for_a_built_model(tmp_path, rng):
    model = Residual()
    model.build((None, 6, 6, 2))
    path = tmp_path / "r.safetensors"
    numcnn.save(model, path)
    _rewrite_meta(path, input_shape=None)
    with pytest.raises(FileFormatError, match=r"no input shape saved to build model .* build it first"):
        numcnn.load(path, model=Residual())
    built = Residual()
    built.build((None, 6, 6, 2))
    numcnn.load(path, model=built)  # a built model needs no shape


# -- Keras habits and file names ---------------------------------------------------------------------------------

def test_model_save_is_numcnn_save(tmp_path, rng):
    model = sequential()
    x = _x(rng)
    model(x)
    model.save(tmp_path / "m.safetensors")
    assert_array_equal(numcnn.load(tmp_path / "m.safetensors").predict(x), model.predict(x))
    residual = Residual()
    residual(x)
    residual.save(tmp_path / "r.safetensors")
    assert_array_equal(numcnn.load(tmp_path / "r.safetensors", model=Residual()).predict(x), residual.predict(x))


@pytest.mark.parametrize("name", ["m.npz", "m.h5", "m.keras", "m", "m.onnx", "m.safetensors.tmp"])
def test_a_suffix_that_is_not_safetensors_is_refused_before_writing(tmp_path, rng, name):
    model = sequential()
    model(_x(rng))
    for save in (numcnn.save, save_weights, lambda m, p: m.save(p), lambda m, p: m.save_weights(p)):
        with pytest.raises(ValueError, match=r"must name a new \.safetensors file.*Received: path=") as info:
            save(model, tmp_path / name)
        assert ("numcnn.io.export_onnx" in str(info.value)) == name.endswith(".onnx")
    assert list(tmp_path.iterdir()) == []


def test_get_layer_by_name_and_index(rng):
    model = sequential()
    model(_x(rng))
    names = [layer.name for layer in model.layers]
    assert model.get_layer(names[1]) is model.layers[1] and model.get_layer(index=-1) is model.layers[-1]
    with pytest.raises(ValueError, match=re.escape(f"no layer named 'nope'; its layers are {names}. Received: name='nope'")):
        model.get_layer("nope")
    with pytest.raises(ValueError, match=r"`index` argument must be an int in \[-\d+, \d+\)"):
        model.get_layer(index=len(names))
    with pytest.raises(ValueError, match="takes a name or an index"):
        model.get_layer()


def test_a_model_of_a_batch_of_numbers_saves_and_loads(tmp_path):
    model = numcnn.Sequential([numcnn.layers.PReLU(alpha_initializer="ones")])
    model(np.array([-1.0, 2.0], np.float32))
    model.get_layer(model.layers[0].name).params["alpha"][...] = 0.25  # one number: alpha of shape ()
    model.save(tmp_path / "numbers.safetensors")
    loaded = numcnn.load(tmp_path / "numbers.safetensors")
    np.testing.assert_array_equal(loaded.predict(np.array([-4.0, 3.0], np.float32)), [-1.0, 3.0])
    assert loaded.input_shape == (None,) and loaded.layers[0].params["alpha"].shape == ()
