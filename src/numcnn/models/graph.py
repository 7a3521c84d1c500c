"""The graph of a functional model: the layer calls between its inputs and outputs, in order.

``numcnn.Model(inputs=x, outputs=y)`` walks back from ``y`` to ``x`` through the
:class:`~numcnn.layers.symbolic.GraphNode` of each layer call (see :mod:`numcnn.layers.symbolic`)
and keeps them in a :class:`Graph`: any DAG, with shared layers and several inputs and outputs.
Running the model runs the nodes in that order on arrays; every call lands on the model's tape,
so ``backward`` needs nothing more.
"""

from __future__ import annotations

from ..layers.input_layer import InputLayer
from ..layers.symbolic import SymbolicTensor
from ..utils.validation import _short


def _as_tensors(value, what) -> tuple[list, bool]:
    """``value`` (a SymbolicTensor or a list of them) as a list, and whether it holds several (a list of
    one is one tensor: the model takes and gives an array, as Keras' ``predict`` does)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    several = len(items) > 1
    if not items or not all(isinstance(item, SymbolicTensor) for item in items):
        raise ValueError(f"The `{what}` argument must be a symbolic tensor (numcnn.Input, or a layer called on "
                         f"one) or a list of them. Received: {what}={_short(value)}")
    return items, several


class Graph:
    """The layer calls that lead from ``inputs`` to ``outputs``.

    Attributes:
        inputs, outputs: lists of symbolic tensors.
        nodes: the graph nodes between them, in an order where each comes after those it takes from.
        layers: every layer once, in that order (the input layers first).
    """

    def __init__(self, inputs, outputs):
        self.inputs, self.several_inputs = _as_tensors(inputs, "inputs")
        self.outputs, self.several_outputs = _as_tensors(outputs, "outputs")
        for i, tensor in enumerate(self.inputs):
            if not isinstance(tensor.layer, InputLayer):
                raise ValueError(f"The `inputs` argument must hold the tensors numcnn.Input returned. Received: "
                                 f"inputs[{i}] from layer '{tensor.layer.name}' ({type(tensor.layer).__name__})")
        self.nodes = self._sorted_nodes()
        self.layers = list({id(node.layer): node.layer for node in self.nodes}.values())
        self._last_reads_cache = None

    def _sorted_nodes(self) -> list:
        """Depth-first from the outputs: the nodes they need, each after the nodes it takes from."""
        given = {id(t.node) for t in self.inputs}
        order, state = [], {}

        def visit(node, path):
            if state.get(id(node)) == "done":
                return
            if isinstance(node.layer, InputLayer) and id(node) not in given:
                raise ValueError(f"The outputs depend on input '{node.layer.name}', which is not in `inputs`. "
                                 f"Received: inputs {[t.layer.name for t in self.inputs]}")
            state[id(node)] = "open"
            for tensor in node.inputs:
                visit(tensor.node, [*path, node])
            state[id(node)] = "done"
            order.append(node)

        for tensor in self.outputs:
            visit(tensor.node, [])
        return [t.node for t in self.inputs if id(t.node) not in {id(n) for n in order}] + order

    def run(self, arrays: list, training: bool) -> list:
        """The outputs for input ``arrays`` (one per input), each node's layer called in order."""
        values = {id(t): a for t, a in zip(self.inputs, arrays)}
        for node, done in zip(self.nodes, self._last_reads):
            if isinstance(node.layer, InputLayer):
                values[id(node.outputs[0])] = node.layer(values[id(node.outputs[0])], training=training)
                continue
            args = [values[id(t)] for t in node.inputs]
            out = node.layer(args if node.multi else args[0], training=training)
            for tensor, value in zip(node.outputs, out if len(node.outputs) > 1 else [out]):
                values[id(tensor)] = value
            for key in done:  # read for the last time: freed now, unless a tape keeps it for backward
                del values[key]
        return [values[id(t)] for t in self.outputs]

    @property
    def _last_reads(self) -> list:
        """For each node, the tensors (by id) that no later node reads and that are not outputs."""
        if self._last_reads_cache is None:
            last = {}
            for index, node in enumerate(self.nodes):
                for tensor in node.inputs:
                    last[id(tensor)] = index
            kept = {id(t) for t in self.outputs}
            self._last_reads_cache = [[] for _ in self.nodes]
            for key, index in last.items():
                if key not in kept:
                    self._last_reads_cache[index].append(key)
        return self._last_reads_cache

    def node_names(self) -> dict:
        """``{id(node): (layer name, index of the node among that layer's calls here)}``."""
        seen, names = {}, {}
        for node in self.nodes:
            k = seen.get(id(node.layer), 0)
            names[id(node)] = (node.layer.name, k)
            seen[id(node.layer)] = k + 1
        return names

    def connections(self) -> dict:
        """For the summary: each layer's name -> the ``"layer[node][tensor]"`` it takes, per call."""
        names = self.node_names()
        found = {}
        for node in self.nodes:
            inbound = [f"{names[id(t.node)][0]}[{names[id(t.node)][1]}][{t.index}]" for t in node.inputs]
            found.setdefault(node.layer.name, []).append(inbound)
        return found

    def get_config(self) -> dict:
        """Keras' functional config: the layers, each with the tensors every call of it took, and the
        model's input and output tensors as ``[layer name, node index, tensor index]``."""
        names = self.node_names()

        def ref(tensor):
            name, k = names[id(tensor.node)]
            return [name, k, tensor.index]

        layers = []
        for layer in self.layers:
            calls = [node for node in self.nodes if node.layer is layer]
            layers.append({"name": layer.name, "inbound_nodes": [[ref(t) for t in node.inputs] for node in calls]})
        return {"layers": layers, "input_layers": [ref(t) for t in self.inputs],
                "output_layers": [ref(t) for t in self.outputs]}


def graph_from_config(config: dict, deserialize):
    """``(inputs, outputs)`` symbolic tensors rebuilt from :meth:`Graph.get_config`'s form, each layer made
    by ``deserialize(entry)`` and called as the config says (no code runs but the layers').

    Raises:
        ValueError: a config that names a layer, a call or a tensor it does not define.
    """
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"A functional model config needs a 'layers' list. Received: {_short(config)}")
    layers, pending = {}, []
    for entry in config["layers"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("inbound_nodes"), list):
            raise ValueError(f"Each layer of a functional config needs a name and its inbound_nodes. "
                             f"Received: {_short(entry)}")
        layer = deserialize(entry)
        layer.name = entry["name"]
        layers[entry["name"]] = layer
        pending += [(entry["name"], k, inbound) for k, inbound in enumerate(entry["inbound_nodes"])]
    made = {}  # (layer name, node index) -> that call's output tensors
    while pending:
        waiting = []
        for name, k, inbound in pending:
            try:
                refs = [made[(ref[0], ref[1])][ref[2]] for ref in inbound]
            except KeyError:
                waiting.append((name, k, inbound))
                continue
            except (TypeError, IndexError):
                raise ValueError(f"Layer '{name}' takes {_short(inbound)}, which the config does not make. "
                                 f"Received: inbound_nodes {_short(inbound)}") from None
            layer = layers[name]
            out = layer.make_tensor() if isinstance(layer, InputLayer) else layer(refs if len(refs) > 1 else refs[0])
            made[(name, k)] = out if isinstance(out, list) else [out]
        if len(waiting) == len(pending):
            raise ValueError(f"The functional config's calls {[(n, k) for n, k, _ in waiting][:5]} take tensors no "
                             f"call makes. Received: {_short(config.get('layers'))}")
        pending = waiting

    def tensors(key):
        refs = config.get(key)
        try:
            return [made[(ref[0], ref[1])][ref[2]] for ref in refs]
        except (KeyError, TypeError, IndexError):
            raise ValueError(f"The functional config's {key} {_short(refs)} name tensors it does not make. "
                             f"Received: {key}={_short(refs)}") from None

    inputs, outputs = tensors("input_layers"), tensors("output_layers")
    return (inputs if len(inputs) > 1 else inputs[0]), (outputs if len(outputs) > 1 else outputs[0])
