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
    """
    rows = []
    for layer in model.layers:
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(layer.output_shape),
                     f"{layer.count_params():,}"))
    widths = (max([30, *(len(r[0]) + 1 for r in rows)]), max([28, *(len(r[1]) + 1 for r in rows)]), 10)
    total = sum(w.size for w in model.weights)
    trainable = sum(w.size for w in model.trainable_variables)
    n_bytes = sum(w.nbytes for w in model.weights)
    line = "─" * sum(widths)
    lines = [f'Model: "{model.name}"', line,
             f"{'Layer (type)':<{widths[0]}}{'Output Shape':<{widths[1]}}{'Param #':>{widths[2]}}", "═" * sum(widths)]
    for name, shape, count in rows:
        lines.append(f"{name:<{widths[0]}}{shape:<{widths[1]}}{count:>{widths[2]}}")
    lines += [line, f"Total params: {total:,} ({_bytes_text(n_bytes)})", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}"]
    return "\n".join(lines)
