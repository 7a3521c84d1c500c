"""Pure functions on arrays: convolution, pooling, dense, batch normalisation, dropout, merges,
activations, losses.

Every op ``f`` comes as three functions that sit side by side in its module:

* ``f(...)``: the result only;
* ``f_forward(...) -> (y, cache)``: the result and what the backward pass needs;
* ``f_backward(dy, cache)``: the gradients with respect to the inputs.

Nothing here keeps state; the layers in :mod:`numcnn.layers` are thin wrappers. The public
functions check their arguments; numcnn's layers, which checked theirs once, pass ``check=False``.
NaN and infinity flow through every op as IEEE arithmetic has them (as in PyTorch).
"""

from .activations import (
    get_activation,
    leaky_relu,
    leaky_relu_backward,
    leaky_relu_forward,
    relu,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    softmax_backward,
    softmax_forward,
    tanh,
    tanh_backward,
    tanh_forward,
)
from .conv import Conv2DCache, conv2d, conv2d_backward, conv2d_forward
from .dense import dense, dense_backward, dense_forward
from .dropout import dropout_backward, dropout_forward
from .geometry import conv_output_size, resolve_padding, same_padding
from .im2col import col2im, im2col
from .losses import (
    categorical_cross_entropy,
    categorical_cross_entropy_backward,
    categorical_cross_entropy_forward,
    mean_squared_error,
    mean_squared_error_backward,
    mean_squared_error_forward,
    softmax_cross_entropy,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from .merge import add_backward, add_forward, concatenate_backward, concatenate_forward
from .normalization import BatchNormCache, batch_norm_backward, batch_norm_forward, moving_average
from .pooling import (
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d,
    global_avg_pool2d_forward,
    global_max_pool2d,
    global_max_pool2d_forward,
    global_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_forward,
    Pool2DCache,
    GlobalPoolCache,
)
from .reference import conv2d_backward_reference, conv2d_reference, pool2d_reference

__all__ = [
    "BatchNormCache",
    "Conv2DCache",
    "GlobalPoolCache",
    "Pool2DCache",
    "add_backward",
    "add_forward",
    "batch_norm_backward",
    "batch_norm_forward",
    "concatenate_backward",
    "concatenate_forward",
    "dense",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "moving_average",
    "avg_pool2d",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "categorical_cross_entropy",
    "categorical_cross_entropy_backward",
    "categorical_cross_entropy_forward",
    "col2im",
    "conv2d",
    "conv2d_backward",
    "conv2d_backward_reference",
    "conv2d_forward",
    "conv2d_reference",
    "conv_output_size",
    "get_activation",
    "global_avg_pool2d",
    "global_avg_pool2d_forward",
    "global_max_pool2d",
    "global_max_pool2d_forward",
    "global_pool2d_backward",
    "im2col",
    "leaky_relu",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "mean_squared_error",
    "mean_squared_error_backward",
    "mean_squared_error_forward",
    "pool2d_reference",
    "relu",
    "relu_backward",
    "relu_forward",
    "resolve_padding",
    "same_padding",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax",
    "softmax_backward",
    "softmax_cross_entropy",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
    "softmax_forward",
    "tanh",
    "tanh_backward",
    "tanh_forward",
]
