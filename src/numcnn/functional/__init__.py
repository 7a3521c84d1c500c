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
    check_clip_bounds,
    clip,
    clip_backward,
    clip_forward,
    get_activation,
    leaky_relu,
    leaky_relu_backward,
    leaky_relu_forward,
    prelu,
    prelu_backward,
    prelu_forward,
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
from .augmentation import (
    affine_transform,
    affine_transform_backward,
    affine_transform_forward,
    brightness_backward,
    brightness_forward,
    contrast_backward,
    contrast_forward,
    crop_resize_backward,
    crop_resize_forward,
    flip_backward,
    flip_forward,
    rotation_transform,
    translation_transform,
    zoom_transform,
)
from .arithmetic import multiply, multiply_backward, multiply_forward, subtract, subtract_backward, subtract_forward
from .conv_transpose import (
    Conv2DTransposeCache,
    conv2d_transpose,
    conv2d_transpose_backward,
    conv2d_transpose_forward,
    conv_transpose_output_size,
)
from .depthwise import (
    SeparableConv2DCache,
    depthwise_conv2d,
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    separable_conv2d,
    separable_conv2d_backward,
    separable_conv2d_forward,
)
from .dropout import noise_shape_for
from .lrn import LRNCache, local_response_norm, local_response_norm_backward, local_response_norm_forward
from .one_d import (
    Lifted1DCache,
    avg_pool1d,
    avg_pool1d_backward,
    avg_pool1d_forward,
    conv1d,
    conv1d_backward,
    conv1d_forward,
    global_avg_pool1d,
    global_avg_pool1d_forward,
    global_max_pool1d,
    global_max_pool1d_forward,
    global_pool1d_backward,
    max_pool1d,
    max_pool1d_backward,
    max_pool1d_forward,
)
from .reshaping import (
    crop2d,
    crop2d_backward,
    crop2d_forward,
    permute,
    permute_backward,
    permute_forward,
    upsample2d,
    upsample2d_backward,
    upsample2d_forward,
    zero_pad2d,
    zero_pad2d_backward,
    zero_pad2d_forward,
)

__all__ = sorted(name for name, value in globals().items()
                 if not name.startswith("_") and type(value).__name__ != "module" and name != "annotations")
