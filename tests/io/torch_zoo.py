"""PyTorch twins of numcnn's zoo networks, written by hand after torchvision's definitions (torchvision is
not a dependency), for the tests: the same module paths as torchvision (so a state dict's keys are
torchvision's), and the zoo builders' ``width`` and ``classes`` so small variants can be built.

Each twin differs from torchvision only where the numcnn builder's docstring says so: VGG has no
``AdaptiveAvgPool2d(7)`` (the identity at 224x224), so its first Linear depends on the input ``size``;
MobileNet v1 is Keras applications' layout and names with PyTorch padding; GoogLeNet has no auxiliary
classifiers. ``width`` rounds as the zoo does.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from numcnn.layers import BatchNormalization, Conv2D, Dense, DepthwiseConv2D


def scaled(channels, width):
    """The zoo's rounding: ``channels * width`` half up, at least 1."""
    return max(1, int(channels * width + 0.5))


def make_divisible(value, divisor=8):
    """torchvision's ``_make_divisible``."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


# -- VGG ---------------------------------------------------------------------------------------------------------

VGG_LAYOUTS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """torchvision's VGG without batch norm, and without its ``AdaptiveAvgPool2d(7)``: the first Linear
    takes the feature map of a ``size`` x ``size`` input as it is."""

    def __init__(self, layout, classes=1000, width=1.0, size=224):
        super().__init__()
        layers, channels = [], 3
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, scaled(item, width), 3, padding=1), nn.ReLU(inplace=True)]
                channels = scaled(item, width)
        self.features = nn.Sequential(*layers)
        hidden = scaled(4096, width)
        self.classifier = nn.Sequential(nn.Linear(channels * (size // 32) ** 2, hidden), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(hidden, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def vgg11(classes=1000, width=1.0, size=224):
    return VGG(VGG_LAYOUTS["vgg11"], classes, width, size)


def vgg16(classes=1000, width=1.0, size=224):
    return VGG(VGG_LAYOUTS["vgg16"], classes, width, size)


# -- ResNet ------------------------------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5: the stride is here
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):
    def __init__(self, block, layers, classes=1000, width=1.0):
        super().__init__()
        self.inplanes = scaled(64, width)
        self.conv1 = nn.Conv2d(3, self.inplanes, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, scaled(64, width), layers[0])
        self.layer2 = self._make_layer(block, scaled(128, width), layers[1], 2)
        self.layer3 = self._make_layer(block, scaled(256, width), layers[2], 2)
        self.layer4 = self._make_layer(block, scaled(512, width), layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(classes=1000, width=1.0, size=224):
    return ResNet(BasicBlock, [2, 2, 2, 2], classes, width)


def resnet50(classes=1000, width=1.0, size=224):
    return ResNet(Bottleneck, [3, 4, 6, 3], classes, width)


# -- MobileNet v1 (Keras applications' layout and names, PyTorch padding) ----------------------------------------

V1_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1)]


class MobileNetV1(nn.Module):
    def __init__(self, classes=1000, width=1.0):
        super().__init__()
        channels = make_divisible(32 * width)
        self.conv1 = nn.Conv2d(3, channels, 3, 2, 1, bias=False)
        self.conv1_bn = nn.BatchNorm2d(channels)
        for block, (filters, stride) in enumerate(V1_BLOCKS, start=1):
            filters = make_divisible(filters * width)
            setattr(self, f"conv_dw_{block}", nn.Conv2d(channels, channels, 3, stride, 1, groups=channels, bias=False))
            setattr(self, f"conv_dw_{block}_bn", nn.BatchNorm2d(channels))
            setattr(self, f"conv_pw_{block}", nn.Conv2d(channels, filters, 1, bias=False))
            setattr(self, f"conv_pw_{block}_bn", nn.BatchNorm2d(filters))
            channels = filters
        self.dropout = nn.Dropout(1e-3)
        self.conv_preds = nn.Conv2d(channels, classes, 1)

    def forward(self, x):
        x = nn.functional.relu6(self.conv1_bn(self.conv1(x)))
        for block in range(1, len(V1_BLOCKS) + 1):
            x = nn.functional.relu6(getattr(self, f"conv_dw_{block}_bn")(getattr(self, f"conv_dw_{block}")(x)))
            x = nn.functional.relu6(getattr(self, f"conv_pw_{block}_bn")(getattr(self, f"conv_pw_{block}")(x)))
        x = self.dropout(nn.functional.adaptive_avg_pool2d(x, 1))
        return torch.flatten(self.conv_preds(x), 1)


def mobilenet_v1(classes=1000, width=1.0, size=224):
    return MobileNetV1(classes, width)


# -- MobileNet v2 ------------------------------------------------------------------------------------------------

class Conv2dNormActivation(nn.Sequential):
    def __init__(self, inp, out, kernel_size=3, stride=1, groups=1):
        super().__init__(nn.Conv2d(inp, out, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = [Conv2dNormActivation(inp, hidden, 1)] if expand_ratio != 1 else []
        layers += [Conv2dNormActivation(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
               (6, 320, 1, 1)]

    def __init__(self, classes=1000, width=1.0):
        super().__init__()
        channels, last = make_divisible(32 * width), make_divisible(1280 * max(1.0, width))
        features = [Conv2dNormActivation(3, channels, stride=2)]
        for t, c, n, s in self.SETTING:
            out = make_divisible(c * width)
            for i in range(n):
                features.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
                channels = out
        features.append(Conv2dNormActivation(channels, last, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, classes))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2(classes=1000, width=1.0, size=224):
    return MobileNetV2(classes, width)


# -- SqueezeNet 1.1 ----------------------------------------------------------------------------------------------

class Fire(nn.Module):
    def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    #: the features after the stem: Fire (squeeze, expand 1x1, expand 3x3) or "M"
    LAYOUT = [(16, 64, 64), (16, 64, 64), "M", (32, 128, 128), (32, 128, 128), "M", (48, 192, 192), (48, 192, 192),
              (64, 256, 256), (64, 256, 256)]

    def __init__(self, classes=1000, width=1.0):
        super().__init__()
        channels = scaled(64, width)
        layers = [nn.Conv2d(3, channels, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True)]
        for item in self.LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            else:
                squeeze, expand1x1, expand3x3 = (scaled(c, width) for c in item)
                layers.append(Fire(channels, squeeze, expand1x1, expand3x3))
                channels = expand1x1 + expand3x3
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(channels, classes, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


def squeezenet1_1(classes=1000, width=1.0, size=224):
    return SqueezeNet(classes, width)


# -- GoogLeNet ---------------------------------------------------------------------------------------------------

class BasicConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return nn.functional.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))  # torchvision's 3x3
        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """torchvision's GoogLeNet with ``aux_logits=False, transform_input=False``."""

    BLOCKS = {"3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64), "4a": (192, 96, 208, 16, 48, 64),
              "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
              "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
              "5b": (384, 192, 384, 48, 128, 128)}

    def __init__(self, classes=1000, width=1.0):
        super().__init__()
        self.conv1 = BasicConv2d(3, scaled(64, width), kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(scaled(64, width), scaled(64, width), kernel_size=1)
        self.conv3 = BasicConv2d(scaled(64, width), scaled(192, width), kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        channels = scaled(192, width)
        for name, planes in self.BLOCKS.items():
            block = Inception(channels, *(scaled(p, width) for p in planes))
            setattr(self, f"inception{name}", block)
            channels = block.out_channels
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for name in ("4a", "4b", "4c", "4d", "4e"):
            x = getattr(self, f"inception{name}")(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def inception_net(classes=1000, width=1.0, size=224):
    return GoogLeNet(classes, width)


#: the twin of each zoo builder, by the builder's name: ``TWINS[name](classes, width, size) -> nn.Module``
TWINS = {f.__name__: f for f in (vgg11, vgg16, resnet18, resnet50, mobilenet_v1, mobilenet_v2, squeezenet1_1,
                                 inception_net)}


def count_parameters(model: nn.Module) -> int:
    """``sum(p.numel() for p in model.parameters())``: what torchvision publishes (no BN running statistics)."""
    return sum(p.numel() for p in model.parameters())


def randomize(model: nn.Module, rng: np.random.Generator) -> nn.Module:
    """Random weights that keep the signal's scale: He-normal conv and linear weights, small biases, and batch
    norms far from the identity (gamma in [0.5, 1.5], beta and running mean ~ N(0, 0.1), running var in
    [0.5, 1.5])."""

    def draw(shape, scale):
        return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(draw(module.weight.shape, np.sqrt(2.0 / fan_in)))
                if module.bias is not None:
                    module.bias.copy_(draw(module.bias.shape, 0.1))
            elif isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
                module.bias.copy_(draw(c, 0.1))
                module.running_mean.copy_(draw(c, 0.1))
                module.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
    return model.eval()


def copy_into_numcnn(model: nn.Module, numcnn_model) -> None:
    """Copy ``model``'s state dict into the numcnn model's layers, paired by name: the module path with "."
    replaced by "_" is the layer's name. Every tensor must find its layer and every numcnn weight its
    tensor (``num_batches_tracked`` aside).

    conv (O, I, kh, kw) -> kernel (kh, kw, I, O); depthwise (C*m, 1, kh, kw) -> (kh, kw, C, m); linear
    (out, in) -> kernel (in, out); batch norm weight, bias, running_mean, running_var -> gamma, beta,
    moving_mean, moving_variance.
    """
    layers = {layer.name: layer for layer in numcnn_model.layers}
    filled = {name: {} for name, layer in layers.items() if layer.named_weights()}
    bn_names = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
    for key, tensor in model.state_dict().items():
        path, _, what = key.rpartition(".")
        if what == "num_batches_tracked":
            continue
        layer = layers[path.replace(".", "_")]
        value = tensor.detach().cpu().numpy()
        if isinstance(layer, BatchNormalization):
            name = bn_names[what]
        elif what == "bias":
            name = "bias"
        elif isinstance(layer, DepthwiseConv2D):
            channels, multiplier = layer.named_weights()["kernel"].shape[2:]
            name, value = "kernel", value.reshape(channels, multiplier, *value.shape[2:]).transpose(2, 3, 0, 1)
        elif isinstance(layer, Conv2D):
            name, value = "kernel", value.transpose(2, 3, 1, 0)
        elif isinstance(layer, Dense):
            name, value = "kernel", value.T
        else:
            raise AssertionError(f"{key} pairs with layer {layer.name} ({type(layer).__name__}), which has no weights")
        filled[layer.name][name] = value
    for name, arrays in filled.items():
        layers[name].assign_weights(arrays, source=f"the state dict (layer {name})")
