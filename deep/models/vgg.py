"""VGG-style network for 48x48 faces, after the tuned VGG that reaches 73.3% on FER2013
(Khaireddin & Chen 2021): four blocks of two 3x3 convolutions (64-128-256-512) with batch norm,
max-pooling and dropout, then two dense layers. At 48x48 the last block's map is 3x3; adaptive
pooling to 3x3 keeps the dense layers' size for larger inputs.
"""

from __future__ import annotations

from torch import Tensor, nn

from deep.models.registry import register_model


def _block(cin: int, cout: int, drop: float) -> nn.Sequential:
    layers = []
    for c in (cin, cout):
        layers += [nn.Conv2d(c, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(2), nn.Dropout(drop))


class VGG(nn.Module):
    """(N, in_chans, H, W) -> (N, num_classes) logits. Feature map: the last block's output, after its
    max-pooling (N, widths[-1], H // 16, W // 16), 512 x 3 x 3 at 48x48 (registry `feature_layer`:
    "features")."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        hidden: int = 1024,
        conv_drop: float = 0.1,
        drop_rate: float = 0.5,
    ):
        super().__init__()
        chans = (in_chans, *widths)
        self.features = nn.Sequential(*[_block(a, b, conv_drop) for a, b in zip(chans, chans[1:])])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(3), nn.Flatten())  # no weights: state-dict keys as before
        self.fc = nn.Sequential(
            nn.Linear(widths[-1] * 9, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(drop_rate),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(drop_rate),
        )
        self.head = nn.Linear(hidden, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, in_chans, H, W) -> the last block's map (N, widths[-1], H // 16, W // 16)."""
        return self.features(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """(N, C, h, w) feature map -> (N, num_classes) logits: adaptive pooling to 3x3, the dense layers, head."""
        return self.head(self.fc(self.pool(features)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("vgg", feature_layer="features")
def vgg(num_classes: int, in_chans: int = 1, **kwargs) -> VGG:
    """The VGG-style network (see the module docstring)."""
    return VGG(num_classes, in_chans, **kwargs)
