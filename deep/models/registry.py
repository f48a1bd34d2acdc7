"""A timm-like model registry: families register builders by name, config files pick them by name.

Every builder takes `num_classes` and `in_chans` (1 for the grayscale crops ferbench feeds) plus its
own keyword arguments, and returns an `nn.Module` mapping (N, in_chans, H, W) floats to (N,
num_classes) logits. The registry also records which submodule is the classifier head, so that
fine-tuning can reinitialise exactly that part when the number of classes changes, and which
submodule outputs the last convolutional feature map (N, C, h, w), the one Grad-CAM explains.

Our families split `forward` as timm's models do: `forward_features(x)` is that map, before global
pooling, and `forward_head(features)` maps it to the logits (pooling, dropout, dense layers, head),
with `forward(x) == forward_head(forward_features(x))`.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from core.errors import ConfigError


@dataclass(frozen=True)
class ModelEntry:
    """A registered family: its builder, its head's state-dict prefix and its feature layer."""

    builder: Callable[..., nn.Module]
    head: str  # state-dict prefix of the classifier head
    feature_layer: str  # dotted name of the submodule whose output is the last feature map (N, C, h, w)


_REGISTRY: dict[str, ModelEntry] = {}
#: families of many architectures, named "<family>/<architecture>" (timm/resnet18): prefix -> entry whose
#: builder takes the architecture first
_FAMILIES: dict[str, ModelEntry] = {}


def register_model(name: str, head: str = "head", *, feature_layer: str):
    """Decorator: register `builder(num_classes, in_chans, **kwargs)` under `name`.

    head: the state-dict prefix of the classifier head. feature_layer: the dotted name
    (`nn.Module.get_submodule`) of the submodule whose output is the model's last convolutional
    feature map (N, C, h, w), before global pooling: `forward_features`' output for our families.
    """
    return _registering(_REGISTRY, name, "model", head, feature_layer)


def register_family(prefix: str, head: str = "head", *, feature_layer: str):
    """Decorator: register `builder(arch, num_classes, in_chans, **kwargs)` for every name "<prefix>/<arch>"
    (a library of architectures such as timm). head and feature_layer as for `register_model`, the same for
    every architecture of the family (its wrapper puts them there); the builder checks `arch`."""
    return _registering(_FAMILIES, prefix, "model family", head, feature_layer)


def _registering(table: dict[str, ModelEntry], key: str, kind: str, head: str, feature_layer: str):
    """The decorator that puts a builder into `table` under `key` (a `kind` registered twice is an error)."""

    def decorate(builder: Callable[..., nn.Module]):
        if key in table:
            raise ValueError(f"{kind} '{key}' is registered twice")
        table[key] = ModelEntry(builder, head, feature_layer)
        return builder

    return decorate


def list_models() -> list[str]:
    """The registered model names, sorted (families' architectures not included: see `list_families`)."""
    return sorted(_REGISTRY)


def list_families() -> list[str]:
    """The registered families' prefixes, sorted: their models are named "<prefix>/<arch>"."""
    return sorted(_FAMILIES)


def entry(name: str) -> ModelEntry:
    """The registry entry of `name` (a family's for "<prefix>/<arch>", its builder bound to arch); a
    ConfigError that lists the registered names otherwise."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    prefix, _, arch = name.partition("/")
    if prefix in _FAMILIES and arch:
        family = _FAMILIES[prefix]
        return ModelEntry(functools.partial(family.builder, arch), family.head, family.feature_layer)
    families = "".join(f", {prefix}/<arch>" for prefix in list_families())
    raise ConfigError(f"unknown model '{name}'; registered models: {', '.join(list_models())}{families}")


def create_model(name: str, num_classes: int, in_chans: int = 1, **kwargs) -> nn.Module:
    """Build the registered model `name`; unknown names and arguments are `ConfigError`s."""
    builder = entry(name).builder
    try:
        return builder(num_classes=num_classes, in_chans=in_chans, **kwargs)
    except TypeError as exc:
        given = re.search(r"unexpected keyword argument '([^']+)'", str(exc))
        if given:
            params = inspect.signature(builder).parameters.values()
            takes = [p.name for p in params if p.kind == p.KEYWORD_ONLY or p.kind == p.POSITIONAL_OR_KEYWORD]
            takes = [t for t in takes if t not in ("arch", "num_classes", "in_chans")]
            families = ", ".join(f"{prefix}/<arch>" for prefix in list_families())
            raise ConfigError(
                f"model '{name}' has no option '{given.group(1)}'"
                + (f" (its options: {', '.join(takes)})" if takes else "")
                + f"; the model families are named {families}"
            ) from exc
        raise


def head_prefix(name: str) -> str:
    """State-dict prefix of model `name`'s classifier head (what fine-tuning may reinitialise)."""
    return entry(name).head


def feature_layer(name: str) -> str:
    """Dotted name of the submodule of model `name` whose output is its last convolutional feature
    map (N, C, h, w), before global pooling (what Grad-CAM explains); `model.get_submodule` finds it."""
    return entry(name).feature_layer
