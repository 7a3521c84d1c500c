"""``model.summary()``: the Keras-style table of layers, output shapes and parameter counts."""

from __future__ import annotations


def _shape_text(shape) -> str:
    if shape is None:
        return "? (not called yet)"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _bytes_text(n_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}" if unit != "B" else f"{n_bytes} B"
        n_bytes /= 1024
    return ""  # pragma: no cover


def format_summary(model) -> str:
    """The summary table as text.

    Example (note 001's Sequential of three 3x3 convolutions on 28x28x3 inputs)::

        Model: "sequential"
        ────────────────────────────────────────────────────────────────────
        Layer (type)                   Output Shape                  Param #
        ════════════════════════════════════════════════════════════════════
        conv2d (Conv2D)                (None, 26, 26, 10)                280
        ...

    A functional model adds a "Connected to" column: the tensors each layer takes, as Keras writes
    them (``conv2d[0][0]``: the first output of the first call of ``conv2d``).
    """
    graph = getattr(model, "_graph", None)
    connections = graph.connections() if graph is not None else {}
    rows = []
    for layer in model.layers:
        calls = connections.get(layer.name, [[]])
        linked = ", ".join(", ".join(inbound) for inbound in calls if inbound)
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(layer.output_shape),
                     f"{layer.count_params():,}", linked))
    widths = [max([30, *(len(r[0]) + 1 for r in rows)]), max([28, *(len(r[1]) + 1 for r in rows)]), 10]
    headers = ["Layer (type)", "Output Shape", "Param #"]
    if graph is not None:  # a functional model says which tensors each layer takes
        widths.append(max([14, *(len(r[3]) + 2 for r in rows)]))
        headers.append("Connected to")
    total = sum(w.size for w in model.weights)
    trainable = sum(w.size for w in model.trainable_variables)
    n_bytes = sum(w.nbytes for w in model.weights)
    line = "─" * sum(widths)

    def row(cells):
        text = f"{cells[0]:<{widths[0]}}{cells[1]:<{widths[1]}}{cells[2]:>{widths[2]}}"
        return text + (f"  {cells[3]:<{widths[3] - 2}}" if len(widths) > 3 else "")

    lines = [f'Model: "{model.name}"', line, row(headers), "═" * sum(widths)]
    lines += [row(r) for r in rows]
    lines += [line, f"Total params: {total:,} ({_bytes_text(n_bytes)})", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}"]
    return "\n".join(line.rstrip() for line in lines)
