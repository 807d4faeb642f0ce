"""torchvision's ResNet-18, MobileNetV2 and SqueezeNet 1.0 with the usual CIFAR stems (32x32 inputs).

An ImageNet stem downsamples a 32x32 image to 8x8 before the first block; these stems keep the
resolution the way CIFAR versions of the networks usually do. State-dict keys stay torchvision's, so
the shared folder's weights trained on JPEG CIFAR-10 load as they are:

- ``resnet18-cifar``: ``conv1`` a 3x3 stride-1 convolution (3 -> 64, no bias), no max-pool;
- ``mobilenet_v2-cifar``: stride 1 in the stem convolution and in the depthwise convolution of the
  first 24-channel block;
- ``squeezenet1_0-cifar``: ``features[0]`` a 3x3 stride-1 convolution (3 -> 96, with bias).
"""

from __future__ import annotations

from collections.abc import Callable

import torchvision
from torch import nn

# registry name -> (torchvision name, file name under the shared folder's models/cifar10-jpeg/)
CIFAR_STEM_MODELS = {
    "resnet18-cifar": "resnet18",
    "mobilenet_v2-cifar": "mobilenet_v2",
    "squeezenet1_0-cifar": "squeezenet1_0",
}
PRETRAINED_DIR = "models/cifar10-jpeg"


def _resnet18(num_classes: int) -> nn.Module:
    m = torchvision.models.resnet18(num_classes=num_classes)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m


def _mobilenet_v2(num_classes: int) -> nn.Module:
    m = torchvision.models.mobilenet_v2(num_classes=num_classes)
    m.features[0][0].stride = (1, 1)
    m.features[2].conv[1][0].stride = (1, 1)
    return m


def _squeezenet1_0(num_classes: int) -> nn.Module:
    m = torchvision.models.squeezenet1_0(num_classes=num_classes)
    m.features[0] = nn.Conv2d(3, 96, 3, 1, 1)
    return m


_BUILDERS: dict[str, Callable[[int], nn.Module]] = {
    "resnet18": _resnet18,
    "mobilenet_v2": _mobilenet_v2,
    "squeezenet1_0": _squeezenet1_0,
}


def build_cifar_stem(name: str, num_classes: int = 10) -> nn.Module:
    """The CIFAR-stem network registered as ``name`` (e.g. ``mobilenet_v2-cifar``), random weights."""
    return _BUILDERS[CIFAR_STEM_MODELS[name]](num_classes)


def pretrained_file(name: str) -> str:
    """The weights' path relative to the shared folder."""
    return f"{PRETRAINED_DIR}/{CIFAR_STEM_MODELS[name]}.pth"
