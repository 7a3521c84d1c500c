"""What the ONNX importer's translations share: a computed tensor (:class:`Sym`), its layouts, the
batch marker of folded shape arithmetic and the import error."""

from __future__ import annotations

from dataclasses import dataclass

from ..layers.symbolic import SymbolicTensor

#: Stands for the batch size in folded shape arithmetic (``Shape`` of a tensor whose batch is free).
BATCH = 2 ** 40 + 7


class OnnxImportError(ValueError):
    """An ONNX file or graph that numcnn cannot turn into a model; the message says why."""


@dataclass(frozen=True)
class Sym:
    """A tensor computed from the graph's inputs: the numcnn symbolic ``tensor``, the ONNX ``shape``
    (batch ``None``) and ``perm``, the axes of the ONNX tensor in the order numcnn keeps them
    (``tensor == onnx_tensor.transpose(perm)``)."""

    tensor: SymbolicTensor
    shape: tuple
    perm: tuple

    @property
    def rank(self) -> int:
        return len(self.shape)

    def axis(self, onnx_axis: int) -> int:
        """Where ONNX axis ``onnx_axis`` (negative counts from the end) is in the numcnn tensor."""
        return self.perm.index(onnx_axis % self.rank)


def identity(rank: int) -> tuple:
    return tuple(range(rank))


def channels_last(rank: int) -> tuple:
    """NCHW -> NHWC for rank 4 (NCL -> NLC for rank 3)."""
    return (0, *range(2, rank), 1) if rank >= 3 else identity(rank)


def same_order(perm_a, perm_b, shape) -> bool:
    """Whether two layouts of ``shape`` hold the values in the same memory order: the axes that are
    not of size 1 come in the same order (the batch axis counts as not of size 1)."""
    keep = [axis for axis in range(len(shape)) if shape[axis] != 1]
    return [a for a in perm_a if a in keep] == [b for b in perm_b if b in keep]


