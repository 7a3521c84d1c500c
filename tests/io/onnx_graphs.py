"""Small ONNX graphs written with ``onnx.helper`` for the importer's tests, and the oracles they are
checked against: onnxruntime (opset 7 and up) and ONNX's reference evaluator (every opset)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_FOR_OPSET = {6: 3, 7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9,
                21: 10}


def graph_model(nodes, inputs, outputs, initializers=None, opset=17, name="g"):
    """A model of ``nodes``; ``inputs``: {name: shape} (use "n" for a free batch), ``outputs``: names,
    ``initializers``: {name: array}."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(shape)) for k, shape in inputs.items()],
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, None) for k in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_FOR_OPSET[opset])
    model.producer_name = "numcnn-tests"
    return model


def one_node(op_type, x_shape, initializers=None, opset=17, inputs=None, **attrs):
    """A graph of one node reading ``x`` (shape ``("n", *x_shape)``) and the initializers, in order."""
    names = inputs if inputs is not None else ["x", *(initializers or {})]
    node = helper.make_node(op_type, names, ["y"], name=f"the_{op_type.lower()}", **attrs)
    return graph_model([node], {"x": ["n", *x_shape]}, ["y"], initializers, opset)


def run_onnxruntime(model, feeds):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def run_reference(model, feeds):
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, feeds)


def to_last(array):
    """NC... -> N...C."""
    array = np.asarray(array)
    return np.moveaxis(array, 1, -1) if array.ndim >= 3 else array


def run_numcnn(model, x, data_format):
    """``from_onnx(model, data_format)`` run on NCHW ``x``; the output back in ONNX's layout."""
    from numcnn.io.onnx_import import from_onnx

    imported = from_onnx(model, data_format)
    if data_format == "channels_first":
        return imported.predict(x), imported
    y = imported.predict(to_last(x))
    return (np.moveaxis(y, -1, 1) if y.ndim >= 3 else y), imported


def save(model, path):
    onnx.save(model, str(path))
    return path
