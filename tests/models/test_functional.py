"""The functional API: numcnn.Input, layers called on symbolic tensors, Model(inputs, outputs) over any DAG."""

import json
import os

import numpy as np
import pytest
from _model_grad import check_model_grads
from numpy.testing import assert_allclose, assert_array_equal

import numcnn
from numcnn import Input, Model, Sequential
from numcnn.io import export_onnx, from_keras, from_torch, to_torch
from numcnn.layers import (
    Add,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    InputLayer,
    MaxPooling2D,
    ReLU,
)
from numcnn.layers.symbolic import SymbolicTensor
from numcnn.models import model_from_config


def residual_net(seed=0, channels=4):
    """conv - relu - [conv - bn + skip] - pool - flatten - dense: a ResNet block as a graph."""
    x = Input((8, 8, 3), name="image")
    h = Conv2D(channels, 3, padding="same", activation="relu", name="stem")(x)
    r = Conv2D(channels, 3, padding="same", name="conv_a")(h)
    r = BatchNormalization(name="bn_a")(r)
    h = ReLU(name="relu_a")(Add(name="skip")([h, r]))
    y = Dense(5, name="head")(Flatten(name="flat")(MaxPooling2D(2, name="pool")(h)))
    return Model(x, y, name="resnet_block", seed=seed)


def x8(rng, n=3):
    return rng.standard_normal((n, 8, 8, 3)).astype(np.float32)


# -- building the graph ---------------------------------------------------------------------------------------

def test_symbolic_tensors_carry_shapes_and_dtypes_through_every_layer():
    x = Input((28, 28, 1))
    assert isinstance(x, SymbolicTensor) and x.shape == (None, 28, 28, 1) and x.dtype == np.float32
    h = Conv2D(6, 5, padding="same")(x)
    assert h.shape == (None, 28, 28, 6)
    h = MaxPooling2D(2)(h)
    assert h.shape == (None, 14, 14, 6)
    y = Dense(10)(Flatten()(h))
    assert y.shape == (None, 10) and y.layer.name == "dense"
    assert Input((3,), dtype="float64").dtype == np.float64


@pytest.mark.parametrize("build, message", [
    (lambda x: Conv2D(2, 3)(Flatten()(x)), r"Conv2D\) needs 4D inputs.*Received: inputs with shape \(None, 192\)"),
    (lambda x: Add()([x, Conv2D(2, 3)(x)]), r"needs inputs of one shape.*Received: shapes"),
    (lambda x: Concatenate(axis=1)([x, Flatten()(x)]), r"equal except on axis 1.*Received: shapes"),
    (lambda x: Conv2D(2, 9)(x), r"kernel.*is larger than the padded input"),
    (lambda x: Dense(3, input_shape=(5,))(Flatten()(x)), r"declares input_shape=\(5,\).*Received"),
], ids=["conv-on-flat", "add-shapes", "concat-shapes", "kernel-too-large", "declared-shape"])
def test_a_shape_that_does_not_fit_is_refused_where_the_graph_is_written(build, message):
    with pytest.raises(ValueError, match=message):
        build(Input((8, 8, 3)))


def test_a_shared_layer_called_on_two_shapes_is_refused_when_the_model_is_made():
    dense = Dense(3)
    a, b = Input((4,)), Input((5,))
    ya, yb = dense(a), dense(b)  # no weights yet: shapes alone cannot tell
    with pytest.raises(ValueError, match=r"built for 4 input features.*Received: inputs with shape \(0, 5\) \(a batch of 0 standing for the graph's inputs of shape \(None, 5\)\)"):
        Model([a, b], [ya, yb])


def test_numpy_on_a_symbolic_tensor_says_to_use_layers():
    h = Conv2D(2, 3)(Input((8, 8, 1)))
    for operation in (lambda: np.maximum(h, 0), lambda: np.asarray(h), lambda: np.concatenate([h, h])):
        with pytest.raises(TypeError, match=r"holds no values: apply layers to it.*Received: <SymbolicTensor"):
            operation()


def test_outputs_that_need_an_input_not_given_are_refused():
    a, b = Input((4,), name="a"), Input((4,), name="b")
    y = Add()([Dense(4)(a), b])
    with pytest.raises(ValueError, match=r"depend on input 'b', which is not in `inputs`.*Received: inputs \['a'\]"):
        Model(a, y)
    with pytest.raises(ValueError, match=r"`inputs` argument must hold the tensors numcnn.Input returned"):
        Model(Dense(2)(a), y)
    with pytest.raises(ValueError, match=r"`outputs` argument must be a symbolic tensor.*Received: outputs=3"):
        Model(a, 3)


def test_layers_are_in_graph_order_with_unique_names_and_get_layer_and_output_find_them():
    model = residual_net()
    assert [layer.name for layer in model.layers] == ["image", "stem", "conv_a", "bn_a", "skip", "relu_a", "pool",
                                                       "flat", "head"]
    assert isinstance(model.layers[0], InputLayer)
    assert model.get_layer("conv_a").output.shape == (None, 8, 8, 4)
    assert model.get_layer("skip").input[1] is model.get_layer("bn_a").output
    x = Input((2,))
    a, b = Dense(2)(x), Dense(2)(x)  # two auto names: made unique by the model
    model = Model(x, Add()([a, b]))
    assert [layer.name for layer in model.layers] == ["input_layer", "dense", "dense_1", "add"]


def test_a_shared_layer_has_no_single_output():
    shared = Dense(2, name="shared")
    x = Input((2,))
    shared(shared(x))
    with pytest.raises(ValueError, match=r"'shared' has no single output: it was called 2 times.*Received: 2 calls"):
        shared.output


# -- running, gradients ----------------------------------------------------------------------------------------

def test_a_graph_computes_what_the_same_layers_compute_by_hand(rng):
    model = residual_net()
    x = x8(rng)
    get = model.get_layer
    h = get("stem")(x)
    expected = get("head")(get("flat")(get("pool")(get("relu_a")(get("skip")([h, get("bn_a")(get("conv_a")(h))])))))
    assert_array_equal(model(x), expected)
    assert_allclose(model.predict(x, batch_size=2), expected, rtol=1e-6, atol=1e-7)  # BLAS: batch size may change the sum order


def test_the_same_seed_gives_the_same_weights_and_another_seed_others():
    a, b, c = residual_net(seed=3), residual_net(seed=3), residual_net(seed=4)
    for name, value in a.named_weights().items():
        assert_array_equal(value, b.named_weights()[name])
    assert not np.array_equal(a.params["stem/kernel"], c.params["stem/kernel"])


def test_gradients_of_a_graph_match_numerical_ones_in_float64(rng):
    x = Input((5, 5, 2), dtype="float64")
    shared = Conv2D(2, 3, padding="same", dtype="float64")
    h = shared(x)
    y = Dense(3, dtype="float64")(Flatten()(Add()([h, shared(h)])))  # one layer used twice: its grads add up
    model = Model(x, y, seed=0)
    check_model_grads(model, rng.standard_normal((2, 5, 5, 2)), rng)


def test_several_inputs_and_outputs_run_and_backpropagate(rng):
    image, side = Input((8, 8, 3), name="image"), Input((4,), name="side")
    features = GlobalAveragePooling2D()(Conv2D(4, 3, name="conv")(image))
    logits = Dense(3, name="head")(Concatenate()([features, side]))
    model = Model([image, side], [logits, features], seed=0)
    xi, xs = x8(rng), rng.standard_normal((3, 4)).astype(np.float32)
    out_logits, out_features = model([xi, xs])
    assert out_logits.shape == (3, 3) and out_features.shape == (3, 4)
    dx_image, dx_side = model.backward([np.ones_like(out_logits), np.zeros_like(out_features)])
    assert dx_image.shape == xi.shape and dx_side.shape == xs.shape
    assert_allclose(dx_side, np.ones((3, 3), np.float32) @ model.get_layer("head").params["kernel"][4:].T, rtol=1e-6)
    with pytest.raises(ValueError, match=r"takes 2 input\(s\), \['image', 'side'\]\. Received: 1 array"):
        model(xi)


def test_a_sub_model_ends_at_an_inner_layer_and_shares_its_weights(rng):
    model = residual_net()
    features = Model(model.inputs, model.get_layer("relu_a").output)
    x = x8(rng)
    get = model.get_layer
    h = get("stem")(x)
    assert_array_equal(features(x), get("relu_a")(get("skip")([h, get("bn_a")(get("conv_a")(h))])))
    assert features.get_layer("stem") is get("stem")  # the same layer objects: the same weights
    assert [layer.name for layer in features.layers] == ["image", "stem", "conv_a", "bn_a", "skip", "relu_a"]


def test_a_sequential_and_a_functional_model_nest_in_each_other(rng):
    block = Sequential([Conv2D(4, 3, padding="same", activation="relu"), MaxPooling2D(2)], name="block")
    x = Input((8, 8, 3))
    inner = Model(x, Flatten()(block(x)), name="inner")
    z = Input((8, 8, 3))
    outer = Model(z, Dense(2, name="head")(inner(z)), seed=0)
    data = x8(rng)
    assert outer(data).shape == (3, 2)
    assert sorted(outer.params) == ["head/bias", "head/kernel", "inner/block/conv2d/bias", "inner/block/conv2d/kernel"]
    clone = model_from_config(outer._architecture())
    clone.assign_weights(outer.named_weights())
    assert_array_equal(clone(data), outer(data))


# -- training, saving, summary ----------------------------------------------------------------------------------

def test_fit_trains_a_functional_model_on_digits():
    data = numcnn.data.load_digits()
    x = Input((8, 8, 1))
    h = Conv2D(8, 3, padding="same", activation="relu")(x)
    y = Dense(10)(Flatten()(MaxPooling2D(2)(Add()([h, Conv2D(8, 3, padding="same")(h)]))))
    model = Model(x, y, seed=0)
    model.compile("adam", numcnn.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    history = model.fit(data.x_train, data.y_train, epochs=3, batch_size=32, verbose=0, seed=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(data.x_test, data.y_test)[1] > 0.85


def test_config_json_round_trip_and_save_load_keep_the_graph(tmp_path, rng):
    model = residual_net()
    x = x8(rng)
    config = json.loads(json.dumps(model.get_config()))
    assert config["input_layers"] == [["image", 0, 0]] and config["output_layers"] == [["head", 0, 0]]
    skip = next(entry for entry in config["layers"] if entry["name"] == "skip")
    assert skip["class_name"] == "Add" and skip["inbound_nodes"] == [[["stem", 0, 0], ["bn_a", 0, 0]]]
    clone = model_from_config({"class_name": "Functional", "config": config})
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    model.save(tmp_path / "m.safetensors")
    loaded = numcnn.load(tmp_path / "m.safetensors")
    assert loaded.name == "resnet_block"
    assert_array_equal(loaded.predict(x), model.predict(x))


def test_a_shared_layer_round_trips_with_both_of_its_calls(rng):
    x = Input((3,))
    shared = Dense(3, name="shared")
    model = Model(x, shared(shared(x)), seed=0)
    config = model.get_config()
    assert next(e for e in config["layers"] if e["name"] == "shared")["inbound_nodes"] == [
        [["input_layer", 0, 0]], [["shared", 0, 0]]]
    assert config["output_layers"] == [["shared", 1, 0]]
    clone = model_from_config({"class_name": "Functional", "config": config})
    clone.assign_weights(model.named_weights())
    data = rng.standard_normal((2, 3)).astype(np.float32)
    assert_array_equal(clone(data), model(data))


@pytest.mark.parametrize("change, message", [
    (lambda c: c["layers"][1].update(inbound_nodes=[[["nowhere", 0, 0]]]), r"take tensors no call makes"),
    (lambda c: c.update(output_layers=[["stem", 3, 0]]), r"output_layers .* name tensors it does not make"),
    (lambda c: c["layers"][1].update(class_name="os.system"), r"must name one of"),
    (lambda c: c.update(layers="all of them"), r"needs a 'layers' list"),
], ids=["unknown-inbound", "unknown-output", "unknown-class", "no-list"])
def test_a_bad_functional_config_is_refused_by_name(change, message):
    config = json.loads(json.dumps(residual_net().get_config()))
    change(config)
    with pytest.raises(numcnn.io.FileFormatError, match=message):
        model_from_config({"class_name": "Functional", "config": config})


def test_summary_has_a_connected_to_column():
    lines = []
    residual_net().summary(print_fn=lines.append)
    text = lines[0]
    assert "Connected to" in text.splitlines()[2]
    skip = next(line for line in text.splitlines() if line.startswith("skip (Add)"))
    assert skip.rstrip().endswith("stem[0][0], bn_a[0][0]") and "(None, 8, 8, 4)" in skip


# -- other formats ----------------------------------------------------------------------------------------------

def test_onnx_export_of_a_graph_with_two_inputs_matches_onnxruntime(tmp_path, rng):
    ort = pytest.importorskip("onnxruntime")
    image, side = Input((8, 8, 3)), Input((4,))
    h = Conv2D(4, 3, padding="same", activation="relu")(image)
    h = Add()([h, Conv2D(4, 3, padding="same")(h)])
    logits = Dense(3)(Concatenate()([GlobalAveragePooling2D()(h), side]))
    model = Model([image, side], logits, seed=0)
    export_onnx(model, tmp_path / "m.onnx")
    xi, xs = x8(rng), rng.standard_normal((3, 4)).astype(np.float32)
    session = ort.InferenceSession(os.fspath(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [v.name for v in session.get_inputs()] == ["input_0", "input_1"]
    got = session.run(None, {"input_0": xi, "input_1": xs})[0]
    assert_allclose(got, model([xi, xs]), rtol=1e-5, atol=1e-6)


def test_weights_to_and_from_torch_pair_in_graph_order_or_by_name(rng):
    torch = pytest.importorskip("torch")

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(4 * 4 * 4, 5)  # declared first: torch's order is not the graph's
            self.stem = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.conv_a = torch.nn.Conv2d(4, 4, 3, padding=1)
            self.bn_a = torch.nn.BatchNorm2d(4, eps=1e-3)

        def forward(self, x):
            h = torch.relu(self.stem(x))
            h = torch.relu(h + self.bn_a(self.conv_a(h)))
            return self.head(torch.flatten(torch.nn.functional.max_pool2d(h, 2), 1))

    net = Block().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        net.bn_a.running_mean.copy_(torch.randn(4) * 0.1)
        net.bn_a.running_var.copy_(torch.rand(4) + 0.5)
    model = residual_net()
    with pytest.raises(ValueError, match=r"torch 'head' for numcnn layer 'stem'"):
        from_torch(model, net)  # in order, the torch module's first layer is its head
    names = {"stem": "stem", "conv_a": "conv_a", "bn_a": "bn_a", "head": "head"}
    from_torch(model, net, names=names)
    x = x8(rng)
    expected = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).detach().numpy()
    assert_allclose(model(x), expected, rtol=1e-4, atol=1e-5)
    other = Block()
    to_torch(model, other, names=names)
    assert_allclose(other.eval()(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).detach().numpy(), expected,
                    rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"must map every numcnn layer with weights.*missing \['head'\]"):
        from_torch(model, net, names={k: v for k, v in names.items() if k != "head"})


def test_weights_from_an_equivalent_keras_functional_model(rng):
    keras = pytest.importorskip("keras")
    kx = keras.Input((8, 8, 3))
    kh = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(kx)
    kr = keras.layers.BatchNormalization(epsilon=1e-3)(keras.layers.Conv2D(4, 3, padding="same")(kh))
    kh = keras.layers.ReLU()(keras.layers.Add()([kh, kr]))
    ky = keras.layers.Dense(5)(keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(kh)))
    keras_model = keras.Model(kx, ky)
    model = residual_net()
    from_keras(model, keras_model)
    x = x8(rng)
    assert_allclose(model.predict(x), keras.ops.convert_to_numpy(keras_model(x, training=False)), rtol=1e-4, atol=1e-5)


def test_fit_evaluate_and_predict_say_to_call_a_model_of_several_inputs(rng):
    a, b = Input((3,)), Input((3,))
    model = Model([a, b], Dense(2)(Concatenate()([a, b])), seed=0)
    xs = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(2)]
    assert model(xs).shape == (4, 2)
    model.compile("adam", "mean_squared_error")
    for call in (lambda: model.predict(xs), lambda: model.fit(xs, np.zeros((4, 2)), verbose=0),
                 lambda: model.evaluate(xs, np.zeros((4, 2)))):
        with pytest.raises(ValueError, match=r"takes models with one input and one output; model 'functional' has 2 "
                                             r"inputs and 1 outputs: call it on a list of arrays"):
            call()


def test_a_list_of_one_input_and_one_output_is_one_tensor(rng):
    x = Input((3,))
    model = Model([x], [Dense(2, name="d")(x)], seed=0)
    data = rng.standard_normal((5, 3)).astype(np.float32)
    expected = data @ model.get_layer("d").params["kernel"] + model.get_layer("d").params["bias"]
    assert_allclose(model.predict(data, batch_size=2), expected, rtol=1e-6)
    assert model(data).shape == (5, 2) and model.output_shape == (None, 2)
