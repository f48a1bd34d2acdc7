"""torchvision's classification models as ferbench models: `model=torchvision/<architecture>` (e.g.
torchvision/resnet18, torchvision/mobilenet_v3_small, torchvision/efficientnet_b0, torchvision/convnext_tiny,
torchvision/densenet121; `SPLITS` names the families taken, `torchvision.models.list_models()` the architectures).

The network is torchvision's (`torchvision.models.get_model`, Marcel & Rodriguez, "TorchVision: the machine-vision
package of Torch", ACM MM 2010; the architectures' own papers are cited in torchvision's documentation) with its
first convolution taking `in_chans` channels (1 for ferbench's grey crops) and its classifier sized for the data
set's classes. `TorchvisionNet` gives it the registry's split without rewriting torchvision's forward pass:

- `forward_features(x)`: (N, in_chans, H, W) -> the last feature map (N, C, h, w): the modules `SPLITS` names for
  the family (ResNet's conv1 ... layer4, MobileNet's `features`), run in order, then `feature_map` (an identity),
  the layer Grad-CAM explains.
- `forward_head(features)`: torchvision's own forward on that map with those modules replaced by identities
  (`tail`): its pooling, flattening, dropout and classifier, so nothing of the architecture is re-implemented.

Pretrained weights (`pretrained`): false (random initialisation, the default); true: torchvision's default
ImageNet weights (`weights="DEFAULT"`, fetched from download.pytorch.org, which needs the network; the error names
the file option when it cannot be reached); or the path of a local state-dict file of the torchvision model
(`torch.save(model.state_dict())`, or `.safetensors`). An RGB first convolution is summed over its input channels
for a grey one (as timm does), the classifier's last layer starts fresh when its shape differs, anything else that
does not fit is an error. A pretrained model normalises its input with ImageNet's mean and standard deviation
(averaged over the colour channels for a grey stem), not by the training pixels' statistics.

Families without a (N, C, h, w) map before their head are refused (vision transformers, Swin's channels-last
maps, GoogLeNet and Inception's auxiliary heads); timm's ports of them work (`model=timm/<architecture>`).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch
from torch import nn

from core.errors import ConfigError
from deep.models.registry import register_family
from deep.models.weights import load_except_head

#: family prefix -> (the modules that make the feature map, in forward order; the classifier's attribute).
#: The first family whose prefix begins the architecture's name is used.
SPLITS: dict[str, tuple[tuple[str, ...], str]] = {
    "resnet": (("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"), "fc"),
    "resnext": (("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"), "fc"),
    "wide_resnet": (("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"), "fc"),
    "regnet": (("stem", "trunk_output"), "fc"),
    "shufflenet": (("conv1", "maxpool", "stage2", "stage3", "stage4", "conv5"), "fc"),
    "mnasnet": (("layers",), "classifier"),
    "mobilenet": (("features",), "classifier"),
    "efficientnet": (("features",), "classifier"),
    "convnext": (("features",), "classifier"),
    "densenet": (("features",), "classifier"),
    "vgg": (("features",), "classifier"),
    "alexnet": (("features",), "classifier"),
    "squeezenet": (("features",), "classifier"),
}

#: ImageNet's per-channel mean and standard deviation (0..1), which torchvision's classification weights expect
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _models():
    try:
        from torchvision import models
    except ImportError as exc:
        raise ConfigError(
            f"model=torchvision/... needs the 'torchvision' package, which is not installed; install the "
            f"torchvision build that matches torch {torch.__version__}, or pick another model"
        ) from exc
    return models


def _split(models, arch: str) -> tuple[tuple[str, ...], str]:
    if arch not in models.list_models(module=models):
        near = difflib.get_close_matches(arch, models.list_models(module=models), n=5, cutoff=0.6)
        raise ConfigError(
            f"torchvision has no classification model '{arch}'"
            + (f"; similar names: {', '.join(near)}" if near else "")
            + " (torchvision.models.list_models() names them all)"
        )
    for prefix, split in SPLITS.items():
        if arch.startswith(prefix):
            return split
    raise ConfigError(
        f"model torchvision/{arch}: ferbench splits torchvision's {', '.join(SPLITS)} families into features and "
        f"head, not {arch}'s (no (N, C, h, w) map before its head); timm's port may do: model=timm/<architecture>"
    )


def _pretrained_state(models, arch: str, pretrained: bool | str) -> dict[str, torch.Tensor]:
    if pretrained is True:
        try:
            return models.get_model_weights(arch).DEFAULT.get_state_dict(progress=False)
        except (OSError, RuntimeError, ValueError) as exc:  # no network, a refused or broken download
            raise ConfigError(
                f"model torchvision/{arch}: could not fetch torchvision's pretrained weights ({type(exc).__name__}); "
                "on a machine without the network, give a local file: model.pretrained=PATH (a torch state dict)"
            ) from exc
    path = Path(str(pretrained)).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"model.pretrained={pretrained}: no such file; give the path of a state dict (torch.save) or a "
            f".safetensors file of torchvision's {arch}, true for torchvision's weights, or false"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except ImportError as exc:
        raise ConfigError(f"model.pretrained={pretrained}: reading .safetensors needs the safetensors package") from exc
    except Exception as exc:  # truncated, not a state dict, another format: one line naming the file
        raise ConfigError(f"model.pretrained={pretrained}: not a state dict torch can read ({exc})") from exc


def _grey_stem(model: nn.Module, in_chans: int) -> str:
    """Replace the first convolution of `model` by one taking `in_chans` channels; returns its name."""
    name, stem = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    parent, _, attr = name.rpartition(".")
    new = nn.Conv2d(
        in_chans, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, stem.dilation, stem.groups,
        bias=stem.bias is not None,
    )  # fmt: skip
    setattr(model.get_submodule(parent) if parent else model, attr, new)
    return name


@register_family("torchvision", head="tail", feature_layer="feature_map")
def torchvision_model(
    arch: str, num_classes: int, in_chans: int = 1, pretrained: bool | str = False, **kwargs
) -> nn.Module:
    """torchvision's `arch` with `in_chans` input channels and `num_classes` outputs, as a `TorchvisionNet`.

    kwargs go to torchvision's builder (e.g. dropout for EfficientNet). Raises ConfigError for an architecture
    torchvision does not have or ferbench cannot split, an argument the builder does not take, a pretrained file
    that is not there or does not fit, and weights that cannot be fetched."""
    models = _models()
    parts, head = _split(models, arch)
    try:
        model = models.get_model(arch, weights=None, num_classes=num_classes, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"model torchvision/{arch}: {exc}") from exc
    stem = _grey_stem(model, in_chans)
    if pretrained:
        state = dict(_pretrained_state(models, arch, pretrained))
        w = state.get(f"{stem}.weight")
        if w is not None and w.ndim == 4 and w.shape[1] != in_chans:
            # the same response to a grey image: each input channel gets the sum of the RGB filters / in_chans
            state[f"{stem}.weight"] = w.sum(1, keepdim=True).repeat(1, in_chans, 1, 1) / in_chans
        try:
            load_except_head(model, state, head=head)
        except ConfigError as exc:
            raise ConfigError(f"model torchvision/{arch}: the weights in {pretrained} do not fit it: {exc}") from exc
    return TorchvisionNet(model, parts, pretrained_norm=bool(pretrained))


class TorchvisionNet(nn.Module):
    """A torchvision classifier with the registry's split (see the module docstring).

    `features` holds the modules named in `parts` (run in that order); `tail` is the torchvision model with those
    modules replaced by identities, so `tail(map)` is its pooling and classifier. `forward_features` (N, C_in, H, W)
    float -> (N, C, h, w); `forward_head` -> logits (N, num_classes). `input_norm` is ImageNet's (mean, std) in grey
    levels 0..255 when the weights are pretrained, else None (the estimator then uses the training pixels')."""

    def __init__(self, net: nn.Module, parts: tuple[str, ...], pretrained_norm: bool = False):
        super().__init__()
        self.features = nn.Sequential(*(getattr(net, p) for p in parts))
        for p in parts:
            setattr(net, p, nn.Identity())
        self.feature_map = nn.Identity()
        self.tail = net
        mean, std = sum(IMAGENET_MEAN) / 3, sum(IMAGENET_STD) / 3
        self.input_norm = (255.0 * mean, 255.0 * std) if pretrained_norm else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(self.features(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.tail(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
