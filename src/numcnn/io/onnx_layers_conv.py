"""ONNX translations of DepthwiseConv2D, SeparableConv2D, Conv2DTranspose (see :mod:`numcnn.io.onnx_export`).

Each handler is ``handler(t, layer, x, path) -> name``: ``t`` is the exporter's tracer (``t.node``,
``t.weight``, ``t.constant``, ``t.ints``, ``t.activation``, ``t.pads``, ``t.reduce``, ``t.opset``), ``x``
the input (``x.name``, ``x.shape`` with the batch axis None; a list for merge layers) and ``path`` the
layer's name in the graph; it returns the ONNX name of the layer's output.
"""

HANDLERS: dict = {}
