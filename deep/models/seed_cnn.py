"""The seed system's CNN (luanshiyinyang/FacialExpressionRecognition, `CNN3`), reproduced as designed.

A 1x1 convolution right after the input ("to add non-linearity", after GoogLeNet), two blocks of a
3x3 and a 5x5 convolution with PReLU and max-pooling, then two large dense layers with dropout 0.5:
about 19 M of its 21 M parameters are in the first dense layer. No batch norm. The adaptive pooling
before the dense layers is the identity at 48x48 (the seed's only size) and lets larger inputs
through with the same dense layers.
"""

from __future__ import annotations

from torch import Tensor, nn

from deep.models.registry import register_model


def _conv(cin: int, cout: int, k: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=k // 2), nn.PReLU(cout)]


class SeedCNN(nn.Module):
    """(N, in_chans, H, W) -> (N, num_classes) logits. Feature map: the second block's output, after
    its max-pooling (N, width, H // 4, W // 4), 64 x 12 x 12 at 48x48 (registry `feature_layer`:
    "features")."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        width: int = 64,
        hidden: tuple[int, int] = (2048, 1024),
        drop_rate: float = 0.5,
    ):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 32, 1),
            nn.ReLU(inplace=True),
            *_conv(32, width, 3),
            *_conv(width, width, 5),
            nn.MaxPool2d(2),
            *_conv(width, width, 3),
            *_conv(width, width, 5),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(12)  # no weights: state-dict keys as before
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(width * 12 * 12, hidden[0]),
            nn.ReLU(inplace=True),
            nn.Dropout(drop_rate),
            nn.Linear(hidden[0], hidden[1]),
            nn.ReLU(inplace=True),
            nn.Dropout(drop_rate),
        )
        self.head = nn.Linear(hidden[1], num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, in_chans, H, W) -> the second block's map (N, width, H // 4, W // 4)."""
        return self.features(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """(N, C, h, w) feature map -> (N, num_classes) logits: adaptive pooling to 12x12, the dense layers, head."""
        return self.head(self.fc(self.pool(features)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("seed_cnn", feature_layer="features")
def seed_cnn(num_classes: int, in_chans: int = 1, **kwargs) -> SeedCNN:
    """The seed system's CNN (see the module docstring)."""
    return SeedCNN(num_classes, in_chans, **kwargs)
