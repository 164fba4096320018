"""MEANet-style blocks: a main backbone with its exit, an adaptive block on the raw
input, and an extension block that classifies the hard classes from the main and
adaptive feature maps concatenated.  Two variants are defined for timing (CIFAR
ResNet-32 and ImageNet ResNet-18) and a small one for training on MNIST."""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        # F.relu (the same values as torch.relu): FX quantisation fuses conv + batch norm + F.relu into one
        # int8 kernel (sim.profiling.timings), where torch.relu would run in float between two of them
        y = nn.functional.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return nn.functional.relu(y + (x if self.short is None else self.short(x)))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for small images: stages of ``n`` blocks at ``widths``.
    ``features(x)`` is the last feature map; ``forward`` the logits of the main exit."""

    def __init__(self, n: int = 5, widths=(16, 32, 64), in_ch: int = 3, classes: int = 100):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_ch, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(n):
                layers.append(BasicBlock(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)
        self.out_channels = cin

    def features(self, x):
        return self.layers(self.stem(x))

    def head(self, f):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1))

    def forward(self, x):
        return self.head(self.features(x))


class TorchvisionMain(nn.Module):
    """A torchvision ResNet as a MEANet main block (features = output of layer4)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.out_channels = net.fc.in_features

    def features(self, x):
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))

    def head(self, f):
        return self.net.fc(torch.flatten(self.net.avgpool(f), 1))

    def forward(self, x):
        return self.head(self.features(x))


def adaptive_block(in_ch: int, widths: list[int], strides: list[int]) -> nn.Sequential:
    """A plain conv stack on the raw input, down to the main block's feature-map size."""
    layers, c = [], in_ch
    for w, s in zip(widths, strides):
        layers += [nn.Conv2d(c, w, 3, s, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        c = w
    block = nn.Sequential(*layers)
    block.out_channels = c
    return block


class ExtensionBlock(nn.Module):
    """Classifies the hard classes from [main features, adaptive features]."""

    def __init__(self, in_ch: int, width: int, blocks: int, hard_classes: int):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(in_ch, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(*[BasicBlock(width, width) for _ in range(blocks)])
        self.fc = nn.Linear(width, hard_classes)

    def forward(self, main_f, adapt_f):
        x = self.blocks(self.reduce(torch.cat([main_f, adapt_f], 1)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def variant(name: str, in_ch: int | None = None, classes: int | None = None):
    """(main, adaptive, extension, input shape) of a named MEANet variant.
    ``in_ch`` and ``classes`` override the variant's defaults (the extension block
    classifies half of the classes)."""
    if name == "meanet_cifar_resnet32":
        c, k = in_ch or 3, classes or 100
        main = CifarResNet(5, (16, 32, 64), c, k)
        adapt = adaptive_block(c, [32, 48, 96, 96], [1, 2, 2, 1])
        ext = ExtensionBlock(main.out_channels + adapt.out_channels, 95, 2, k // 2)
        return main, adapt, ext, (c, 32, 32)
    if name == "meanet_imagenet_resnet18":
        from sim.profiling.common import import_torchvision_models

        main = TorchvisionMain(import_torchvision_models().resnet18(weights=None))
        adapt = adaptive_block(3, [64, 128, 256, 512, 512], [4, 2, 2, 2, 1])
        ext = ExtensionBlock(main.out_channels + adapt.out_channels, 512, 1, 500)
        return main, adapt, ext, (3, 224, 224)
    if name == "meanet_mnist":
        c, k = in_ch or 1, classes or 10
        main = CifarResNet(1, (8, 16, 32), c, k)
        adapt = adaptive_block(c, [8, 12, 16, 16], [1, 2, 2, 1])
        ext = ExtensionBlock(main.out_channels + adapt.out_channels, 28, 1, k // 2)
        return main, adapt, ext, (c, 28, 28)
    raise ValueError(f"unknown MEANet variant {name!r}")


def cloud_model(name: str, in_ch: int, classes: int) -> nn.Module:
    """The larger network that serves offloaded inputs (and teaches, in adaptation)."""
    if name == "mnist_cloud_resnet14":
        return CifarResNet(2, (16, 32, 64), in_ch, classes)
    if name == "cifar_cloud_resnet56":
        return CifarResNet(9, (16, 32, 64), in_ch, classes)
    raise ValueError(f"unknown cloud model {name!r}")


# MACs per input of MEANet's CIFAR ResNet-32 variant's blocks (PAPERS.md C, derived from the published code)
PUBLISHED_MACS = {"main": 69.1e6, "adaptive": 12.5e6, "extension": 21.8e6}

VARIANTS = ("meanet_cifar_resnet32", "meanet_imagenet_resnet18", "meanet_mnist")
CLOUD_MODELS = ("mnist_cloud_resnet14", "cifar_cloud_resnet56")
