"""Output sizes and padding amounts: the one place that computes them.

Convolution, pooling, ``im2col`` and the layers' ``compute_output_shape`` all
call :func:`conv_output_size` and :func:`resolve_padding`, so they can never
disagree about the shape of a result.
"""

from __future__ import annotations

from ..utils.validation import check_int, standardize_padding


def conv_output_size(input_size: int, kernel_size: int, stride: int = 1, pad_before: int = 0,
                     pad_after: int = 0, dilation: int = 1, *, check: bool = True) -> int:
    """Length of a convolution or pooling output along one spatial axis.

    ``out = (in + pad_before + pad_after - effective_kernel) // stride + 1`` where the
    dilated ``effective_kernel = (kernel_size - 1) * dilation + 1``.

    Args:
        input_size: length of the input along the axis.
        kernel_size: filter (or pool window) length.
        stride: step between windows.
        pad_before, pad_after: zeros added at the start and the end.
        dilation: spacing between filter taps.
        check: check that the sizes are ints (``kernel_size``, ``stride``, ``dilation`` >= 1,
            the others >= 0); numcnn's own callers pass False.

    Returns:
        The output length; raises ``ValueError`` when the (dilated) kernel is larger
        than the padded input.

    Example:
        >>> conv_output_size(7, 3, pad_before=1, pad_after=1)   # note 000's padded 7x7
        7
    """
    if check:
        _check_sizes(input_size=input_size, pad_before=pad_before, pad_after=pad_after)
        _check_sizes(1, kernel_size=kernel_size, stride=stride, dilation=dilation)
    effective = (kernel_size - 1) * dilation + 1
    padded = input_size + pad_before + pad_after
    if effective > padded:
        raise ValueError(
            f"The kernel (size {kernel_size}, dilation {dilation}, effective size {effective}) "
            f"is larger than the padded input (size {input_size} + padding {pad_before}+{pad_after} "
            f"= {padded}). Use a smaller kernel, padding='same', or a larger input. "
            f"Received: input size {input_size}, kernel_size {kernel_size}"
        )
    return (padded - effective) // stride + 1


def same_padding(input_size: int, kernel_size: int, stride: int = 1, dilation: int = 1, *,
                 check: bool = True) -> tuple[int, int]:
    """The (before, after) padding of ``padding='same'`` along one axis.

    TensorFlow/Keras rule: the output has ``ceil(input / stride)`` positions; the total
    padding needed for that is split in two, and when it is odd the extra pixel goes
    after (bottom/right) — also when ``stride > 1``.

    Example:
        >>> same_padding(10, 3, stride=2)   # out 5, total 1: nothing before, 1 after
        (0, 1)
    """
    if check:
        _check_sizes(input_size=input_size)
        _check_sizes(1, kernel_size=kernel_size, stride=stride, dilation=dilation)
    effective = (kernel_size - 1) * dilation + 1
    out = -(-input_size // stride)
    total = max((out - 1) * stride + effective - input_size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, input_hw: tuple[int, int], kernel_hw: tuple[int, int],
                    strides: tuple[int, int], dilation_rate: tuple[int, int] = (1, 1), *, check: bool = True):
    """Explicit ``((top, bottom), (left, right))`` padding for any padding spec.

    Args:
        padding: ``"valid"``, ``"same"``, an int, a pair, or explicit pairs.
        input_hw: (H, W) of the input.
        kernel_hw: (kh, kw) of the filter or pool window.
        strides: (sh, sw).
        dilation_rate: (dh, dw).
        check: check ``padding``; numcnn's own callers pass False with a padding that
            ``standardize_padding`` returned (``"valid"``, ``"same"`` or explicit pairs).
    """
    if check:
        padding = standardize_padding(padding)
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        return tuple(same_padding(i, k, s, d, check=False)
                     for i, k, s, d in zip(input_hw, kernel_hw, strides, dilation_rate))
    return padding


def output_hw(input_hw, kernel_hw, strides, pads, dilation_rate=(1, 1)) -> tuple[int, int]:
    """(OH, OW) from explicit pads, via :func:`conv_output_size` on each axis."""
    return tuple(
        conv_output_size(i, k, s, p[0], p[1], d, check=False)
        for i, k, s, p, d in zip(input_hw, kernel_hw, strides, pads, dilation_rate)
    )


def _check_sizes(low=0, **sizes) -> None:
    for name, value in sizes.items():
        check_int(value, name, low)


__all__ = ["conv_output_size", "same_padding", "resolve_padding", "output_hw"]
