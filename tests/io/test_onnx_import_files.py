"""ONNX import of whole files: refusals with clear errors (bad files, opsets, ops, shapes), external data,
the round trip export -> import -> export, and training an imported network (gradients against PyTorch)."""

import numpy as np
import onnx
import pytest
from numpy.testing import assert_allclose
from onnx import helper

from helpers import import_torch
from onnx_graphs import graph_model, one_node, run_onnxruntime

import numcnn
from numcnn.io import export_onnx
from numcnn.io.onnx_import import OnnxImportError, from_onnx
from numcnn.layers import (
    Add,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Flatten,
    MaxPooling2D,
    ReLU,
)

pytest.importorskip("onnxruntime")


def relu_model(opset=17, **kwargs):
    return one_node("Relu", (3, 4, 4), opset=opset, **kwargs)


# -- opsets, ops, domains ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("opset, message", [
    (5, r"numcnn imports ONNX opsets 6 to 21\. Received: opset 5 \(older files: convert them with onnx.version_"),
    (22, r"numcnn imports ONNX opsets 6 to 21\. Received: opset 22$")])
def test_opsets_outside_6_to_21_are_refused_by_number(opset, message):
    model = relu_model(opset=min(max(opset, 6), 21))
    model.opset_import[0].version = opset
    with pytest.raises(OnnxImportError, match=message):
        from_onnx(model)


def test_an_unsupported_op_is_named_with_its_node_and_the_supported_list():
    model = one_node("HardSwish", (3, 4, 4), opset=14)
    with pytest.raises(OnnxImportError) as info:
        from_onnx(model)
    message = str(info.value)
    assert "ONNX node 'the_hardswish' is a 'HardSwish', which numcnn cannot import" in message
    assert "Supported ops: Add, AveragePool, BatchNormalization, Clip, Concat, Conv, ConvTranspose" in message
    assert message.endswith("Received: op_type='HardSwish'")


def test_an_op_of_another_domain_is_refused():
    model = relu_model()
    model.graph.node[0].domain = "com.microsoft"
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(OnnxImportError, match=r"is in domain 'com.microsoft'; numcnn imports the standard ONNX ops"):
        from_onnx(model)


@pytest.mark.parametrize("build, message", [
    (lambda: one_node("Gemm", (5,), {"b": np.ones((4, 3), np.float32)}, transA=1),
     r"'the_gemm': transA=1 moves the batch axis"),
    (lambda: one_node("Reshape", (4, 6), {"s": np.array([1, -1])}),
     r"Reshape must keep the batch axis first \(0, -1 or the batch taken from Shape\).*Received: shape \[1, -1\]"),
    (lambda: one_node("Transpose", (4, 6), perm=[1, 0, 2]), r"Transpose that moves the batch axis"),
    (lambda: one_node("Div", (4,), {"c": np.ones(4, np.float32)}, inputs=["c", "x"]),
     r"a constant divided by a computed tensor has no numcnn layer"),
    (lambda: one_node("Pad", (3, 4, 4), {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1]), "v": np.array(1.5, np.float32)}),
     r"numcnn pads with zeros \(ZeroPadding2D\)\. Received: constant value 1.5"),
    (lambda: one_node("Pad", (3, 4, 4), {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1])}, mode="reflect"),
     r"numcnn imports constant padding\. Received: mode='reflect'"),
    (lambda: one_node("MaxPool", (3, 4, 4), kernel_shape=[2, 2], dilations=[2, 2]),
     r"dilated pooling has no numcnn layer\. Received: dilations=\[2, 2\]"),
    (lambda: one_node("Add", (3, 4, 4), {"c": np.ones((2, 3, 1, 1), np.float32)}),
     r"constant of shape \(2, 3, 1, 1\) must broadcast to one sample"),
], ids=["gemm-transA", "reshape-batch", "transpose-batch", "const-div", "pad-value", "pad-mode", "dilated-pool",
        "batch-constant"])
def test_forms_without_a_numcnn_meaning_are_refused_by_name(build, message):
    with pytest.raises(OnnxImportError, match=message):
        from_onnx(build())


def test_arithmetic_on_the_batch_size_is_refused():
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Mul", ["n", "two"], ["n2"]),
             helper.make_node("Concat", ["n2", "m1"], ["t"], axis=0),
             helper.make_node("Reshape", ["x", "t"], ["y"])]
    init = {"zero": np.array([0]), "two": np.array([2]), "m1": np.array([-1])}
    with pytest.raises(OnnxImportError, match=r"computes with the batch size in a way numcnn cannot fold"):
        from_onnx(graph_model(nodes, {"x": ["n", 4, 6]}, ["y"], init))


def test_a_constant_output_and_an_undefined_input_are_refused():
    model = graph_model([helper.make_node("Relu", ["c"], ["y"])], {"x": ["n", 3]}, ["y"], {"c": np.ones(3, np.float32)})
    with pytest.raises(OnnxImportError, match=r"Graph output 'y' is a constant, not computed from the inputs"):
        from_onnx(model)
    model = graph_model([helper.make_node("Relu", ["nowhere"], ["y"])], {"x": ["n", 3]}, ["y"])
    with pytest.raises(OnnxImportError, match=r"reads 'nowhere', which no earlier node makes.*truncated or its nodes"):
        from_onnx(model)


# -- shapes ------------------------------------------------------------------------------------------------------

def test_a_dynamic_spatial_axis_needs_input_shape(rng):
    model = graph_model([helper.make_node("Relu", ["x"], ["y"])], {"x": ["n", 3, "h", "w"]}, ["y"])
    with pytest.raises(OnnxImportError, match=r"Graph input 'x' has a dynamic axis 2 \(h\).*Pass input_shape="):
        from_onnx(model)
    imported = from_onnx(model, input_shape=(3, 5, 6))
    assert imported.input_shape == (None, 5, 6, 3)
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    assert_allclose(imported.predict(x), np.maximum(x, 0))
    with pytest.raises(ValueError, match=r"The `input_shape` for 'x' must give the 3 axes after the batch axis"):
        from_onnx(model, input_shape=(3, 5))


def test_a_fixed_batch_of_one_in_the_file_becomes_a_free_batch(rng):
    model = graph_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [1, 3, 4, 4]}, ["y"])
    x = rng.standard_normal((5, 4, 4, 3)).astype(np.float32)
    assert_allclose(from_onnx(model).predict(x), np.maximum(x, 0))


def test_double_inputs_give_a_float64_model(rng):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, ["n", 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, None)])
    imported = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    assert imported.predict(rng.standard_normal((2, 3))).dtype == np.float64


# -- files -------------------------------------------------------------------------------------------------------

def small_net(seed=0):
    x = numcnn.Input((8, 8, 3), name="image")
    h = Conv2D(4, 3, padding="same", name="conv")(x)
    h = ReLU(name="relu")(BatchNormalization(name="bn")(h))
    branch = Conv2D(4, 1, name="branch")(h)
    h = Concatenate(name="cat")([Add(name="skip")([h, branch]), branch])
    h = MaxPooling2D(2, name="pool")(h)
    y = Dense(5, name="head")(Flatten(name="flat")(h))
    model = numcnn.Model(x, y, seed=seed)
    rng = np.random.default_rng(seed)
    bn = model.get_layer("bn")
    bn.state["moving_mean"][...] = rng.standard_normal(4)
    bn.state["moving_variance"][...] = rng.uniform(0.5, 2, 4)
    return model


@pytest.mark.parametrize("cut", [0.05, 0.5, 0.95])
def test_a_truncated_file_gets_a_clear_error(cut, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(small_net(), path)
    raw = path.read_bytes()
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(OnnxImportError, match=r"truncated"):
        from_onnx(broken)


def test_a_file_that_is_not_onnx_and_a_missing_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff\xfe not protobuf at all \x00\x01" * 10)
    with pytest.raises(OnnxImportError, match=r"is not a readable ONNX model: the file is truncated, corrupt or not"):
        from_onnx(bad)
    with pytest.raises(FileNotFoundError, match=r"Received: model='.*nothing.onnx', which is not a file"):
        from_onnx(tmp_path / "nothing.onnx")
    with pytest.raises(TypeError, match=r"must be a path to an .onnx file or an onnx.ModelProto. Received: int"):
        from_onnx(3)


def test_external_data_is_read_and_its_absence_named(tmp_path, rng):
    model = one_node("Conv", (3, 6, 6), {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32)})
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    expected = run_onnxruntime(model, {"x": x})[0]
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="ext.bin",
                    size_threshold=0)
    assert_allclose(from_onnx(path, "channels_first").predict(x), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(OnnxImportError, match=r"which a ModelProto alone cannot find"):
        from_onnx(onnx.load(str(path), load_external_data=False))
    (tmp_path / "ext.bin").unlink()
    with pytest.raises(OnnxImportError, match=r"keeps tensor 'w' in the external data file 'ext.bin', which is missing"):
        from_onnx(path)


def test_names_come_from_the_nodes_made_valid_and_unique():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="/layer1/act/Relu"),
             helper.make_node("Relu", ["a"], ["b"], name="/layer1/act/Relu"),
             helper.make_node("Sigmoid", ["b"], ["y"])]
    imported = from_onnx(graph_model(nodes, {"x": ["n", 3]}, ["y"]))
    assert [layer.name for layer in imported.layers] == ["x", "layer1_act_Relu", "layer1_act_Relu_1", "y"]


# -- round trip ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_export_import_export_gives_the_same_numbers(data_format, tmp_path, rng):
    """numcnn's export keeps NHWC at the graph's input and output (with Transposes inside): both data formats
    import it with that input, and the Transposes cost no layer (each layer reads the layout it is given)."""
    model = small_net()
    x = rng.standard_normal((3, 8, 8, 3)).astype(np.float32)
    export_onnx(model, tmp_path / "first.onnx")
    imported = from_onnx(tmp_path / "first.onnx", data_format)
    assert_allclose(imported.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)
    assert imported.count_params() == model.count_params()
    kinds = [type(layer).__name__ for layer in imported.layers]
    assert "Permute" not in kinds and "Reshape" not in kinds
    export_onnx(imported, tmp_path / "second.onnx")
    assert_allclose(run_onnxruntime(onnx.load(str(tmp_path / "second.onnx")), {"input": x})[0], model.predict(x),
                    rtol=1e-5, atol=1e-6)


# -- training ----------------------------------------------------------------------------------------------------

def torch_basic_block(torch):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
            self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            h = torch.relu(self.bn2(self.conv2(h)) + x)
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))

    torch.manual_seed(0)
    block = Block()
    for bn in (block.bn1, block.bn2):
        bn.weight.data.uniform_(0.5, 1.5), bn.bias.data.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2)
    return block


@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
@pytest.mark.parametrize("training", [False, True])
def test_gradients_through_an_imported_resnet_block_match_pytorch(training, data_format, tmp_path, rng):
    torch = import_torch()
    block = torch_basic_block(torch).eval()
    x = rng.standard_normal((3, 4, 6, 6)).astype(np.float32)
    torch.onnx.export(block, torch.from_numpy(x), str(tmp_path / "block.onnx"), dynamo=False, opset_version=17,
                      do_constant_folding=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})
    imported = from_onnx(tmp_path / "block.onnx", data_format)
    assert [type(layer).__name__ for layer in imported.layers].count("BatchNormalization") == 2
    dy = rng.standard_normal((3, 3)).astype(np.float32)

    block.train(training)
    xt = torch.from_numpy(x).requires_grad_()
    yt = block(xt)
    yt.backward(torch.from_numpy(dy))
    x_in = x if data_format == "channels_first" else x.transpose(0, 2, 3, 1)
    y = imported(x_in, training=training)
    assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    dx = imported.backward(dy)
    dx = dx if data_format == "channels_first" else dx.transpose(0, 3, 1, 2)
    assert_allclose(dx, xt.grad.numpy(), rtol=1e-3, atol=1e-5)

    convs = [layer for layer in imported.layers if isinstance(layer, Conv2D)]
    bns = [layer for layer in imported.layers if isinstance(layer, BatchNormalization)]
    dense = [layer for layer in imported.layers if isinstance(layer, Dense)][0]
    for layer, conv in zip(convs, (block.conv1, block.conv2)):
        assert_allclose(layer.grads["kernel"], conv.weight.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-3, atol=1e-5)
    for layer, bn in zip(bns, (block.bn1, block.bn2)):
        assert_allclose(layer.grads["gamma"], bn.weight.grad.numpy(), rtol=1e-3, atol=1e-5)
        assert_allclose(layer.grads["beta"], bn.bias.grad.numpy(), rtol=1e-3, atol=1e-5)
    assert_allclose(dense.grads["kernel"], block.fc.weight.grad.numpy().T, rtol=1e-3, atol=1e-5)
    assert_allclose(dense.grads["bias"], block.fc.bias.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_an_imported_network_fine_tunes(tmp_path, rng):
    torch = import_torch()
    block = torch_basic_block(torch).eval()
    torch.onnx.export(block, torch.zeros(1, 4, 6, 6), str(tmp_path / "block.onnx"), dynamo=False, opset_version=13,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    model = from_onnx(tmp_path / "block.onnx")
    x = rng.standard_normal((64, 6, 6, 4)).astype(np.float32)
    labels = np.digitize(x[..., 0].mean(axis=(1, 2)), [-0.1, 0.1])  # a rule the block can learn
    model.compile(optimizer=numcnn.optimizers.Adam(0.01), loss=numcnn.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    history = model.fit(x, labels, epochs=10, batch_size=16, verbose=0, seed=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0]


def test_a_proto_imports_twice_unchanged_and_weights_draw_no_randomness(tmp_path, rng):
    """Weights are made under skip_init (zeros, no draws) and set from the file; the caller's proto is
    read, never changed, so a second import gives the same model."""
    model = small_net(seed=3)
    export_onnx(model, tmp_path / "net.onnx")
    proto = onnx.load(str(tmp_path / "net.onnx"))
    before = proto.SerializeToString()
    first, second = from_onnx(proto), from_onnx(proto)
    assert proto.SerializeToString() == before
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    assert_allclose(first.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(second.predict(x), first.predict(x))


def test_skip_init_makes_zeros_and_leaves_the_generator_alone():
    from numcnn.layers.base import skip_init

    layer = Dense(3, seed=5)
    state = layer.rng.bit_generator.state
    with skip_init():
        layer.build((None, 4))
    assert not layer.params["kernel"].any() and layer.params["kernel"].dtype == np.float32
    assert layer.rng.bit_generator.state == state
    plain = Dense(3, seed=5)
    plain.build((None, 4))
    assert np.abs(plain.params["kernel"]).sum() > 0  # outside, the initializer draws as always
