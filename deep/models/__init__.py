"""Model registry (`create_model`, `list_models`, `register_model`, `head_prefix`, `feature_layer`) and
the families it holds.

Importing this package registers every family; a config picks one by name (conf/model/<name>.yaml).
"""

from deep.models import fernet, resnet, seed_cnn, timm_backbones, tv_backbones, vgg  # noqa: F401 - registers them
from deep.models.registry import (
    create_model,
    feature_layer,
    head_prefix,
    list_families,
    list_models,
    register_family,
    register_model,
)

__all__ = [
    "create_model",
    "feature_layer",
    "head_prefix",
    "list_families",
    "list_models",
    "register_family",
    "register_model",
]
