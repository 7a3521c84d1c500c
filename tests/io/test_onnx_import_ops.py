"""ONNX import, op by op: each op and attribute form (and the forms that changed between opsets)
against onnxruntime (opset 7 and up) and ONNX's reference evaluator (opset 6), in both data formats."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from onnx import helper

from numcnn.io.onnx_import import from_onnx
from onnx_graphs import graph_model, one_node, run_numcnn, run_onnxruntime, run_reference

pytest.importorskip("onnxruntime")
FORMATS = ["channels_first", "channels_last"]


def check(model, x, data_format, rtol=1e-5, atol=1e-6, oracle=None):
    """numcnn's import of ``model`` against the oracle (onnxruntime from opset 7, the reference evaluator
    before); returns the imported model."""
    opset = model.opset_import[0].version
    oracle = oracle or (run_reference if opset < 7 else run_onnxruntime)
    expected = oracle(model, {"x": x})[0]
    got, imported = run_numcnn(model, x, data_format)
    assert got.shape == expected.shape
    assert_allclose(got, expected, rtol=rtol, atol=atol)
    return imported


def layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


@pytest.fixture
def x4(rng):
    return rng.standard_normal((2, 4, 9, 8)).astype(np.float32)


def weights(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32) * 0.5


# -- Conv --------------------------------------------------------------------------------------------------------

CONV_CASES = {
    "pads": dict(pads=[1, 1, 1, 1]),
    "asymmetric-pads": dict(pads=[0, 1, 2, 0]),
    "strides": dict(strides=[2, 3], pads=[1, 0, 1, 2]),
    "dilations": dict(dilations=[2, 1], pads=[2, 1, 2, 1]),
    "same-upper-stride-2": dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    "same-lower-stride-2": dict(auto_pad="SAME_LOWER", strides=[2, 2]),
    "valid": dict(auto_pad="VALID", strides=[2, 1]),
    "kernel-shape": dict(kernel_shape=[3, 3]),
}


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv_attributes(case, data_format, x4, rng):
    model = one_node("Conv", (4, 9, 8), {"w": weights(rng, 5, 4, 3, 3), "b": weights(rng, 5)}, **CONV_CASES[case])
    imported = check(model, x4, data_format)
    assert "Conv2D" in layer_types(imported)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
def test_conv_same_padding_with_dilation(auto_pad, data_format, x4, rng):
    """onnxruntime refuses auto_pad with dilations; ONNX's reference evaluator computes the spec."""
    model = one_node("Conv", (4, 9, 8), {"w": weights(rng, 5, 4, 3, 2)}, auto_pad=auto_pad, dilations=[2, 3],
                     strides=[2, 1])
    check(model, x4, data_format, oracle=run_reference)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("group, out, layer", [(2, 6, "Conv2D"), (4, 4, "DepthwiseConv2D"),
                                               (4, 8, "DepthwiseConv2D")])
def test_grouped_and_depthwise_conv(group, out, layer, data_format, x4, rng):
    model = one_node("Conv", (4, 9, 8), {"w": weights(rng, out, 4 // group, 3, 3)}, group=group, pads=[1, 1, 1, 1],
                     strides=[2, 2])
    imported = check(model, x4, data_format)
    assert layer in layer_types(imported)


@pytest.mark.parametrize("data_format", FORMATS)
def test_conv_1d(data_format, rng):
    model = one_node("Conv", (3, 11), {"w": weights(rng, 4, 3, 3), "b": weights(rng, 4)}, pads=[2, 1], strides=[2])
    imported = check(model, rng.standard_normal((2, 3, 11)).astype(np.float32), data_format)
    assert "Conv1D" in layer_types(imported)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("attrs", [dict(strides=[2, 2]), dict(strides=[2, 2], pads=[1, 0, 1, 1]),
                                   dict(strides=[2, 3], output_padding=[1, 2], pads=[1, 1, 0, 0]),
                                   dict(dilations=[2, 1], pads=[1, 1, 1, 1]),
                                   dict(strides=[2, 2], auto_pad="SAME_UPPER"),
                                   dict(strides=[2, 2], output_shape=[17, 15])],
                         ids=["strides", "pads", "output-padding", "dilations", "same-upper", "output-shape"])
def test_conv_transpose(attrs, data_format, x4, rng):
    model = one_node("ConvTranspose", (4, 9, 8), {"w": weights(rng, 4, 3, 3, 3), "b": weights(rng, 3)}, **attrs)
    imported = check(model, x4, data_format)
    assert "Conv2DTranspose" in layer_types(imported)


# -- normalization and activations -----------------------------------------------------------------------------

def bn_inputs(rng, c):
    return {"scale": rng.uniform(0.5, 1.5, c).astype(np.float32), "bias": weights(rng, c),
            "mean": weights(rng, c), "var": rng.uniform(0.5, 2, c).astype(np.float32)}


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("opset, attrs", [(6, dict(is_test=1, epsilon=1e-3)), (7, dict(spatial=1)), (9, {}),
                                          (15, dict(epsilon=0.1, momentum=0.8))])
def test_batch_normalization_across_opsets(opset, attrs, data_format, x4, rng):
    model = one_node("BatchNormalization", (4, 9, 8), bn_inputs(rng, 4), opset=opset, **attrs)
    imported = check(model, x4, data_format)
    bn = imported.get_layer("the_batchnormalization")
    assert bn.epsilon == pytest.approx(attrs.get("epsilon", 1e-5)) and bn.momentum == pytest.approx(
        attrs.get("momentum", 0.9))


def test_batch_normalization_by_hand_at_opset_6(rng):
    x = rng.standard_normal((3, 2, 2, 2)).astype(np.float32)
    init = bn_inputs(rng, 2)
    model = one_node("BatchNormalization", (2, 2, 2), init, opset=6, is_test=1, epsilon=1e-3)
    c = (slice(None), None, None)
    expected = (x - init["mean"][c]) / np.sqrt(init["var"][c] + 1e-3) * init["scale"][c] + init["bias"][c]
    assert_allclose(run_numcnn(model, x, "channels_first")[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("op_type, attrs, layer", [
    ("Relu", {}, "ReLU"), ("Sigmoid", {}, "Activation"), ("Tanh", {}, "Activation"),
    ("LeakyRelu", dict(alpha=0.2), "LeakyReLU"), ("LeakyRelu", {}, "LeakyReLU"),
    ("LRN", dict(size=5, alpha=2e-4, beta=0.75, bias=2.0), "LocalResponseNormalization"),
    ("LRN", dict(size=3), "LocalResponseNormalization")])
def test_activations(op_type, attrs, layer, data_format, x4):
    imported = check(one_node(op_type, (4, 9, 8), **attrs), x4 * 3, data_format)
    assert layer_types(imported)[1:] == [layer]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("slope_shape", [(4, 1, 1), (1,), (4, 9, 8), (8,)])
def test_prelu_slopes(slope_shape, data_format, x4, rng):
    imported = check(one_node("PRelu", (4, 9, 8), {"slope": weights(rng, *slope_shape)}), x4, data_format)
    assert layer_types(imported)[1:] == ["PReLU"]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("opset, bounds, layer", [
    (6, dict(min=0.0, max=6.0), "ReLU"), (6, dict(min=-1.0, max=0.5), "Clip"), (6, dict(max=0.5), "Clip"),
    (11, (0.0, 6.0), "ReLU"), (11, (-0.5, None), "Clip"), (13, (None, 1.0), "Clip"), (13, (0.0, None), "ReLU")])
def test_clip_before_and_after_opset_11(opset, bounds, layer, data_format, x4):
    if opset < 11:
        model = one_node("Clip", (4, 9, 8), opset=opset, **bounds)
    else:
        init = {name: np.array(v, np.float32) for name, v in zip(("lo", "hi"), bounds) if v is not None}
        names = ["x", "lo" if bounds[0] is not None else "", "hi" if bounds[1] is not None else ""]
        model = one_node("Clip", (4, 9, 8), init, opset=opset, inputs=names)
    imported = check(model, x4 * 4, data_format)
    assert layer_types(imported)[1:] == [layer]


def test_clip_opset_6_known_values():
    x = np.array([[-3.0, -1.0, 0.0, 0.25, 2.0, 7.0]], np.float32)
    model = one_node("Clip", (6,), opset=6, min=-1.0, max=0.5)
    assert_allclose(run_numcnn(model, x, "channels_first")[0], [[-1.0, -1.0, 0.0, 0.25, 0.5, 0.5]])


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("opset, axis, shape", [(11, 1, (4, 3, 2)), (11, 2, (4, 3, 2)), (11, None, (6,)),
                                                (13, 1, (4, 3, 2)), (13, None, (4, 3, 2))])
def test_softmax_before_and_after_opset_13(opset, axis, shape, data_format, rng):
    attrs = {} if axis is None else {"axis": axis}
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    check(one_node("Softmax", shape, opset=opset, **attrs), x, data_format)


@pytest.mark.parametrize("opset", [6, 11])
def test_softmax_before_opset_13_flattens_from_its_axis(opset, rng):
    """(ONNX's reference evaluator computes every Softmax with opset 13's meaning: not an oracle here.)"""
    x = rng.standard_normal((2, 4, 3, 2)).astype(np.float32)
    y = run_numcnn(one_node("Softmax", (4, 3, 2), opset=opset, axis=1), x, "channels_last")[0]
    flat = np.exp(x.reshape(2, -1))
    assert_allclose(y, (flat / flat.sum(1, keepdims=True)).reshape(x.shape), rtol=1e-5)
    assert_allclose(y.sum(axis=(1, 2, 3)), 1, rtol=1e-5)  # one distribution per sample, not per channel


@pytest.mark.parametrize("opset, attrs, inputs", [(6, dict(is_test=1, ratio=0.3), None), (10, dict(ratio=0.3), None),
                                                  (12, {}, ["x", "ratio"]), (13, {}, ["x"])])
def test_dropout_is_the_identity_at_inference(opset, attrs, inputs, x4):
    init = {"ratio": np.array(0.3, np.float32)} if inputs and "ratio" in inputs else None
    model = one_node("Dropout", (4, 9, 8), init, opset=opset, inputs=inputs, **attrs)
    y, imported = run_numcnn(model, x4, "channels_first")
    assert_allclose(y, x4)
    assert imported.layers[1].rate == pytest.approx(0.3 if (attrs.get("ratio") or inputs and "ratio" in inputs)
                                                    else 0.5)


# -- pooling -----------------------------------------------------------------------------------------------------

POOL_CASES = {
    "plain": dict(kernel_shape=[2, 2], strides=[2, 2]),
    "pads": dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "asymmetric": dict(kernel_shape=[3, 2], strides=[1, 2], pads=[0, 1, 2, 0]),
    "ceil": dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    "ceil-pads": dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
    "same-upper": dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    "same-lower": dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_LOWER"),
    "default-strides": dict(kernel_shape=[3, 2]),
}


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("case", list(POOL_CASES))
def test_max_pool(case, data_format, x4):
    check(one_node("MaxPool", (4, 9, 8), **POOL_CASES[case]), x4, data_format)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("include", [0, 1])
@pytest.mark.parametrize("case", ["plain", "pads", "asymmetric", "ceil", "same-upper", "default-strides"])
def test_average_pool(case, include, data_format, x4):
    attrs = {**POOL_CASES[case], "count_include_pad": include}
    check(one_node("AveragePool", (4, 9, 8), **attrs), x4, data_format)


def test_average_pool_counts_its_padding_only_when_told():
    x = np.array([[[[10.0, 20.0, 30.0]]]], np.float32)
    for include, expected in ((0, [15.0, 25.0]), (1, [10.0, 50.0 / 3])):
        model = one_node("AveragePool", (1, 1, 3), kernel_shape=[1, 3], strides=[1, 2], pads=[0, 1, 0, 1],
                         count_include_pad=include)
        assert_allclose(run_numcnn(model, x, "channels_first")[0].reshape(-1), expected, rtol=1e-6)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("op_type", ["MaxPool", "AveragePool"])
def test_pooling_1d(op_type, data_format, rng):
    x = rng.standard_normal((2, 3, 10)).astype(np.float32)
    check(one_node(op_type, (3, 10), kernel_shape=[3], strides=[2], pads=[1, 0]), x, data_format)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("op_type", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(4, 9, 8), (3, 10)])
def test_global_pooling(op_type, shape, data_format, rng):
    check(one_node(op_type, shape), rng.standard_normal((2, *shape)).astype(np.float32), data_format)


# -- Gemm and MatMul -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("opset, attrs, c_shape", [
    (17, {}, (3,)), (17, dict(transB=1, alpha=0.5, beta=2.0), (1, 3)), (17, {}, ()), (13, {}, None),
    (6, dict(broadcast=1, transB=1), (3,)), (9, dict(alpha=2.0), (3,))])
def test_gemm(opset, attrs, c_shape, rng):
    b = weights(rng, 3, 5) if attrs.get("transB") else weights(rng, 5, 3)
    init = {"b": b} if c_shape is None else {"b": b, "c": weights(rng, *c_shape)}
    model = one_node("Gemm", (5,), init, opset=opset, **attrs)
    imported = check(model, rng.standard_normal((4, 5)).astype(np.float32), "channels_last")
    assert layer_types(imported)[1:] == ["Dense"]


@pytest.mark.parametrize("shape", [(5,), (2, 5)])
def test_matmul_by_a_constant(shape, rng):
    model = one_node("MatMul", shape, {"b": weights(rng, 5, 3)})
    check(model, rng.standard_normal((4, *shape)).astype(np.float32), "channels_first")


# -- arithmetic --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("op_type", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("c_shape", [(), (4, 1, 1), (1, 9, 8), (8,), (1, 4, 9, 8)])
def test_arithmetic_with_a_broadcast_constant(op_type, c_shape, data_format, x4, rng):
    c = rng.uniform(0.5, 2, c_shape).astype(np.float32)
    imported = check(one_node(op_type, (4, 9, 8), {"c": c}), x4, data_format)
    assert layer_types(imported)[1:] == ["Rescaling"]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("op_type", ["Add", "Sub", "Mul"])
def test_a_constant_first(op_type, data_format, x4, rng):
    c = rng.uniform(0.5, 2, (4, 1, 1)).astype(np.float32)
    check(one_node(op_type, (4, 9, 8), {"c": c}, inputs=["c", "x"]), x4, data_format)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("op_type, layer", [("Add", "Add"), ("Sub", "Subtract"), ("Mul", "Multiply"), ("Sum", "Add")])
def test_arithmetic_of_two_computed_tensors(op_type, layer, data_format, x4, rng):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node(op_type, ["r", "s"], ["y"], name="op")]
    imported = check(graph_model(nodes, {"x": ["n", 4, 9, 8]}, ["y"]), x4, data_format)
    assert type(imported.get_layer("op")).__name__ == layer


def test_sum_of_three(x4):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sum", ["x", "r", "x"], ["y"])]
    assert_allclose(run_numcnn(graph_model(nodes, {"x": ["n", 4, 9, 8]}, ["y"]), x4, "channels_last")[0],
                    2 * x4 + np.maximum(x4, 0), rtol=1e-6)


# -- shapes ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_concat_on_channels(data_format, x4):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Concat", ["x", "r"], ["y"], axis=1)]
    imported = check(graph_model(nodes, {"x": ["n", 4, 9, 8]}, ["y"]), x4, data_format)
    assert imported.layers[-1].axis == (-1 if data_format == "channels_last" else 1) % 4


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("axis", [1, -3])
def test_flatten(axis, data_format, x4):
    check(one_node("Flatten", (4, 9, 8), axis=axis), x4, data_format)


@pytest.mark.parametrize("axis", [0, 2, -1])
def test_flatten_into_the_batch_is_refused(axis):
    from numcnn.io.onnx_import import OnnxImportError, from_onnx

    with pytest.raises(OnnxImportError, match=rf"'the_flatten'.*Flatten with axis=\d folds axes into the batch"):
        from_onnx(one_node("Flatten", (4, 9, 8), axis=axis))


def test_flatten_of_a_feature_map_adds_one_permute_in_channels_last(x4):
    imported = check(one_node("Flatten", (4, 9, 8)), x4, "channels_last")
    assert layer_types(imported) == ["InputLayer", "Permute", "Flatten"]
    imported = check(one_node("Flatten", (4, 9, 8)), x4, "channels_first")
    assert layer_types(imported) == ["InputLayer", "Flatten"]


def test_flatten_after_global_pooling_needs_no_permute(x4):
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"]), helper.make_node("Flatten", ["g"], ["y"])]
    imported = check(graph_model(nodes, {"x": ["n", 4, 9, 8]}, ["y"]), x4, "channels_last")
    assert "Permute" not in layer_types(imported)


def shape_arithmetic_reshape(opset=13):
    """``x.view(x.size(0), -1)`` as PyTorch's exporter writes it: Shape, Gather, Unsqueeze, Concat, Reshape."""
    unsqueeze = (helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]) if opset < 13 else
                 helper.make_node("Unsqueeze", ["n", "zero_axes"], ["n1"]))
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Constant", [], ["i0"], value=helper.make_tensor("i0", 7, [], [0])),
             helper.make_node("Gather", ["s", "i0"], ["n"], axis=0), unsqueeze,
             helper.make_node("Constant", [], ["m1"], value=helper.make_tensor("m1", 7, [1], [-1])),
             helper.make_node("Concat", ["n1", "m1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="view")]
    init = {"zero_axes": np.array([0], np.int64)} if opset >= 13 else None
    return graph_model(nodes, {"x": ["n", 4, 9, 8]}, ["y"], init, opset=opset)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("opset", [7, 11, 13])
def test_shape_arithmetic_is_folded(opset, data_format, x4):
    imported = check(shape_arithmetic_reshape(opset), x4, data_format)
    assert layer_types(imported)[-1] == "Reshape" and imported.output_shape == (None, 288)
    assert_allclose(imported.predict(np.zeros((5, *imported.input_shape[1:]), np.float32)).shape, (5, 288))


@pytest.mark.parametrize("data_format", FORMATS)
def test_channel_shuffle(data_format, rng):
    """ShuffleNet's channel shuffle: Reshape (N, g, C/g, H, W), Transpose, Reshape back, then a Conv."""
    x = rng.standard_normal((2, 6, 5, 4)).astype(np.float32)
    nodes = [helper.make_node("Reshape", ["x", "s5"], ["a"]),
             helper.make_node("Transpose", ["a"], ["b"], perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["b", "s4"], ["c"]),
             helper.make_node("Conv", ["c", "w"], ["y"], pads=[1, 1, 1, 1])]
    init = {"s5": np.array([0, 2, 3, 5, 4]), "s4": np.array([-1, 6, 5, 4]), "w": weights(rng, 3, 6, 3, 3)}
    imported = check(graph_model(nodes, {"x": ["n", 6, 5, 4]}, ["y"], init), x, data_format)
    if data_format == "channels_first":
        assert "Permute" in layer_types(imported)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("perm", [[0, 2, 3, 1], [0, 1, 3, 2], [0, 3, 1, 2]])
def test_transpose_then_a_relu(perm, data_format, x4):
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=perm), helper.make_node("Relu", ["t"], ["y"])]
    model = graph_model(nodes, {"x": ["n", 4, 9, 8]}, ["y"])
    expected = np.maximum(x4.transpose(perm), 0)
    if perm == [0, 3, 1, 2] and data_format == "channels_last":
        # an input read only by a Transpose to NCHW is taken to be NHWC already, as the file has it
        imported = from_onnx(model, data_format)
        assert imported.input_shape == (None, 4, 9, 8) and layer_types(imported) == ["InputLayer", "ReLU"]
        assert_allclose(imported.predict(x4), np.moveaxis(expected, 1, -1))
        return
    y, imported = run_numcnn(model, x4, data_format)
    assert_allclose(y, expected)
    assert layer_types(imported)[:2] == ["InputLayer", "ReLU"]  # a Transpose is free: at most one Permute, at the
    assert len(layer_types(imported)) <= 3  # output, to give it the data format's layout


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_and_unsqueeze(opset, rng):
    if opset < 13:
        nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"]),
                 helper.make_node("Squeeze", ["g"], ["s"], axes=[2, 3]),
                 helper.make_node("Unsqueeze", ["s"], ["y"], axes=[2])]
        init = None
    else:
        nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"]),
                 helper.make_node("Squeeze", ["g", "a23"], ["s"]), helper.make_node("Unsqueeze", ["s", "a2"], ["y"])]
        init = {"a23": np.array([2, 3]), "a2": np.array([2])}
    x = rng.standard_normal((2, 4, 3, 5)).astype(np.float32)
    for data_format in FORMATS:
        check(graph_model(nodes, {"x": ["n", 4, 3, 5]}, ["y"], init, opset=opset), x, data_format)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("opset", [6, 11, 18])
def test_pad_before_and_after_opset_11(opset, data_format, x4):
    pads = [0, 0, 1, 2, 0, 0, 2, 0]
    if opset < 11:
        model = one_node("Pad", (4, 9, 8), opset=opset, pads=pads)
    elif opset < 18:
        model = one_node("Pad", (4, 9, 8), {"pads": np.array(pads)}, opset=opset)
    else:
        model = one_node("Pad", (4, 9, 8), {"pads": np.array([1, 2, 2, 0]), "value": np.array(0, np.float32),
                                            "axes": np.array([2, 3])}, opset=opset)
    imported = check(model, x4, data_format)
    assert layer_types(imported)[1:] == ["ZeroPadding2D"]


def test_negative_pads_crop(x4):
    model = one_node("Pad", (4, 9, 8), {"pads": np.array([0, 0, -1, 0, 0, 0, -2, -3])})
    assert layer_types(check(model, x4, "channels_last"))[1:] == ["Cropping2D"]


def test_identity_makes_no_layer(x4):
    nodes = [helper.make_node("Identity", ["x"], ["i"]), helper.make_node("Relu", ["i"], ["y"])]
    assert layer_types(check(graph_model(nodes, {"x": ["n", 4, 9, 8]}, ["y"]), x4, "channels_last")) == [
        "InputLayer", "ReLU"]


# -- constants folded at import --------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_batch_norm_written_as_mul_and_add_of_constants_is_folded(data_format, x4, rng):
    """``x * (gamma / sqrt(var + eps)) + (beta - mean * gamma / sqrt(var + eps))``, with the constants computed
    in the graph (Constant, Add, Sqrt, Div, Mul, Sub)."""
    init = {k: v.reshape(4, 1, 1) for k, v in bn_inputs(rng, 4).items()}
    nodes = [helper.make_node("Constant", [], ["eps"], value=helper.make_tensor("eps", 1, [], [1e-5])),
             helper.make_node("Add", ["var", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
             helper.make_node("Div", ["scale", "sd"], ["k"]), helper.make_node("Mul", ["mean", "k"], ["mk"]),
             helper.make_node("Sub", ["bias", "mk"], ["shift"]),
             helper.make_node("Mul", ["x", "k"], ["xk"], name="scale_it"),
             helper.make_node("Add", ["xk", "shift"], ["y"], name="shift_it")]
    imported = check(graph_model(nodes, {"x": ["n", 4, 9, 8]}, ["y"], init), x4, data_format)
    assert layer_types(imported) == ["InputLayer", "Rescaling", "Rescaling"]


def test_constant_of_shape_and_a_constant_node_are_folded(x4):
    nodes = [helper.make_node("Constant", [], ["shape"], value=helper.make_tensor("shape", 7, [3], [4, 1, 1])),
             helper.make_node("ConstantOfShape", ["shape"], ["twos"], value=helper.make_tensor("v", 1, [1], [2.0])),
             helper.make_node("Mul", ["x", "twos"], ["y"])]
    y, imported = run_numcnn(graph_model(nodes, {"x": ["n", 4, 9, 8]}, ["y"], opset=13), x4, "channels_last")
    assert_allclose(y, 2 * x4)
    assert imported.layers[1].scale == 2.0  # a constant of one value: one number


# -- several inputs and outputs ---------------------------------------------------------------------------------

def test_two_inputs_and_two_outputs(rng):
    nodes = [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Relu", ["s"], ["r"]),
             helper.make_node("Conv", ["r", "w"], ["c"])]
    model = graph_model(nodes, {"a": ["n", 2, 5, 5], "b": ["n", 2, 5, 5]}, ["r", "c"], {"w": weights(rng, 3, 2, 3, 3)})
    a, b = (rng.standard_normal((2, 2, 5, 5)).astype(np.float32) for _ in range(2))
    expected = run_onnxruntime(model, {"a": a, "b": b})
    from numcnn.io.onnx_import import from_onnx

    imported = from_onnx(model)
    assert [t.shape for t in imported.outputs] == [(None, 5, 5, 2), (None, 3, 3, 3)]
    outputs = imported([a.transpose(0, 2, 3, 1), b.transpose(0, 2, 3, 1)])
    for y, e in zip(outputs, expected):
        assert_allclose(y.transpose(0, 3, 1, 2), e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("data_format", FORMATS)
def test_a_relu_that_alone_reads_a_conv_or_gemm_becomes_their_activation(data_format, x4, rng):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w2"], ["c2"], name="conv2"),
             helper.make_node("Relu", ["c2"], ["r2"]), helper.make_node("Add", ["c2", "r2"], ["s"]),
             helper.make_node("Flatten", ["s"], ["f"]), helper.make_node("Gemm", ["f", "b"], ["g"], name="gemm"),
             helper.make_node("Relu", ["g"], ["y"])]
    init = {"w": weights(rng, 4, 4, 3, 3), "w2": weights(rng, 2, 4, 1, 1), "b": weights(rng, 144, 3)}
    imported = check(graph_model(nodes, {"x": ["n", 4, 9, 8]}, ["y"], init), x4, data_format)
    assert imported.get_layer("conv").activation == "relu" and imported.get_layer("gemm").activation == "relu"
    assert imported.get_layer("conv2").activation is None  # its output is read twice: the Relu stays a layer
    assert layer_types(imported).count("ReLU") == 1


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("op_type", ["ReduceMean", "ReduceMax"])
@pytest.mark.parametrize("opset, keepdims", [(13, 1), (13, 0), (18, 1)])
def test_reduce_over_the_spatial_axes_is_global_pooling(op_type, opset, keepdims, data_format, x4):
    if opset >= 18:
        model = one_node(op_type, (4, 9, 8), {"axes": np.array([2, 3])}, opset=opset, keepdims=keepdims)
    else:
        model = one_node(op_type, (4, 9, 8), opset=opset, axes=[-1, 2], keepdims=keepdims)
    check(model, x4, data_format)


def test_reduce_over_other_axes_is_refused():
    from numcnn.io.onnx_import import OnnxImportError

    with pytest.raises(OnnxImportError, match=r"ReduceMean over every axis but the batch and the channels.*"
                                               r"Received: axes=\[1\]"):
        from_onnx(one_node("ReduceMean", (4, 9, 8), opset=13, axes=[1]))


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("axes", [[1, 2], [1, 3]])
def test_reduce_keeping_another_axis_than_1(axes, data_format, x4):
    check(one_node("ReduceMean", (4, 9, 8), opset=13, axes=axes, keepdims=0), x4, data_format)
