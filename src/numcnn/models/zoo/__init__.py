"""Ready-made networks: the study notes' small ones (``simple_convnet``, ``lenet5``, ``deep_convnet``, what
``numcnn train --model`` trains) and the classic ImageNet CNNs as functional models.

The ImageNet builders share one signature, ``name(classes=1000, input_shape=None,
data_format="channels_last", width=1.0, seed=0) -> numcnn.Model``, and return a randomly initialised
model that ends in logits: ``vgg11``, ``vgg16``, ``resnet18``, ``resnet50``, ``mobilenet_v1``,
``mobilenet_v2``, ``squeezenet1_1`` and ``inception_net`` (GoogLeNet). ``input_shape`` is (H, W, C)
for channels_last and (C, H, W) for channels_first, as Keras; None is 224x224 RGB. ``width``
multiplies every channel count.

Pretrained files come from PyTorch, so the builders follow PyTorch where it and Keras differ:
explicit symmetric padding (a 3x3 stride-2 conv pads 1 on each side, where Keras' "same" pads (0, 1)
on even sizes), ``BatchNormalization(epsilon=1e-5, momentum=0.9)`` (PyTorch's eps and momentum 0.1),
and ``ceil_mode`` pooling as explicit padding on the bottom and right.

**Layer names.** A layer that has a torchvision module is named by that module's path in the
torchvision model with "." replaced by "_": ``conv1``, ``layer1_0_conv1``, ``layer1_0_downsample_0``,
``features_0``, ``features_3_expand3x3``, ``inception3a_branch2_1_conv``, ``fc``. So the tensor
``layer1.0.bn1.running_var`` of a PyTorch state dict belongs to layer ``layer1_0_bn1``, and weights pair
by name: a conv's ``weight`` (O, I, kh, kw) is the ``kernel`` (kh, kw, I, O), a depthwise conv's (C*m,
1, kh, kw) is (kh, kw, C, m), a linear's (out, in) is the Dense ``kernel`` (in, out), a batch norm's
``weight``, ``bias``, ``running_mean``, ``running_var`` are ``gamma``, ``beta``, ``moving_mean``,
``moving_variance``. Layers without a module of their own (a functional relu, the residual sum, the
concatenation) are named after their block: ``layer1_0_relu1``, ``layer1_0_add``, ``inception3a_concat``.
MobileNet v1, which torchvision lacks, has Keras applications' names (``conv_dw_1``, ``conv_pw_1_bn``).

:func:`count_params` gives a network's parameter count from its layers' weight shapes, without making
the weights (VGG-16's are 553 MB of float32).
"""

from __future__ import annotations

from .inception import INCEPTION_NET, inception_net
from .mobilenet import MOBILENET_V1, MOBILENET_V2, mobilenet_v1, mobilenet_v2
from .resnet import RESNET18, RESNET50, resnet18, resnet50
from .small import MODELS, deep_convnet, get, lenet5, simple_convnet
from .squeezenet import SQUEEZENET1_1, squeezenet1_1
from .vgg import VGG11, VGG16, vgg11, vgg16
from ...utils.validation import _short

#: the ImageNet architectures by builder name
ARCHITECTURES = {a.name: a for a in (VGG11, VGG16, RESNET18, RESNET50, MOBILENET_V1, MOBILENET_V2, SQUEEZENET1_1,
                                     INCEPTION_NET)}


def count_params(name, classes=1000, input_shape=None, data_format="channels_last", width=1.0,
                 trainable_only=True) -> int:
    """The parameter count of the zoo network ``name`` built with these arguments, read from the weight
    shapes its layers would build (each layer's own ``build``, recorded instead of run): no weight is
    made and no data flows, so VGG-16 costs nothing.

    Args:
        name: a key of :data:`ARCHITECTURES` (``"resnet50"``).
        classes, input_shape, data_format, width: as the builder's.
        trainable_only: leave out the batch norm moving statistics, as PyTorch's ``parameters()`` and
            the published counts do; False counts them too, as ``Model.count_params``.

    Example:
        >>> count_params("resnet50")
        25557032
    """
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise ValueError(f"The `name` argument must be one of {sorted(ARCHITECTURES)}. Received: name={_short(name)}")
    return ARCHITECTURES[name].count_params(classes, input_shape, data_format, width, trainable_only)


__all__ = ["ARCHITECTURES", "MODELS", "count_params", "deep_convnet", "get", "inception_net", "lenet5",
           "mobilenet_v1", "mobilenet_v2", "resnet18", "resnet50", "simple_convnet", "squeezenet1_1", "vgg11",
           "vgg16"]
