"""Any timm model as a ferbench model: `model=timm/<architecture>` (e.g. timm/resnet18, timm/mobilenetv3_small_100,
timm/efficientnet_b0, timm/vit_tiny_patch16_224, timm/convnext_atto; `timm.list_models()` names them all).

The network is built by `timm.create_model` (Wightman, "PyTorch Image Models",
github.com/huggingface/pytorch-image-models) with `in_chans` input channels (1 for ferbench's grey crops: timm
sums a pretrained RGB stem's filters over their input channels) and no classifier; `TimmNet` wraps it with the
registry's split and its own linear head for the data set's classes:

- `forward_features(x)`: (N, in_chans, H, W) -> the last feature map (N, C, h, w). A convolutional network's map
  is timm's `forward_features`; a vision transformer's patch tokens are laid out on their (h, w) grid (the class
  and register tokens are dropped: such models are built with `global_pool="avg"`, which pools the patch tokens
  only). The map passes through `feature_map` (an identity), the layer Grad-CAM explains.
- `forward_head(features)`: timm's pooling and pre-logits on that map, then `head` (nn.Linear) -> (N, num_classes).

Transformers are built with `dynamic_img_size=True`, so they take the crops' size (48 or 96 pixels) whatever their
`img_size`; give `patch_size` to suit it (8 for 48x48 gives a 6x6 grid).

Pretrained weights (`pretrained`): false (random initialisation, the default); true: timm's pretrained weights
from the Hugging Face hub (which needs the network; the error names the file option when it cannot be reached);
or the path of a local file (a state dict of the timm model saved by `torch.save`, or a `.safetensors` file, such
as the hub's `model.safetensors`), loaded through timm's own loader: the stem is adapted to `in_chans`, position
embeddings and patch embeddings are resampled to the model's grid and patch size, the 1000-class classifier is
dropped. A pretrained model normalises its input as its pretrained config says (`input_norm`: ImageNet's mean and
standard deviation, averaged over the colour channels for a grey stem), not by the training pixels' statistics.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import math
from pathlib import Path

import torch
from torch import nn

from core.errors import ConfigError
from deep.models.registry import register_family

#: architectures whose features are tokens: built with global_pool="avg" (the patch tokens pooled, the final norm
#: kept in forward_features, as pretrained weights have it) and dynamic_img_size=True
TOKEN_FAMILIES = ("vit_", "deit_", "deit3_")


def _timm():
    from core.extras import require

    require("timm", "model=timm/...")
    import timm

    return timm


def _check_arch(timm, arch: str) -> None:
    if not timm.is_model(arch):
        near = difflib.get_close_matches(arch, timm.list_models(), n=5, cutoff=0.6)
        raise ConfigError(
            f"timm has no model '{arch}'"
            + (f"; similar names: {', '.join(near)}" if near else "")
            + " (timm.list_models() names them all)"
        )


def _pretrained_kwargs(arch: str, pretrained: bool | str) -> dict:
    """timm.create_model's arguments for `pretrained` (False, True: the hub, or a local file)."""
    if pretrained is False or pretrained is None:
        return {"pretrained": False}
    if pretrained is True:
        return {"pretrained": True}
    path = Path(str(pretrained)).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"model.pretrained={pretrained}: no such file; give the path of a state dict (torch.save) or a "
            f".safetensors file of timm's {arch}, true for the hub's weights, or false"
        )
    return {"pretrained": True, "pretrained_cfg_overlay": {"file": str(path)}}


@contextlib.contextmanager
def _quiet_hub():
    """huggingface_hub's warnings silenced while timm fetches weights: without the network it logs every retry
    (and a logging set-up such as Hydra's prints each twice); a failure is one ConfigError instead."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@register_family("timm", head="head", feature_layer="feature_map")
def timm_model(arch: str, num_classes: int, in_chans: int = 1, pretrained: bool | str = False, **kwargs) -> nn.Module:
    """timm's `arch` with `in_chans` input channels and a new head for `num_classes`, as a `TimmNet`.

    kwargs go to `timm.create_model` (e.g. drop_rate, drop_path_rate, patch_size). Raises ConfigError for an
    architecture timm does not have, an argument it does not take, a pretrained file that is not there or does
    not fit, and hub weights that cannot be fetched."""
    timm = _timm()
    _check_arch(timm, arch)
    extra = (
        {"global_pool": "avg", "fc_norm": False, "dynamic_img_size": True} if arch.startswith(TOKEN_FAMILIES) else {}
    )
    try:
        with _quiet_hub():
            body = timm.create_model(
                arch, num_classes=0, in_chans=in_chans, **_pretrained_kwargs(arch, pretrained), **extra, **kwargs
            )
    except TypeError as exc:
        raise ConfigError(f"model timm/{arch}: {exc}") from exc
    except (OSError, RuntimeError) as exc:  # the hub out of reach, a file that does not fit
        if pretrained is True:
            raise ConfigError(
                f"model timm/{arch}: could not fetch timm's pretrained weights ({type(exc).__name__}); on a machine "
                "without the network, give a local file: model.pretrained=PATH (.safetensors or a torch state dict)"
            ) from exc
        if pretrained:
            raise ConfigError(f"model timm/{arch}: the weights in {pretrained} do not fit it: {exc}") from exc
        raise
    return TimmNet(body, num_classes, in_chans, pretrained_norm=bool(pretrained))


class TimmNet(nn.Module):
    """A timm network (built with no classifier) with the registry's split and a linear head.

    body: the timm model; `forward_features` (N, C_in, H, W) -> (N, C, h, w) float; `forward_head` -> logits
    (N, num_classes). `input_norm` is (mean, std) in grey levels 0..255 from the pretrained config when the
    weights are pretrained, else None (the estimator then uses the training pixels' statistics)."""

    def __init__(self, body: nn.Module, num_classes: int, in_chans: int = 1, pretrained_norm: bool = False):
        super().__init__()
        self.body = body
        self.feature_map = nn.Identity()
        self.prefix_tokens = int(getattr(body, "num_prefix_tokens", 0)) if hasattr(body, "patch_embed") else None
        with torch.no_grad():  # the width of the pre-logits, which some families (MobileNetV3) widen after pooling
            was = body.training
            body.eval()
            side = 64 if self.prefix_tokens is None else 2 * self._patch()[0]
            width = body.forward_head(body.forward_features(torch.zeros(1, in_chans, side, side))).shape[1]
            body.train(was)
        self.head = nn.Linear(width, num_classes)
        cfg = getattr(body, "pretrained_cfg", {}) or {}
        self.input_norm = (
            (255.0 * sum(cfg["mean"]) / len(cfg["mean"]), 255.0 * sum(cfg["std"]) / len(cfg["std"]))
            if pretrained_norm and "mean" in cfg and "std" in cfg
            else None
        )

    def _patch(self) -> tuple[int, int]:
        size = self.body.patch_embed.patch_size
        return (size, size) if isinstance(size, int) else tuple(size)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        features = self.body.forward_features(x)
        if self.prefix_tokens is not None:  # tokens (N, prefix + h * w, C) -> the patch grid (N, C, h, w)
            ph, pw = self._patch()
            h, w = math.ceil(x.shape[-2] / ph), math.ceil(x.shape[-1] / pw)
            patches = features[:, self.prefix_tokens :]
            if patches.shape[1] != h * w:
                raise ConfigError(f"timm model: {patches.shape[1]} patch tokens do not make a {h}x{w} grid")
            features = patches.transpose(1, 2).reshape(x.shape[0], -1, h, w)
        elif features.ndim != 4:
            raise ConfigError(f"timm model: features of shape {tuple(features.shape)} are not a (N, C, h, w) map")
        return self.feature_map(features)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        if self.prefix_tokens is not None:  # back to tokens; the prefix (pooled away by global_pool="avg") as zeros
            tokens = features.flatten(2).transpose(1, 2)
            prefix = tokens.new_zeros(tokens.shape[0], self.prefix_tokens, tokens.shape[2])
            features = torch.cat([prefix, tokens], 1)
        return self.head(self.body.forward_head(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
