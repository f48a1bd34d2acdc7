"""The Hydra config: composing it outside `python -m benchmark` (verify, reports, tests) with the same
files, and building a group's object from it with errors that name the config key."""

from __future__ import annotations

import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from core.errors import ConfigError
from core.io import REPO_ROOT

CONF_DIR = REPO_ROOT / "conf"


def shipped_model() -> str:
    """`${shipped_model:}` in a config: the shipped model's file (results/models/shipped.yaml names it),
    relative to the repository root, so a run key changes when the shipped model does."""
    from benchmark.inference.models import shipped

    models = shipped()["model"]
    relative = [Path(m).relative_to(REPO_ROOT).as_posix() for m in (models if isinstance(models, list) else [models])]
    return relative if isinstance(models, list) else relative[0]


OmegaConf.register_new_resolver("shipped_model", shipped_model, replace=True)


def compose_config(overrides: list[str] = (), config_name: str = "config") -> DictConfig:
    """The config `python -m benchmark <overrides>` would run (or another top-level config of conf/,
    e.g. "report"), without Hydra's output folders. Inside a running Hydra app (a run of the cross
    protocol composes its targets' configs), the app's own search path, which is conf/, is used."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name=config_name, overrides=list(overrides))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose(config_name=config_name, overrides=list(overrides))


#: Hydra names the config node whose target failed ("full_key: method.features") in its message
_FULL_KEY = re.compile(r"^full_key: (\S+)$", re.MULTILINE)


def instantiate_group(cfg: DictConfig, group: str):
    """`instantiate(cfg[group])`, with a config value's error (a ValueError or TypeError raised by
    the target) turned into a ConfigError that names its config path."""
    try:
        return instantiate(cfg[group])
    except InstantiationException as exc:
        cause = exc.__cause__
        if not isinstance(cause, (ValueError, TypeError)):
            raise
        found = _FULL_KEY.search(str(exc))
        node = found[1] if found else group
        if isinstance(cause, ConfigError):
            raise cause.under(node) from exc
        raise ConfigError(f"{node}: {cause}") from exc
