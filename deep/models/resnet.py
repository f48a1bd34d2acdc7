"""ResNet with basic blocks, configurable stem and stages; `resnet18` adapted to 48x48 grayscale.

ImageNet's ResNet-18 starts with a 7x7 stride-2 convolution and a max-pool: a 48x48 face would be
12x12 before the first block. Here the stem is one 3x3 convolution at stride 1 with no pooling (the
CIFAR adaptation), so the four stages see 48, 24, 12 and 6 pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from deep.models.registry import register_model


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, act: bool = True) -> nn.Sequential:
    """A convolution, batch norm and (with `act`) ReLU."""
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if act else nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convolutions and a shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, act=False))
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, act=False)
        self.act = nn.ReLU(inplace=True)
        nn.init.zeros_(self.body[1][1].weight)  # each block starts as the identity: trains faster, deeper

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """`stem` maps the input to `widths[0]`-ish channels; stage i has `depths[i]` blocks of
    `widths[i]` channels, the first with stride `strides[i]`; then global pooling and a linear head.
    Feature map: the last block's output (N, widths[-1], H / prod(strides), W / prod(strides)), rounded
    up at each stride; 512 x 6 x 6 for resnet18 at 48x48 (registry `feature_layer`: "blocks")."""

    def __init__(
        self,
        num_classes: int,
        stem: nn.Module,
        stem_width: int,
        widths: Sequence[int],
        depths: Sequence[int],
        strides: Sequence[int],
        drop_rate: float = 0.0,
    ):
        super().__init__()
        self.stem = stem
        blocks, cin = [], stem_width
        for width, depth, stride in zip(widths, depths, strides, strict=True):
            for i in range(depth):
                blocks.append(BasicBlock(cin, width, stride if i == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(drop_rate))
        self.head = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, in_chans, H, W) -> the last block's map (N, widths[-1], h, w)."""
        return self.blocks(self.stem(x))

    def forward_head(self, features: Tensor) -> Tensor:
        """(N, C, h, w) feature map -> (N, num_classes) logits: global average pooling, dropout, linear head."""
        return self.head(self.pool(features))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("resnet18", feature_layer="blocks")
def resnet18(num_classes: int, in_chans: int = 1, drop_rate: float = 0.0) -> ResNet:
    """ResNet-18 for small grey crops (see the module docstring)."""
    return ResNet(
        num_classes,
        conv_bn(in_chans, 64),
        64,
        widths=(64, 128, 256, 512),
        depths=(2, 2, 2, 2),
        strides=(1, 2, 2, 2),
        drop_rate=drop_rate,
    )
