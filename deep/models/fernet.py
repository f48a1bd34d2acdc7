"""fernet: our network for accuracy per CPU-second at 48x48, a residual VGG.

Design, from timings of single convolutions (forward + backward, batch 64, one core of this
project's Xeon with AMX, bf16 autocast, channels_last):
- Stride-1 3x3 convolutions with 64-256 channels at 6-24 pixels run at 400-680 GFLOP/s (fp32:
  130-180); stride-2 ones at 250-290; 32 channels at 48x48 at 270; depthwise 3x3 under 10
  (memory-bound, slow backward). So no depthwise / inverted-bottleneck blocks (their MAC count
  flatters them on a CPU), and downsampling is max-pooling followed by a stride-1 convolution, as
  in VGG (whose tuned variant holds the single-network FER2013 record without extra data:
  benchmark/report/published.py).
- Full resolution is affordable only with few channels: one 32-channel convolution at 48x48, then
  stages at 24, 12 and 6 pixels (64, 128, 256 channels), each a widening convolution and
  `depths[i]` residual basic blocks (identity-initialised, so the network first trains like a
  shallow one). Global average pooling, dropout, linear head.
At the defaults: 160 M multiply-adds and 1.9 M parameters per 48x48 image, and about 6x the
training throughput of resnet18 here (1.25 G MACs); bench/train_speed.py measures it.
`fernet_deep` has two blocks per stage: 287 M MACs, 3.5 M parameters, 0.6x fernet's training
throughput. Tried for the FER2013 hour (a plain ResNet of 270 M MACs had beaten fernet there with
half its epochs), it lost to fernet's longer runs: epochs bought more than depth (its row and
fernet's on results/studies/fer2013__official.md; the board's cnn row is the recipe of
conf/method/cnn.yaml, experiment fer2013_fernet).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from deep.models.registry import register_model
from deep.models.resnet import BasicBlock, conv_bn


def _stage(cin: int, cout: int, depth: int) -> nn.Sequential:
    return nn.Sequential(nn.MaxPool2d(2), conv_bn(cin, cout), *[BasicBlock(cout, cout) for _ in range(depth)])


class FerNet(nn.Module):
    """(N, in_chans, H, W) -> (N, num_classes) logits. Feature map: the last stage's output (N,
    widths[-1], H // 8, W // 8), 256 x 6 x 6 at 48x48 (registry `feature_layer`: "stages")."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        stem_width: int = 32,
        widths: Sequence[int] = (64, 128, 256),
        depths: Sequence[int] = (1, 1, 1),
        drop_rate: float = 0.3,
    ):
        super().__init__()
        chans = (stem_width, *widths)
        self.stem = conv_bn(in_chans, stem_width)
        self.stages = nn.Sequential(*[_stage(a, b, d) for a, b, d in zip(chans[:-1], chans[1:], depths, strict=True)])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(drop_rate))
        self.head = nn.Linear(chans[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, in_chans, H, W) -> the last stage's map (N, widths[-1], H // 8, W // 8)."""
        return self.stages(self.stem(x))

    def forward_head(self, features: Tensor) -> Tensor:
        """(N, C, h, w) feature map -> (N, num_classes) logits: global average pooling, dropout, linear head."""
        return self.head(self.pool(features))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("fernet", feature_layer="stages")
def fernet(num_classes: int, in_chans: int = 1, **kwargs) -> FerNet:
    """fernet (see the module docstring)."""
    return FerNet(num_classes, in_chans, **kwargs)


@register_model("fernet_deep", feature_layer="stages")
def fernet_deep(num_classes: int, in_chans: int = 1, depths: Sequence[int] = (2, 2, 2), **kwargs) -> FerNet:
    """fernet with two residual blocks per stage."""
    return FerNet(num_classes, in_chans, depths=depths, **kwargs)
