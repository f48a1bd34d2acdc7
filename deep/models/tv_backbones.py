"""torchvision backbones (MobileNetV3-small, EfficientNet-B0), registered by name.

torchvision is imported when such a model is built (its absence is a clear `ConfigError`). Weights are
never downloaded: `pretrained` is False (random initialisation) or the path of a local state-dict
file of the torchvision model (e.g. ImageNet weights saved once with `torch.save(m.state_dict())`).
The RGB stem is replaced by one taking `in_chans` channels; pretrained RGB filters are summed over
their input channels for a grayscale stem (as timm does), and the 1000-class head is reinitialised.
Both architectures are `features` -> `avgpool` -> flatten -> `classifier`; `TorchvisionNet` holds those
parts and gives them the registry's split: `forward_features` is `features` (the last block's map, the
registry's `feature_layer`, what Grad-CAM explains) and `forward_head` the rest.
"""

from __future__ import annotations

import torch
from torch import nn

from core.errors import ConfigError
from deep.models.registry import register_model
from deep.models.weights import load_except_head

STEM = "features.0.0"  # the first convolution in both architectures


def _torchvision_model(arch: str, num_classes: int, in_chans: int, pretrained: bool | str) -> nn.Module:
    try:
        from torchvision import models
    except ImportError as exc:
        raise ConfigError(
            f"model '{arch}' needs the 'torchvision' package, which is not installed; install the "
            f"torchvision build that matches torch {torch.__version__}, or pick another model"
        ) from exc
    if pretrained is True:
        raise ConfigError(
            f"model '{arch}': pretrained must be false or the path of a local state-dict file; "
            "ferbench downloads nothing"
        )
    model = getattr(models, arch)(weights=None, num_classes=num_classes)
    stem = model.get_submodule(STEM)
    model.features[0][0] = nn.Conv2d(
        in_chans, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False
    )
    if pretrained:
        state = torch.load(pretrained, map_location="cpu", weights_only=True)
        w = state[f"{STEM}.weight"]
        if w.shape[1] != in_chans:
            # same response to a grey image: each input channel gets the sum of RGB filters / in_chans
            state[f"{STEM}.weight"] = w.sum(1, keepdim=True).repeat(1, in_chans, 1, 1) / in_chans
        load_except_head(model, state, head="classifier")
    return TorchvisionNet(model)


class TorchvisionNet(nn.Module):
    """A torchvision classifier of the form features -> avgpool -> flatten -> classifier (MobileNetV3,
    EfficientNet) with the registry's split: `forward_features` (N, in_chans, H, W) -> the last block's map
    (N, C, h, w), `forward_head` that map -> logits (N, num_classes). It holds torchvision's own
    submodules under their names, so its state dict is the torchvision model's."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.features, self.avgpool, self.classifier = net.features, net.avgpool, net.classifier

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(features), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("mobilenet_v3_small", head="classifier", feature_layer="features")
def mobilenet_v3_small(num_classes: int, in_chans: int = 1, pretrained: bool | str = False) -> nn.Module:
    """torchvision's MobileNetV3-small (see the module docstring)."""
    return _torchvision_model("mobilenet_v3_small", num_classes, in_chans, pretrained)


@register_model("efficientnet_b0", head="classifier", feature_layer="features")
def efficientnet_b0(num_classes: int, in_chans: int = 1, pretrained: bool | str = False) -> nn.Module:
    """torchvision's EfficientNet-B0 (see the module docstring)."""
    return _torchvision_model("efficientnet_b0", num_classes, in_chans, pretrained)
